// The decoder-only transformer (Llama family and GPT-2) as a composition of ops, with LoRA on any
// subset of its linear modules. Every buffer comes from the table of net/buffers.ts (allocated here
// once, by key, for a fixed (B, T)) and every bind group is made while the Programs are built; the
// Programs are then recorded every step without creating any GPU object. The architectures differ
// only through model/modules.ts's ARCH_LAYOUT (norm, position, MLP, which modules write which
// columns); each linear (frozen W + LoRA) is lora/linear.ts's LoraLinear.
//
// Data flow of one layer (Llama; GPT-2 swaps RMSNorm→LayerNorm, q/k/v→c_attn, SwiGLU→GELU):
//   resid[l] ─norm1→ ln1 ─q,k,v(+LoRA)→ qkv ─rope→ qkv ─attention→ att ─o(+LoRA)→ +resid[l] = resMid
//   resMid ─norm2→ ln2 ─gate,up(+LoRA)→ gu ─swiglu→ h ─down(+LoRA)→ +resMid = resid[l+1]
// The backward runs the same path in reverse with one running residual gradient `dres`; base
// weights are frozen, so only input gradients and the LoRA dA, dB are computed.
// Length (~470 lines, over the house's ~400): a layer's forward, its backward and the backward's
// recomputation (ln1, ln2, h, the f16 unpack) mirror each other step by step over the same
// buffers; they stay in one file so that a change to one is made beside the others.

