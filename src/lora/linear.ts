// A frozen linear module with its optional LoRA adapter, as dispatches: the forward
// out = inp·Wᵀ + b + s·dropout(x̃)·Aᵀ·Bᵀ and its backward (the input gradient through W and the
// adapter, and the adapter's dA, dB; W never gets a gradient). x̃ is the input, or for QA-LoRA its
// average over groups of g input features. Shapes follow PEFT's LoraLayer: A [r, aIn], B [out, r],
// s = lora_alpha / r (or / √r with rsLoRA); the intermediate u = dropout(x̃)·Aᵀ [rows, r] is kept
// for dB. Used by the transformer (net/) for every projection and the output head.
// Names: `rows` is the token count of a call (N = B·T, or a head chunk's rows; the `N` of the group
// pooling ops' arguments); in matmul arguments M, N, K are the GEMM dimensions (N the output width).
// `u` is only ever the LoRA intermediate (the buffers 'u.<module>' of net/buffers.ts: one per group
// of modules that share an input, module j's u the [rows, r] block at element j·rows·r).
// Groups (forwardGroup, backwardGroup: q|k|v, gate|up): the LoRA products of the group's modules
// run as one grouped dispatch each (ops/matmul-grouped.ts: loraA, gB, dB, dA), the same bits as
// one dispatch per module. When the group's weights (dense, or quantized: quant/concat.ts) are
// row blocks of one set of buffers (model/weights.ts), its frozen forward and its frozen input gradient are one product each over
// the concatenated rows, with the adapters' B products and input gradients in the epilogue as
// segments (ops/matmul.ts MatmulSecond.segments); otherwise one frozen product per module.

import type { Bindable, GpuContext } from '../gpu/context';
import type { Program } from '../gpu/program';
import type { LinearWeights } from '../model/weights';
import { dropout } from '../ops/elementwise';
import { matmul, MATMUL_MAX_SEGMENTS, matmulSplitK, SPLITK_MAX_PRODUCTS, splitKPlan, splitKReduce, type MatmulArgs, type MatmulSegment, type SplitKPlan, type SplitKProduct, type TileLimits } from '../ops/matmul';
import { groupArgs, matmulGrouped, matmulSplitKGrouped, MATMUL_MAX_GROUPS } from '../ops/matmul-grouped';
import type { MatmulMath } from '../ops/matmul-math';
import { groupPool, groupUnpool } from '../ops/pool';
import { biasOperand, concatenated, groupName, sideBySide, weightOperand } from './operands';
import type { LoraSlot, LoraState } from './state';

/** Buffers shared by every LoRA linear of one graph (allocated by its owner, sized by net/buffers.ts). */
export interface LinearScratch {
  /** u32: the step's dropout seed (the same seed and salt give the same mask in the backward). */
  seed: GPUBuffer;
  /** QA-LoRA group averages [rows, ⌈maxIn/g⌉]; null unless QA-LoRA. */
  xpool: GPUBuffer | null;
  /** gB = dout·B: G blocks [rows, r] (G = the largest group of modules), module j of a group at j·rows·r. */
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
  /** The LoRA intermediate [rows, r] (at element offset offU); null runs the frozen module alone. */
  u: GPUBuffer | null;
  /** Element offset of this module's u block in `u` (default 0). */
  offU?: number;
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
  /** The forward's LoRA intermediate (at offU); null: no adapter on this module. */
  u: GPUBuffer | null;
  offU?: number;
  rows: number;
  r0?: number;
}

/** Dropout salt of a row chunk (chunks of one module must not share a mask pattern). */
function chunkSalt(salt: number, r0: number): number {
  return r0 === 0 ? salt : (salt ^ Math.imul(r0, 0x9e3779b1)) >>> 0;
}

/** The linears of one graph: the frozen matmuls, and the adapter's when the module is targeted. */
export class LoraLinear {
  /** Split-K products whose partials wait in scratch.splitK for reduceGrads, and the next free offset. */
  private pending: SplitKProduct[] = [];
  private offP = 0;

  constructor(
    readonly ctx: GpuContext,
    readonly lora: LoraState | null,
    readonly scratch: LinearScratch,
    /** Run a group's LoRA products as grouped dispatches (false: one dispatch per module, the same bits; tests and benchmarks). */
    readonly grouped = true,
    /** The arithmetic of every dense product here (frozen and LoRA; the split-K reduce stays f32). */
    readonly math: MatmulMath = 'f32',
  ) {}

