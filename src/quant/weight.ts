// A quantized frozen weight on the GPU: packed codes plus scales (and zero points / the
// double-quantization tables), dequantized in registers by the matmul (src/ops/matmul.ts).

import type { Weight } from '../gpu/tensor';
import type { QuantFormat } from './formats';

/**
 * A quantized frozen matrix W[out, in] (layouts in the headers of src/quant/nf4.ts, int8.ts,
 * qalora.ts). The matmul reads whole rows (row length = in) from `offset` on.
 */
export interface QuantWeight {
  name: string;
  mode: QuantFormat;
  /** [out, in] */
  shape: [number, number];
  /** The effective group: 64 for nf4 / nf4-dq (block), in for int8 (one scale per row), g for qalora. */
  groupSize: number;
  /** Packed codes (u32 words). */
  codes: GPUBuffer;
  /** int8 / nf4: f32; nf4-dq: u8 absmax codes in u32 words; qalora: f16 pairs. */
  scales: GPUBuffer;
  /** qalora: zero points, f16 pairs (or f32 when zerosF32: a merged QA-LoRA model); otherwise null. */
  zeros: GPUBuffer | null;
  /** The zero points are f32 (merged QA-LoRA models) rather than f16 pairs. */
  zerosF32?: boolean;
  /** nf4-dq: f32 [DYN table (256), c, absmax2 per 256 blocks]; otherwise null. */
  extra: GPUBuffer | null;
  /** Bytes of all its GPU buffers (as allocated). */
  bytes: number;
  /**
   * Element offset (first row × in) of this matrix in its buffers (default 0): the buffers then
   * hold the row-wise concatenation of a group's matrices (q|k|v, gate|up; quant/concat.ts) in the
   * same format, so every index the format derives (int8 row, nf4 block, QA-LoRA group) is that of
   * the concatenation, and the matmul reads this matrix with offB = offset.
   */
  offset?: number;
}

/** A frozen base matrix on the GPU: dense (Weight, f32/f16) or quantized (QuantWeight). */
export type AnyWeight = Weight | QuantWeight;

/** True for a quantized weight (it has a codes buffer). */
export function isQuantWeight(w: AnyWeight): w is QuantWeight {
  return 'codes' in w;
}
