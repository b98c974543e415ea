// The table of the transformer's GPU buffers for a spec and settings (llm.c's act_sizes): one row
// per buffer with its key, its meaning in words a user knows, its shape and its bytes. The
// Transformer allocates exactly these rows, by key, in this order (malloc_and_point_activations),
// and the memory estimate (plan/memory.ts) sums them, so the two cannot drift apart.

import { ARCH_LAYOUT, type ArchLayout, type LinearModule } from '../model/modules';
import type { ModelSpec } from '../model/config';
import { loraSplitKScratch, type TileLimits } from '../ops/matmul';

/**
 * Index into the Transformer's small f32 `stats` buffer (the only buffer read back during
 * training): the sum, in nats, of the per-token cross-entropy losses of the current optimizer step
 * over all its micro-batches (unscaled; the trainer divides by the predicted tokens and clears it
 * after each step).
 */
export const STAT_TRAIN_LOSS = 0;
/**
 * Index into `stats`: the global L2 norm of all LoRA gradients of the step, before clipping
 * (ops/optimizer.ts gradNorm; AdamW reads it for torch's clip_grad_norm_-style clipping).
 */
export const STAT_GRAD_NORM = 1;
/**
 * Index into `stats`: the sum, in nats, of the per-token losses accumulated by evalProgram since
 * the host last zeroed it (train/trainer.ts evaluate divides by the predicted tokens).
 */
export const STAT_EVAL_LOSS = 2;
const STATS_LEN = 4;

/** Budget for one chunk of logits: at most 64 MiB and the device's binding limit (SmolLM2-135M, B·T = 2048: 7 chunks of 320 rows, 60 MiB live instead of 384 MiB). */
export const HEAD_CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Rows per head chunk: all N when [N, V] f32 fits the budget, else a multiple of 64 rows (so row
 * slices of f32 buffers keep the 256-byte binding alignment).
 */
export function headChunkRows(N: number, V: number, maxBinding: number, budget = HEAD_CHUNK_BYTES): number {
  const limit = Math.min(budget, maxBinding);
  if (N * V * 4 <= limit) return N;
  return Math.max(64, Math.floor(limit / (V * 4) / 64) * 64);
}

/**
 * How long a buffer's contents matter: 'input' written by the host before each submission;
 * 'constant' uploaded once; 'forward' activations (kept for the backward when training);
 * 'head' one chunk of the output head; 'lora' LoRA intermediates and scratch; 'backward' gradient
 * scratch shared by all layers.
 */
type BufferKind = 'input' | 'constant' | 'forward' | 'head' | 'lora' | 'backward';

/** One buffer of the table. */
interface BufferRow {
  /** The buffer's label on the GPU and its key in the table, e.g. 'qkv.3', 'u.lm_head', 'dres'. */
  key: string;
  /** What it holds, in words the studio shows users (bufferWords). */
  words: string;
  /** Shape in elements (f32; u32 for token ids and positions; f16 when `f16`), e.g. [N, C]. */
  shape: number[];
  /**
   * Bytes requested from the GPU: 4 per element (2 per element in u32 words of two halves when
   * `f16`), at least 4 (the allocator pads to 16).
   */
  bytes: number;
  /** Packed f16 (ops/convert.ts's layout): a layer's saved activations under saveActivations 'f16' (savedF16Layout). */
  f16?: true;
  kind: BufferKind;
}

/** The LoRA adapter as far as its buffers are concerned. */
interface BufferLora {
  /** The targeted modules (name, inF, outF; layer -1 for lm_head). */
  modules: Pick<LinearModule, 'name' | 'kind' | 'inF' | 'outF' | 'layer'>[];
  r: number;
  /** QA-LoRA pooling group (0 = plain LoRA): A sees [N, inF/g]. */
  qaloraGroupSize: number;
}