import { type BufferSlice, type Dispatch, type GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { type Weight } from '../gpu/tensor';
import { LoraLinear, type LinearScratch } from '../lora/linear';
import type { LoraState } from '../lora/state';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../ops/activation';
import { attentionBackward, attentionForward } from '../ops/attention';
import { attentionDecode, kvWrite } from '../ops/kvcache';
import { crossEntropy, lossReduce } from '../ops/crossentropy';
import { packF16Segments, unpackF16Segments, type F16Segment } from '../ops/convert';
import { embeddingForward } from '../ops/embedding';
import { defaultMatmulKernel, minGroupsFor, tileLimits } from '../ops/matmul';
import { f16MathUnavailable } from '../ops/matmul-math';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../ops/norm';
import { rope, ropeInvFreq } from '../ops/rope';
import type { ModelSpec } from '../model/config';
import { ARCH_LAYOUT, type ArchLayout, type ModuleKind } from '../model/modules';
import type { LinearWeights, ModelWeights } from '../model/weights';
import { headChunkRows, loraGroups, savedF16Layout, savesF16, STAT_EVAL_LOSS, STAT_TRAIN_LOSS, transformerBuffers, type SavedF16Name } from './buffers';
import type { Batch, TransformerOptions } from './options';

export { HEAD_CHUNK_BYTES, headChunkRows, STAT_EVAL_LOSS, STAT_GRAD_NORM, STAT_TRAIN_LOSS } from './buffers';
export type { Batch, TransformerOptions } from './options';

/**
 * One layer's forward activations (the buffers of one set in net/buffers.ts). `ln` (ln1, then
 * ln2) and `h` are shared by all layers and recomputed in the backward. qkv, att and gu are the f32
 * buffers the kernels compute in; under saveActivations 'f16' they are the shared work buffers
 * and `saved16` holds the layer's packed f16 copies (one pack at the end of the layer's forward,
 * one unpack at the start of its backward).
 */
interface Acts {
  ln: GPUBuffer;
  mean1: GPUBuffer;
  rstd1: GPUBuffer;
  qkv: GPUBuffer;
  att: GPUBuffer;
  lse: GPUBuffer;
  resMid: GPUBuffer;
  mean2: GPUBuffer;
  rstd2: GPUBuffer;
  /** The MLP inputs' outputs side by side: Llama gate|up [N, 2FF]; GPT-2 pre-GELU fc [N, FF]. */
  gu: GPUBuffer;
  h: GPUBuffer;
  /** The layer's input (the residual stream), q|k|v, att, resMid and gu as packed f16, one buffer (net/buffers.ts savedF16Layout). */
  saved16: GPUBuffer | null;
}

/** The backward's scratch, shared by all layers. */
interface Grads {
  dres: GPUBuffer;
  dln: GPUBuffer;
  dh: GPUBuffer;
  dgu: GPUBuffer;
  datt: GPUBuffer;
  dqkv: GPUBuffer;
  D: GPUBuffer;
}

/**
 * A decoder-only transformer (Llama family: RMSNorm, RoPE, grouped-query attention, SwiGLU, as in
 * transformers' modeling_llama.py; GPT-2: LayerNorm, learned positions, GELU, as in
 * modeling_gpt2.py) for one fixed batch shape (opts.B, opts.T; N = B·T rows), with LoRA on the
 * targeted linear modules (PEFT's lora.Linear: y = xWᵀ + scaling·(dropout(x)Aᵀ)Bᵀ).
 *
 * The host writes a Batch (writeBatch), then encodes one of the prebuilt Programs: evalProgram
 * (loss into stats[STAT_EVAL_LOSS]), trainProgram (forward, loss, backward; LoRA gradients
 * accumulate into lora.grads, scaled by lossScale), logitsProgram / hiddenProgram / headRowProgram
 * (generation). Shapes: activations [N, C], packed q|k|v [N, QKVW], logits per chunk
 * [headRows, V], all f32 (the activations kept for the backward packed f16 under saveActivations
 * 'f16'; the norm outputs and the MLP hidden recomputed in the backward). The constructor throws
 * Error when T exceeds a sliding attention window (with the fix in words), and internal Errors for
 * inconsistent options (see TransformerOptions).
 */
export class Transformer {
  /** Rows of the batch, B·T. */
  readonly N: number;
  /** Width of the packed q|k|v rows, (NH + 2·NKV)·HS. */
  readonly QKVW: number;
  /** The architecture's block layout (ARCH_LAYOUT). */
  readonly layout: ArchLayout;
  // Inputs, written by the host before each submission.
  readonly tokens: GPUBuffer;
  readonly targets: GPUBuffer;
  readonly pos: GPUBuffer;
  readonly segStart: GPUBuffer;
  /** u32 seed of the LoRA dropout masks of one micro-batch (the backward recomputes the same masks). */
  readonly seed: GPUBuffer;
  /** f32 factor of dlogits: 1 / (predicted tokens of the whole optimizer step), so the gradient is that of the mean loss. */
  readonly lossScale: GPUBuffer;
  /** Small f32 buffer read back by the host, indexed by STAT_TRAIN_LOSS, STAT_GRAD_NORM, STAT_EVAL_LOSS. */
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
  /** Final-norm output [N, C]. */
  readonly hidden: GPUBuffer;

  /** Every buffer of the table, by key. */
  private readonly bufs = new Map<string, GPUBuffer>();
  private readonly resid: GPUBuffer[] = [];
  private readonly acts: Acts[] = [];
  private readonly grads: Grads | null = null;
  private readonly lnf: GPUBuffer;
  private readonly meanf: GPUBuffer;
  private readonly rstdf: GPUBuffer;
  private readonly losses: GPUBuffer;
  private readonly invFreq: GPUBuffer | null;
  /** Without training, the one LoRA intermediate every module shares. */
  private readonly uShared: GPUBuffer | null;
  /** Each targeted decoder module's LoRA intermediate: its group's buffer and its block's element offset. */
  private readonly uOf = new Map<string, { u: GPUBuffer; offU: number }>();
  private readonly linears: LoraLinear;

  constructor(
    readonly ctx: GpuContext,
    readonly spec: ModelSpec,
    readonly w: ModelWeights,
    readonly lora: LoraState | null,
    readonly opts: TransformerOptions,
  ) {
    const { B, T } = opts;
    const { HS, V, L } = spec;
    if (spec.slidingWindow !== null && T > spec.slidingWindow) {
      // Full causal attention equals sliding-window attention only while T fits in the window.
      throw new Error(
        `sequence length ${T} exceeds this ${spec.modelType} model's sliding attention window of ${spec.slidingWindow} tokens, ` +
          `which is not implemented; use a sequence length of at most ${spec.slidingWindow}.`,
      );
    }
    if (opts.decode && (!opts.kv || B !== 1 || T !== 1 || opts.training)) throw new Error('internal: a decode step needs a KV cache, B = T = 1 and no training');
    if (opts.kv && !opts.decode && T > opts.kv.capacity) throw new Error(`internal: prefill of ${T} rows into a KV cache of ${opts.kv.capacity}`);
    if (opts.training && !lora) throw new Error('training needs a LoRA state');
    const noF16 = opts.matmulMath === 'f16' ? f16MathUnavailable(ctx, "matmulMath 'f16'") : null;
    if (noF16) throw new Error(noF16);
    this.N = B * T;
    const N = this.N;
    this.layout = ARCH_LAYOUT[spec.arch];
    this.QKVW = (spec.NH + 2 * spec.NKV) * HS;
    this.headRows = headChunkRows(N, V, ctx.device.limits.maxStorageBufferBindingSize, opts.headChunkBytes);
    const tiling = { limits: tileLimits(ctx), minGroups: this.splitMinGroups() };
    const table = transformerBuffers(spec, {
      B, T, training: opts.training, checkpointing: !!opts.checkpointing, headRows: this.headRows, splitK: tiling, saveActivations: opts.saveActivations,
      lora: lora && { modules: lora.modules, r: lora.hyper.r, qaloraGroupSize: lora.qaloraGroupSize },
    });
    for (const row of table) {
      const buf = row.key === 'rope.invFreq' ? ctx.upload(row.key, ropeInvFreq(HS, spec.ropeTheta, spec.ropeScaling)) : ctx.createBuffer(row.key, row.bytes);
      this.bufs.set(row.key, buf);
    }
    const buf = (key: string) => this.buf(key);
    const opt = (key: string) => this.bufs.get(key) ?? null;
    this.tokens = buf('tokens');
    this.targets = buf('targets');
    this.pos = buf('pos');
    this.segStart = buf('segStart');
    this.seed = buf('seed');
    this.lossScale = buf('lossScale');
    this.stats = buf('stats');
    this.logits = buf('logits');
    this.losses = buf('losses');
    this.lnf = buf('lnf');
    this.hidden = this.lnf;
    this.lastHidden = buf('lastHidden');
    this.meanf = buf('meanf');
    this.rstdf = buf('rstdf');
    this.invFreq = opt('rope.invFreq');
    const f16 = savesF16({ training: opts.training, checkpointing: !!opts.checkpointing, saveActivations: opts.saveActivations });
    for (let i = 0; this.bufs.has(`mean1.${i}`); i++) {
      const set = (name: string) => buf(`${name}.${i}`);
      const work = (name: string) => (f16 ? buf(`${name}.work`) : set(name));
      this.acts.push({
        ln: buf('ln'), mean1: set('mean1'), rstd1: set('rstd1'), qkv: work('qkv'), att: work('att'), lse: set('lse'),
        resMid: work('resMid'), mean2: set('mean2'), rstd2: set('rstd2'), gu: work('gu'), h: buf('h'),
        saved16: f16 ? set('saved16') : null,
      });
    }
    this.uShared = opt('u.shared');
    for (const g of lora ? loraGroups(this.layout, lora.modules) : []) {
      g.forEach((m, j) => this.uOf.set(m.name, { u: this.uShared ?? buf(`u.${g[0].name}`), offU: j * N * lora!.hyper.r }));
    }
    // Without training two residual buffers ping-pong; with f16-saved activations two f32 work
    // buffers carry the stream (each layer's input is packed into resid.l) up to resid.L.
    for (let l = 0; l <= L; l++) this.resid.push(f16 && l < L ? buf(`resid.work.${l % 2}`) : (opt(`resid.${l}`) ?? this.resid[l % 2]));
    const headU = opt('u.lm_head');
    const scratch: LinearScratch = {
      seed: this.seed, xpool: opt('lora.xpool'), gB: opt('lora.gB'), tmp: opt('lora.tmp'), tmp2: opt('lora.tmp2'), splitK: opt('lora.splitK'), tiling,
    };
    this.linears = new LoraLinear(ctx, lora, scratch, opts.groupLora ?? true, opts.matmulMath);
    if (opts.training) this.grads = { dres: buf('dres'), dln: buf('dln'), dh: buf('dh'), dgu: buf('dgu'), datt: buf('datt'), dqkv: buf('dqkv'), D: buf('attn.D') };

    this.hiddenProgram = new Program('hidden');
    this.encodeForward(this.hiddenProgram, false);

    this.headRowProgram = new Program('headRow');
    this.linears.forward(this.headRowProgram, { lw: w.lmHead, inp: this.lastHidden, out: this.logits, ldOut: V, offOut: 0, rows: 1, train: false, u: headU });

    this.evalProgram = new Program('eval');
    this.evalProgram.append(this.hiddenProgram);
    this.encodeHead(this.evalProgram, false, headU);
    this.evalProgram.dispatch(lossReduce(ctx, 'loss.eval', { N, losses: this.losses, out: this.stats, outIndex: STAT_EVAL_LOSS, accumulate: true }));

    this.logitsProgram = null;
    if (this.headRows === N) {
      this.logitsProgram = new Program('logits').append(this.hiddenProgram);
      this.linears.forward(this.logitsProgram, { lw: w.lmHead, inp: this.lnf, out: this.logits, ldOut: V, offOut: 0, rows: N, train: false, u: headU });
    }

    this.trainProgram = null;
    if (this.grads) {
      const p = new Program('train');
      this.encodeForward(p, true);
      this.encodeHead(p, true, headU);
      p.dispatch(lossReduce(ctx, 'loss.train', { N, losses: this.losses, out: this.stats, outIndex: STAT_TRAIN_LOSS, accumulate: true }));
      this.encodeBackward(p, this.grads);
      this.trainProgram = p;
    }
  }

  /** A buffer of the table by key (internal error when the table has none). */
  private buf(key: string): GPUBuffer {
    const b = this.bufs.get(key);
    if (!b) throw new Error(`internal: the transformer's buffer table has no ${key}`);
    return b;
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
    const lw = this.w.lmHead;
    for (let r0 = 0; r0 < N; r0 += R) {
      const rows = Math.min(R, N - r0);
      const rowSlice = (b: GPUBuffer, width: number): BufferSlice => ({ buffer: b, offset: r0 * width * 4, size: rows * width * 4 });
      const inp = rowSlice(this.lnf, C);
      this.linears.forward(p, { lw, inp, out: this.logits, ldOut: V, offOut: 0, rows, r0, train, u: headU });
      p.dispatch(
        crossEntropy(ctx, `ce.${r0}`, {
          N: rows, V, logits: this.logits, targets: rowSlice(this.targets, 1), losses: rowSlice(this.losses, 1), scale: this.lossScale, backward: train,
        }),
      );
      if (train) {
        const dinp = rowSlice(this.grads!.dln, C);
        this.linears.backward(p, { lw, inp, dout: this.logits, ldDout: V, offDout: 0, dinp, accumulate: false, u: headU, rows, r0 });
        this.linears.reduceGrads(p, `head.${r0}.lora.reduce`);
      }
    }
  }

  private act(l: number): Acts {
    return this.acts.length > 1 ? this.acts[l] : this.acts[0];
  }

  /** Workgroups the split-K aims for (the option, else the device's; 1 on the legacy kernel: no split). */
  private splitMinGroups(): number {
    return this.opts.splitKMinGroups ?? (defaultMatmulKernel() === 'legacy' ? 1 : minGroupsFor(this.ctx));
  }

  private norm(label: string, inp: GPUBuffer, weight: Weight, bias: Weight | null, out: GPUBuffer, mean: GPUBuffer, rstd: GPUBuffer): Dispatch {
    const { ctx, N, spec } = this;
    if (this.layout.norm === 'rms') return rmsnormForward(ctx, label, { N, C: spec.C, eps: spec.normEps, inp, weight: weight.buffer, wDType: weight.dtype, out, rstd });
    return layernormForward(ctx, label, { N, C: spec.C, eps: spec.normEps, inp, weight: weight.buffer, bias: bias!.buffer, wDType: weight.dtype, out, mean, rstd });
  }

  private normBackward(label: string, inp: GPUBuffer, weight: Weight, mean: GPUBuffer, rstd: GPUBuffer, dout: GPUBuffer, dinp: GPUBuffer, acc: boolean): Dispatch {
    const { ctx, N, spec } = this;
    if (this.layout.norm === 'rms') return rmsnormBackward(ctx, label, { N, C: spec.C, inp, weight: weight.buffer, wDType: weight.dtype, rstd, dout, dinp, accumulate: acc });
    return layernormBackward(ctx, label, { N, C: spec.C, inp, weight: weight.buffer, wDType: weight.dtype, mean, rstd, dout, dinp, accumulate: acc });
  }

  /**
   * Rotary embeddings on the q and k columns of `x` (the packed [N, QKVW] rows); inverse for the
   * backward. The k heads follow the q heads in each row, so one dispatch rotates all NH + NKV heads.
   */
  private rope(p: Program, label: string, x: GPUBuffer, inverse: boolean): void {
    const { ctx, N, QKVW, spec } = this;
    const { NH, NKV, HS } = spec;
    const sfx = inverse ? '.bwd' : '';
    p.dispatch(rope(ctx, `${label}.rope.qk${sfx}`, { x, pos: this.pos, invFreq: this.invFreq!, N, HS, ldx: QKVW, inverse, nHeads: NH + NKV, offX: 0 }));
  }

  private linearOf(l: number, kind: ModuleKind): LinearWeights {
    const lw = this.w.layers[l].linear.get(kind);
    if (!lw) throw new Error(`internal: layer ${l} has no ${kind}`);
    return lw;
  }

  /** The LoRA intermediate of a module (its group's buffer and offset) if it is targeted. */
  private uFor(lw: LinearWeights): { u: GPUBuffer | null; offU: number } {
    if (!this.linears.slotOf(lw)) return { u: null, offU: 0 };
    const u = this.uOf.get(lw.module.name);
    if (!u) throw new Error(`internal: no LoRA intermediate for ${lw.module.name}`);
    return u;
  }

  /** Forward of modules that write side by side into `out` [N, ldOut] (q|k|v, gate|up, or one, which may add a residual `addend`). */
  private forwardColumns(p: Program, l: number, kinds: ModuleKind[], inp: GPUBuffer, out: GPUBuffer, ldOut: number, train: boolean, addend?: GPUBuffer): void {
    if (addend && kinds.length !== 1) throw new Error('internal: a residual addend needs one module');
    let offOut = 0;
    const list = kinds.map((kind) => {
      const lw = this.linearOf(l, kind);
      const a = { lw, inp, out, ldOut, offOut, rows: this.N, train, ...this.uFor(lw), addend };
      offOut += lw.module.outF;
      return a;
    });
    this.linears.forwardGroup(p, list);
  }

  /** Backward of forwardColumns: each module's slice of `dout`, their input gradients summed into dinp. */
  private backwardColumns(p: Program, l: number, kinds: ModuleKind[], inp: GPUBuffer, dout: GPUBuffer, ldDout: number, dinp: GPUBuffer | null): void {
    let offDout = 0;
    const list = kinds.map((kind, i) => {
      const lw = this.linearOf(l, kind);
      const a = { lw, inp, dout, ldDout, offDout, dinp, accumulate: i > 0, ...this.uFor(lw), rows: this.N };
      offDout += lw.module.outF;
      return a;
    });
    this.linears.backwardGroup(p, list);
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
    const { ctx, spec, N, QKVW, layout } = this;
    const { C, NH, NKV, HS, FF } = spec;
    const dims = { B: this.opts.B, T: this.opts.T, NH, NKV, HS };
    const a = this.act(l);
    const layer = this.w.layers[l];
    const x = this.resid[l];
    p.dispatch(this.norm(`L${l}.norm1`, x, layer.norm1, layer.norm1Bias, a.ln, a.mean1, a.rstd1));
    this.forwardColumns(p, l, layout.qkv, a.ln, a.qkv, QKVW, train);
    if (layout.position === 'rope') this.rope(p, `L${l}`, a.qkv, false);
    const kv = this.opts.kv;
    if (kv) {
      const kd = { NH, NKV, HS, Tc: kv.capacity };
      p.dispatch(kvWrite(ctx, `L${l}.kv`, kd, { N, qkv: a.qkv, pos: this.pos, kc: kv.k[l], vc: kv.v[l] }));
      if (this.opts.decode) p.dispatch(attentionDecode(ctx, `L${l}.attn.decode`, kd, { qkv: a.qkv, pos: this.pos, kc: kv.k[l], vc: kv.v[l], out: a.att }));
    }
    if (!this.opts.decode) {
      for (const d of attentionForward(ctx, `L${l}.attn`, dims, { qkv: a.qkv, segStart: this.segStart, out: a.att, lse: a.lse })) p.dispatch(d);
    }
    // o and down add the residual in their epilogue.
    this.forwardColumns(p, l, [layout.o], a.att, a.resMid, C, train, x);
    p.dispatch(this.norm(`L${l}.norm2`, a.resMid, layer.norm2, layer.norm2Bias, a.ln, a.mean2, a.rstd2));
    this.forwardColumns(p, l, layout.mlpIn, a.ln, a.gu, layout.mlpIn.length * FF, train);
    p.dispatch(this.mlpAct(`L${l}`, a));
    const out = this.resid[l + 1];
    this.forwardColumns(p, l, [layout.down], a.h, out, C, train, a.resMid);
    // f16-saved activations: one pack of the five tensors, which all still hold this layer's
    // values (none is written after its producer above; the output went to resid[l+1]).
    if (train && a.saved16) p.dispatch(packF16Segments(ctx, `L${l}.saved16.pack`, { segs: this.savedSegments(l, a), out: a.saved16 }));
  }

  /** The f32 tensors of layer l's `saved16` buffer (savedF16Layout's segments, its work buffers). */
  private savedSegments(l: number, a: Acts): F16Segment[] {
    const f32: Record<SavedF16Name, GPUBuffer> = { resid: this.resid[l], qkv: a.qkv, att: a.att, resMid: a.resMid, gu: a.gu };
    return savedF16Layout(this.spec, this.N).segments.map((s) => ({ n: s.n, offset: s.offset, f32: f32[s.name] }));
  }

  /** The MLP activation h = swiglu(gu) or gelu(gu) (the forward's, and the backward's recompute). */
  private mlpAct(label: string, a: Acts): Dispatch {
    const { ctx, N } = this;
    const { FF } = this.spec;
    if (this.layout.mlp === 'swiglu') return swigluForward(ctx, `${label}.swiglu`, { N, FF, gu: a.gu, h: a.h });
    return geluForward(ctx, `${label}.gelu`, { n: N * FF, inp: a.gu, out: a.h });
  }

  // ---- backward ----------------------------------------------------------------------------

  private encodeBackward(p: Program, bwd: Grads): void {
    const { ctx, spec, N, QKVW, layout } = this;
    const { C, NH, NKV, HS, L, FF } = spec;
    const dims = { B: this.opts.B, T: this.opts.T, NH, NKV, HS };
    // dln holds the head's input gradient (encodeHead ran the head's backward chunk by chunk).
    p.dispatch(this.normBackward('normf.bwd', this.resid[L], this.w.finalNorm, this.meanf, this.rstdf, bwd.dln, bwd.dres, false));
    const recomputed = !!this.opts.checkpointing;
    for (let l = L - 1; l >= 0; l--) {
      // Checkpointing reruns the layer's forward, which leaves ln2, h, qkv, att, gu in place;
      // otherwise h and ln2 are recomputed here (ln1 below), f16-saved tensors unpacked.
      if (recomputed) this.encodeLayerForward(p, l, true);
      const a = this.act(l);
      const layer = this.w.layers[l];
      // f16-saved activations: one unpack into the work buffers, which nothing in this layer's
      // backward writes (its kernels write ln, h, the norm statistics and gradient scratch only).
      if (a.saved16) p.dispatch(unpackF16Segments(ctx, `L${l}.saved16.unpack`, { inp: a.saved16, segs: this.savedSegments(l, a) }));
      if (!recomputed) p.dispatch(this.mlpAct(`L${l}.re`, a));
      // MLP: resid[l+1] = resMid + down(act(ln2·W1)), gradient dres flows to both.
      this.backwardColumns(p, l, [layout.down], a.h, bwd.dres, C, bwd.dh);
      if (layout.mlp === 'swiglu') p.dispatch(swigluBackward(ctx, `L${l}.swiglu.bwd`, { N, FF, gu: a.gu, dh: bwd.dh, dgu: bwd.dgu }));
      else p.dispatch(geluBackward(ctx, `L${l}.gelu.bwd`, { n: N * FF, inp: a.gu, dout: bwd.dh, dinp: bwd.dgu }));
      if (!recomputed) p.dispatch(this.norm(`L${l}.norm2.re`, a.resMid, layer.norm2, layer.norm2Bias, a.ln, a.mean2, a.rstd2));
      this.backwardColumns(p, l, layout.mlpIn, a.ln, bwd.dgu, layout.mlpIn.length * FF, bwd.dln);
      p.dispatch(this.normBackward(`L${l}.norm2.bwd`, a.resMid, layer.norm2, a.mean2, a.rstd2, bwd.dln, bwd.dres, true));
      // Attention: resMid = resid[l] + o(attn(qkv(ln1))).
      this.backwardColumns(p, l, [layout.o], a.att, bwd.dres, C, bwd.datt);
      for (const d of attentionBackward(ctx, `L${l}.attn.bwd`, dims, { qkv: a.qkv, segStart: this.segStart, out: a.att, lse: a.lse, dout: bwd.datt, dqkv: bwd.dqkv, D: bwd.D })) {
        p.dispatch(d);
      }
      if (layout.position === 'rope') this.rope(p, `L${l}`, bwd.dqkv, true);
      // The first layer's input is the frozen embedding: its gradient is not needed.
      const needDX = l > 0;
      p.dispatch(this.norm(`L${l}.norm1.re`, this.resid[l], layer.norm1, layer.norm1Bias, a.ln, a.mean1, a.rstd1));
      this.backwardColumns(p, l, layout.qkv, a.ln, bwd.dqkv, QKVW, needDX ? bwd.dln : null);
      if (needDX) p.dispatch(this.normBackward(`L${l}.norm1.bwd`, this.resid[l], layer.norm1, a.mean1, a.rstd1, bwd.dln, bwd.dres, true));
      // One fixed-order reduce of the layer's split-K LoRA gradient partials.
      this.linears.reduceGrads(p, `L${l}.lora.reduce`);
    }
  }

  // ---- host-side input ---------------------------------------------------------------------

  /**
   * Writes one batch (data/batch.ts makeBatch: B·T token ids, next-token targets with -100 for
   * ignored positions, position ids, example starts for packing). Throws when it has another size.
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
