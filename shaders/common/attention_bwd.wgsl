// Include: the tile staging and the recomputed probabilities shared by the two backward kernels
// (attention_bwd_dq.wgsl, attention_bwd_dkv.wgsl).
//
// Provides:
//   stageQdO(row0, t0, h, tid)       Qs[r, :], dOs[r, :] = q and dout of head h, query rows t0 + r
//   stageKV(row0, k0, kEnd, g, tid)  Ks[j, :], Vs[j, :] = k and v of kv head g, key rows k0 + j
//   probAndDs(r, j) -> vec2f         (P, dS) of staged query row r and key row j
// Requires (after common/attention.wgsl): the binding dout, and the workgroup arrays
//   Qs, dOs: array<f32, BQ * HSP>, Ks, Vs: array<f32, BK * HSP>, lseS, DS: array<f32, BQ>.
// No bindings of its own. Call the staging functions from uniform control flow (they do not
// synchronize: the caller places the barrier before reading the tiles).

/** Qs[r, :], dOs[r, :] = q and dout of head h for query rows t0 + r (zero past T). */
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

/** Ks[j, :], Vs[j, :] = k and v of kv head g for key rows k0 + j (zero from kEnd on). */
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

/** (P, dS) of staged query row r and key row j: P = exp(scale·q·k − lse), dS = P·(dout·v − D). */
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
