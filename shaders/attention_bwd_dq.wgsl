// Attention backward, dq pass: D = rowsum(dout ⊙ out) (written for attention_bwd_dkv), then dq.
// One of the three causal grouped-query attention kernels (flash-attention style, never
// materializing a T×T matrix); layout, mask, Params and tile constants in common/attention.wgsl.
//
// Bindings (group 0), uniform P: { T, NH, NKV, QKVW, scale }:
//   0 P, 1 read qkv, 2 read segStart, 3 read out, 4 read lse, 5 read dout, 6 rw dqkv (q columns), 7 rw D
// Compile-time defines: HS, WG, BQ, BK (see common/attention.wgsl).
// Dispatch (workgroup_id = x, y, z): (ceil(T/BQ), NH, B) workgroups of WG threads. A workgroup
//   owns BQ query rows of one head and walks the key tiles from the lowest allowed key of its rows
//   to its last row; it recomputes P = exp(s − lse) and accumulates dq += dS·k with
//   dS = P ⊙ (dout·vᵀ − D).
// Every reduction runs in a fixed order: results are deterministic.

#include "common/attention.wgsl"
#include "common/attention_tile_lo.wgsl"
#include "common/attention_bwd.wgsl"

@group(0) @binding(3) var<storage, read> out: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(7) var<storage, read_write> Dbuf: array<f32>;

const OEPT: u32 = (BQ * HS + WG - 1u) / WG;

var<workgroup> Qs: array<f32, BQ * HSP>;
var<workgroup> dOs: array<f32, BQ * HSP>;
var<workgroup> Ks: array<f32, BK * HSP>;
var<workgroup> Vs: array<f32, BK * HSP>;
var<workgroup> dSs: array<f32, BQ * BK>;
var<workgroup> lseS: array<f32, BQ>;
var<workgroup> DS: array<f32, BQ>;
var<workgroup> loS: array<u32, BQ>;
var<workgroup> kLoS: u32;

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let b = wid.z;
  let h = wid.y;
  let q0 = wid.x * BQ;
  let T = P.T;
  let W = P.QKVW;
  let OW = P.NH * HS;
  let g = h / (P.NH / P.NKV);
  let row0 = b * T;
  let lrow = (b * P.NH + h) * T;

  stageQdO(row0, q0, h, tid);
  if (tid < BQ) {
    let t = q0 + tid;
    var l = 0.0;
    if (t < T) { l = lse[lrow + t]; }
    lseS[tid] = l;
  }
  let kLo = queryTileLo(b, q0, tid); // (its barrier also completes the staging above)
  let kHi = min(T, q0 + BQ);
  // D = rowsum(dout ⊙ out), kept for attention_bwd_dkv.
  if (tid < BQ) {
    let t = q0 + tid;
    var D = 0.0;
    if (t < T) {
      let o = (row0 + t) * OW + h * HS;
      for (var d = 0u; d < HS; d++) { D = fma(dOs[tid * HSP + d], out[o + d], D); }
      Dbuf[lrow + t] = D;
    }
    DS[tid] = D;
  }

  var dq: array<f32, OEPT>;
  for (var e = 0u; e < OEPT; e++) { dq[e] = 0.0; }

  for (var k0 = kLo; k0 < kHi; k0 += BK) {
    stageKV(row0, k0, kHi, g, tid);
    workgroupBarrier();
    for (var e = 0u; e < SEPT; e++) {
      let i = tid + e * WG;
      if (i < BQ * BK) {
        let r = i / BK;
        let j = i % BK;
        let t = q0 + r;
        let kj = k0 + j;
        var ds = 0.0;
        if (t < T && kj <= t && kj >= loS[r]) { ds = probAndDs(r, j).y; }
        dSs[i] = ds;
      }
    }
    workgroupBarrier();
    for (var e = 0u; e < OEPT; e++) {
      let idx = tid + e * WG;
      if (idx < BQ * HS) {
        let r = idx / HS;
        let d = idx % HS;
        var a = dq[e];
        for (var j = 0u; j < BK; j++) { a = fma(dSs[r * BK + j], Ks[j * HSP + d], a); }
        dq[e] = a;
      }
    }
    workgroupBarrier();
  }

  for (var e = 0u; e < OEPT; e++) {
    let idx = tid + e * WG;
    if (idx < BQ * HS) {
      let r = idx / HS;
      let d = idx % HS;
      let t = q0 + r;
      if (t < T) { dqkv[(row0 + t) * W + h * HS + d] = dq[e] * P.scale; }
    }
  }
}
