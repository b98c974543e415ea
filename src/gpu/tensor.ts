// A frozen weight on the GPU. f16 weights are packed two per u32 word (no shader-f16 needed).
// Quantized bases are a separate type, QuantWeight (src/quant/weight.ts), that the matmul
// dequantizes in registers (MatmulArgs.bQuant); `Weight` stays the dense f32 / f16 form.

export type WeightDType = 'f32' | 'f16';

export interface Weight {
  name: string;
  buffer: GPUBuffer;
  dtype: WeightDType;
  /** Logical shape; matrices are [out, in] (PyTorch Linear layout) whatever the checkpoint stored. */
  shape: number[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
