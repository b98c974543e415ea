// Token embedding lookup (frozen tables, no backward):
//   out[n, c] = wte[tokens[n], c]  (+ wpe[pos[n], c] with HAS_POS: GPT-2 learned positions)
//
// Variants (defines): W_F16 (wte and wpe stored as f16 pairs packed in u32: element i = half
// (i & 1) of word i >> 1), HAS_POS.
// Bindings (group 0):
//   0 uniform P: { N, C }
//   1 read    tokens: u32 [N]
//   2 read    wte: [V, C] (f32 or f16-packed)
//   3 rw      out: f32 [N, C]
//   4 read    pos: u32 [N]              (HAS_POS only)
//   5 read    wpe: [maxPos, C] (f32 or f16-packed, HAS_POS only)
// Dispatch: grid1d(ceil(N*C / 256)) workgroups of 256 threads, one output element per thread
// (i = linearId, common/linear_id.wgsl; consecutive threads copy consecutive channels).

struct Params {
  N: u32,
  C: u32,
}

#include "common/linear_id.wgsl"
#include "common/f16.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
#if W_F16
@group(0) @binding(2) var<storage, read> wte: array<u32>;
fn loadWte(i: u32) -> f32 { return f16At(wte[i >> 1u], i); }
#else
@group(0) @binding(2) var<storage, read> wte: array<f32>;
fn loadWte(i: u32) -> f32 { return wte[i]; }
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#if HAS_POS
@group(0) @binding(4) var<storage, read> pos: array<u32>;
#if W_F16
@group(0) @binding(5) var<storage, read> wpe: array<u32>;
fn loadWpe(i: u32) -> f32 { return f16At(wpe[i >> 1u], i); }
#else
@group(0) @binding(5) var<storage, read> wpe: array<f32>;
fn loadWpe(i: u32) -> f32 { return wpe[i]; }
#endif
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.N * P.C) { return; }
  let n = i / P.C;
  let c = i - n * P.C;
  var v = loadWte(tokens[n] * P.C + c);
#if HAS_POS
  v += loadWpe(pos[n] * P.C + c);
#endif
  out[i] = v;
}