/** The settings that size the transformer's buffers. */
export interface BufferSettings {
  B: number;
  T: number;
  /** The training graph: per-layer activations (unless checkpointing), per-module LoRA u, backward scratch. */
  training: boolean;
  /** Activation checkpointing: one set of layer activations instead of L. */
  checkpointing: boolean;
  /** Rows per chunk of the output head (headChunkRows). */
  headRows: number;
  lora: BufferLora | null;
  /** The device's matmul tiling, which sizes the split-K scratch of the LoRA gradients (training only). */
  splitK?: { limits: TileLimits; minGroups: number };
  /**
   * How the per-layer activations kept for the backward are stored (training without
   * checkpointing): 'f32' (default, exact) or 'f16' (resid, qkv, att, resMid, gu packed; f32 work buffers shared).
   */
  saveActivations?: SaveActivations;
}

/**
 * The LoRA groups of the decoder layers: per layer, the targeted modules that read the same input,
 * in column order (Llama q|k|v, o, gate|up, down; GPT-2 c_attn, c_proj, c_fc, c_proj: groups of
 * one). A group's LoRA products run as grouped dispatches (lora/linear.ts) and its intermediates u
 * share one buffer, `u.<first module's name>` [G, N, r] ([N, r] for one), module j's block at
 * j·N·r. The head (layer -1) is in none.
 */
export function loraGroups<Mod extends Pick<LinearModule, 'kind' | 'layer'>>(arch: ArchLayout, modules: Mod[]): Mod[][] {
  const sets = [arch.qkv, [arch.o], arch.mlpIn, [arch.down]];
  const layers = [...new Set(modules.filter((m) => m.layer >= 0).map((m) => m.layer))].sort((a, b) => a - b);
  const out: Mod[][] = [];
  for (const l of layers) {
    for (const kinds of sets) {
      const g = kinds.map((k) => modules.find((m) => m.layer === l && m.kind === k)).filter((m): m is Mod => !!m);
      if (g.length) out.push(g);
    }
  }
  return out;
}

/** Storage of the activations the training graph keeps for its backward: 'f32' exact, 'f16' half the bytes. */
export type SaveActivations = 'f32' | 'f16';

/** Whether these settings keep every layer's resid, qkv, att, resMid and gu as packed f16 (training without checkpointing, 'f16'). */
export function savesF16(s: Pick<BufferSettings, 'training' | 'checkpointing' | 'saveActivations'>): boolean {
  return s.training && !s.checkpointing && s.saveActivations === 'f16';
}

/** The tensors a layer keeps packed in its `saved16.l` buffer under saveActivations 'f16', in order. */
export type SavedF16Name = 'resid' | 'qkv' | 'att' | 'resMid' | 'gu';

/**
 * The layout of one layer's `saved16.l` buffer (savesF16): its input resid [N, C], q|k|v [N, QKVW],
 * att [N, NH·HS], resMid [N, C] and the MLP inputs' outputs gu [N, mlpW] back to back, each
 * segment's n f32 values as ceil(n/2) u32 words (two f16 halves, ops/convert.ts's layout) from word
 * `offset`; `words` in all, `rowElems` f32 values per row (the row's shape is [N, rowElems]). Throws
 * nothing (ops/convert.ts throws for an odd n).
 */
export function savedF16Layout(spec: ModelSpec, N: number): { segments: { name: SavedF16Name; n: number; offset: number }[]; words: number; rowElems: number } {
  const { C, NH, NKV, HS, FF } = spec;
  const widths: [SavedF16Name, number][] = [
    ['resid', C], ['qkv', (NH + 2 * NKV) * HS], ['att', NH * HS], ['resMid', C], ['gu', ARCH_LAYOUT[spec.arch].mlpIn.length * FF],
  ];
  let words = 0;
  const segments = widths.map(([name, w]) => {
    const seg = { name, n: N * w, offset: words };
    words += Math.ceil(seg.n / 2);
    return seg;
  });
  return { segments, words, rowElems: widths.reduce((a, [, w]) => a + w, 0) };
}

