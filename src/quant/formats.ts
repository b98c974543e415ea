// Quantized frozen-base formats: mode names, the exact packed layouts the GPU buffers use, byte
// accounting, and float32-faithful CPU reference quantize / dequantize (the GPU quantizer in
// shaders/quantize.wgsl must produce bit-identical codes; see the tests).
//
// All matrices are W[rows = out, cols = in], flattened row-major (element i = o*cols + c).
//
// nf4 (QLoRA): blocks of NF4_BLOCK = 64 consecutive elements of the flattened matrix (the last
//   block may be partial); absmax[b] = max |w| (f32). Code q = #{k : w > fl(absmax·NF4_MID[k])},
//   NF4_MID[k] = fl((NF4[k] + NF4[k+1]) / 2): the nearest code book value of w/absmax with ties to
//   the LOWER code (bitsandbytes compares with `>` too), evaluated division-free so that CPU and
//   GPU agree bit for bit (WGSL division is only accurate to 2.5 ulp). An all-zero block gets
//   code 7 (0.0). Dequant ŵ = fl(NF4[q]·absmax).
//   codes: u32 words = the bitsandbytes byte stream: byte i>>1 holds elements 2j (HIGH nibble) and
//     2j+1 (low nibble); byte b is bits 8(b&3).. of word b>>2 (little-endian). Word count
//     ceil(numel/8); padding nibbles are 0.
//   scales: f32 [nBlocks] absmax.
// nf4-dq: nf4 codes computed with the exact absmax, then double quantization of the absmax values
//   (runs on the CPU, also in the GPU path, from the absmax read back): c = fl(mean(absmax))
//   (float64 sum), v = fl(absmax − c), blocks of DQ_BLOCK = 256 with absmax2 = max |v| (f32),
//   q8 = nearest entry of bitsandbytes' signed dynamic code DYN (dynamicMap(), below) to
//   v/absmax2 (ties to the lower index; all-zero block → index 127, the 0.0 entry).
//   Dequant absmax' = fl(fl(DYN[q8]·absmax2) + c), ŵ = fl(NF4[q]·absmax').
//   codes: as nf4. scales: u32 words, q8 of block b in byte b (word b>>2, bits 8(b&3)).
//   extra: f32 [256 + 1 + nBlocks2] = DYN table (256), c, absmax2 per 256-block.
// int8 (vector-wise): c[o] = max_i |W[o,i]| (f32), q = round(127·w/c) with ties to EVEN (as
//   torch.round), evaluated division-free on the thresholds thr_k = fl(c·fl((2k+1)·fl(1/254))),
//   k = 0..126: |q| = #{k : |w| > thr_k}, +1 when |w| == thr_|q| and |q| is odd; sign of w.
//   c = 0 → q = 0. Dequant ŵ = fl(q·fl(c·fl(1/127))).
//   codes: u32 words, element i in byte i (word i>>2, bits 8(i&3)), two's complement int8.
//   scales: f32 [rows] c.
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

/**
 * How the frozen base is stored: 'none' (dense f32/f16), int8 (vector-wise absmax, as bitsandbytes'
 * LLM.int8 weight storage), nf4 / nf4-dq (QLoRA paper; bitsandbytes/functional.py quantize_4bit and
 * its double quantization), qalora-intN (QA-LoRA paper, GPTQ-style min-max groups). Layouts: file header.
 */
export type QuantMode = 'none' | 'int8' | 'nf4' | 'nf4-dq' | 'qalora-int4' | 'qalora-int3' | 'qalora-int2';
/** A QuantMode that actually quantizes (every mode but 'none'). */
export type QuantFormat = Exclude<QuantMode, 'none'>;

/** Every QuantMode, in the order hosts list them. */
export const QUANT_MODES: readonly QuantMode[] = ['none', 'int8', 'nf4', 'nf4-dq', 'qalora-int4', 'qalora-int3', 'qalora-int2'];

/** A mode from its name (case and surrounding spaces ignored). Throws Error listing the valid modes otherwise. */
export function parseQuantMode(s: string): QuantMode {
  const t = s.trim().toLowerCase();
  if ((QUANT_MODES as readonly string[]).includes(t)) return t as QuantMode;
  throw new Error(`unknown quantization mode '${s}'; valid modes: ${QUANT_MODES.join(', ')}`);
}