  // The matmul entry points with this graph's arithmetic.
  private mm(label: string, a: MatmulArgs) {
    return matmul(this.ctx, label, { ...a, math: this.math });
  }
  private mmSplit(label: string, a: MatmulArgs, plan: SplitKPlan, scratch: GPUBuffer, offP: number) {
    return matmulSplitK(this.ctx, label, { ...a, math: this.math }, plan, scratch, offP);
  }
  private mmGrouped(label: string, a: ReturnType<typeof groupArgs>) {
    return matmulGrouped(this.ctx, label, { ...a, math: this.math });
  }
  private mmSplitGrouped(label: string, a: ReturnType<typeof groupArgs>, plans: SplitKPlan[], scratch: GPUBuffer, offP: number[]) {
    return matmulSplitKGrouped(this.ctx, label, { ...a, math: this.math }, plans, scratch, offP);
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
    this.forwardGroup(p, [a]);
  }

  /**
   * `forward` of modules that read the same input (same inp, rows, r0, train and u buffer, each its
   * own offU): one loraA dispatch for the group's adapters (grouped when on and 2 or more), then
   * each module's frozen product. Throws for more than MATMUL_MAX_GROUPS adapters.
   */
  forwardGroup(p: Program, list: LinearForwardArgs[]): void {
    const { scratch } = this;
    const { inp, rows, r0 = 0, train } = list[0];
    const withLora = list.filter((a) => this.slotOf(a.lw) && a.u);
    const loraA: MatmulArgs[] = [];
    let src: Bindable = inp;
    if (withLora.length) {
      const lora = this.lora!;
      const pDrop = lora.hyper.loraDropout;
      src = this.adapterInput(p, this.slotOf(withLora[0].lw)!, inp, rows, '');
      for (const a of withLora) {
        const slot = this.slotOf(a.lw)!;
        const drop = train && pDrop > 0 ? { operand: 'A' as const, seed: scratch.seed, salt: chunkSalt(slot.salt, r0), p: pDrop } : undefined;
        loraA.push({ M: rows, N: lora.hyper.r, K: slot.aIn, A: src, B: lora.params, offB: slot.offA, transB: true, out: a.u!, offC: a.offU ?? 0, drop });
      }
    }
    const frozen = (a: LinearForwardArgs) => {
      const m = a.lw.module;
      const slot = this.slotOf(a.lw);
      const lora = this.lora;
      const second: MatmulArgs['second'] = slot && a.u && lora ? { A: a.u, offA: a.offU ?? 0, B: lora.params, offB: slot.offB, K: lora.hyper.r, transB: true, alpha: lora.scale } : undefined;
      p.dispatch(
        this.mm(`${m.name}.fwd`, {
          M: rows, N: m.outF, K: m.inF, A: inp, ...weightOperand(a.lw), transB: true, out: a.out, ldc: a.ldOut, offC: a.offOut,
          ...biasOperand(a.lw), second, addend: a.addend,
        }),
      );
    };
    const cat = this.fusedFrozen(list, withLora, (i) => list[i].offOut) && list.every((a) => a.out === list[0].out && a.ldOut === list[0].ldOut && !a.addend) ? concatenated(list) : null;
    if (cat) {
      // One frozen product over the group's concatenated rows, each adapter's B product added to
      // its own columns in the epilogue (column segments).
      if (this.groups(loraA.length)) p.dispatch(this.mmGrouped(`${groupName(withLora)}.loraA`, groupArgs('loraA', loraA)));
      else loraA.forEach((args, j) => p.dispatch(this.mm(`${withLora[j].lw.module.name}.loraA`, args)));
      const lora = this.lora;
      const off0 = list[0].offOut;
      const segs = withLora.map((a) => ({ K: lora!.hyper.r, offA: a.offU ?? 0, offB: this.slotOf(a.lw)!.offB, start: a.offOut - off0, end: a.offOut - off0 + a.lw.module.outF }));
      const second: MatmulArgs['second'] = segs.length ? { A: withLora[0].u!, B: lora!.params, K: 0, transB: true, alpha: lora!.scale, lda: lora!.hyper.r, ldb: lora!.hyper.r, segments: { mode: 'N', list: segs } } : undefined;
      const m = list[0].lw.module;
      p.dispatch(this.mm(`${groupName(list)}.fwd`, { M: rows, N: cat.rows, K: m.inF, A: inp, ...cat.W, transB: true, out: list[0].out, ldc: list[0].ldOut, offC: off0, ...cat.bias, second }));
      return;
    }
    if (this.groups(loraA.length)) {
      p.dispatch(this.mmGrouped(`${groupName(withLora)}.loraA`, groupArgs('loraA', loraA)));
      list.forEach(frozen);
      return;
    }
    // One module at a time (a group of one, or grouping off): loraA, then its frozen product.
    for (const a of list) {
      const j = withLora.indexOf(a);
      if (j >= 0) p.dispatch(this.mm(`${a.lw.module.name}.loraA`, loraA[j]));
      frozen(a);
    }
  }

