// The table of the transformer's GPU buffers for a spec and settings (llm.c's act_sizes): one row
// per buffer with its key, its meaning in words a user knows, its shape and its bytes. The
// Transformer allocates exactly these rows, by key, in this order (malloc_and_point_activations),
// and the memory estimate (plan/memory.ts) sums them, so the two cannot drift apart.

import { ARCH_LAYOUT, type LinearModule } from '../model/modules';
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
  /** Shape in f32 elements (u32 for token ids and positions), e.g. [N, C]. */
  shape: number[];
  /** Bytes requested from the GPU: 4 per element, at least 4 (the allocator pads to 16). */
  bytes: number;
  kind: BufferKind;
}

/** The LoRA adapter as far as its buffers are concerned. */
interface BufferLora {
  /** The targeted modules (name, inF, outF; layer -1 for lm_head). */
  modules: Pick<LinearModule, 'name' | 'inF' | 'outF' | 'layer'>[];
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
}

/** The words of each family of buffers (a key's part before the first '.', or the whole key). */
const FAMILY_WORDS: Record<string, string> = {
  gu: 'the MLP activations of one layer', dgu: 'the MLP activations of one layer',
  h: 'the MLP hidden activations of one layer', dh: 'the MLP hidden activations of one layer',
  qkv: 'the attention queries, keys and values of one layer', dqkv: 'the attention queries, keys and values of one layer',
  att: 'the attention output of one layer', datt: 'the attention output of one layer',
  ln1: 'the normalised input of one layer', ln2: 'the normalised input of one layer', dln: 'the normalised input of one layer', lnf: 'the normalised input of one layer',
  resid: 'the residual stream of one layer', resMid: 'the residual stream of one layer', dres: 'the residual stream of one layer',
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
 * (2·FF for SwiGLU's gate|up, FF for GPT-2). Without training the layers share one set of
 * activations and two residual buffers (ping-pong) and one LoRA `u` serves every module. Throws
 * nothing; sizes are not checked against device limits here (the allocator does that).
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
  for (let i = 0; i < sets; i++) {
    add(`ln1.${i}`, 'forward', N, C);
    add(`mean1.${i}`, 'forward', N);
    add(`rstd1.${i}`, 'forward', N);
    add(`qkv.${i}`, 'forward', N, QKVW);
    add(`att.${i}`, 'forward', N, NH * HS);
    add(`lse.${i}`, 'forward', s.B, NH, s.T);
    add(`resMid.${i}`, 'forward', N, C);
    add(`ln2.${i}`, 'forward', N, C);
    add(`mean2.${i}`, 'forward', N);
    add(`rstd2.${i}`, 'forward', N);
    add(`gu.${i}`, 'forward', N, mlpW);
    add(`h.${i}`, 'forward', N, FF);
  }
  const lora = s.lora;
  // LoRA intermediates u = dropout(x)·Aᵀ [N, r] of the decoder-block modules: kept per module for
  // dB when training; without a backward u is dead after each module, so one buffer serves all.
  if (lora && s.training) {
    for (const m of lora.modules) if (m.layer >= 0) add(`u.${m.name}`, 'lora', N, lora.r);
  } else if (lora) add('u.shared', 'lora', N, lora.r);
  // The residual stream: every layer's input is kept when training; two buffers ping-pong otherwise.
  for (let l = 0; l <= L; l++) if (s.training || l < 2) add(`resid.${l}`, 'forward', N, C);
  // The head's LoRA intermediate only lives for one chunk (its backward follows right away).
  if (lora?.modules.some((m) => m.layer < 0)) add('u.lm_head', 'lora', s.headRows, lora.r);
  if (lora) {
    const maxIn = Math.max(1, ...lora.modules.map((m) => m.inF));
    const g = lora.qaloraGroupSize;
    // LoRA dropout is applied in the matmul loads (no dropout copy of x); the adapter's input
    // gradient is fused into the frozen input gradient, except for QA-LoRA (unpooled from tmp/tmp2).
    if (g) add('lora.xpool', 'lora', N, Math.ceil(maxIn / g));
    add('lora.gB', 'lora', N, lora.r);
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