/** Elements per NF4 absmax block (bitsandbytes' default blocksize 64, as in QLoRA). */
export const NF4_BLOCK = 64;
/** absmax values per block of the double quantization (QLoRA's second-level block size 256). */
const DQ_BLOCK = 256;
/** Default QA-LoRA group size g: consecutive input columns (in_features) sharing one scale and zero point. */
export const DEFAULT_GROUP_SIZE = 32;

/** QLoRA's NF4 code book (index = 4-bit code), literal float32 values. */
export const NF4 = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** f32 midpoints between consecutive NF4 values (the quantization thresholds, relative to absmax). */
export const NF4_MID = Float32Array.from({ length: 15 }, (_, k) => Math.fround((NF4[k] + NF4[k + 1]) / 2));

/** fl(1/127): the int8 dequant factor (ŵ = fl(q·fl(c·INV127))). */
const INV127 = Math.fround(1 / 127);
/** fl(1/254): the int8 thresholds are fl(c·fl((2k+1)·INV254)), the midpoints between codes k and k+1. */
export const INV254 = Math.fround(1 / 254);
/** Smallest normal f16 (2^-14): the lower bound of QA-LoRA scales. */
export const QA_MIN_SCALE = 2 ** -14;
const QA_MIN_SCALE_BITS = 0x0400;

/**
 * bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), rebuilt by its
 * algorithm in float32 arithmetic: for i = 0..6, b = torch.linspace(0.1, 1, 2^i + 1) (float32;
 * torch's scalar formula: step = fl(fl(1 − fl(0.1))/(steps − 1)), b[j] = start + step·j for
 * j < steps/2, else end − step·(steps − 1 − j)), means m = fl(fl(b[j] + b[j+1])/2), values
 * ±fl(fl(10^(i−6))·m) (2^i positive and 2^i negative); then 0 and 1.0; 256 values sorted ascending.
 * DYN[0] ≈ −0.99296875, DYN[126] ≈ −5.5e-7 (the smallest-magnitude negative), DYN[127] = 0,
 * DYN[128] ≈ 5.5e-7, DYN[254] ≈ 0.99296875, DYN[255] = 1.0.
 * Caveat: torch's vectorized CPU linspace computes some entries as base + k·step in a vector and
 * may differ from this scalar formula by an ulp in a few entries; the table used here is fixed (it
 * travels with each quantized weight in `extra`), so CPU and GPU always agree.
 */
function dynamicMap(): Float32Array {
  const f = Math.fround;
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const steps = 2 ** i + 1;
    const start = f(0.1);
    const end = 1;
    const step = f(f(end - start) / (steps - 1));
    const half = Math.floor(steps / 2);
    const b: number[] = [];
    for (let j = 0; j < steps; j++) b.push(j < half ? f(start + f(step * j)) : f(end - f(step * (steps - j - 1))));
    const scale = f(10 ** (i - 6));
    for (let j = 0; j + 1 < steps; j++) {
      const m = f(f(b[j] + b[j + 1]) / 2);
      data.push(f(scale * m));
      data.push(f(-scale * m));
    }
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  return Float32Array.from(data);
}
/** The 256-entry signed dynamic code of the NF4-DQ absmax quantization (dynamicMap()). */
export const DYN = dynamicMap();

/** True for the QA-LoRA INT-N modes (group-wise scale and zero point, mergeable into the zero points). */
export function isQalora(mode: QuantMode): mode is 'qalora-int4' | 'qalora-int3' | 'qalora-int2' {
  return mode === 'qalora-int4' || mode === 'qalora-int3' || mode === 'qalora-int2';
}

/** Bits per code: 8 for int8, 4 for nf4 / nf4-dq, N for qalora-intN. */
export function codeBits(mode: QuantFormat): number {
  switch (mode) {
    case 'int8':
      return 8;
    case 'nf4':
    case 'nf4-dq':
      return 4;
    case 'qalora-int4':
      return 4;
    case 'qalora-int3':
      return 3;
    case 'qalora-int2':
      return 2;
  }
}

/** The effective group size a mode uses: 64 (nf4 block), cols (int8: one scale per row), g (qalora). */
export function effectiveGroupSize(mode: QuantFormat, cols: number, groupSize: number): number {
  return mode === 'int8' ? cols : mode === 'nf4' || mode === 'nf4-dq' ? NF4_BLOCK : groupSize;
}

