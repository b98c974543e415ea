// The decoder-only transformer (Llama family and GPT-2) as a composition of ops, with LoRA on any
// subset of its linear modules. All buffers and bind groups are created here, once, for a fixed
// (B, T); the resulting Programs are recorded every step without creating any GPU object.
//
// Data flow of one layer (Llama; GPT-2 swaps RMSNorm→LayerNorm, q/k/v→c_attn, SwiGLU→GELU):
//   resid[l] ─norm1→ ln1 ─q,k,v(+LoRA)→ qkv ─rope→ qkv ─attention→ att ─o(+LoRA)→ +resid[l] = resMid
//   resMid ─norm2→ ln2 ─gate,up(+LoRA)→ gu ─swiglu→ h ─down(+LoRA)→ +resMid = resid[l+1]
// The backward runs the same path in reverse with one running residual gradient `dres`; base
// weights are frozen, so only input gradients and the LoRA dA, dB are computed.

import { Program, type Bindable, type BufferSlice, type Dispatch, type GpuContext } from '../gpu/context';
import { type Weight } from '../gpu/tensor';
import { isQuantWeight } from '../quant/weight';
import type { LoraSlot, LoraState } from '../lora/state';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../ops/activation';
import { attentionBackward, attentionForward } from '../ops/attention';
import { attentionDecode, kvWrite } from '../ops/kvcache';
import { crossEntropy, lossReduce } from '../ops/crossentropy';
import { accumulate, dropout } from '../ops/elementwise';
import { embeddingForward } from '../ops/embedding';
import { defaultMatmulKernel, loraSplitKScratch, matmul, matmulSplitK, minGroupsFor, splitKPlan, splitKReduce, tileLimits, type MatmulArgs, type SplitKProduct } from '../ops/matmul';
import { groupPool, groupUnpool } from '../ops/pool';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../ops/norm';
import { rope, ropeInvFreq } from '../ops/rope';
import type { ModelSpec } from '../model/config';
import type { KvCache } from './kvcache';
import type { LinearWeights, ModelWeights } from '../model/weights';

/** Indices into the small f32 `stats` buffer that is read back. */
export const STAT_TRAIN_LOSS = 0;
export const STAT_GRAD_NORM = 1;
export const STAT_EVAL_LOSS = 2;
export const STATS_LEN = 4;

interface Acts {
  ln1: GPUBuffer;
  mean1: GPUBuffer;
  rstd1: GPUBuffer;
  qkv: GPUBuffer;
  att: GPUBuffer;
  lse: GPUBuffer;
  resMid: GPUBuffer;
  ln2: GPUBuffer;
  mean2: GPUBuffer;
  rstd2: GPUBuffer;
  /** Llama: gate|up [N, 2FF]; GPT-2: pre-GELU fc [N, FF]. */
  gu: GPUBuffer;
  h: GPUBuffer;
}

export interface TransformerOptions {
  B: number;
  T: number;
  /** Build the training program (per-layer activations, backward, gradients). */
  training: boolean;
  /**
   * Activation checkpointing: keep only each layer's input (the residual stream) and recompute
   * the layer's forward just before its backward. Saves about (L-1)/L of the activation memory for
   * about one extra forward per step; gradients are identical (dropout masks are recomputed from
   * the same seeds).
   */
  checkpointing?: boolean;
  /** Bytes allowed for one chunk of logits (default HEAD_CHUNK_BYTES). */
  headChunkBytes?: number;
  /**
   * Generation: every layer writes the k, v of its rows into this cache at their positions (`pos`),
   * so a prefill over the prompt fills it.
   */
  kv?: KvCache;
  /**
   * One-token decode step (needs `kv`, B = T = 1): the row is written to the cache at pos[0] and
   * attends every cached position 0..pos[0] instead of the causal window of its batch.
   */
  decode?: boolean;
  /**
   * Workgroups the split-K of the LoRA gradients (dA, dB over the B·T tokens) aims for; default the
   * device's (many on a GPU, few on a software adapter). 1 never splits; tests raise it to force it.
   */
  splitKMinGroups?: number;
}

