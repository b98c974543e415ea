// Vector-wise int8 (LLM.int8 weight storage), bit for bit as the GPU kernels compute it: the
// scalar rule on exact f32 thresholds, reference quantize / dequantize.
//
// int8 (vector-wise): c[o] = max_i |W[o,i]| (f32), q = round(127·w/c) with ties to EVEN (as
//   torch.round), evaluated division-free on the thresholds thr_k = fl(c·fl((2k+1)·fl(1/254))),
//   k = 0..126: |q| = #{k : |w| > thr_k}, +1 when |w| == thr_|q| and |q| is odd; sign of w.
//   c = 0 → q = 0. Dequant ŵ = fl(q·fl(c·fl(1/127))).
//   codes: u32 words, element i in byte i (word i>>2, bits 8(i&3)), two's complement int8.
//   scales: f32 [rows] c.
// fl(·) = round to float32 (Math.fround).

import type { QuantizedHost } from './formats';

const fr = Math.fround;

/** fl(1/127): the int8 dequant factor (ŵ = fl(q·fl(c·INV127))). */
export const INV127 = Math.fround(1 / 127);
/** fl(1/254): the int8 thresholds are fl(c·fl((2k+1)·INV254)), the midpoints between codes k and k+1. */
export const INV254 = Math.fround(1 / 254);

function int8Thr(k: number, c: number): number {
  return fr(c * fr((2 * k + 1) * INV254));
}

/**
 * The int8 code of w in a row of absmax c: round(127·w/c) with ties to even, decided on the exact
 * f32 thresholds (see header), in [-127, 127]; 0 when c is 0.
 */
export function int8Code(w: number, c: number): number {
  if (c === 0) return 0;
  const a = Math.abs(w);
  let q = Math.min(127, Math.max(0, Math.round((a / c) * 127)));
  while (q < 127 && a > int8Thr(q, c)) q++;
  while (q > 0 && a <= int8Thr(q - 1, c)) q--;
  if (q < 127 && a === int8Thr(q, c) && q & 1) q++;
  return w < 0 ? -q : q;
}

/** The signed int8 code of element i (byte i of the code words, two's complement). */
export function int8CodeAt(codes: Uint32Array, i: number): number {
  return ((codes[i >> 2] >>> ((i & 3) * 8)) << 24) >> 24;
}

/** int8 buffers of W[rows, cols]: absmax per row (scales), codes written into `codes` (zeroed, one byte per element). */
export function quantizeInt8(W: Float32Array, rows: number, cols: number, codes: Uint32Array): Pick<QuantizedHost, 'scales' | 'zeros' | 'extra'> {
  const scales = new Float32Array(rows);
  for (let o = 0; o < rows; o++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(W[o * cols + c]));
    scales[o] = m;
    for (let c = 0; c < cols; c++) {
      const i = o * cols + c;
      const q = int8Code(W[i], m) & 0xff;
      codes[i >> 2] = (codes[i >> 2] | (q << ((i & 3) * 8))) >>> 0;
    }
  }
  return { scales, zeros: null, extra: null };
}

/** ŵ of an int8 matrix as the fused matmul kernels compute it (f32 arithmetic). */
export function dequantizeInt8(q: QuantizedHost): Float32Array {
  const numel = q.rows * q.cols;
  const out = new Float32Array(numel);
  const sc = q.scales as Float32Array;
  for (let i = 0; i < numel; i++) out[i] = fr(int8CodeAt(q.codes, i) * fr(sc[Math.floor(i / q.cols)] * INV127));
  return out;
}