/** A reason why W[rows, cols] cannot be quantized in `mode` (the caller keeps it unquantized), or null. */
export function canQuantize(mode: QuantMode, rows: number, cols: number, groupSize = DEFAULT_GROUP_SIZE): string | null {
  if (mode === 'none') return null;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    return `${mode}: shape [${rows}, ${cols}] is not a matrix of positive integer size`;
  }
  if (isQalora(mode)) {
    if (!Number.isInteger(groupSize) || groupSize < 1) return `${mode}: group size ${groupSize} must be a positive integer`;
    if (cols % groupSize !== 0) {
      return `${mode}: in_features ${cols} is not a multiple of the group size ${groupSize} (QA-LoRA groups must tile each row)`;
    }
  }
  // Shaders index codes (bits for the bit streams) with u32.
  const bitIndexLimit = 2 ** 32;
  if (rows * cols * Math.max(codeBits(mode), 1) >= bitIndexLimit) {
    return `${mode}: ${rows}x${cols} has too many elements for 32-bit code indexing`;
  }
  return null;
}

/** Byte sizes of the four GPU buffers (unpadded) for a mode and shape. */
interface QuantLayout {
  codes: number;
  scales: number;
  zeros: number;
  extra: number;
}

/**
 * Byte sizes (unpadded) of the codes, scales, zeros and extra buffers of W[rows = out, cols = in] in
 * `mode`, as the file header lays them out; groupSize only matters for qalora (cols must be a
 * multiple of it; see canQuantize, this function does not check).
 */
export function quantLayout(mode: QuantFormat, rows: number, cols: number, groupSize = DEFAULT_GROUP_SIZE): QuantLayout {
  const numel = rows * cols;
  const codes = Math.ceil((numel * codeBits(mode)) / 32) * 4;
  switch (mode) {
    case 'int8':
      return { codes, scales: rows * 4, zeros: 0, extra: 0 };
    case 'nf4':
      return { codes, scales: Math.ceil(numel / NF4_BLOCK) * 4, zeros: 0, extra: 0 };
    case 'nf4-dq': {
      const nb = Math.ceil(numel / NF4_BLOCK);
      return { codes, scales: Math.ceil(nb / 4) * 4, zeros: 0, extra: (256 + 1 + Math.ceil(nb / DQ_BLOCK)) * 4 };
    }
    default: {
      const groups = rows * (cols / groupSize);
      const f16words = Math.ceil(groups / 2) * 4;
      return { codes, scales: f16words, zeros: f16words, extra: 0 };
    }
  }
}

/** What GpuContext.createBuffer allocates for `bytes` (16-byte padding, at least 16). */
export function paddedBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** Exact bytes of the GPU buffers of one quantized matrix (each buffer padded as createBuffer does). */
export function quantBytes(mode: QuantFormat, rows: number, cols: number, groupSize = DEFAULT_GROUP_SIZE): number {
  const l = quantLayout(mode, rows, cols, groupSize);
  return paddedBytes(l.codes) + paddedBytes(l.scales) + (l.zeros ? paddedBytes(l.zeros) : 0) + (l.extra ? paddedBytes(l.extra) : 0);
}

/**
 * Theoretical bytes per parameter (the budgeting table): nf4 0.5625, nf4-dq 0.5 + 1/64 + 4/(64·256)
 * ≈ 0.5159 (4.127 bits), int8 1 + 4/cols, qalora-intN N/8 + 4/g (f16 scale + f16 zero).
 */
export function theoreticalBytesPerParam(mode: QuantFormat, cols: number, groupSize = DEFAULT_GROUP_SIZE): number {
  switch (mode) {
    case 'int8':
      return 1 + 4 / cols;
    case 'nf4':
      return 0.5 + 4 / NF4_BLOCK;
    case 'nf4-dq':
      return 0.5 + 1 / NF4_BLOCK + 4 / (NF4_BLOCK * DQ_BLOCK);
    default:
      return codeBits(mode) / 8 + 4 / groupSize;
  }
}

