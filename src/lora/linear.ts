// A frozen linear module with its optional LoRA adapter, as dispatches: the forward
// out = inp·Wᵀ + b + s·dropout(x̃)·Aᵀ·Bᵀ and its backward (the input gradient through W and the
// adapter, and the adapter's dA, dB; W never gets a gradient). x̃ is the input, or for QA-LoRA its
// average over groups of g input features. Shapes follow PEFT's LoraLayer: A [r, aIn], B [out, r],
// s = lora_alpha / r (or / √r with rsLoRA); the intermediate u = dropout(x̃)·Aᵀ [rows, r] is kept
// for dB. Used by the transformer (net/) for every projection and the output head.
// Names: `rows` is the token count of a call (N = B·T, or a head chunk's rows; the `N` of the group
// pooling ops' arguments); in matmul arguments M, N, K are the GEMM dimensions (N the output width).
// `u` is only ever the LoRA intermediate (the buffers 'u.<module>' of net/buffers.ts).

import type { Bindable, GpuContext } from '../gpu/context';
import type { Program } from '../gpu/program';
import type { LinearWeights } from '../model/weights';
import { dropout } from '../ops/elementwise';
import { matmul, matmulSplitK, SPLITK_MAX_PRODUCTS, splitKPlan, splitKReduce, type MatmulArgs, type SplitKProduct, type TileLimits } from '../ops/matmul';
import type { MatmulMath } from '../ops/matmul-math';
import { groupPool, groupUnpool } from '../ops/pool';
import { isQuantWeight } from '../quant/weight';
import type { LoraSlot, LoraState } from './state';

/** Buffers shared by every LoRA linear of one graph (allocated by its owner, sized by net/buffers.ts). */
export interface LinearScratch {
  /** u32: the step's dropout seed (the same seed and salt give the same mask in the backward). */
  seed: GPUBuffer;
  /** QA-LoRA group averages [rows, ⌈maxIn/g⌉]; null unless QA-LoRA. */
  xpool: GPUBuffer | null;
  /** gB = dout·B [rows, r]. */
  gB: GPUBuffer | null;
  /** QA-LoRA: the adapter's input gradient before dropout and unpooling [rows, maxIn/g], and after dropout. */
  tmp: GPUBuffer | null;
  tmp2: GPUBuffer | null;
  /** Split-K partials of the dA and dB of one group of modules (a layer, a head chunk); null when no product splits. */
  splitK: GPUBuffer | null;
  /** The device's matmul tiling, which decides the split-K plans (the same that sized `splitK`). */
  tiling: { limits: TileLimits; minGroups: number };
}

/** One forward: out[:, offOut : offOut + outF] (row stride ldOut) from inp [rows, inF]. */
interface LinearForwardArgs {
  lw: LinearWeights;
  inp: Bindable;
  out: Bindable;
  ldOut: number;
  offOut: number;
  /** Rows of this call (all N tokens, or one chunk of the output head). */
  rows: number;
  /** First row of the chunk within the batch (salts the dropout mask per chunk); default 0. */
  r0?: number;
  /** Training: LoRA dropout on. */
  train: boolean;
  /** Added to out in the epilogue (the residual, same row stride); must not alias out. */
  addend?: Bindable;
  /** The LoRA intermediate [rows, r]; null runs the frozen module alone. */
  u: GPUBuffer | null;
}

/** One backward, given dout = the gradient of forward's out columns (row stride ldDout). */
interface LinearBackwardArgs {
  lw: LinearWeights;
  /** The forward's input [rows, inF] (the adapter's input is recomputed from it). */
  inp: Bindable;
  dout: Bindable;
  ldDout: number;
  offDout: number;
  /** The input gradient [rows, inF]: written (or added to, with `accumulate`); null when not needed. */
  dinp: Bindable | null;
  accumulate: boolean;
  /** The forward's LoRA intermediate; null: no adapter on this module. */
  u: GPUBuffer | null;
  rows: number;
  r0?: number;
}

/** Dropout salt of a row chunk (chunks of one module must not share a mask pattern). */
function chunkSalt(salt: number, r0: number): number {
  return r0 === 0 ? salt : (salt ^ Math.imul(r0, 0x9e3779b1)) >>> 0;
}

/** The frozen weight as matmul's B operand: f32, f16-packed, or quantized (dequantized in registers). */
function weightOperand(lw: LinearWeights): Pick<MatmulArgs, 'B' | 'bDType' | 'bQuant'> {
  const W = lw.W;
  return isQuantWeight(W) ? { bQuant: W } : { B: W.buffer, bDType: W.dtype };
}

