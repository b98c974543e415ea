// A frozen weight on the GPU. f16 weights are packed two per u32 word (no shader-f16 needed).
// Quantized bases are a separate type, QuantWeight (src/quant/weight.ts), that the matmul
// dequantizes in registers (MatmulArgs.bQuant); `Weight` stays the dense f32 / f16 form.

/** Element type of a dense frozen weight on the GPU: f32, or f16 packed two per u32 word (see packF16). */
export type WeightDType = 'f32' | 'f16';

/**
 * A dense frozen weight on the GPU. `buffer` holds numel(shape) elements row-major: 4 bytes each for
 * f32, 2 bytes each for f16 (pairs packed in u32 words, padded to an even count).
 */
export interface Weight {
  name: string;
  buffer: GPUBuffer;
  dtype: WeightDType;
  /** Logical shape; matrices are [out, in] (PyTorch Linear layout) whatever the checkpoint stored. */
  shape: number[];
  /**
   * Element offset of this weight in `buffer` (default 0): the weights of modules that read one
   * input (q|k|v, gate|up) share one buffer, row blocks side by side (model/weights.ts), so one
   * product can run over all of them. Even for f16 (whole u32 words).
   */
  offset?: number;
}
