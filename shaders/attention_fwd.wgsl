// Attention forward: out = softmax(scale·q·kᵀ + mask)·v, and lse (log-sum-exp of the scaled scores).
// One of the three causal grouped-query attention kernels (flash-attention style, never
// materializing a T×T matrix); layout, mask, Params and tile constants in common/attention.wgsl.
//
// Bindings (group 0), uniform P: { T, NH, NKV, QKVW, scale }:
//   0 P, 1 read qkv, 2 read segStart (u32 [N]), 3 rw out f32 [N, NH·HS], 4 rw lse f32 [B·NH·T]
// Compile-time defines: HS, WG, BQ, BK (see common/attention.wgsl).
// Dispatch (workgroup_id = x, y, z): (ceil(T/BQ), NH, B) workgroups of WG threads. A workgroup
//   owns BQ query rows of one head and walks the key tiles from the lowest allowed key of its rows
//   to its last row, keeping an online softmax (running max m, sum l) per row; the output
//   accumulator lives in registers, element idx = tid + WG·e of the [BQ, HS] tile.
// Every reduction runs in a fixed order: results are deterministic.

#include "common/attention.wgsl"
#include "common/attention_tile_lo.wgsl"

@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

const OEPT: u32 = (BQ * HS + WG - 1u) / WG;

var<workgroup> Qs: array<f32, BQ * HSP>;
var<workgroup> KVs: array<f32, BK * HSP>;  // k tile, then v tile
var<workgroup> Ss: array<f32, BQ * BK>;    // scores, then probabilities
var<workgroup> mS: array<f32, BQ>;
var<workgroup> lS: array<f32, BQ>;
var<workgroup> aS: array<f32, BQ>;         // rescale factor of the tile
var<workgroup> loS: array<u32, BQ>;
var<workgroup> kLoS: u32;

/** KVs[j, :] = columns [col, col+HS) of rows k0 + j (zero from row kEnd on). */
fn stageKVs(row0: u32, k0: u32, kEnd: u32, col: u32, tid: u32) {
  for (var i = tid; i < BK * HS; i += WG) {
    let j = i / HS;
    let d = i % HS;
    var v = 0.0;
    if (k0 + j < kEnd) { v = qkv[(row0 + k0 + j) * P.QKVW + col + d]; }
    KVs[j * HSP + d] = v;
  }
}

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let b = wid.z;
  let h = wid.y;
  let q0 = wid.x * BQ;
  let T = P.T;
  let W = P.QKVW;
  let g = h / (P.NH / P.NKV);
  let kCol = (P.NH + g) * HS;
  let vCol = (P.NH + P.NKV + g) * HS;
  let row0 = b * T;

  for (var i = tid; i < BQ * HS; i += WG) {
    let r = i / HS;
    let d = i % HS;
    let t = q0 + r;
    var v = 0.0;
    if (t < T) { v = qkv[(row0 + t) * W + h * HS + d]; }
    Qs[r * HSP + d] = v;
  }
  if (tid < BQ) {
    mS[tid] = NEG;
    lS[tid] = 0.0;
  }
  let kLo = queryTileLo(b, q0, tid);
  let kHi = min(T, q0 + BQ);

  var acc: array<f32, OEPT>;
  for (var e = 0u; e < OEPT; e++) { acc[e] = 0.0; }

  for (var k0 = kLo; k0 < kHi; k0 += BK) {
    stageKVs(row0, k0, kHi, kCol, tid);
    workgroupBarrier();
    for (var e = 0u; e < SEPT; e++) {
      let i = tid + e * WG;
      if (i < BQ * BK) {
        let r = i / BK;
        let j = i % BK;
        let t = q0 + r;
        let kj = k0 + j;
        var s = MASKED;
        if (t < T && kj <= t && kj >= loS[r]) {
          var dot = 0.0;
          for (var d = 0u; d < HS; d++) { dot = fma(Qs[r * HSP + d], KVs[j * HSP + d], dot); }
          s = dot * P.scale;
        }
        Ss[i] = s;
      }
    }
    workgroupBarrier();
    // Online softmax, one thread per row, while the others stage the v tile.
    if (tid < BQ) {
      let mOld = mS[tid];
      var mx = mOld;
      for (var j = 0u; j < BK; j++) {
        let s = Ss[tid * BK + j];
        if (s > -1.0e38) { mx = max(mx, s); }
      }
      var sum = 0.0;
      for (var j = 0u; j < BK; j++) {
        let s = Ss[tid * BK + j];
        var p = 0.0;
        if (s > -1.0e38) { p = exp(s - mx); }
        Ss[tid * BK + j] = p;
        sum += p;
      }
      let alpha = exp(mOld - mx);
      mS[tid] = mx;
      lS[tid] = lS[tid] * alpha + sum;
      aS[tid] = alpha;
    }
    stageKVs(row0, k0, kHi, vCol, tid);
    workgroupBarrier();
    for (var e = 0u; e < OEPT; e++) {
      let idx = tid + e * WG;
      if (idx < BQ * HS) {
        let r = idx / HS;
        let d = idx % HS;
        var a = acc[e] * aS[r];
        for (var j = 0u; j < BK; j++) { a = fma(Ss[r * BK + j], KVs[j * HSP + d], a); }
        acc[e] = a;
      }
    }
    workgroupBarrier();
  }

  let OW = P.NH * HS;
  for (var e = 0u; e < OEPT; e++) {
    let idx = tid + e * WG;
    if (idx < BQ * HS) {
      let r = idx / HS;
      let d = idx % HS;
      let t = q0 + r;
      if (t < T) { out[(row0 + t) * OW + h * HS + d] = acc[e] / lS[r]; }
    }
  }
  if (tid < BQ) {
    let t = q0 + tid;
    if (t < T) { lse[(b * P.NH + h) * T + t] = mS[tid] + log(lS[tid]); }
  }
}