/** The words of each family of buffers (a key's part before the first '.', or the whole key). */
const FAMILY_WORDS: Record<string, string> = {
  gu: 'the MLP activations of one layer', dgu: 'the MLP activations of one layer',
  h: 'the MLP hidden activations of one layer', dh: 'the MLP hidden activations of one layer',
  qkv: 'the attention queries, keys and values of one layer', dqkv: 'the attention queries, keys and values of one layer',
  att: 'the attention output of one layer', datt: 'the attention output of one layer',
  ln: 'the normalised input of one layer', dln: 'the normalised input of one layer', lnf: 'the normalised input of one layer',
  resid: 'the residual stream of one layer', saved16: 'the saved activations of one layer', resMid: 'the residual stream of one layer', dres: 'the residual stream of one layer',
  logits: 'the output logits (one chunk)', 'u.lm_head': "the output head's LoRA activations", u: "one adapter's LoRA activations",
  lora: 'the LoRA scratch space', embedding: 'the token embedding matrix', 'LoRA parameters': 'the LoRA parameters',
};

/** A buffer's key (a row of transformerBuffers, or 'embedding' / 'LoRA parameters') in words a user knows. */
export function bufferWords(key: string): string {
  return FAMILY_WORDS[key] ?? FAMILY_WORDS[key.split('.')[0]] ?? 'one of the training buffers';
}

/**
 * Every buffer the Transformer allocates for `spec` and `s`, in allocation order. Shapes: N = B·T
 * rows, QKVW = (NH + 2·NKV)·HS, the MLP input width Σ outF of the architecture's mlpIn modules
 * (2·FF for SwiGLU's gate|up, FF for GPT-2). The norm outputs (`ln`, ln1 then ln2) and the MLP
 * hidden `h` are one buffer each for all layers: the backward recomputes them from the saved
 * residual stream, norm statistics and gu. Without training the layers share one set of
 * activations and two residual buffers (ping-pong) and one LoRA `u` serves every module. Under
 * saveActivations 'f16' (savesF16) each layer keeps its input resid, qkv, att, resMid and gu as
 * packed f16 in one buffer `saved16.l` (savedF16Layout) and the layers compute in shared f32 work
 * buffers (`qkv.work`, `att.work`, `resMid.work`, `gu.work`, and `resid.work.0/1` for the stream). Throws nothing; sizes are
 * not checked against device limits here (the allocator does that).
 */
