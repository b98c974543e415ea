// Attention backward, dk/dv pass: dk, dv summed over the NH/NKV query heads that share the kv head (no atomics).
// One of the three causal grouped-query attention kernels (flash-attention style, never
// materializing a T×T matrix); layout, mask, Params and tile constants in common/attention.wgsl.
//
// Bindings (group 0), uniform P: { T, NH, NKV, QKVW, scale }:
//   0 P, 1 read qkv, 2 read segStart, 3 read lse, 4 read dout, 5 read D, 6 rw dqkv (k and v columns)
// Compile-time defines: HS, WG, BQ, BK (see common/attention.wgsl).
// Dispatch (workgroup_id = x, y, z): (ceil(T/BK), NKV, B) workgroups of WG threads. A workgroup
//   owns BK key rows of one kv head (k, v staged once) and walks the query tiles t >= its first
//   key, for each of the heads of the group, skipping tiles where no row can see its keys (packed
//   examples); dv += Pᵀ·dout, dk += dSᵀ·q.
// Every reduction runs in a fixed order: results are deterministic.

#include "common/attention.wgsl"
#include "common/attention_bwd.wgsl"

@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> Dbuf: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;

const KEPT: u32 = (BK * HS + WG - 1u) / WG;

var<workgroup> Ks: array<f32, BK * HSP>;
var<workgroup> Vs: array<f32, BK * HSP>;
var<workgroup> Qs: array<f32, BQ * HSP>;
var<workgroup> dOs: array<f32, BQ * HSP>;
var<workgroup> Ps: array<f32, BK * BQ>;   // [key j][query r]
var<workgroup> dSs: array<f32, BK * BQ>;
var<workgroup> lseS: array<f32, BQ>;
var<workgroup> DS: array<f32, BQ>;
var<workgroup> loS: array<u32, BQ>;
var<workgroup> hitS: array<u32, BQ>;
var<workgroup> anyS: u32;

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let b = wid.z;
  let g = wid.y;
  let k0 = wid.x * BK;
  let T = P.T;
  let W = P.QKVW;
  let G = P.NH / P.NKV;
  let kCol = (P.NH + g) * HS;
  let vCol = (P.NH + P.NKV + g) * HS;
  let row0 = b * T;
  let kEnd = min(T, k0 + BK);

  stageKV(row0, k0, kEnd, g, tid);

  var dk: array<f32, KEPT>;
  var dv: array<f32, KEPT>;
  for (var e = 0u; e < KEPT; e++) {
    dk[e] = 0.0;
    dv[e] = 0.0;
  }

  for (var i0 = k0; i0 < T; i0 += BQ) {
    // Which rows of this query tile can see any key of the block (t >= k0 holds for all).
    if (tid < BQ) {
      let t = i0 + tid;
      var lo = T;
      if (t < T) { lo = rowLo(b, t); }
      loS[tid] = lo;
      hitS[tid] = select(0u, 1u, lo < kEnd);
    }
    workgroupBarrier();
    if (tid == 0u) {
      var hit = 0u;
      for (var r = 0u; r < BQ; r++) { hit |= hitS[r]; }
      anyS = hit;
    }
    if (workgroupUniformLoad(&anyS) == 0u) { continue; }

    for (var hh = 0u; hh < G; hh++) {
      let h = g * G + hh;
      let lrow = (b * P.NH + h) * T;
      stageQdO(row0, i0, h, tid);
      if (tid < BQ) {
        let t = i0 + tid;
        var l = 0.0;
        var D = 0.0;
        if (t < T) {
          l = lse[lrow + t];
          D = Dbuf[lrow + t];
        }
        lseS[tid] = l;
        DS[tid] = D;
      }
      workgroupBarrier();
      for (var e = 0u; e < SEPT; e++) {
        let i = tid + e * WG;
        if (i < BK * BQ) {
          let j = i / BQ;
          let r = i % BQ;
          let kj = k0 + j;
          let t = i0 + r;
          var pds = vec2f(0.0);
          if (kj < kEnd && t < T && kj <= t && kj >= loS[r]) { pds = probAndDs(r, j); }
          Ps[i] = pds.x;
          dSs[i] = pds.y;
        }
      }
      workgroupBarrier();
      for (var e = 0u; e < KEPT; e++) {
        let idx = tid + e * WG;
        if (idx < BK * HS) {
          let j = idx / HS;
          let d = idx % HS;
          var av = dv[e];
          var ak = dk[e];
          for (var r = 0u; r < BQ; r++) {
            av = fma(Ps[j * BQ + r], dOs[r * HSP + d], av);
            ak = fma(dSs[j * BQ + r], Qs[r * HSP + d], ak);
          }
          dv[e] = av;
          dk[e] = ak;
        }
      }
      workgroupBarrier();
    }
  }

  for (var e = 0u; e < KEPT; e++) {
    let idx = tid + e * WG;
    if (idx < BK * HS) {
      let j = idx / HS;
      let d = idx % HS;
      let kj = k0 + j;
      if (kj < kEnd) {
        dqkv[(row0 + kj) * W + kCol + d] = dk[e] * P.scale;
        dqkv[(row0 + kj) * W + vCol + d] = dv[e];
      }
    }
  }
}
