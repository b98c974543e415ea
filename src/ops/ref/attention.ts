// float64 reference for causal grouped-query attention with example boundaries (naive softmax,
// full T×T scores; for tests only). Same layout and names as ops/attention.ts:
//   qkv [N, QKVW], QKVW = (NH + 2·NKV)·HS: q head h at columns h·HS, k head g at NH·HS + g·HS,
//   v head g at (NH+NKV)·HS + g·HS; query head h uses kv head g = floor(h / (NH/NKV)).
//   Query t of sequence b attends keys j with lo <= j <= t, lo = min(segStart[b·T+t], t).
//   out [N, NH·HS]; lse [B·NH·T] at (b·NH + h)·T + t (log-sum-exp of the scaled scores).

/** Sizes as AttentionDims: qkv rows [B·T, (NH + 2·NKV)·HS] (q heads, then k, then v); scale default 1/√HS. */
interface AttentionRefDims {
  B: number;
  T: number;
  NH: number;
  NKV: number;
  HS: number;
  scale?: number;
}

function cols(d: AttentionRefDims) {
  const { NH, NKV, HS } = d;
  const G = NH / NKV;
  return {
    QKVW: (NH + 2 * NKV) * HS,
    OW: NH * HS,
    q: (h: number) => h * HS,
    k: (h: number) => NH * HS + Math.floor(h / G) * HS,
    v: (h: number) => (NH + NKV) * HS + Math.floor(h / G) * HS,
    scale: d.scale ?? 1 / Math.sqrt(HS),
  };
}

/** Probabilities P[t][j] (0 outside the allowed window) and lse of query row (b, h, t). */
function probs(d: AttentionRefDims, qkv: ArrayLike<number>, segStart: ArrayLike<number>, b: number, h: number, t: number) {
  const { T, HS } = d;
  const c = cols(d);
  const n = b * T + t;
  const lo = Math.min(segStart[n], t);
  const s = new Float64Array(t + 1);
  let mx = -Infinity;
  for (let j = lo; j <= t; j++) {
    let dot = 0;
    for (let e = 0; e < HS; e++) dot += qkv[n * c.QKVW + c.q(h) + e] * qkv[(b * T + j) * c.QKVW + c.k(h) + e];
    s[j] = dot * c.scale;
    mx = Math.max(mx, s[j]);
  }
  let sum = 0;
  for (let j = lo; j <= t; j++) sum += Math.exp(s[j] - mx);
  const lse = mx + Math.log(sum);
  const p = new Float64Array(t + 1);
  for (let j = lo; j <= t; j++) p[j] = Math.exp(s[j] - lse);
  return { p, lo, lse };
}

/**
 * Causal attention with packed segments: query (b, h, t) attends keys j in [min(segStart[b·T + t], t), t]
 * of kv head h / (NH/NKV). Returns out [B·T, NH·HS] and lse [B, NH, T] (log-sum-exp of the scaled scores).
 */
export function attentionForwardRef(
  d: AttentionRefDims,
  qkv: ArrayLike<number>,
  segStart: ArrayLike<number>,
): { out: Float64Array; lse: Float64Array } {
  const { B, T, NH, HS } = d;
  const c = cols(d);
  const out = new Float64Array(B * T * c.OW);
  const lse = new Float64Array(B * NH * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const { p, lo, lse: l } = probs(d, qkv, segStart, b, h, t);
        lse[(b * NH + h) * T + t] = l;
        const o = (b * T + t) * c.OW + h * HS;
        for (let j = lo; j <= t; j++) {
          const vrow = (b * T + j) * c.QKVW + c.v(h);
          for (let e = 0; e < HS; e++) out[o + e] += p[j] * qkv[vrow + e];
        }
      }
    }
  }
  return { out, lse };
}

/** Returns dqkv [N, QKVW] (dk, dv summed over the query heads that share a kv head). */
export function attentionBackwardRef(
  d: AttentionRefDims,
  qkv: ArrayLike<number>,
  segStart: ArrayLike<number>,
  dout: ArrayLike<number>,
): Float64Array {
  const { B, T, NH, HS } = d;
  const c = cols(d);
  const dqkv = new Float64Array(B * T * c.QKVW);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const { p, lo } = probs(d, qkv, segStart, b, h, t);
        const n = b * T + t;
        const o = n * c.OW + h * HS;
        // dP[j] = dout·v_j ; dS[j] = P[j]·(dP[j] − Σ_i P[i]·dP[i])
        const dp = new Float64Array(t + 1);
        let dsum = 0;
        for (let j = lo; j <= t; j++) {
          const vrow = (b * T + j) * c.QKVW + c.v(h);
          let s = 0;
          for (let e = 0; e < HS; e++) {
            s += dout[o + e] * qkv[vrow + e];
            dqkv[vrow + e] += p[j] * dout[o + e]; // dv
          }
          dp[j] = s;
          dsum += p[j] * s;
        }
        for (let j = lo; j <= t; j++) {
          const ds = p[j] * (dp[j] - dsum) * c.scale;
          const krow = (b * T + j) * c.QKVW + c.k(h);
          const qrow = n * c.QKVW + c.q(h);
          for (let e = 0; e < HS; e++) {
            dqkv[qrow + e] += ds * qkv[krow + e];
            dqkv[krow + e] += ds * qkv[qrow + e];
          }
        }
      }
    }
  }
  return dqkv;
}