/** The linears of one graph: the frozen matmuls, and the adapter's when the module is targeted. */
export class LoraLinear {
  /** Split-K products whose partials wait in scratch.splitK for reduceGrads, and the next free offset. */
  private pending: SplitKProduct[] = [];
  private offP = 0;

  /** `math`: the arithmetic of every dense product here (frozen and LoRA; the split-K reduce stays f32). */
  constructor(
    readonly ctx: GpuContext,
    readonly lora: LoraState | null,
    readonly scratch: LinearScratch,
    readonly math: MatmulMath = 'f32',
  ) {}

  /** One matmul with this graph's arithmetic. */
  private mm(label: string, a: MatmulArgs) {
    return matmul(this.ctx, label, { ...a, math: this.math });
  }

  /** The adapter's slot of a module, if it is targeted. */
  slotOf(lw: LinearWeights): LoraSlot | undefined {
    return this.lora?.slot(lw.module.name);
  }

  /**
   * out[:, offOut:offOut+outF] = inp·Wᵀ + b (+ s·dropout(x̃)·Aᵀ·Bᵀ when the module has LoRA) (+ addend):
   * the loraA product u = dropout(x̃)·Aᵀ (the mask applied while loading x̃), then one frozen product
   * with the LoRA B product and the residual in its epilogue.
   */
  forward(p: Program, a: LinearForwardArgs): void {
    const { scratch } = this;
    const { lw, inp, out, ldOut, offOut, rows, r0 = 0, train, u } = a;
    const m = lw.module;
    const slot = this.slotOf(lw);
    let second: MatmulArgs['second'];
    if (slot && u) {
      const lora = this.lora!;
      const r = lora.hyper.r;
      const pDrop = lora.hyper.loraDropout;
      const src = this.adapterInput(p, slot, inp, rows, '');
      const drop = train && pDrop > 0 ? { operand: 'A' as const, seed: scratch.seed, salt: chunkSalt(slot.salt, r0), p: pDrop } : undefined;
      p.dispatch(this.mm(`${m.name}.loraA`, { M: rows, N: r, K: slot.aIn, A: src, B: lora.params, offB: slot.offA, transB: true, out: u, drop }));
      second = { A: u, B: lora.params, offB: slot.offB, K: r, transB: true, alpha: lora.scale };
    }
    p.dispatch(
      this.mm(`${m.name}.fwd`, {
        M: rows, N: m.outF, K: m.inF, A: inp, ...weightOperand(lw), transB: true, out, ldc: ldOut, offC: offOut,
        bias: lw.bias?.buffer, biasDType: lw.bias?.dtype, second, addend: a.addend,
      }),
    );
  }

