// Causal grouped-query attention with example boundaries (flash-attention style, never
// materializing a T×T matrix in memory). One file, three kernels selected by define:
//   FWD      out = softmax(scale·q·kᵀ + mask)·v, and lse (log-sum-exp of the scaled scores)
//   BWD_DQ   D = rowsum(dout ⊙ out) (written out for BWD_DKV), then dq
//   BWD_DKV  dk, dv (summed over the NH/NKV query heads that share the kv head; no atomics)
//
// Layout (element units). Rows n = b·T + t. qkv [N, QKVW], QKVW = (NH + 2·NKV)·HS:
//   q head h at columns h·HS, k head g at NH·HS + g·HS, v head g at (NH+NKV)·HS + g·HS;
//   query head h uses kv head g = h / (NH/NKV).
//   out, dout [N, NH·HS] (head h at columns h·HS); lse, D [B·NH·T] at (b·NH + h)·T + t.
//   dqkv [N, QKVW]: BWD_DQ writes the q columns, BWD_DKV the k and v columns, every element.
// Mask: query t of sequence b sees keys j with lo <= j <= t, lo = min(segStart[b·T + t], t).
//
// Bindings (group 0), uniform P: { T, NH, NKV, QKVW, scale } in every kernel:
//   FWD:     0 P, 1 read qkv, 2 read segStart (u32 [N]), 3 rw out, 4 rw lse
//   BWD_DQ:  0 P, 1 read qkv, 2 read segStart, 3 read out, 4 read lse, 5 read dout, 6 rw dqkv, 7 rw D
//   BWD_DKV: 0 P, 1 read qkv, 2 read segStart, 3 read lse, 4 read dout, 5 read D, 6 rw dqkv
//
// Compile-time defines: HS (head size), WG (threads per workgroup), BQ (query rows per tile),
// BK (key rows per tile). Tiles are staged in workgroup memory with row stride HS+1 (no bank
// conflicts on the column-wise dot products); the wrapper picks BQ, BK to fit the storage budget.
// Dispatch (workgroup_id = x, y, z):
//   FWD, BWD_DQ: (ceil(T/BQ), NH, B). A workgroup owns BQ query rows of one head and walks the
//     key tiles from the lowest allowed key of its rows to its last row. FWD keeps an online
//     softmax (running max m, sum l) per row; the output accumulator lives in registers, element
//     idx = tid + WG·e of the [BQ, HS] tile. BWD_DQ recomputes P = exp(s − lse) and accumulates
//     dq += dS·k with dS = P ⊙ (dout·vᵀ − D).
//   BWD_DKV: (ceil(T/BK), NKV, B). A workgroup owns BK key rows of one kv head (k, v staged once)
//     and walks the query tiles t >= its first key, for each of the heads of the group, skipping
//     tiles where no row can see its keys (packed examples); dv += Pᵀ·dout, dk += dSᵀ·q.
// Every reduction runs in a fixed order: results are deterministic. Steps common to two kernels
// (first allowed key of a query tile; staging q/dout and k/v tiles; P and dS of one entry) are
// functions at the end of the file, each in a block compiled only into the kernels that use it.

struct Params {
  T: u32, NH: u32, NKV: u32, QKVW: u32,
  scale: f32,
}

const HS: u32 = {{HS}}u;
const HSP: u32 = HS + 1u;
const WG: u32 = {{WG}}u;
const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;
const SEPT: u32 = (BQ * BK + WG - 1u) / WG; // score entries per thread
const NEG: f32 = -1.0e30;                    // running-max start
const MASKED: f32 = -3.0e38;                 // score of a masked entry (tested as s < -1e38)

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> segStart: array<u32>;

/** First allowed key of query row t (< T) of sequence b. */
fn rowLo(b: u32, t: u32) -> u32 {
  return min(segStart[b * P.T + t], t);
}

#if FWD
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
#endif

#if BWD_DQ
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
  // D = rowsum(dout ⊙ out), kept for BWD_DKV.
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
#endif

#if BWD_DKV
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
#endif

// ---- helpers shared by kernels (each block uses names its kernels declare) ----------------

#if !BWD_DKV
/**
 * FWD and BWD_DQ: loS[r] = first allowed key of query row q0 + r (T past the end); returns the
 * lowest over the tile, workgroup-uniform (the call is a barrier).
 */
fn queryTileLo(b: u32, q0: u32, tid: u32) -> u32 {
  if (tid < BQ) {
    let t = q0 + tid;
    var lo = P.T;
    if (t < P.T) { lo = rowLo(b, t); }
    loS[tid] = lo;
  }
  workgroupBarrier();
  if (tid == 0u) {
    var lo = P.T;
    for (var r = 0u; r < BQ; r++) { lo = min(lo, loS[r]); }
    kLoS = lo;
  }
  return workgroupUniformLoad(&kLoS);
}
#endif

#if !FWD
/** BWD_DQ and BWD_DKV: Qs[r, :], dOs[r, :] = q and dout of head h for query rows t0 + r (zero past T). */
fn stageQdO(row0: u32, t0: u32, h: u32, tid: u32) {
  let OW = P.NH * HS;
  for (var i = tid; i < BQ * HS; i += WG) {
    let r = i / HS;
    let d = i % HS;
    let t = t0 + r;
    var qv = 0.0;
    var gv = 0.0;
    if (t < P.T) {
      qv = qkv[(row0 + t) * P.QKVW + h * HS + d];
      gv = dout[(row0 + t) * OW + h * HS + d];
    }
    Qs[r * HSP + d] = qv;
    dOs[r * HSP + d] = gv;
  }
}

/** BWD_DQ and BWD_DKV: Ks[j, :], Vs[j, :] = k and v of kv head g for key rows k0 + j (zero from kEnd on). */
fn stageKV(row0: u32, k0: u32, kEnd: u32, g: u32, tid: u32) {
  let kCol = (P.NH + g) * HS;
  let vCol = (P.NH + P.NKV + g) * HS;
  for (var i = tid; i < BK * HS; i += WG) {
    let j = i / HS;
    let d = i % HS;
    var kv = 0.0;
    var vv = 0.0;
    if (k0 + j < kEnd) {
      kv = qkv[(row0 + k0 + j) * P.QKVW + kCol + d];
      vv = qkv[(row0 + k0 + j) * P.QKVW + vCol + d];
    }
    Ks[j * HSP + d] = kv;
    Vs[j * HSP + d] = vv;
  }
}

/** BWD_DQ and BWD_DKV: (P, dS) of staged query row r and key row j: P = exp(scale·q·k − lse), dS = P·(dout·v − D). */
fn probAndDs(r: u32, j: u32) -> vec2f {
  var s = 0.0;
  var dp = 0.0;
  for (var d = 0u; d < HS; d++) {
    s = fma(Qs[r * HSP + d], Ks[j * HSP + d], s);
    dp = fma(dOs[r * HSP + d], Vs[j * HSP + d], dp);
  }
  let p = exp(s * P.scale - lseS[r]);
  return vec2f(p, p * (dp - DS[r]));
}
#endif
