// float64 references for shaders/kvcache.wgsl (same layouts and names as ops/kvcache.ts):
//   qkv [N, QKVW], QKVW = (NH + 2·NKV)·HS; caches kc, vc [NKV, Tc, HS]; out [1, NH·HS].

import type { KvDims } from '../kvcache';

/** kc[g, pos[n], :] = k of row n, vc likewise (rows with pos >= Tc are skipped). */
export function kvWriteRef(d: KvDims, N: number, qkv: ArrayLike<number>, pos: ArrayLike<number>, kc: Float64Array, vc: Float64Array): void {
  const { NH, NKV, HS, Tc } = d;
  const QKVW = (NH + 2 * NKV) * HS;
  for (let n = 0; n < N; n++) {
    if (pos[n] >= Tc) continue;
    for (let g = 0; g < NKV; g++) for (let e = 0; e < HS; e++) {
      const dst = (g * Tc + pos[n]) * HS + e;
      kc[dst] = qkv[n * QKVW + (NH + g) * HS + e];
      vc[dst] = qkv[n * QKVW + (NH + NKV + g) * HS + e];
    }
  }
}

/** out[h, :] = softmax(scale·q_h·kc[g, 0..p]ᵀ)·vc[g, 0..p], q from row 0 of qkv, g = h / (NH/NKV). */
export function attentionDecodeRef(d: KvDims, qkv: ArrayLike<number>, p: number, kc: ArrayLike<number>, vc: ArrayLike<number>): Float64Array {
  const { NH, NKV, HS, Tc } = d;
  const scale = d.scale ?? 1 / Math.sqrt(HS);
  const len = Math.min(p, Tc - 1) + 1;
  const out = new Float64Array(NH * HS);
  for (let h = 0; h < NH; h++) {
    const g = Math.floor(h / (NH / NKV));
    const s = new Float64Array(len);
    let mx = -Infinity;
    for (let t = 0; t < len; t++) {
      let dot = 0;
      for (let e = 0; e < HS; e++) dot += qkv[h * HS + e] * kc[(g * Tc + t) * HS + e];
      s[t] = dot * scale;
      mx = Math.max(mx, s[t]);
    }
    let z = 0;
    for (let t = 0; t < len; t++) z += (s[t] = Math.exp(s[t] - mx));
    for (let t = 0; t < len; t++) for (let e = 0; e < HS; e++) out[h * HS + e] += (s[t] / z) * vc[(g * Tc + t) * HS + e];
  }
  return out;
}
