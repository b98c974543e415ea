// f32 <-> packed f16 conversion of saved activations (TransformerOptions.saveActivations 'f16'):
// the forward computes in f32 and packs what the backward needs into half the bytes; the backward
// unpacks it into f32 work buffers before the kernels that read them. Packed layout: element i is
// half (i & 1) of word i >> 1, the low half first (src/gpu/half.ts, common/f16.wgsl).
//
//   pack:   out[w] = pack2x16float(clamp(inp[2w], inp[2w+1]))   values clamped to ±65504 (f16's
//           largest finite value; pack2x16float is undefined beyond it), round to nearest
//   unpack: out[i] = f32 of half (i & 1) of inp[i >> 1]         exact
//
// The segment variants do the same per element for up to 5 f32 tensors and one packed buffer in
// one dispatch (the transformer packs a layer's five saved tensors at the end of its forward and
// unpacks them at the start of its backward: 1 + 1 dispatches per layer instead of 5 + 5).
//
// Variants (defines, exactly one OP_*): OP_PACK (entry pack), OP_UNPACK (entry unpack),
// OP_PACK_SEGS (entry packSegs), OP_UNPACK_SEGS (entry unpackSegs); the segment variants also take
// SEGS (1..5, segments bound) and SEG2..SEG5 (segment k is bound: SEGS >= k).
// Bindings (group 0):
//   pack, unpack:   0 uniform P: { n } (f32 elements, even)   1 read inp   2 rw out
//   packSegs:       0 uniform S: { seg: array<vec4u, 5> }   1 rw packed   2.. read f0..f{SEGS-1}
//   unpackSegs:     0 uniform S (the same)                    1 read packed   2.. rw f0..f{SEGS-1}
//   seg[k] = (first word of segment k in the grid, its words = n_k / 2, its word offset in packed, 0);
//   the grid starts increase with k (segment k covers grid words [seg[k].x, seg[k].x + seg[k].y)),
//   and unbound entries are zero. Element e of f_k is half (e & 1) of packed[seg[k].z + (e >> 1)].
// Dispatch: one word (two elements) per thread; pack, unpack: grid1d(ceil(n / 2 / 256));
// packSegs, unpackSegs: grid1d(ceil(total words / 256)); linearId (common/linear_id.wgsl).

#include "common/linear_id.wgsl"

#if OP_PACK
struct Params {
  n: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#else
#if OP_UNPACK
struct Params {
  n: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#else
struct Segs {
  seg: array<vec4<u32>, 5>,
}
@group(0) @binding(0) var<uniform> S: Segs;

// The segment of grid word w: the last bound one whose first word is at most w (seg[0].x = 0).
fn segmentOf(w: u32) -> u32 {
  var k = 0u;
  for (var j = 1u; j < {{SEGS}}u; j++) {
    if (w >= S.seg[j].x) { k = j; }
  }
  return k;
}
#endif
#endif

const F16_MAX = 65504.0;

#if OP_PACK
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

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

#if OP_PACK_SEGS
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;
@group(0) @binding(2) var<storage, read> f0: array<f32>;
#if SEG2
@group(0) @binding(3) var<storage, read> f1: array<f32>;
#endif
#if SEG3
@group(0) @binding(4) var<storage, read> f2: array<f32>;
#endif
#if SEG4
@group(0) @binding(5) var<storage, read> f3: array<f32>;
#endif
#if SEG5
@group(0) @binding(6) var<storage, read> f4: array<f32>;
#endif

// Elements e and e + 1 of segment k.
fn loadPair(k: u32, e: u32) -> vec2f {
  switch k {
#if SEG2
    case 1u: { return vec2f(f1[e], f1[e + 1u]); }
#endif
#if SEG3
    case 2u: { return vec2f(f2[e], f2[e + 1u]); }
#endif
#if SEG4
    case 3u: { return vec2f(f3[e], f3[e + 1u]); }
#endif
#if SEG5
    case 4u: { return vec2f(f4[e], f4[e + 1u]); }
#endif
    default: { return vec2f(f0[e], f0[e + 1u]); }
  }
}

@compute @workgroup_size(256)
fn packSegs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let w = linearId(wid, nwg, lid);
  let k = segmentOf(w);
  let s = S.seg[k];
  let i = w - s.x;
  if (i >= s.y) { return; }
  let v = clamp(loadPair(k, 2u * i), vec2f(-F16_MAX), vec2f(F16_MAX));
  packed[s.z + i] = pack2x16float(v);
}
#endif

#if OP_UNPACK_SEGS
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> f0: array<f32>;
#if SEG2
@group(0) @binding(3) var<storage, read_write> f1: array<f32>;
#endif
#if SEG3
@group(0) @binding(4) var<storage, read_write> f2: array<f32>;
#endif
#if SEG4
@group(0) @binding(5) var<storage, read_write> f3: array<f32>;
#endif
#if SEG5
@group(0) @binding(6) var<storage, read_write> f4: array<f32>;
#endif

// Stores v into elements e and e + 1 of segment k.
fn storePair(k: u32, e: u32, v: vec2f) {
  switch k {
#if SEG2
    case 1u: { f1[e] = v.x; f1[e + 1u] = v.y; }
#endif
#if SEG3
    case 2u: { f2[e] = v.x; f2[e + 1u] = v.y; }
#endif
#if SEG4
    case 3u: { f3[e] = v.x; f3[e + 1u] = v.y; }
#endif
#if SEG5
    case 4u: { f4[e] = v.x; f4[e + 1u] = v.y; }
#endif
    default: { f0[e] = v.x; f0[e + 1u] = v.y; }
  }
}

@compute @workgroup_size(256)
fn unpackSegs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let w = linearId(wid, nwg, lid);
  let k = segmentOf(w);
  let s = S.seg[k];
  let i = w - s.x;
  if (i >= s.y) { return; }
  storePair(k, 2u * i, unpack2x16float(packed[s.z + i]));
}
#endif
