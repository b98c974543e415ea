// KV cache for autoregressive decoding: writing a layer's k, v rows into the cache, and attention
// of one new query row against every cached position (decode). Two entries selected by define:
//   KV_WRITE  kc[g, pos[n], :] = k of row n, vc[g, pos[n], :] = v of row n (rows with pos >= Tc
//             are skipped)
//   DECODE    out[h, :] = softmax(scale·q_h·Kᵀ)·V over cached positions 0..pos[0] of kv head
//             g = h / (NH/NKV); the new token's own k, v must have been written first (KV_WRITE)
//
// Layout (element units). qkv [N, QKVW], QKVW = (NH + 2·NKV)·HS, as in common/attention.wgsl: q head h at
// columns h·HS, k head g at NH·HS + g·HS, v head g at (NH+NKV)·HS + g·HS. One cache per layer:
// kc, vc [NKV, Tc, HS] (Tc = capacity in positions). out [1, NH·HS]. pos u32 [N].
//
// Bindings (group 0), uniform P: { N, NH, NKV, QKVW, Tc, scale } in both kernels:
//   KV_WRITE: 0 P, 1 read qkv, 2 read pos, 3 rw kc, 4 rw vc
//   DECODE:   0 P, 1 read qkv (row 0 holds the query), 2 read pos (pos[0] = the query's position),
//             3 read kc, 4 read vc, 5 rw out
// Compile-time defines: HS (head size), WG (threads per workgroup, a power of two), SUBGROUPS
// (DECODE reduces with subgroup operations, common/wg_reduce.wgsl; its entry takes the subgroup
// builtins; deterministic on one device, not bitwise equal to the tree).
// Dispatch:
//   KV_WRITE: one thread per (n, g, e) of the k block, 256 per workgroup,
//             grid1d(ceil(N·NKV·HS / 256)), the element linearId (common/linear_id.wgsl).
//   DECODE:   (NH, 1, 1), one workgroup per query head. The workgroup walks the cached positions
//             in tiles of WG: thread tid scores position t0 + tid, the tile's max and sum are tree-
//             reduced in workgroup memory (common/wg_reduce.wgsl) (online softmax across tiles), and thread tid owns output
//             elements e = tid + WG·i, accumulating p_t·v[t, e] over the tile. Fixed reduction
//             order: deterministic.

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  N: u32, NH: u32, NKV: u32, QKVW: u32,
  Tc: u32, scale: f32,
}

const HS: u32 = {{HS}}u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;

#if KV_WRITE
#include "common/linear_id.wgsl"

@group(0) @binding(3) var<storage, read_write> kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  let per = P.NKV * HS;
  if (i >= P.N * per) { return; }
  let n = i / per;
  let c = i % per; // g·HS + e
  let t = pos[n];
  if (t >= P.Tc) { return; }
  let dst = ((c / HS) * P.Tc + t) * HS + c % HS;
  kc[dst] = qkv[n * P.QKVW + P.NH * HS + c];
  vc[dst] = qkv[n * P.QKVW + (P.NH + P.NKV) * HS + c];
}
#endif

#if DECODE
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG: u32 = {{WG}}u;
const EPT: u32 = (HS + WG - 1u) / WG; // output elements per thread
const NEG: f32 = -1.0e30;

var<workgroup> qS: array<f32, HS>;
var<workgroup> pS: array<f32, WG>;  // probabilities of the tile
var<workgroup> red: array<f32, WG>; // reduction scratch
var<workgroup> lenS: u32;

#include "common/wg_reduce.wgsl"

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) tid: u32) {
  let h = wid.x;
  let g = h / (P.NH / P.NKV);
  for (var e = tid; e < HS; e += WG) { qS[e] = qkv[h * HS + e] * P.scale; }
  if (tid == 0u) { lenS = min(pos[0], P.Tc - 1u) + 1u; }
  let len = workgroupUniformLoad(&lenS); // a barrier too: qS is complete
  let base = g * P.Tc * HS;
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, EPT>;
  for (var t0 = 0u; t0 < len; t0 += WG) {
    let t = t0 + tid;
    var s = NEG;
    if (t < len) {
      let kb = base + t * HS;
      var dot = 0.0;
      for (var e = 0u; e < HS; e++) { dot += qS[e] * kc[kb + e]; }
      s = dot;
    }
    red[tid] = s;
    workgroupBarrier();
    let mNew = max(m, wgReduceMax(tid));
    var p = 0.0;
    if (t < len) { p = exp(s - mNew); }
    workgroupBarrier(); // every thread has read red[0]
    pS[tid] = p;
    red[tid] = p;
    workgroupBarrier();
    let tileSum = wgReduceSum(tid);
    let corr = exp(m - mNew);
    l = l * corr + tileSum;
    m = mNew;
    let cnt = min(WG, len - t0);
    for (var i = 0u; i < EPT; i++) {
      let e = tid + i * WG;
      if (e < HS) {
        var a = acc[i] * corr;
        for (var j = 0u; j < cnt; j++) { a += pS[j] * vc[base + (t0 + j) * HS + e]; }
        acc[i] = a;
      }
    }
    workgroupBarrier(); // the next tile overwrites pS and red
  }
  for (var i = 0u; i < EPT; i++) {
    let e = tid + i * WG;
    if (e < HS) { out[h * HS + e] = acc[i] / l; }
  }
}
#endif
