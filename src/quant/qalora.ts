// QA-LoRA INT-N (N = 4, 3, 2) group-wise min-max formats, bit for bit as the GPU kernels compute
// them: exact rounding, group scale / zero point, the bit-stream codes, reference quantize /
// dequantize.
//
// qalora-intN (N = 4, 3, 2; QA-LoRA / GPTQ min-max): groups of g consecutive inputs of a row
//   (cols % g == 0), group j = o·(cols/g) + l = i / g. Q = 2^N − 1.
//   mn = min(0, min w), mx = max(0, max w) — zero is always in the range, as AutoGPTQ's Quantizer
//   does (xmin = min(x.min(), 0)); this keeps z in [0, Q] so it is exact in f16 (a group far from 0
//   would otherwise need a zero point beyond f16's integer range).
//   s = f16(fl(fl(mx − mn)·fl(1/Q))) (round to nearest even), then s = max(s, 2^-14): the guard for
//   s = 0 (all-zero group) and tiny ranges, which also keeps scales out of f16 subnormals (that
//   some GPUs flush); the error bound ≤ s/2 still holds with the stored s.
//   z = round(−mn/s), q = clamp(round(w/s) + z, 0, Q), both roundings exact (ties to even): the
//   midpoints (k ± 1/2)·s are exact in f32 (s has 11 significant bits, |k| ≤ Q + 1), so an
//   estimate from a division is corrected with exact comparisons. Dequant ŵ = fl(s·fl(q − z)).
//   codes: a little-endian bit stream over the flattened matrix, element i in bits [N·i, N·i + N)
//     (bit b = bit b&31 of word b>>5); INT4: 8 per word, INT2: 16 per word, INT3: 10 2/3 per word
//     (an element may straddle two words). Word count ceil(numel·N/32). N bits/param exactly.
//   scales, zeros: f16 packed two per u32 (group j in half j&1 of word j>>1, as src/gpu/half.ts).
//     Zero points are stored as f16 VALUES (not integers), so a QA-LoRA merge
//     z' = z − (s_lora/g)·(B·A)[o,l]/s fits the same layout (the codes stay as they are).
// fl(·) = round to float32 (Math.fround).

import { f16BitsToF32, f32ToF16Bits } from '../gpu/half';
import type { QuantizedHost } from './formats';

const fr = Math.fround;

/** Smallest normal f16 (2^-14): the lower bound of QA-LoRA scales. */
export const QA_MIN_SCALE = 2 ** -14;
const QA_MIN_SCALE_BITS = 0x0400;

/** round(x/s), ties to even, exact in real arithmetic (valid when (k ± 1/2)·s is exact, see header). */
export function roundDivExact(x: number, s: number): number {
  let k = Math.round(x / s);
  for (let it = 0; it < 4; it++) {
    if (x > (k + 0.5) * s) k++;
    else if (x < (k - 0.5) * s) k--;
    else break;
  }
  if (x === (k + 0.5) * s && k & 1) k++;
  else if (x === (k - 0.5) * s && k & 1) k--;
  return k + 0; // no -0
}

/** QA-LoRA group parameters from the group's f32 min and max: f16 bits of s and z, and their values. */
function qaGroupParams(gmin: number, gmax: number, qmax: number): { sBits: number; zBits: number; s: number; z: number } {
  const mn = Math.min(0, gmin);
  const mx = Math.max(0, gmax);
  const sf = fr(fr(mx - mn) * fr(1 / qmax));
  let sBits = f32ToF16Bits(sf);
  if (sBits < QA_MIN_SCALE_BITS) sBits = QA_MIN_SCALE_BITS;
  const s = f16BitsToF32(sBits);
  const z = Math.min(qmax, Math.max(0, roundDivExact(-mn, s)));
  return { sBits, zBits: f32ToF16Bits(z + 0), s, z };
}

/** The QA-LoRA code of w: clamp(round(w/s) + z, 0, qmax), the rounding exact with ties to even; qmax = 2^N − 1. */
function qaCode(w: number, s: number, z: number, qmax: number): number {
  return Math.min(qmax, Math.max(0, roundDivExact(w, s) + z));
}

function getF16(words: Uint32Array, j: number): number {
  return f16BitsToF32((words[j >> 1] >>> ((j & 1) * 16)) & 0xffff);
}

function setF16Bits(words: Uint32Array, j: number, bits: number): void {
  words[j >> 1] = (words[j >> 1] | (bits << ((j & 1) * 16))) >>> 0;
}

/** The N-bit code of element i of a little-endian bit stream (element i in bits [N·i, N·i + N)). */
export function qaCodeAt(codes: Uint32Array, bits: number, i: number): number {
  const bit = i * bits;
  const w = Math.floor(bit / 32);
  const sh = bit % 32;
  let v = codes[w] >>> sh;
  if (sh + bits > 32) v |= codes[w + 1] << (32 - sh);
  return v & ((1 << bits) - 1);
}

/**
 * qalora-int`bits` buffers of W[rows, cols] in groups of `groupSize` inputs: f16 scales and zeros
 * into new arrays of `scaleBytes` each, codes written into `codes` (zeroed, ceil(numel·bits/32) words).
 */
export function quantizeQalora(
  bits: number, W: Float32Array, rows: number, cols: number, groupSize: number, codes: Uint32Array, scaleBytes: number,
): Pick<QuantizedHost, 'scales' | 'zeros' | 'extra'> {
  const qmax = 2 ** bits - 1;
  const L = cols / groupSize;
  const scales = new Uint32Array(scaleBytes / 4);
  const zeros = new Uint32Array(scaleBytes / 4);
  for (let j = 0; j < rows * L; j++) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = j * groupSize; i < (j + 1) * groupSize; i++) {
      mn = Math.min(mn, W[i]);
      mx = Math.max(mx, W[i]);
    }
    const p = qaGroupParams(mn, mx, qmax);
    setF16Bits(scales, j, p.sBits);
    setF16Bits(zeros, j, p.zBits);
    for (let i = j * groupSize; i < (j + 1) * groupSize; i++) {
      const q = qaCode(W[i], p.s, p.z, qmax);
      const bit = i * bits;
      const w = Math.floor(bit / 32);
      const sh = bit % 32;
      codes[w] = (codes[w] | (q << sh)) >>> 0;
      if (sh + bits > 32) codes[w + 1] = (codes[w + 1] | (q >>> (32 - sh))) >>> 0;
    }
  }
  return { scales, zeros, extra: null };
}

/** Per-group scale / zero values of a qalora weight (f16 decoded). */
export function qaScaleZero(q: QuantizedHost, j: number): { s: number; z: number } {
  const z = q.zeros!;
  return { s: getF16(q.scales as Uint32Array, j), z: z instanceof Float32Array ? z[j] : getF16(z, j) };
}

/** ŵ of a qalora matrix as the fused matmul kernels compute it (f32 arithmetic), from `bits`-bit codes. */
export function dequantizeQalora(q: QuantizedHost, bits: number): Float32Array {
  const numel = q.rows * q.cols;
  const out = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    const { s, z } = qaScaleZero(q, Math.floor(i / q.groupSize));
    out[i] = fr(s * fr(qaCodeAt(q.codes, bits, i) - z));
  }
  return out;
}