  /**
   * Backward of `forward`: dinp (=, or += with accumulate) when given, and the LoRA gradients
   * dA, dB (+=) into the adapter's flat gradient buffer; split-K products complete only at the
   * next reduceGrads.
   */
  backward(p: Program, a: LinearBackwardArgs): void {
    this.backwardGroup(p, [a]);
  }

  /**
   * `backward` of modules that read the same input (a forwardGroup's: same inp, dout, ldDout,
   * dinp, rows, r0, u buffer; each its own offDout, offU and accumulate, applied in list order):
   * gB, dB and dA as one dispatch each for the group's adapters (grouped when on and 2 or more),
   * the frozen input gradient one per module.
   */
  backwardGroup(p: Program, list: LinearBackwardArgs[]): void {
    const { scratch } = this;
    const { inp, dout, ldDout, dinp, rows, r0 = 0 } = list[0];
    const frozenDinp = (a: LinearBackwardArgs, extra: Pick<MatmulArgs, 'second' | 'drop'>) =>
      p.dispatch(this.mm(`${a.lw.module.name}.dinp`, { M: rows, N: a.lw.module.inF, K: a.lw.module.outF, A: dout, lda: ldDout, offA: a.offDout, ...weightOperand(a.lw), out: dinp!, beta: a.accumulate ? 1 : 0, ...extra }));
    const withLora = list.filter((a) => this.slotOf(a.lw) && a.u);
    const cat = dinp && this.fusedFrozen(list, withLora, (i) => list[i].offDout) && list.every((a, i) => a.accumulate === (i > 0 || list[0].accumulate)) ? concatenated(list) : null;
    // The group's input gradient as one product over the concatenated rows (K = Σ outF), with each
    // adapter's s·mask⊙(gB·A) added in the epilogue (K segments, each under its own mask).
    const catDinp = (segs: MatmulSegment[], drop: MatmulArgs['drop']) => {
      const lora = this.lora;
      const second: MatmulArgs['second'] = segs.length ? { A: scratch.gB!, B: lora!.params, K: 0, alpha: lora!.scale, lda: lora!.hyper.r, ldb: list[0].lw.module.inF, segments: { mode: 'K', list: segs } } : undefined;
      p.dispatch(this.mm(`${groupName(list)}.dinp`, {
        M: rows, N: list[0].lw.module.inF, K: cat!.rows, A: dout, lda: ldDout, offA: list[0].offDout, ...cat!.W, out: dinp!, beta: list[0].accumulate ? 1 : 0, second, drop,
      }));
    };
    if (!withLora.length) {
      if (cat) catDinp([], undefined);
      else if (dinp) for (const a of list) frozenDinp(a, {});
      return;
    }
    const lora = this.lora!;
    const { r, loraDropout: pDrop } = lora.hyper;
    const s = lora.scale;
    const gB = scratch.gB!;
    const qg = lora.qaloraGroupSize;
    const grouped = this.groups(withLora.length);
    const mods = withLora.map((a, j) => {
      const slot = this.slotOf(a.lw)!;
      const salt = chunkSalt(slot.salt, r0);
      const mask = (operand: 'B' | 'second') => (pDrop > 0 ? { operand, seed: scratch.seed, salt, p: pDrop } : undefined);
      // gB = dout·B [rows, r]: module j's block at j·rows·r when grouped or read by one fused input gradient.
      const offG = grouped || cat ? j * rows * r : 0;
      const gBArgs: MatmulArgs = { M: rows, N: r, K: a.lw.module.outF, A: dout, lda: ldDout, offA: a.offDout, B: lora.params, offB: slot.offB, out: gB, offC: offG };
      return { a, slot, salt, mask, offG, gBArgs };
    });
    const modOf = (a: LinearBackwardArgs) => mods.find((m) => m.a === a);
    // dinp (=, or +=) dout·W + s·mask⊙(gB·A): the adapter's part in the frozen product's epilogue.
    // QA-LoRA keeps it separate: its gB·A [rows, in/g] is broadcast over each group (÷g) by groupUnpool.
    const inputGrad = (a: LinearBackwardArgs) => {
      const mo = modOf(a);
      if (!dinp) return;
      if (!mo) return frozenDinp(a, {});
      frozenDinp(a, qg ? {} : { second: { A: gB, offA: mo.offG, B: lora.params, offB: mo.slot.offA, K: r, alpha: s }, drop: mo.mask('second') });
      if (qg) this.qaloraInputGrad(p, a, mo.slot, mo.offG, mo.salt, dinp, rows);
    };
    // dB += s·doutᵀ·u [out, r] and dA += s·gBᵀ·dropout(x̃) [r, aIn] (x̃ recomputed, the mask applied
    // in the loads), both reduced over the rows: a deterministic split-K (fixed chunks, partials left
    // in scratch.splitK until the caller's reduceGrads) when the plan splits K, else one matmul each.
    const dB = mods.map((mo) => ({
      lw: mo.a.lw, plan: this.gradPlans(mo.slot, rows)[1],
      args: { M: mo.a.lw.module.outF, N: r, K: rows, A: dout, lda: ldDout, offA: mo.a.offDout, transA: true, B: mo.a.u!, offB: mo.a.offU ?? 0, out: lora.grads, offC: mo.slot.offB, alpha: s, beta: 1 } as MatmulArgs,
    }));
    const dA = (src: Bindable) => mods.map((mo) => ({
      lw: mo.a.lw, plan: this.gradPlans(mo.slot, rows)[0],
      args: { M: r, N: mo.slot.aIn, K: rows, A: gB, lda: r, offA: mo.offG, transA: true, B: src, out: lora.grads, offC: mo.slot.offA, alpha: s, beta: 1, drop: mo.mask('B') } as MatmulArgs,
    }));
    if (cat) {
      if (grouped) p.dispatch(this.mmGrouped(`${groupName(withLora)}.gB`, groupArgs('gB', mods.map((m) => m.gBArgs))));
      else for (const mo of mods) p.dispatch(this.mm(`${mo.a.lw.module.name}.gB`, mo.gBArgs));
      if (!qg) catDinp(mods.map((mo) => ({ K: r, offA: mo.offG, offB: mo.slot.offA, salt: mo.salt })), pDrop > 0 ? { operand: 'second', seed: scratch.seed, salt: mods[0].salt, p: pDrop } : undefined);
      else {
        // QA-LoRA: the adapters' input gradients are [rows, in/g], broadcast over each group after the frozen one.
        catDinp([], undefined);
        for (const mo of mods) this.qaloraInputGrad(p, mo.a, mo.slot, mo.offG, mo.salt, dinp!, rows);
      }
      this.grads(p, 'dB', dB);
      const src = this.adapterInput(p, mods[0].slot, inp, rows, '.re');
      this.grads(p, 'dA', dA(src));
      return;
    }
    if (grouped) {
      const name = groupName(withLora);
      p.dispatch(this.mmGrouped(`${name}.gB`, groupArgs('gB', mods.map((m) => m.gBArgs))));
      list.forEach(inputGrad);
      this.grads(p, 'dB', dB);
      const src = this.adapterInput(p, mods[0].slot, inp, rows, '.re');
      this.grads(p, 'dA', dA(src));
      return;
    }
    // One module at a time (a group of one, or grouping off).
    for (const a of list) {
      const mo = modOf(a);
      if (!mo) {
        inputGrad(a);
        continue;
      }
      const j = mods.indexOf(mo);
      p.dispatch(this.mm(`${a.lw.module.name}.gB`, mo.gBArgs));
      if (!qg) inputGrad(a);
      else if (dinp) frozenDinp(a, {});
      this.grads(p, 'dB', [dB[j]]);
      const src = this.adapterInput(p, mo.slot, inp, rows, '.re');
      this.grads(p, 'dA', [dA(src)[j]]);
      if (qg && dinp) this.qaloraInputGrad(p, a, mo.slot, mo.offG, mo.salt, dinp, rows);
    }
  }