export function transformerBuffers(spec: ModelSpec, s: BufferSettings): BufferRow[] {
  const { C, NH, NKV, HS, V, L, FF } = spec;
  const arch = ARCH_LAYOUT[spec.arch];
  const N = s.B * s.T;
  const QKVW = (NH + 2 * NKV) * HS;
  const mlpW = arch.mlpIn.length * FF;
  const rows: BufferRow[] = [];
  const add = (key: string, kind: BufferKind, ...shape: number[]) =>
    rows.push({ key, words: bufferWords(key), shape, bytes: Math.max(1, shape.reduce((a, b) => a * b, 1)) * 4, kind });
  for (const k of ['tokens', 'targets', 'pos', 'segStart']) add(k, 'input', N);
  add('seed', 'input', 4);
  add('lossScale', 'input', 4);
  add('stats', 'head', STATS_LEN);
  add('logits', 'head', s.headRows, V);
  add('losses', 'head', N);
  add('lnf', 'forward', N, C);
  add('lastHidden', 'input', C);
  add('meanf', 'forward', N);
  add('rstdf', 'forward', N);
  if (arch.position === 'rope') add('rope.invFreq', 'constant', HS / 2);
  const sets = s.training && !s.checkpointing ? L : 1;
  add('ln', 'forward', N, C);
  add('h', 'forward', N, FF);
  const f16 = savesF16(s);
  if (f16) {
    add('qkv.work', 'forward', N, QKVW);
    add('att.work', 'forward', N, NH * HS);
    add('resMid.work', 'forward', N, C);
    add('gu.work', 'forward', N, mlpW);
  }
  const packed = savedF16Layout(spec, N);
  for (let i = 0; i < sets; i++) {
    add(`mean1.${i}`, 'forward', N);
    add(`rstd1.${i}`, 'forward', N);
    if (!f16) add(`qkv.${i}`, 'forward', N, QKVW);
    if (!f16) add(`att.${i}`, 'forward', N, NH * HS);
    add(`lse.${i}`, 'forward', s.B, NH, s.T);
    if (!f16) add(`resMid.${i}`, 'forward', N, C);
    add(`mean2.${i}`, 'forward', N);
    add(`rstd2.${i}`, 'forward', N);
    if (!f16) add(`gu.${i}`, 'forward', N, mlpW);
    if (f16) rows.push({ key: `saved16.${i}`, words: bufferWords('saved16'), shape: [N, packed.rowElems], bytes: Math.max(1, packed.words) * 4, kind: 'forward', f16: true });
  }
  const lora = s.lora;
  // LoRA intermediates u = dropout(x)·Aᵀ [N, r] of the decoder-block modules: kept per group of
  // modules (loraGroups, [G, N, r]) for dB when training; without a backward u is dead after each
  // group, so one buffer of the largest group serves all.
  const groups = lora ? loraGroups(arch, lora.modules) : [];
  const gMax = Math.max(1, ...groups.map((g) => g.length));
  const blocks = (G: number) => (G > 1 ? [G] : []);
  if (lora && s.training) {
    for (const g of groups) add(`u.${g[0].name}`, 'lora', ...blocks(g.length), N, lora.r);
  } else if (lora) add('u.shared', 'lora', ...blocks(gMax), N, lora.r);
  // The residual stream: every layer's input is kept when training; two buffers ping-pong otherwise.
  // Under f16 the layers' inputs are kept packed (in saved16.l), the stream ping-pongs through two
  // f32 work buffers and the last layer's output (the final norm's input) stays f32.
  for (let l = 0; l <= L; l++) {
    if (f16 ? l === L : s.training || l < 2) add(`resid.${l}`, 'forward', N, C);
  }
  if (f16) for (const k of ['resid.work.0', 'resid.work.1']) add(k, 'forward', N, C);
  // The head's LoRA intermediate only lives for one chunk (its backward follows right away).
  if (lora?.modules.some((m) => m.layer < 0)) add('u.lm_head', 'lora', s.headRows, lora.r);
  if (lora) {
    const maxIn = Math.max(1, ...lora.modules.map((m) => m.inF));
    const g = lora.qaloraGroupSize;
    // LoRA dropout is applied in the matmul loads (no dropout copy of x); the adapter's input
    // gradient is fused into the frozen input gradient, except for QA-LoRA (unpooled from tmp/tmp2).
    if (g) add('lora.xpool', 'lora', N, Math.ceil(maxIn / g));
    add('lora.gB', 'lora', ...blocks(gMax), N, lora.r);
    if (g) add('lora.tmp', 'lora', N, Math.ceil(maxIn / g));
    if (g) add('lora.tmp2', 'lora', N, Math.ceil(maxIn / g));
    if (s.training && s.splitK) {
      const products = lora.modules.map((m) => ({ aIn: g ? m.inF / g : m.inF, outF: m.outF, rows: m.layer < 0 ? s.headRows : N, group: m.layer }));
      const need = loraSplitKScratch(products, lora.r, s.splitK.limits, s.splitK.minGroups);
      if (need) add('lora.splitK', 'lora', need);
    }
  }
  if (s.training) {
    add('dres', 'backward', N, C);
    add('dln', 'backward', N, C);
    add('dh', 'backward', N, FF);
    add('dgu', 'backward', N, mlpW);
    add('datt', 'backward', N, NH * HS);
    add('dqkv', 'backward', N, QKVW);
    add('attn.D', 'backward', s.B, NH, s.T);
  }
  return rows;
}