/** A quantized matrix on the host, with typed arrays exactly as they go to the GPU buffers. */
export interface QuantizedHost {
  mode: QuantFormat;
  rows: number;
  cols: number;
  /** The effective group size (effectiveGroupSize). */
  groupSize: number;
  codes: Uint32Array;
  /** int8 / nf4: f32 (Float32Array); nf4-dq: u8 codes in u32 words; qalora: f16 pairs. */
  scales: Float32Array | Uint32Array;
  /**
   * qalora: zero points as f16 pairs (Uint32Array: the training base, integers), or as f32
   * (Float32Array: a merged QA-LoRA model, whose zero points z' = z − Δ/s need f32 to stay exact);
   * otherwise null.
   */
  zeros: Uint32Array | Float32Array | null;
  /** nf4-dq: [DYN (256), c, absmax2 per 256-block] f32; otherwise null. */
  extra: Float32Array | null;
}

// ---- shared scalar rules (the GPU kernels implement exactly these) ----------------------------

const fr = Math.fround;

/**
 * The 4-bit NF4 code (index into NF4) of w in a block of absmax `absmax`: the count of midpoints
 * fl(absmax·NF4_MID[k]) below w (ties to the lower code, as bitsandbytes); 7 (0.0) when absmax is 0.
 */
export function nf4Code(w: number, absmax: number): number {
  if (absmax === 0) return 7;
  let q = 0;
  for (let k = 0; k < 15; k++) if (w > fr(absmax * NF4_MID[k])) q++;
  return q;
}

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

/** Double quantization of NF4 absmax values (used by quantizeRef and by the GPU path, on the CPU). */
export function doubleQuantize(absmax: Float32Array): { q8: Uint32Array; extra: Float32Array } {
  const nb = absmax.length;
  const nb2 = Math.ceil(nb / DQ_BLOCK);
  let sum = 0;
  for (let j = 0; j < nb; j++) sum += absmax[j];
  const c = fr(sum / nb);
  const extra = new Float32Array(256 + 1 + nb2);
  extra.set(DYN, 0);
  extra[256] = c;
  const q8 = new Uint32Array(Math.ceil(nb / 4));
  for (let b2 = 0; b2 < nb2; b2++) {
    const j0 = b2 * DQ_BLOCK;
    const j1 = Math.min(nb, j0 + DQ_BLOCK);
    const v = new Float64Array(j1 - j0);
    let a2 = 0;
    for (let j = j0; j < j1; j++) {
      v[j - j0] = fr(absmax[j] - c);
      a2 = Math.max(a2, Math.abs(v[j - j0]));
    }
    extra[257 + b2] = a2;
    for (let j = j0; j < j1; j++) {
      let code = 127;
      if (a2 > 0) {
        const x = v[j - j0] / a2;
        let best = Infinity;
        for (let k = 0; k < 256; k++) {
          const d = Math.abs(x - DYN[k]);
          if (d < best) {
            best = d;
            code = k;
          }
        }
      }
      q8[j >> 2] = (q8[j >> 2] | (code << ((j & 3) * 8))) >>> 0;
    }
  }
  return { q8, extra };
}

/** The absmax values an nf4-dq weight dequantizes with. */
export function dqAbsmax(q8: Uint32Array, extra: Float32Array, nBlocks: number): Float32Array {
  const out = new Float32Array(nBlocks);
  const c = extra[256];
  for (let j = 0; j < nBlocks; j++) {
    const code = (q8[j >> 2] >>> ((j & 3) * 8)) & 0xff;
    out[j] = fr(fr(extra[code] * extra[257 + Math.floor(j / DQ_BLOCK)]) + c);
  }
  return out;
}

// ---- reference quantize / dequantize ---------------------------------------------------------

/**
 * CPU reference quantizer of W[rows = out, cols = in] (row-major f32, at least rows·cols elements)
 * into the exact buffers the GPU quantizer writes (layouts in the file header). Throws Error when
 * canQuantize gives a reason or W is too short.
 */
