// Folding a LoRA adapter into the base weights (PEFT's merge_and_unload for Linear and Conv1D).
import type { LinearModule } from '../model/modules';
import type { AdapterTensors } from './peft';

/**
 * Returns W + s·B·A in the checkpoint's own layout: Linear W [out, in]; GPT-2 Conv1D stores
 * W [in, out], so there the update is added transposed. Accumulates in float64.
 */
export function mergeLinear(m: LinearModule, W: Float32Array, t: AdapterTensors, r: number, s: number): Float32Array {
  const { inF, outF } = m;
  if (W.length !== inF * outF) throw new Error(`${m.name}: weight has ${W.length} values, expected ${inF * outF}`);
  const out = new Float32Array(W);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += t.B[o * r + k] * t.A[k * inF + i];
      const idx = m.conv1d ? i * outF + o : o * inF + i;
      out[idx] = W[idx] + s * d;
    }
  }
  return out;
}