  /** QA-LoRA: dinp += unpool(mask⊙(s·gB·A)) / g (gB of the module at offG). */
  private qaloraInputGrad(p: Program, a: LinearBackwardArgs, slot: LoraSlot, offG: number, salt: number, dinp: Bindable, rows: number): void {
    const { ctx, scratch } = this;
    const lora = this.lora!;
    const { r, loraDropout: pDrop } = lora.hyper;
    const qg = lora.qaloraGroupSize;
    const m = a.lw.module;
    p.dispatch(this.mm(`${m.name}.dx.lora`, { M: rows, N: slot.aIn, K: r, A: scratch.gB!, offA: offG, B: lora.params, offB: slot.offA, out: scratch.tmp!, alpha: lora.scale }));
    let d: GPUBuffer = scratch.tmp!;
    if (pDrop > 0) {
      p.dispatch(dropout(ctx, `${m.name}.drop.dx`, { n: rows * slot.aIn, inp: scratch.tmp!, out: scratch.tmp2!, seed: scratch.seed, salt, p: pDrop }));
      d = scratch.tmp2!;
    }
    p.dispatch(groupUnpool(ctx, `${m.name}.unpool`, { N: rows, C: m.inF, g: qg, dout: d, dinp, scale: 1 / qg, accumulate: true }));
  }