  /**
   * Backward of `forward`: dinp (=, or += with accumulate) when given, and the LoRA gradients
   * dA, dB (+=) into the adapter's flat gradient buffer; split-K products complete only at the
   * next reduceGrads.
   */
  backward(p: Program, a: LinearBackwardArgs): void {
    const { ctx, scratch } = this;
    const { lw, inp, dout, ldDout, offDout, dinp, u, rows, r0 = 0 } = a;
    const m = lw.module;
    const frozenDinp = (extra: Pick<MatmulArgs, 'second' | 'drop'>) =>
      p.dispatch(this.mm(`${m.name}.dinp`, { M: rows, N: m.inF, K: m.outF, A: dout, lda: ldDout, offA: offDout, ...weightOperand(lw), out: dinp!, beta: a.accumulate ? 1 : 0, ...extra }));
    const slot = this.slotOf(lw);
    if (!slot || !u) {
      if (dinp) frozenDinp({});
      return;
    }
    const lora = this.lora!;
    const { r, loraDropout: pDrop } = lora.hyper;
    const s = lora.scale;
    const gB = scratch.gB!;
    const aIn = slot.aIn;
    const qg = lora.qaloraGroupSize;
    const salt = chunkSalt(slot.salt, r0);
    const mask = (operand: 'B' | 'second') => (pDrop > 0 ? { operand, seed: scratch.seed, salt, p: pDrop } : undefined);
    // gB = dout·B [rows, r]
    p.dispatch(this.mm(`${m.name}.gB`, { M: rows, N: r, K: m.outF, A: dout, lda: ldDout, offA: offDout, B: lora.params, offB: slot.offB, out: gB }));
    // dinp (=, or +=) dout·W + s·mask⊙(gB·A): the adapter's part in the frozen product's epilogue.
    // QA-LoRA keeps it separate: its gB·A [rows, in/g] is broadcast over each group (÷g) by groupUnpool.
    if (dinp) frozenDinp(qg ? {} : { second: { A: gB, B: lora.params, offB: slot.offA, K: r, alpha: s }, drop: mask('second') });
    // dB += s·doutᵀ·u [out, r] and dA += s·gBᵀ·dropout(x̃) [r, aIn] (x̃ recomputed, the mask applied
    // in the loads), both reduced over the rows: a deterministic split-K (fixed chunks, partials left
    // in scratch.splitK until the caller's reduceGrads) when the plan splits K, else one matmul each.
    const [planA, planB] = this.gradPlans(slot, rows);
    const grad = (name: string, args: MatmulArgs, plan: typeof planA, offC: number) => {
      if (plan.S < 2) return p.dispatch(this.mm(`${m.name}.${name}`, args));
      const cap = scratch.splitK ? scratch.splitK.size / 4 : 0;
      if (this.pending.length >= SPLITK_MAX_PRODUCTS || this.offP + plan.scratch > cap) {
        throw new Error(`internal: ${m.name}: the split-K partials of one group exceed the scratch (call reduceGrads per layer)`);
      }
      p.dispatch(matmulSplitK(ctx, `${m.name}.${name}`, { ...args, math: this.math }, plan, scratch.splitK!, this.offP));
      this.pending.push({ n: args.M * args.N, S: plan.S, offP: this.offP, offC });
      this.offP += plan.scratch;
    };
    grad('dB', { M: m.outF, N: r, K: rows, A: dout, lda: ldDout, offA: offDout, transA: true, B: u, out: lora.grads, offC: slot.offB, alpha: s, beta: 1 }, planB, slot.offB);
    const src = this.adapterInput(p, slot, inp, rows, '.re');
    grad('dA', { M: r, N: aIn, K: rows, A: gB, lda: r, transA: true, B: src, out: lora.grads, offC: slot.offA, alpha: s, beta: 1, drop: mask('B') }, planA, slot.offA);
    if (!dinp || !qg) return;
    // QA-LoRA: dinp += unpool(mask⊙(s·gB·A)) / g
    p.dispatch(this.mm(`${m.name}.dx.lora`, { M: rows, N: aIn, K: r, A: gB, B: lora.params, offB: slot.offA, out: scratch.tmp!, alpha: s }));
    let d: GPUBuffer = scratch.tmp!;
    if (pDrop > 0) {
      p.dispatch(dropout(ctx, `${m.name}.drop.dx`, { n: rows * aIn, inp: scratch.tmp!, out: scratch.tmp2!, seed: scratch.seed, salt, p: pDrop }));
      d = scratch.tmp2!;
    }
    p.dispatch(groupUnpool(ctx, `${m.name}.unpool`, { N: rows, C: m.inF, g: qg, dout: d, dinp, scale: 1 / qg, accumulate: true }));
  }

  /**
   * The one fixed-order reduce of the split-K partials that the backward calls since the last
   * reduce left in scratch (dA, dB += s·Σ partials); nothing when none split. The transformer calls
   * it once per decoder layer and once per head chunk (net/buffers.ts sizes the scratch for the
   * largest such group).
   */
  reduceGrads(p: Program, label: string): void {
    if (!this.pending.length) return;
    const lora = this.lora!;
    p.dispatch(splitKReduce(this.ctx, label, this.pending, this.scratch.splitK!, lora.grads, lora.scale, 1));
    this.pending = [];
    this.offP = 0;
  }

  /**
   * The adapter's input x̃: inp, or for QA-LoRA its group average [rows, in/g]. LoRA dropout is not
   * applied here: the products that read x̃ apply the mask while loading it (MatmulArgs.drop).
   */
  private adapterInput(p: Program, slot: LoraSlot, inp: Bindable, rows: number, tag: string): Bindable {
    const { ctx, scratch } = this;
    const lora = this.lora!;
    const m = slot.module;
    if (!lora.qaloraGroupSize) return inp;
    p.dispatch(groupPool(ctx, `${m.name}.pool${tag}`, { N: rows, C: m.inF, g: lora.qaloraGroupSize, inp, out: scratch.xpool! }));
    return scratch.xpool!;
  }

  /** Split-K plans of a module's dA [r, aIn] and dB [out, r], both reduced over `rows` tokens. */
  private gradPlans(slot: LoraSlot, rows: number) {
    const { limits, minGroups } = this.scratch.tiling;
    const r = this.lora!.hyper.r;
    return [splitKPlan(r, slot.aIn, rows, limits, minGroups), splitKPlan(slot.module.outF, r, rows, limits, minGroups)] as const;
  }
}
