// Quantized frozen-base formats: mode names, the sizes of the packed GPU buffers each mode uses,
// byte accounting, and the host form of a quantized matrix. The layouts and the float32-faithful
// CPU reference quantizers are per format: nf4.ts (nf4, nf4-dq), int8.ts, qalora.ts (QA-LoRA INT-N);
// reference.ts dispatches on the mode (the GPU quantizer in shaders/quantize.wgsl must produce
// bit-identical codes; see the tests).
//
// All matrices are W[rows = out, cols = in], flattened row-major (element i = o*cols + c). Each
// quantized matrix has four buffers: codes, scales, zeros (qalora only), extra (nf4-dq only).

/**
 * How the frozen base is stored: 'none' (dense f32/f16), int8 (vector-wise absmax, as bitsandbytes'
 * LLM.int8 weight storage), nf4 / nf4-dq (QLoRA paper; bitsandbytes/functional.py quantize_4bit and
 * its double quantization), qalora-intN (QA-LoRA paper, GPTQ-style min-max groups). Layouts: the headers of nf4.ts, int8.ts,
 * qalora.ts.
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
export const DQ_BLOCK = 256;
/** Default QA-LoRA group size g: consecutive input columns (in_features) sharing one scale and zero point. */
export const DEFAULT_GROUP_SIZE = 32;

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
 * `mode`, as the headers of nf4.ts, int8.ts and qalora.ts lay them out; groupSize only matters for qalora (cols must be a
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

/**
 * Whether W[rows, cols]'s buffers can be the row block of a concatenation of matrices in `mode`
 * (quant/concat.ts): each buffer of the layout is whole u32 words with no padding element, so the
 * next matrix's codes, scales and zero points follow on without a gap and index as one matrix
 * (codes: rows·cols·bits a multiple of 32; nf4: whole 64-blocks; QA-LoRA: an even group count for
 * the f16 pairs). Never for nf4-dq, whose second level has one mean c per matrix (bitsandbytes).
 */
export function rowBlocksConcatenate(mode: QuantFormat, rows: number, cols: number, groupSize = DEFAULT_GROUP_SIZE): boolean {
  const numel = rows * cols;
  if (mode === 'nf4-dq' || (numel * codeBits(mode)) % 32 !== 0) return false;
  if (mode === 'nf4') return numel % NF4_BLOCK === 0;
  if (isQalora(mode)) return cols % groupSize === 0 && (numel / groupSize) % 2 === 0;
  return true;
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
