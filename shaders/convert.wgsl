// f32 <-> packed f16 conversion of saved activations (TransformerOptions.saveActivations 'f16'):
// the forward computes in f32 and packs what the backward needs into half the bytes; the backward
// unpacks it into an f32 work buffer before the kernels that read it. Packed layout: element i is
// half (i & 1) of word i >> 1, the low half first (src/gpu/half.ts, common/f16.wgsl).
//
//   pack:   out[w] = pack2x16float(clamp(inp[2w], inp[2w+1]))   values clamped to ±65504 (f16's
//           largest finite value; pack2x16float is undefined beyond it), round to nearest
//   unpack: out[i] = f32 of half (i & 1) of inp[i >> 1]         exact
//
// Variants (defines, exactly one): OP_PACK (entry pack), OP_UNPACK (entry unpack).
// Bindings (group 0): 0 uniform P: { n } (f32 elements, even)   1 read inp   2 rw out
// Dispatch: pack one word per thread, grid1d(ceil(n / 2 / 256)); unpack one word (two elements)
// per thread, the same grid; linearId (common/linear_id.wgsl).

#include "common/linear_id.wgsl"

struct Params {
  n: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

#if OP_PACK
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

const F16_MAX = 65504.0;

@compute @workgroup_size(256)
fn pack(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let w = linearId(wid, nwg, lid);
  if (w >= P.n / 2u) { return; }
  let v = clamp(vec2f(inp[2u * w], inp[2u * w + 1u]), vec2f(-F16_MAX), vec2f(F16_MAX));
  out[w] = pack2x16float(v);
}
#endif

#if OP_UNPACK
@group(0) @binding(1) var<storage, read> inp: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn unpack(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let w = linearId(wid, nwg, lid);
  if (w >= P.n / 2u) { return; }
  let v = unpack2x16float(inp[w]);
  out[2u * w] = v.x;
  out[2u * w + 1u] = v.y;
}
#endif