export function quantizeRef(mode: QuantFormat, W: Float32Array, rows: number, cols: number, groupSize = DEFAULT_GROUP_SIZE): QuantizedHost {
  const why = canQuantize(mode, rows, cols, groupSize);
  if (why) throw new Error(why);
  const numel = rows * cols;
  if (W.length < numel) throw new Error(`quantizeRef: W has ${W.length} elements, [${rows}, ${cols}] needs ${numel}`);
  const l = quantLayout(mode, rows, cols, groupSize);
  const codes = new Uint32Array(l.codes / 4);
  const g = effectiveGroupSize(mode, cols, groupSize);
  const base = { mode, rows, cols, groupSize: g, codes };
  switch (mode) {
    case 'nf4':
    case 'nf4-dq': {
      const nb = Math.ceil(numel / NF4_BLOCK);
      const absmax = new Float32Array(nb);
      for (let b = 0; b < nb; b++) {
        let m = 0;
        for (let i = b * NF4_BLOCK; i < Math.min(numel, (b + 1) * NF4_BLOCK); i++) m = Math.max(m, Math.abs(W[i]));
        absmax[b] = m;
      }
      for (let i = 0; i < numel; i++) {
        const q = nf4Code(W[i], absmax[i >> 6]);
        const shift = ((i >> 1) & 3) * 8 + (i & 1 ? 0 : 4);
        codes[i >> 3] = (codes[i >> 3] | (q << shift)) >>> 0;
      }
      if (mode === 'nf4') return { ...base, scales: absmax, zeros: null, extra: null };
      const { q8, extra } = doubleQuantize(absmax);
      return { ...base, scales: q8, zeros: null, extra };
    }
    case 'int8': {
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
      return { ...base, scales, zeros: null, extra: null };
    }
    default: {
      const bits = codeBits(mode);
      const qmax = 2 ** bits - 1;
      const L = cols / groupSize;
      const scales = new Uint32Array(l.scales / 4);
      const zeros = new Uint32Array(l.zeros / 4);
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
      return { ...base, scales, zeros, extra: null };
    }
  }
}

/** The code of element i (unsigned field value; int8 is returned signed). */
export function codeAt(q: QuantizedHost, i: number): number {
  switch (q.mode) {
    case 'int8':
      return ((q.codes[i >> 2] >>> ((i & 3) * 8)) << 24) >> 24;
    case 'nf4':
    case 'nf4-dq':
      return (q.codes[i >> 3] >>> (((i >> 1) & 3) * 8 + (i & 1 ? 0 : 4))) & 15;
    default: {
      const bits = codeBits(q.mode);
      const bit = i * bits;
      const w = Math.floor(bit / 32);
      const sh = bit % 32;
      let v = q.codes[w] >>> sh;
      if (sh + bits > 32) v |= q.codes[w + 1] << (32 - sh);
      return v & ((1 << bits) - 1);
    }
  }
}

/** Per-group scale / zero values of a qalora weight (f16 decoded). */
export function qaScaleZero(q: QuantizedHost, j: number): { s: number; z: number } {
  const z = q.zeros!;
  return { s: getF16(q.scales as Uint32Array, j), z: z instanceof Float32Array ? z[j] : getF16(z, j) };
}

/** ŵ as the fused matmul kernels compute it (f32 arithmetic). */
export function dequantizeRef(q: QuantizedHost): Float32Array {
  const numel = q.rows * q.cols;
  const out = new Float32Array(numel);
  switch (q.mode) {
    case 'nf4':
    case 'nf4-dq': {
      const nb = Math.ceil(numel / NF4_BLOCK);
      const absmax = q.mode === 'nf4' ? (q.scales as Float32Array) : dqAbsmax(q.scales as Uint32Array, q.extra!, nb);
      for (let i = 0; i < numel; i++) out[i] = fr(NF4[codeAt(q, i)] * absmax[i >> 6]);
      return out;
    }
    case 'int8': {
      const sc = q.scales as Float32Array;
      for (let i = 0; i < numel; i++) out[i] = fr(codeAt(q, i) * fr(sc[Math.floor(i / q.cols)] * INV127));
      return out;
    }
    default: {
      for (let i = 0; i < numel; i++) {
        const { s, z } = qaScaleZero(q, Math.floor(i / q.groupSize));
        out[i] = fr(s * fr(codeAt(q, i) - z));
      }
      return out;
    }
  }
}

/**
 * WGSL literal for an f32 value (exact: the shortest decimal of the double equal to the f32).
 * Throws Error for a non-finite value.
 */
function wgslF32(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`wgslF32: ${v}`);
  return `${Object.is(v, -0) ? '-0.0' : String(v)}f`;
}

/** Constants shared by shaders/quantize.wgsl and shaders/matmul.wgsl, as preprocessor defines. */
export function quantShaderConstants(): Record<string, string> {
  return {
    NF4_CODE: Array.from(NF4, wgslF32).join(', '),
    NF4_MID: Array.from(NF4_MID, wgslF32).join(', '),
    INV127: wgslF32(INV127),
    INV254: wgslF32(INV254),
  };
}
