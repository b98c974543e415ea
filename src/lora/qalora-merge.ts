// QA-LoRA after training: the exact merge into the INT-N base. The zero points absorb the adapter
// (trained on group-pooled inputs, A [r, in/g]); codes and scales stay as they are, so the merged
// model stays INT-N (QA-LoRA paper, Xu et al. 2023, section 3.3). The merged model's on-disk layout
// is src/model/qalora-checkpoint.ts.

import { f16BitsToF32 } from '../gpu/half';
import type { QuantizedHost } from '../quant/formats';
import { QuantCheckpointError } from '../model/qalora-checkpoint';
import type { AdapterTensors } from './peft';

function f16At(words: Uint32Array, j: number): number {
  return f16BitsToF32((words[j >> 1] >>> ((j & 1) * 16)) & 0xffff);
}

function zeroAt(zeros: Uint32Array | Float32Array, j: number): number {
  return zeros instanceof Float32Array ? zeros[j] : f16At(zeros, j);
}

/**
 * Folds a QA-LoRA adapter (trained on the group average, A [r, in/g]) into a qalora-quantized
 * matrix: z' = z − (s_lora/g)·(B·A)[o, l] / s[o, l]. Codes and scales are unchanged.
 */
export function mergeQaloraZeros(q: QuantizedHost, t: AdapterTensors, r: number, sLora: number): QuantizedHost {
  if (!q.zeros || !(q.scales instanceof Uint32Array)) throw new QuantCheckpointError(`mergeQaloraZeros: ${q.mode} is not a QA-LoRA format`);
  const g = q.groupSize;
  const L = q.cols / g;
  if (t.A.length !== r * L || t.B.length !== q.rows * r) {
    throw new QuantCheckpointError(`mergeQaloraZeros: adapter shapes do not match a [${q.rows}, ${q.cols}] matrix with group size ${g} (A must be [r, in/g])`);
  }
  const zeros = new Float32Array(q.rows * L);
  for (let o = 0; o < q.rows; o++) {
    for (let l = 0; l < L; l++) {
      const j = o * L + l;
      let d = 0;
      for (let k = 0; k < r; k++) d += t.B[o * r + k] * t.A[k * L + l];
      zeros[j] = zeroAt(q.zeros, j) - ((sLora / g) * d) / f16At(q.scales, j);
    }
  }
  return { ...q, zeros };
}

/** The dense update of a pooled adapter as plain LoRA tensors: A_dense[k, i] = A[k, floor(i/g)] / g. */
export function expandPooledAdapter(t: AdapterTensors, r: number, inF: number, g: number): AdapterTensors {
  const L = inF / g;
  const A = new Float32Array(r * inF);
  for (let k = 0; k < r; k++) for (let i = 0; i < inF; i++) A[k * inF + i] = t.A[k * L + Math.floor(i / g)] / g;
  return { A, B: t.B };
}