  /**
   * Whether a group's frozen products can run as one (lora/linear's concatenated weights also
   * needed): 2 or more modules whose outputs are side by side (`off(i)`: module i's first column)
   * and adapters that share one LoRA intermediate buffer, at most MATMUL_MAX_SEGMENTS of them.
   */
  private fusedFrozen(list: { lw: LinearWeights; u: GPUBuffer | null }[], withLora: { u: GPUBuffer | null }[], off: (i: number) => number): boolean {
    if (list.length < 2 || withLora.length > MATMUL_MAX_SEGMENTS) return false;
    return sideBySide(list, off) && withLora.every((a) => a.u === withLora[0].u);
  }

  /** Whether `n` adapters of one group run as grouped dispatches. */
  private groups(n: number): boolean {
    if (n > MATMUL_MAX_GROUPS) throw new Error(`internal: a group of ${n} LoRA modules (at most ${MATMUL_MAX_GROUPS})`);
    return this.grouped && n >= 2;
  }

  /**
   * The dA or dB products of a group: those whose plan splits K as one grouped split-K dispatch
   * (partials left for reduceGrads, one SplitKProduct per module), the others as one grouped
   * dispatch; a part of one module (or grouping off) runs as `matmul` / `matmulSplitK`.
   */
  private grads(p: Program, what: 'dA' | 'dB', items: { lw: LinearWeights; args: MatmulArgs; plan: SplitKPlan }[]): void {
    const { scratch } = this;
    const reserve = (it: (typeof items)[number]) => {
      const cap = scratch.splitK ? scratch.splitK.size / 4 : 0;
      if (this.pending.length >= SPLITK_MAX_PRODUCTS || this.offP + it.plan.scratch > cap) {
        throw new Error(`internal: ${it.lw.module.name}.${what}: the split-K partials of one group exceed the scratch (call reduceGrads per layer)`);
      }
      const off = this.offP;
      this.pending.push({ n: it.args.M * it.args.N, S: it.plan.S, offP: off, offC: it.args.offC ?? 0 });
      this.offP += it.plan.scratch;
      return off;
    };
    const whole = items.filter((it) => it.plan.S < 2);
    const split = items.filter((it) => it.plan.S >= 2);
    const label = (part: typeof items) => `${groupName(part)}.${what}`;
    if (this.groups(whole.length)) p.dispatch(this.mmGrouped(label(whole), groupArgs(label(whole), whole.map((it) => it.args))));
    else for (const it of whole) p.dispatch(this.mm(label([it]), it.args));
    if (this.groups(split.length)) {
      const offs = split.map(reserve);
      p.dispatch(this.mmSplitGrouped(label(split), groupArgs(label(split), split.map((it) => it.args)), split.map((it) => it.plan), scratch.splitK!, offs));
    } else {
      for (const it of split) p.dispatch(this.mmSplit(label([it]), it.args, it.plan, scratch.splitK!, reserve(it)));
    }
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
