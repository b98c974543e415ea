// The frozen weights of lora/linear.ts as matmul operands: one module's W and bias (a view into a
// group's shared buffer when model/weights.ts concatenated the group), and a group's weights as
// one [Σ out, in] matrix when they are consecutive row blocks of one set of buffers.
import type { LinearWeights } from '../model/weights';
import type { MatmulArgs } from '../ops/matmul';
import { isQuantWeight } from '../quant/weight';

/** The frozen weight as matmul's B operand: f32, f16-packed (at its offset in a shared buffer), or quantized (dequantized in registers). */
export function weightOperand(lw: LinearWeights): Pick<MatmulArgs, 'B' | 'bDType' | 'bQuant' | 'offB'> {
  const W = lw.W;
  return isQuantWeight(W) ? { bQuant: W, offB: W.offset ?? 0 } : { B: W.buffer, bDType: W.dtype, offB: W.offset ?? 0 };
}

/** The bias as matmul's bias operand (at its offset in a shared buffer). */
export function biasOperand(lw: LinearWeights): Pick<MatmulArgs, 'bias' | 'biasDType' | 'offBias'> {
  return lw.bias ? { bias: lw.bias.buffer, biasDType: lw.bias.dtype, offBias: lw.bias.offset ?? 0 } : {};
}

/**
 * A group's frozen weights as one [Σ outF, inF] matrix: when they are consecutive row blocks of one
 * set of buffers (model/weights.ts puts q|k|v and gate|up so: dense, or quantized by
 * quant/concat.ts) with their biases likewise (or none), the group's frozen products run as one;
 * null otherwise (separate buffers, mixed storage, a single module).
 */
export function concatenated(list: { lw: LinearWeights }[]): { W: Pick<MatmulArgs, 'B' | 'bDType' | 'bQuant' | 'offB'>; bias: Pick<MatmulArgs, 'bias' | 'biasDType' | 'offBias'>; rows: number } | null {
  if (list.length < 2) return null;
  const first = list[0].lw;
  const W0 = first.W;
  const same = (W: LinearWeights['W']) =>
    isQuantWeight(W) && isQuantWeight(W0) ? W.codes === W0.codes && W.mode === W0.mode && W.groupSize === W0.groupSize : !isQuantWeight(W) && !isQuantWeight(W0) && W.buffer === W0.buffer && W.dtype === W0.dtype;
  let off = W0.offset ?? 0, offBias = first.bias?.offset ?? 0, rows = 0;
  for (const { lw } of list) {
    const W = lw.W, b = lw.bias;
    if (!same(W) || (W.offset ?? 0) !== off || lw.module.inF !== first.module.inF) return null;
    if (!!b !== !!first.bias || (b && (b.buffer !== first.bias!.buffer || b.dtype !== first.bias!.dtype || (b.offset ?? 0) !== offBias))) return null;
    off += lw.module.outF * lw.module.inF;
    offBias += lw.module.outF;
    rows += lw.module.outF;
  }
  const W = isQuantWeight(W0) ? { bQuant: { ...W0, shape: [rows, first.module.inF] as [number, number] }, offB: W0.offset ?? 0 } : weightOperand(first);
  return { W, bias: biasOperand(first), rows };
}

/** Whether a group's outputs (or output gradients) are side by side: each module's columns right after the previous one's. */
export function sideBySide(list: { lw: LinearWeights }[], off: (i: number) => number): boolean {
  let next = off(0);
  return list.every((a, i) => {
    const ok = off(i) === next;
    next += a.lw.module.outF;
    return ok;
  });
}

/** A group's label: the first module's name, then the other modules' kinds ('…q_proj|k_proj|v_proj'). */
export function groupName(list: { lw: LinearWeights }[]): string {
  return list.map((a, i) => (i ? a.lw.module.kind : a.lw.module.name)).join('|');
}