export class Transformer {
  readonly N: number;
  readonly QKVW: number;
  readonly isLlama: boolean;
  readonly ffWidth: number;
  // Inputs, written by the host before each submission.
  readonly tokens: GPUBuffer;
  readonly targets: GPUBuffer;
  readonly pos: GPUBuffer;
  readonly segStart: GPUBuffer;
  readonly seed: GPUBuffer;
  readonly lossScale: GPUBuffer;
  readonly stats: GPUBuffer;
  /** Logits of one chunk of `headRows` rows [headRows, V] (the whole batch when it fits). */
  readonly logits: GPUBuffer;
  /** Rows per chunk of the output head: the [N, V] logits are never materialised at once when large. */
  readonly headRows: number;
  /** Forward + loss (sum of token losses accumulated into stats[STAT_EVAL_LOSS]); no dropout. */
  readonly evalProgram: Program;
  /** Forward only, logits for every position; null when the head runs in several chunks. */
  readonly logitsProgram: Program | null;
  /** Forward through the final norm (no head): the last hidden states, for generation. */
  readonly hiddenProgram: Program;
  /** The head on one row: logits[0, :] from `lastHidden` [1, C]. */
  readonly headRowProgram: Program;
  /** Input of headRowProgram; the host copies the wanted row of `hidden` here. */
  readonly lastHidden: GPUBuffer;
  /** Forward with LoRA dropout + loss + backward, accumulating LoRA gradients (one micro-batch). */
  readonly trainProgram: Program | null;

  private readonly resid: GPUBuffer[];
  private readonly acts: Acts[];
  /** Final-norm output [N, C]. */
  readonly hidden: GPUBuffer;
  private readonly lnf: GPUBuffer;
  private readonly meanf: GPUBuffer;
  private readonly rstdf: GPUBuffer;
  private readonly losses: GPUBuffer;
  private readonly invFreq: GPUBuffer | null;
  private readonly uShared: GPUBuffer | null;
  private readonly uBufs: Map<string, GPUBuffer>;
  // Backward scratch, shared by all layers.
  private dres!: GPUBuffer;
  private dln!: GPUBuffer;
  private dh!: GPUBuffer;
  private dgu!: GPUBuffer;
  private datt!: GPUBuffer;
  private dqkv!: GPUBuffer;
  private D!: GPUBuffer;
  // LoRA scratch.
  private xd: GPUBuffer | null = null;
  private xpool: GPUBuffer | null = null;
  private gB: GPUBuffer | null = null;
  private tmp: GPUBuffer | null = null;
  private tmp2: GPUBuffer | null = null;
  /** Split-K partials of one module's dA and dB (allocated once; null when no product splits). */
  private splitScratch: GPUBuffer | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly spec: ModelSpec,
    readonly w: ModelWeights,
    readonly lora: LoraState | null,
    readonly opts: TransformerOptions,
  ) {
    const { B, T } = opts;
    const { C, NH, NKV, HS, V, L } = spec;
    if (spec.slidingWindow !== null && T > spec.slidingWindow) {
      // Full causal attention equals sliding-window attention only while T fits in the window.
      throw new Error(
        `sequence length ${T} exceeds this ${spec.modelType} model's sliding attention window of ${spec.slidingWindow} tokens, ` +
          `which is not implemented; use a sequence length of at most ${spec.slidingWindow}.`,
      );
    }
    if (opts.decode && (!opts.kv || B !== 1 || T !== 1 || opts.training)) throw new Error('internal: a decode step needs a KV cache, B = T = 1 and no training');
    if (opts.kv && !opts.decode && T > opts.kv.capacity) throw new Error(`internal: prefill of ${T} rows into a KV cache of ${opts.kv.capacity}`);
    this.N = B * T;
    const N = this.N;
    this.isLlama = spec.arch === 'llama';
    this.QKVW = (NH + 2 * NKV) * HS;
    this.ffWidth = spec.FF;
    const f = (label: string, n: number) => ctx.createBuffer(label, Math.max(1, n) * 4);

    this.tokens = f('tokens', N);
    this.targets = f('targets', N);
    this.pos = f('pos', N);
    this.segStart = f('segStart', N);
    this.seed = f('seed', 4);
    this.lossScale = f('lossScale', 4);
    this.stats = f('stats', STATS_LEN);
    this.headRows = headChunkRows(N, V, ctx.device.limits.maxStorageBufferBindingSize, opts.headChunkBytes);
    this.logits = f('logits', this.headRows * V);
    this.losses = f('losses', N);
    this.lnf = f('lnf', N * C);
    this.hidden = this.lnf;
    this.lastHidden = f('lastHidden', C);
    this.meanf = f('meanf', N);
    this.rstdf = f('rstdf', N);
    this.invFreq = this.isLlama ? ctx.upload('rope.invFreq', ropeInvFreq(HS, spec.ropeTheta, spec.ropeScaling as never)) : null;

    const perLayer = opts.training && !opts.checkpointing;
    const nSets = perLayer ? L : 1;
    this.acts = [];
    for (let s = 0; s < nSets; s++) {
      this.acts.push({
        ln1: f(`ln1.${s}`, N * C),
        mean1: f(`mean1.${s}`, N),
        rstd1: f(`rstd1.${s}`, N),
        qkv: f(`qkv.${s}`, N * this.QKVW),
        att: f(`att.${s}`, N * NH * HS),
        lse: f(`lse.${s}`, B * NH * T),
        resMid: f(`resMid.${s}`, N * C),
        ln2: f(`ln2.${s}`, N * C),
        mean2: f(`mean2.${s}`, N),
        rstd2: f(`rstd2.${s}`, N),
        gu: f(`gu.${s}`, N * (this.isLlama ? 2 * spec.FF : spec.FF)),
        h: f(`h.${s}`, N * spec.FF),
      });
    }
    // LoRA intermediates u = dropout(x)·Aᵀ [N, r]: kept per module for dB when training; without a
    // backward u is dead after each module, so one buffer serves all.
    this.uBufs = new Map();
    this.uShared = null;
    if (lora && opts.training) for (const slot of lora.slots) this.uBufs.set(slot.module.name, f(`u.${slot.module.name}`, N * lora.hyper.r));
    else if (lora) this.uShared = f('u.shared', N * lora.hyper.r);
    // The residual stream: every layer's input is kept when training; two buffers ping-pong otherwise.
    this.resid = [];
    for (let l = 0; l <= L; l++) this.resid.push(opts.training || l < 2 ? f(`resid.${l}`, N * C) : this.resid[l % 2]);
    const headSlot = lora?.slots.find((s) => s.module.layer < 0);
    // The head's LoRA intermediate only lives for one chunk (its backward follows right away).
    const headUBuf = headSlot ? f('u.lm_head', this.headRows * lora!.hyper.r) : null;

    if (lora) {
      const maxIn = lora.maxIn;
      this.xd = f('lora.xd', N * maxIn);
      if (lora.qaloraGroupSize) this.xpool = f('lora.xpool', N * Math.ceil(maxIn / lora.qaloraGroupSize));
      this.gB = f('lora.gB', N * lora.hyper.r);
      this.tmp = f('lora.tmp', N * maxIn);
      this.tmp2 = f('lora.tmp2', N * maxIn);
      if (opts.training) {
        const rowsOf = (slot: LoraSlot) => (slot.module.layer < 0 ? this.headRows : N);
        const need = loraSplitKScratch(lora.slots.map((slot) => ({ aIn: slot.aIn, outF: slot.module.outF, rows: rowsOf(slot) })), lora.hyper.r, tileLimits(ctx), this.splitMinGroups());
        if (need) this.splitScratch = f('lora.splitK', need);
      }
    }

    this.hiddenProgram = new Program('hidden');
    this.encodeForward(this.hiddenProgram, false);

    this.headRowProgram = new Program('headRow');
    this.linear(this.headRowProgram, this.w.lmHead, this.lastHidden, this.logits, V, 0, false, headUBuf, 1);

    this.evalProgram = new Program('eval');
    this.evalProgram.append(this.hiddenProgram);
    this.encodeHead(this.evalProgram, false, headUBuf);
    this.evalProgram.dispatch(lossReduce(ctx, 'loss.eval', { N, losses: this.losses, out: this.stats, outIndex: STAT_EVAL_LOSS, accumulate: true }));

    this.logitsProgram = null;
    if (this.headRows === N) {
      this.logitsProgram = new Program('logits').append(this.hiddenProgram);
      this.linear(this.logitsProgram, this.w.lmHead, this.lnf, this.logits, V, 0, false, headUBuf);
    }

    this.trainProgram = null;
    if (opts.training) {
      if (!lora) throw new Error('training needs a LoRA state');
      this.dres = f('dres', N * C);
      this.dln = f('dln', N * C);
      this.dh = f('dh', N * spec.FF);
      this.dgu = f('dgu', N * (this.isLlama ? 2 * spec.FF : spec.FF));
      this.datt = f('datt', N * NH * HS);
      this.dqkv = f('dqkv', N * this.QKVW);
      this.D = f('attn.D', B * NH * T);
      const p = new Program('train');
      this.encodeForward(p, true);
      this.encodeHead(p, true, headUBuf);
      p.dispatch(lossReduce(ctx, 'loss.train', { N, losses: this.losses, out: this.stats, outIndex: STAT_TRAIN_LOSS, accumulate: true }));
      this.encodeBackward(p);
      this.trainProgram = p;
    }
  }

  /**
   * The output head and the loss, chunk by chunk: logits of rows [r0, r0+rows) → cross-entropy
   * (training: its backward writes dlogits in place) → when training, the head's backward for the
   * chunk right away (dln rows and the head's LoRA gradients), so one chunk of logits is live.
   */
  private encodeHead(p: Program, train: boolean, headU: GPUBuffer | null): void {
    const { ctx, N, spec } = this;
    const { C, V } = spec;
    const R = this.headRows;
    for (let r0 = 0; r0 < N; r0 += R) {
      const rows = Math.min(R, N - r0);
      const rowSlice = (buf: GPUBuffer, width: number): BufferSlice => ({ buffer: buf, offset: r0 * width * 4, size: rows * width * 4 });
      const X = rowSlice(this.lnf, C);
      this.linear(p, this.w.lmHead, X, this.logits, V, 0, train, headU, rows, r0);
      p.dispatch(
        crossEntropy(ctx, `ce.${r0}`, {
          N: rows, V, logits: this.logits, targets: rowSlice(this.targets, 1), losses: rowSlice(this.losses, 1), scale: this.lossScale, backward: train,
        }),
      );
      if (train) this.linearBackward(p, this.w.lmHead, X, this.logits, V, 0, rowSlice(this.dln, C), false, headU, rows, r0);
    }
  }

  private act(l: number): Acts {
    return this.acts.length > 1 ? this.acts[l] : this.acts[0];
  }

  private uBufFor(slot: LoraSlot): GPUBuffer {
    if (this.uShared) return this.uShared;
    const b = this.uBufs.get(slot.module.name);
    if (!b) throw new Error(`internal: no LoRA buffer for ${slot.module.name}`);
    return b;
  }

  private slotOf(lw: LinearWeights): LoraSlot | undefined {
    return this.lora?.slot(lw.module.name);
  }

  // ---- building blocks ---------------------------------------------------------------------

  /** Y[:, offY:offY+out] = X·Wᵀ + b, then + s·dropout(X)·Aᵀ·Bᵀ when the module has LoRA. */
  /** The frozen weight as matmul's B operand: f32, f16-packed, or quantized (dequantized in registers). */
  private weightB(lw: LinearWeights): Pick<MatmulArgs, 'B' | 'bDType' | 'bQuant'> {
    const W = lw.W;
    return isQuantWeight(W) ? { bQuant: W } : { B: W.buffer, bDType: W.dtype };
  }

  /**
   * The adapter's input: X, or for QA-LoRA its group average [rows, in/g]; then LoRA dropout when
   * training. The same seed and salt reproduce the same mask in the backward.
   */
  private loraInput(p: Program, slot: LoraSlot, X: Bindable, rows: number, r0: number, train: boolean, tag: string): Bindable {
    const { ctx } = this;
    const lora = this.lora!;
    const m = slot.module;
    let src: Bindable = X;
    if (lora.qaloraGroupSize) {
      p.dispatch(groupPool(ctx, `${m.name}.pool${tag}`, { N: rows, C: m.inF, g: lora.qaloraGroupSize, inp: X, out: this.xpool! }));
      src = this.xpool!;
    }
    if (train && lora.hyper.dropout > 0) {
      p.dispatch(dropout(ctx, `${m.name}.drop${tag}`, { n: rows * slot.aIn, inp: src, out: this.xd!, seed: this.seed, salt: chunkSalt(slot.salt, r0), p: lora.hyper.dropout }));
      src = this.xd!;
    }
    return src;
  }

  /** Y[:, offY:offY+out] = X·Wᵀ + b, then + s·dropout(X)·Aᵀ·Bᵀ when the module has LoRA. */
  private linear(p: Program, lw: LinearWeights, X: Bindable, Y: Bindable, ldY: number, offY: number, train: boolean, u: GPUBuffer | null, rows = this.N, r0 = 0): void {
    const { ctx } = this;
    const N = rows;
    const m = lw.module;
    p.dispatch(
      matmul(ctx, `${m.name}.fwd`, {
        M: N, N: m.outF, K: m.inF, A: X, ...this.weightB(lw), transB: true, out: Y, ldc: ldY, offC: offY,
        bias: lw.bias?.buffer, biasDType: lw.bias?.dtype,
      }),
    );
    const slot = this.slotOf(lw);
    if (!slot || !u) return;
    const lora = this.lora!;
    const r = lora.hyper.r;
    const src = this.loraInput(p, slot, X, N, r0, train, '');
    p.dispatch(matmul(ctx, `${m.name}.loraA`, { M: N, N: r, K: slot.aIn, A: src, B: lora.params, offB: slot.offA, transB: true, out: u }));
    p.dispatch(
      matmul(ctx, `${m.name}.loraB`, { M: N, N: m.outF, K: r, A: u, B: lora.params, offB: slot.offB, transB: true, out: Y, ldc: ldY, offC: offY, alpha: lora.scale, beta: 1 }),
    );
  }

  /**
   * Backward of `linear` given g = dY (a column slice of a wider buffer): dX (=, or += when
   * accumulateDX) the input gradient when dX is given, and the LoRA gradients dA, dB (+=).
   */
  private linearBackward(
    p: Program, lw: LinearWeights, X: Bindable, g: Bindable, ldG: number, offG: number, dX: Bindable | null, accumulateDX: boolean, u: GPUBuffer | null, rows = this.N, r0 = 0,
  ): void {
    const { ctx } = this;
    const N = rows;
    const m = lw.module;
    if (dX) {
      p.dispatch(
        matmul(ctx, `${m.name}.dinp`, { M: N, N: m.inF, K: m.outF, A: g, lda: ldG, offA: offG, ...this.weightB(lw), out: dX, beta: accumulateDX ? 1 : 0 }),
      );
    }
    const slot = this.slotOf(lw);
    if (!slot || !u) return;
    const lora = this.lora!;
    const { r, dropout: pDrop } = lora.hyper;
    const s = lora.scale;
    const gB = this.gB!;
    const aIn = slot.aIn;
    const qg = lora.qaloraGroupSize;
    // gB = g·B [N, r]
    p.dispatch(matmul(ctx, `${m.name}.gB`, { M: N, N: r, K: m.outF, A: g, lda: ldG, offA: offG, B: lora.params, offB: slot.offB, out: gB }));
    // dB += s·gᵀ·u [out, r] and dA += s·gBᵀ·dropout(x̃) [r, aIn], x̃ = X or its group average
    // (recomputed), both reduced over the N tokens: a deterministic split-K (fixed chunks, partials
    // in splitScratch, one fixed-order reduce for both) when the plan splits K, else one matmul each.
    const [planA, planB] = this.gradPlans(slot, N);
    const parts: SplitKProduct[] = [];
    let offP = 0;
    const grad = (name: string, args: MatmulArgs, plan: typeof planA, offC: number) => {
      if (plan.S < 2) return p.dispatch(matmul(ctx, `${m.name}.${name}`, args));
      p.dispatch(matmulSplitK(ctx, `${m.name}.${name}`, args, plan, this.splitScratch!, offP));
      parts.push({ n: args.M * args.N, S: plan.S, offP, offC });
      offP += plan.scratch;
    };
    grad('dB', { M: m.outF, N: r, K: N, A: g, lda: ldG, offA: offG, transA: true, B: u, out: lora.grads, offC: slot.offB, alpha: s, beta: 1 }, planB, slot.offB);
    const src = this.loraInput(p, slot, X, N, r0, true, '.re');
    grad('dA', { M: r, N: aIn, K: N, A: gB, lda: r, transA: true, B: src, out: lora.grads, offC: slot.offA, alpha: s, beta: 1 }, planA, slot.offA);
    if (parts.length) p.dispatch(splitKReduce(ctx, `${m.name}.lora.reduce`, parts, this.splitScratch!, lora.grads, s, 1));
    if (!dX) return;
    // dX += s·mask⊙(gB·A), broadcast over each group (÷g) for QA-LoRA
    if (pDrop > 0 || qg) {
      p.dispatch(matmul(ctx, `${m.name}.dx.lora`, { M: N, N: aIn, K: r, A: gB, B: lora.params, offB: slot.offA, out: this.tmp!, alpha: s }));
      let d: GPUBuffer = this.tmp!;
      if (pDrop > 0) {
        p.dispatch(dropout(ctx, `${m.name}.drop.dx`, { n: N * aIn, inp: this.tmp!, out: this.tmp2!, seed: this.seed, salt: chunkSalt(slot.salt, r0), p: pDrop }));
        d = this.tmp2!;
      }
      if (qg) p.dispatch(groupUnpool(ctx, `${m.name}.unpool`, { N, C: m.inF, g: qg, dout: d, dinp: dX, scale: 1 / qg, accumulate: true }));
      else p.dispatch(accumulate(ctx, `${m.name}.dx.acc`, { n: N * aIn, inp: d, out: dX }));
    } else {
      p.dispatch(matmul(ctx, `${m.name}.dx.lora`, { M: N, N: m.inF, K: r, A: gB, B: lora.params, offB: slot.offA, out: dX, alpha: s, beta: 1 }));
    }
  }

  /** Split-K plans of a module's dA [r, aIn] and dB [out, r], both reduced over `rows` tokens. */
  private gradPlans(slot: LoraSlot, rows: number) {
    const lim = tileLimits(this.ctx);
    const mg = this.splitMinGroups();
    const r = this.lora!.hyper.r;
    return [splitKPlan(r, slot.aIn, rows, lim, mg), splitKPlan(slot.module.outF, r, rows, lim, mg)] as const;
  }

  /** Workgroups the split-K aims for (the option, else the device's; 1 on the legacy kernel: no split). */
  private splitMinGroups(): number {
    return this.opts.splitKMinGroups ?? (defaultMatmulKernel() === 'legacy' ? 1 : minGroupsFor(this.ctx));
  }

  private norm(label: string, inp: GPUBuffer, weight: Weight, bias: Weight | null, out: GPUBuffer, mean: GPUBuffer, rstd: GPUBuffer): Dispatch {
    const { ctx, N, spec } = this;
    if (this.isLlama) return rmsnormForward(ctx, label, { N, C: spec.C, eps: spec.normEps, inp, weight: weight.buffer, wDType: weight.dtype, out, rstd });
    return layernormForward(ctx, label, { N, C: spec.C, eps: spec.normEps, inp, weight: weight.buffer, bias: bias!.buffer, wDType: weight.dtype, out, mean, rstd });
  }

  private normBackward(label: string, inp: GPUBuffer, weight: Weight, mean: GPUBuffer, rstd: GPUBuffer, dout: GPUBuffer, dinp: GPUBuffer, acc: boolean): Dispatch {
    const { ctx, N, spec } = this;
    if (this.isLlama) return rmsnormBackward(ctx, label, { N, C: spec.C, inp, weight: weight.buffer, wDType: weight.dtype, rstd, dout, dinp, accumulate: acc });
    return layernormBackward(ctx, label, { N, C: spec.C, inp, weight: weight.buffer, wDType: weight.dtype, mean, rstd, dout, dinp, accumulate: acc });
  }

  private lin(l: number, kind: string): LinearWeights {
    const lw = this.w.layers[l].linear.get(kind);
    if (!lw) throw new Error(`internal: layer ${l} has no ${kind}`);
    return lw;
  }

  /** LoRA intermediate buffer for a module if it is targeted. */
  private uFor(lw: LinearWeights): GPUBuffer | null {
    const slot = this.slotOf(lw);
    return slot ? this.uBufFor(slot) : null;
  }

  // ---- forward -----------------------------------------------------------------------------

  /** Embedding, every layer and the final norm (into `hidden`). */
  private encodeForward(p: Program, train: boolean): void {
    const { ctx, spec, N } = this;
    const { C, L } = spec;
    p.dispatch(
      embeddingForward(ctx, 'embed', {
        N, C, tokens: this.tokens, wte: this.w.embed.buffer, wDType: this.w.embed.dtype, out: this.resid[0],
        pos: this.w.posEmbed ? this.pos : undefined, wpe: this.w.posEmbed?.buffer,
      }),
    );
    for (let l = 0; l < L; l++) this.encodeLayerForward(p, l, train);
    p.dispatch(this.norm('normf', this.resid[L], this.w.finalNorm, this.w.finalNormBias, this.lnf, this.meanf, this.rstdf));
  }

  /** One decoder layer: resid[l] → resid[l+1], activations into act(l). */
  private encodeLayerForward(p: Program, l: number, train: boolean): void {
    const { ctx, spec, N, QKVW } = this;
    const { C, NH, NKV, HS, FF } = spec;
    const dims = { B: this.opts.B, T: this.opts.T, NH, NKV, HS };
    const a = this.act(l);
    const lw = this.w.layers[l];
    const x = this.resid[l];
    p.dispatch(this.norm(`L${l}.norm1`, x, lw.norm1, lw.norm1Bias, a.ln1, a.mean1, a.rstd1));
    if (this.isLlama) {
      const q = this.lin(l, 'q_proj'), k = this.lin(l, 'k_proj'), v = this.lin(l, 'v_proj');
      this.linear(p, q, a.ln1, a.qkv, QKVW, 0, train, this.uFor(q));
      this.linear(p, k, a.ln1, a.qkv, QKVW, NH * HS, train, this.uFor(k));
      this.linear(p, v, a.ln1, a.qkv, QKVW, (NH + NKV) * HS, train, this.uFor(v));
      p.dispatch(rope(ctx, `L${l}.rope.q`, { x: a.qkv, pos: this.pos, invFreq: this.invFreq!, N, nHeads: NH, HS, ldx: QKVW, offX: 0 }));
      p.dispatch(rope(ctx, `L${l}.rope.k`, { x: a.qkv, pos: this.pos, invFreq: this.invFreq!, N, nHeads: NKV, HS, ldx: QKVW, offX: NH * HS }));
    } else {
      const qkv = this.lin(l, 'c_attn');
      this.linear(p, qkv, a.ln1, a.qkv, QKVW, 0, train, this.uFor(qkv));
    }
    const kv = this.opts.kv;
    if (kv) {
      const kd = { NH, NKV, HS, Tc: kv.capacity };
      p.dispatch(kvWrite(ctx, `L${l}.kv`, kd, { N, qkv: a.qkv, pos: this.pos, kc: kv.k[l], vc: kv.v[l] }));
      if (this.opts.decode) p.dispatch(attentionDecode(ctx, `L${l}.attn.decode`, kd, { qkv: a.qkv, pos: this.pos, kc: kv.k[l], vc: kv.v[l], out: a.att }));
    }
    if (!this.opts.decode) {
      for (const d of attentionForward(ctx, `L${l}.attn`, dims, { qkv: a.qkv, segStart: this.segStart, out: a.att, lse: a.lse })) p.dispatch(d);
    }
    const o = this.lin(l, this.isLlama ? 'o_proj' : 'attn.c_proj');
    this.linear(p, o, a.att, a.resMid, C, 0, train, this.uFor(o));
    p.dispatch(accumulate(ctx, `L${l}.res1`, { n: N * C, inp: x, out: a.resMid }));
    p.dispatch(this.norm(`L${l}.norm2`, a.resMid, lw.norm2, lw.norm2Bias, a.ln2, a.mean2, a.rstd2));
    let down: LinearWeights;
    if (this.isLlama) {
      const g = this.lin(l, 'gate_proj'), u = this.lin(l, 'up_proj');
      this.linear(p, g, a.ln2, a.gu, 2 * FF, 0, train, this.uFor(g));
      this.linear(p, u, a.ln2, a.gu, 2 * FF, FF, train, this.uFor(u));
      p.dispatch(swigluForward(ctx, `L${l}.swiglu`, { N, FF, gu: a.gu, h: a.h }));
      down = this.lin(l, 'down_proj');
    } else {
      const fc = this.lin(l, 'c_fc');
      this.linear(p, fc, a.ln2, a.gu, FF, 0, train, this.uFor(fc));
      p.dispatch(geluForward(ctx, `L${l}.gelu`, { n: N * FF, inp: a.gu, out: a.h }));
      down = this.lin(l, 'mlp.c_proj');
    }
    const out = this.resid[l + 1];
    this.linear(p, down, a.h, out, C, 0, train, this.uFor(down));
    p.dispatch(accumulate(ctx, `L${l}.res2`, { n: N * C, inp: a.resMid, out }));
  }

  // ---- backward ----------------------------------------------------------------------------

  private encodeBackward(p: Program): void {
    const { ctx, spec, N, QKVW } = this;
    const { C, NH, NKV, HS, L, FF } = spec;
    const dims = { B: this.opts.B, T: this.opts.T, NH, NKV, HS };
    // dln holds the head's input gradient (encodeHead ran the head's backward chunk by chunk).
    p.dispatch(this.normBackward('normf.bwd', this.resid[L], this.w.finalNorm, this.meanf, this.rstdf, this.dln, this.dres, false));
    for (let l = L - 1; l >= 0; l--) {
      if (this.opts.checkpointing) this.encodeLayerForward(p, l, true);
      const a = this.act(l);
      const lw = this.w.layers[l];
      // MLP: resid[l+1] = resMid + down(act(ln2 ·W1)), gradient dres flows to both.
      const down = this.lin(l, this.isLlama ? 'down_proj' : 'mlp.c_proj');
      this.linearBackward(p, down, a.h, this.dres, C, 0, this.dh, false, this.uFor(down));
      if (this.isLlama) {
        p.dispatch(swigluBackward(ctx, `L${l}.swiglu.bwd`, { N, FF, gu: a.gu, dh: this.dh, dgu: this.dgu }));
        const g = this.lin(l, 'gate_proj'), u = this.lin(l, 'up_proj');
        this.linearBackward(p, g, a.ln2, this.dgu, 2 * FF, 0, this.dln, false, this.uFor(g));
        this.linearBackward(p, u, a.ln2, this.dgu, 2 * FF, FF, this.dln, true, this.uFor(u));
      } else {
        p.dispatch(geluBackward(ctx, `L${l}.gelu.bwd`, { n: N * FF, inp: a.gu, dout: this.dh, dinp: this.dgu }));
        const fc = this.lin(l, 'c_fc');
        this.linearBackward(p, fc, a.ln2, this.dgu, FF, 0, this.dln, false, this.uFor(fc));
      }
      p.dispatch(this.normBackward(`L${l}.norm2.bwd`, a.resMid, lw.norm2, a.mean2, a.rstd2, this.dln, this.dres, true));
      // Attention: resMid = resid[l] + o(attn(qkv(ln1))).
      const o = this.lin(l, this.isLlama ? 'o_proj' : 'attn.c_proj');
      this.linearBackward(p, o, a.att, this.dres, C, 0, this.datt, false, this.uFor(o));
      for (const d of attentionBackward(ctx, `L${l}.attn.bwd`, dims, { qkv: a.qkv, segStart: this.segStart, out: a.att, lse: a.lse, dout: this.datt, dqkv: this.dqkv, D: this.D })) {
        p.dispatch(d);
      }
      // The first layer's input is the frozen embedding: its gradient is not needed.
      const needDX = l > 0;
      const dX = needDX ? this.dln : null;
      if (this.isLlama) {
        p.dispatch(rope(ctx, `L${l}.rope.q.bwd`, { x: this.dqkv, pos: this.pos, invFreq: this.invFreq!, N, nHeads: NH, HS, ldx: QKVW, offX: 0, inverse: true }));
        p.dispatch(rope(ctx, `L${l}.rope.k.bwd`, { x: this.dqkv, pos: this.pos, invFreq: this.invFreq!, N, nHeads: NKV, HS, ldx: QKVW, offX: NH * HS, inverse: true }));
        const q = this.lin(l, 'q_proj'), k = this.lin(l, 'k_proj'), v = this.lin(l, 'v_proj');
        this.linearBackward(p, q, a.ln1, this.dqkv, QKVW, 0, dX, false, this.uFor(q));
        this.linearBackward(p, k, a.ln1, this.dqkv, QKVW, NH * HS, dX, true, this.uFor(k));
        this.linearBackward(p, v, a.ln1, this.dqkv, QKVW, (NH + NKV) * HS, dX, true, this.uFor(v));
      } else {
        const qkv = this.lin(l, 'c_attn');
        this.linearBackward(p, qkv, a.ln1, this.dqkv, QKVW, 0, dX, false, this.uFor(qkv));
      }
      if (needDX) p.dispatch(this.normBackward(`L${l}.norm1.bwd`, this.resid[l], lw.norm1, a.mean1, a.rstd1, this.dln, this.dres, true));
    }
  }

  // ---- host-side input ---------------------------------------------------------------------

  /**
   * Writes one batch: `rows[b]` token ids (at most T), `labels[b]` the next-token targets aligned
   * with rows (-100 = ignored), optional per-token position ids and example starts (packing).
   */
  writeBatch(batch: Batch): void {
    const { N } = this;
    if (batch.tokens.length !== N) throw new Error(`batch has ${batch.tokens.length} tokens, expected ${N}`);
    this.ctx.write(this.tokens, batch.tokens);
    this.ctx.write(this.targets, batch.targets);
    this.ctx.write(this.pos, batch.pos);
    this.ctx.write(this.segStart, batch.segStart);
  }
}

/** A (B, T) batch laid out row-major, ready to upload. */
export interface Batch {
  tokens: Uint32Array;
  targets: Int32Array;
  pos: Uint32Array;
  segStart: Uint32Array;
  /** Number of targets that are not -100. */
  predicted: number;
}

/** Budget for one chunk of logits: at most 256 MiB and the device's binding limit. */
export const HEAD_CHUNK_BYTES = 256 * 2 ** 20;

/**
 * Rows per head chunk: all N when [N, V] f32 fits the budget, else a multiple of 64 rows (so row
 * slices of f32 buffers keep the 256-byte binding alignment).
 */
export function headChunkRows(N: number, V: number, maxBinding: number, budget = HEAD_CHUNK_BYTES): number {
  const limit = Math.min(budget, maxBinding);
  if (N * V * 4 <= limit) return N;
  return Math.max(64, Math.floor(limit / (V * 4) / 64) * 64);
}

/** Dropout salt of a row chunk (chunks of one module must not share a mask pattern). */
function chunkSalt(salt: number, r0: number): number {
  return r0 === 0 ? salt : (salt ^ Math.imul(r0, 0x9e3779b1)) >>> 0;
}
