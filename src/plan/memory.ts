// GPU memory estimate for a fine-tuning run, before anything is downloaded: frozen base weights in
// the chosen quantization mode, the LoRA state (weights, gradients and AdamW moments in f32), and
// the training graph's activations for the batch and sequence length. The activation part mirrors
// the buffers the engine's Transformer allocates (src/model/transformer.ts), so the estimate can be
// checked against the engine's own accounting (memory.test.ts does). Pure: no DOM, no GPU.

import { countModelParams, type ModelSpec } from '../model/config';
import { linearModules, type LinearModule } from '../model/modules';
import { HEAD_CHUNK_BYTES, headChunkRows, STATS_LEN } from '../net/transformer';
import { loraSplitKScratch, minGroupsForAdapter, type TileLimits } from '../ops/matmul';
import { gradNormPartialSize } from '../ops/optimizer';
import { loraInF } from '../lora/peft';
import { parseTargets, resolveTargets } from '../lora/targets';
import { canQuantize, isQalora, paddedBytes as padded, quantBytes, type QuantMode } from '../quant/formats';

export { QUANT_MODES, isQalora, type QuantMode } from '../quant/formats';

export interface MemoryInput {
  spec: ModelSpec;
  /** Bytes per element of the weights that stay unquantized: 4 (f32 checkpoints) or 2 (stored f16). */
  weightBytes: 2 | 4;
  quant: QuantMode;
  /** QA-LoRA group size along the input dimension. */
  groupSize: number;
  rank: number;
  /** parseTargets syntax: "q_proj,v_proj", "attention", "all-linear" [+ ",lm_head"]. */
  targets: string;
  batchSize: number;
  seqLen: number;
  gradCheckpointing: boolean;
  /** The device's maxStorageBufferBindingSize (bounds the logits chunk); default: no bound. */
  maxBinding?: number;
  /** How the device tiles matmuls (sizes the LoRA gradients' split-K scratch); default: WebGPU's default limits on a real GPU. */
  tiling?: Tiling;
}

/** The device's matmul tiling: its workgroup limits and the workgroups the tile chooser aims for (ops/matmul). */
export interface Tiling {
  limits: TileLimits;
  minGroups: number;
}

/** The tiling of the device the engine opens on this adapter (its limits are raised to the adapter's). */
export function tilingOfAdapter(a: { isSoftware: boolean; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number }): Tiling {
  return {
    limits: { ...DEFAULT_TILING.limits, maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup },
    minGroups: minGroupsForAdapter(a.isSoftware),
  };
}

/** WebGPU's default limits on a hardware adapter: the tiling assumed until the GPU is known. */
export const DEFAULT_TILING: Tiling = {
  limits: { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256 },
  minGroups: 128,
};

export interface MemoryEstimate {
  /** Frozen base weights on the GPU. */
  baseWeights: number;
  /** LoRA weights + gradients + AdamW m and v (4 × f32 per trainable parameter) + optimizer scratch. */
  lora: number;
  /** Buffers of the training graph (activations, logits chunk, backward scratch, LoRA intermediates). */
  activations: number;
  total: number;
  trainableParams: number;
  modelParams: number;
  /** The largest single buffer: checked against the device's maxBufferSize. */
  largestBuffer: { label: string; bytes: number };
}

/** Trainable parameters: r·(in + out) per module; QA-LoRA's A sees the group-pooled input, r·(in/g + out). */
export function trainableParams(modules: LinearModule[], rank: number, quant: QuantMode, groupSize: number): number {
  const h = { r: rank, alpha: 1, dropout: 0, rslora: false, qaloraGroupSize: isQalora(quant) ? groupSize : undefined };
  let n = 0;
  for (const m of modules) n += rank * (loraInF(m, h) + m.outF);
  return n;
}

/**
 * Frozen base weight bytes as the engine stores them: every decoder-block linear the mode can take
 * quantized (its exact GPU buffers), everything else (embeddings, norms, head, matrices the mode
 * cannot tile) at `weightBytes`.
 */
export function baseWeightBytes(spec: ModelSpec, weightBytes: number, quant: QuantMode, groupSize: number): number {
  const total = countModelParams(spec);
  if (quant === 'none') return total * weightBytes;
  let quantParams = 0;
  let bytes = 0;
  for (const m of linearModules(spec)) {
    if (m.kind === 'lm_head' || canQuantize(quant, m.outF, m.inF, groupSize) !== null) continue;
    quantParams += m.inF * m.outF;
    bytes += quantBytes(quant, m.outF, m.inF, groupSize);
  }
  return (total - quantParams) * weightBytes + bytes;
}

/** The training graph's buffers, as the engine's Transformer and Trainer allocate them: [label, f32 count]. */
export function trainingBuffers(
  spec: ModelSpec, modules: LinearModule[], rank: number, B: number, T: number, checkpointing: boolean, maxBinding = Infinity, qaloraGroupSize = 0,
  tiling: Tiling = DEFAULT_TILING,
): [string, number][] {
  const { C, NH, NKV, HS, V, L, FF } = spec;
  const N = B * T;
  const QKVW = (NH + 2 * NKV) * HS;
  const guW = spec.arch === 'llama' ? 2 * FF : FF;
  const headRows = headChunkRows(N, V, Math.min(maxBinding, 2 ** 52), HEAD_CHUNK_BYTES);
  const out: [string, number][] = [
    ['tokens', N], ['targets', N], ['pos', N], ['segStart', N], ['seed', 4], ['lossScale', 4], ['stats', STATS_LEN],
    ['logits', headRows * V], ['losses', N], ['lnf', N * C], ['lastHidden', C], ['meanf', N], ['rstdf', N],
  ];
  if (spec.arch === 'llama') out.push(['rope.invFreq', HS / 2]);
  const sets = checkpointing ? 1 : L;
  for (let s = 0; s < sets; s++) {
    out.push(
      [`ln1.${s}`, N * C], [`mean1.${s}`, N], [`rstd1.${s}`, N], [`qkv.${s}`, N * QKVW], [`att.${s}`, N * NH * HS], [`lse.${s}`, N * NH],
      [`resMid.${s}`, N * C], [`ln2.${s}`, N * C], [`mean2.${s}`, N], [`rstd2.${s}`, N], [`gu.${s}`, N * guW], [`h.${s}`, N * FF],
    );
  }
  for (const m of modules) out.push([`u.${m.name}`, N * rank]);
  for (let l = 0; l <= L; l++) out.push([`resid.${l}`, N * C]);
  if (modules.some((m) => m.layer < 0)) out.push(['u.lm_head', headRows * rank]);
  const maxIn = Math.max(1, ...modules.map((m) => m.inF));
  out.push(['lora.xd', N * maxIn], ['lora.gB', N * rank], ['lora.tmp', N * maxIn], ['lora.tmp2', N * maxIn]);
  if (qaloraGroupSize) out.push(['lora.xpool', N * Math.ceil(maxIn / qaloraGroupSize)]);
  const aIn = (m: LinearModule) => (qaloraGroupSize ? m.inF / qaloraGroupSize : m.inF);
  const split = loraSplitKScratch(modules.map((m) => ({ aIn: aIn(m), outF: m.outF, rows: m.layer < 0 ? headRows : N })), rank, tiling.limits, tiling.minGroups);
  if (split) out.push(['lora.splitK', split]);
  out.push(['dres', N * C], ['dln', N * C], ['dh', N * FF], ['dgu', N * guW], ['datt', N * NH * HS], ['dqkv', N * QKVW], ['attn.D', N * NH]);
  return out;
}

export function estimateMemory(inp: MemoryInput): MemoryEstimate {
  const { spec, rank } = inp;
  const modules = resolveTargets(spec, parseTargets(inp.targets));
  const trainable = trainableParams(modules, rank, inp.quant, inp.groupSize);
  const baseWeights = baseWeightBytes(spec, inp.weightBytes, inp.quant, inp.groupSize);
  // params, grads, m, v: four f32 buffers of the flat LoRA layout; the optimizer's step counter
  // and gradient-norm partial sums are a few bytes.
  const lora = 4 * padded(trainable * 4) + padded(16) + padded(gradNormPartialSize(trainable) * 4);
  let activations = 0;
  let largest = { label: 'embedding', bytes: spec.V * spec.C * inp.weightBytes };
  for (const [label, n] of trainingBuffers(spec, modules, rank, inp.batchSize, inp.seqLen, inp.gradCheckpointing, inp.maxBinding, isQalora(inp.quant) ? inp.groupSize : 0, inp.tiling)) {
    const b = padded(Math.max(1, n) * 4);
    activations += b;
    if (b > largest.bytes) largest = { label, bytes: b };
  }
  if (trainable * 4 > largest.bytes) largest = { label: 'LoRA parameters', bytes: trainable * 4 };
  return {
    baseWeights, lora, activations, total: baseWeights + lora + activations, trainableParams: trainable, modelParams: countModelParams(spec), largestBuffer: largest,
  };
}

export type Verdict = 'fits' | 'tight' | 'wont-fit';

export interface FitLimits {
  /** The GPU memory the user says the run may use (WebGPU does not report it). */
  budgetBytes: number;
  maxBufferSize: number;
}

export interface FitReport {
  verdict: Verdict;
  /** total / budget */
  fraction: number;
  /** One line: why. */
  reason: string;
  /** What to change, each a concrete setting that fits (or helps most). */
  advice: string[];
}

/** Above this share of the budget a run is tight (browsers, the page and the driver need room too). */
export const TIGHT_FRACTION = 0.75;

function judgeOne(est: MemoryEstimate, lim: FitLimits): Verdict {
  if (est.largestBuffer.bytes > lim.maxBufferSize || est.total > lim.budgetBytes) return 'wont-fit';
  return est.total > TIGHT_FRACTION * lim.budgetBytes ? 'tight' : 'fits';
}

const BUFFER_WORDS: [RegExp, string][] = [
  [/^gu\.|^dgu$/, 'the MLP activations of one layer'], [/^h\.|^dh$/, 'the MLP hidden activations of one layer'],
  [/^qkv\.|^dqkv$/, 'the attention queries, keys and values of one layer'], [/^att\.|^datt$/, 'the attention output of one layer'],
  [/^ln[12]\.|^dln$|^lnf$/, 'the normalised input of one layer'], [/^resid\.|^resMid\.|^dres$/, 'the residual stream of one layer'],
  [/^logits$/, 'the output logits (one chunk)'], [/^u\.lm_head$/, "the output head's LoRA activations"], [/^u\./, "one adapter's LoRA activations"],
  [/^lora\./, 'the LoRA scratch space'], [/^embedding$/, 'the token embedding matrix'], [/^LoRA parameters$/, 'the LoRA parameters'],
];

/** A training buffer's name (as trainingBuffers and the transformer name it) in words a user knows. */
export function bufferWords(label: string): string {
  return BUFFER_WORDS.find(([re]) => re.test(label))?.[1] ?? 'one of the training buffers';
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (a >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** Whether the targets of `inp` can train on a base quantized as `q` (QA-LoRA groups must divide each input). */
function quantFits(inp: MemoryInput, q: QuantMode): boolean {
  if (!isQalora(q)) return true;
  return resolveTargets(inp.spec, parseTargets(inp.targets)).every((m) => m.layer < 0 || m.inF % inp.groupSize === 0);
}

/**
 * The changes the memory advice tries, in families ordered by what they cost the user: a smaller
 * batch (the same training with more gradient accumulation), activation checkpointing (slower), a
 * 4-bit base (a little quality), a shorter sequence (cuts examples), a smaller rank (less capacity).
 * Every change is valid for the model and the other knobs: sequence lengths within the model's
 * maximum positions, batch sizes ≥ 1, quant modes the targets can take.
 */
export function adviceFamilies(inp: MemoryInput): [string, Partial<MemoryInput>][][] {
  const batch: [string, Partial<MemoryInput>][] = [];
  for (let b = Math.floor(inp.batchSize / 2); b >= 1; b = Math.floor(b / 2)) {
    batch.push([`batch size ${b} (raise gradient accumulation to keep the effective batch)`, { batchSize: b }]);
    if (b === 1) break;
  }
  const ckpt: [string, Partial<MemoryInput>][] = inp.gradCheckpointing ? [] : [['turn on activation checkpointing', { gradCheckpointing: true }]];
  const quant: [string, Partial<MemoryInput>][] = inp.quant !== 'none' ? [] : (['nf4', 'qalora-int4'] as const).filter((q) => quantFits(inp, q)).map((q) => [`quantized base: ${q}`, { quant: q }]);
  const seq: [string, Partial<MemoryInput>][] = [];
  const top = Math.min(inp.seqLen, inp.spec.maxT);
  if (top < inp.seqLen) seq.push([`sequence length ${top} (the model's maximum)`, { seqLen: top }]);
  for (let t = Math.floor(top / 2); t >= 64; t = Math.floor(t / 2)) seq.push([`sequence length ${t}`, { seqLen: t }]);
  const rank: [string, Partial<MemoryInput>][] = inp.rank > 4 ? [[`rank ${Math.max(4, Math.floor(inp.rank / 2))}`, { rank: Math.max(4, Math.floor(inp.rank / 2)) }]] : [];
  return [batch, ckpt, quant, seq, rank];
}

/**
 * Fits, tight or will not fit, and what to change: each candidate change (smaller batch or
 * sequence, activation checkpointing, a quantized base, a smaller rank) is estimated, and the ones
 * that bring the run to "fits" are named with their total.
 */
export function judgeFit(inp: MemoryInput, lim: FitLimits): FitReport {
  const est = estimateMemory(inp);
  const verdict = judgeOne(est, lim);
  const fraction = est.total / lim.budgetBytes;
  let reason: string;
  if (est.largestBuffer.bytes > lim.maxBufferSize) {
    reason = `${bufferWords(est.largestBuffer.label)} need ${fmtBytes(est.largestBuffer.bytes)} in one buffer, more than this GPU allows (${fmtBytes(lim.maxBufferSize)}).`;
  } else if (verdict === 'wont-fit') {
    reason = `needs ${fmtBytes(est.total)}, more than the ${fmtBytes(lim.budgetBytes)} budget.`;
  } else if (verdict === 'tight') {
    reason = `needs ${fmtBytes(est.total)}, ${Math.round(fraction * 100)}% of the ${fmtBytes(lim.budgetBytes)} budget: it may fail if other tabs or apps use the GPU.`;
  } else {
    reason = `needs ${fmtBytes(est.total)} of the ${fmtBytes(lim.budgetBytes)} budget.`;
  }
  const advice: string[] = [];
  if (verdict !== 'fits') {
    const fitting: string[] = [];
    // One family of changes after another, cheapest for the user first; within a family the
    // smallest change that fits.
    for (const family of adviceFamilies(inp)) {
      for (const [what, change] of family) {
        const e = estimateMemory({ ...inp, ...change });
        if (judgeOne(e, lim) === 'fits') {
          fitting.push(`${what} → ${fmtBytes(e.total)}`);
          break;
        }
      }
    }
    if (fitting.length) advice.push(...fitting.slice(0, 4));
    else {
      const all = estimateMemory({ ...inp, gradCheckpointing: true, batchSize: 1, seqLen: Math.min(inp.seqLen, 256, inp.spec.maxT), quant: inp.quant === 'none' && quantFits(inp, 'nf4') ? 'nf4' : inp.quant });
      advice.push(
        judgeOne(all, lim) === 'fits'
          ? `combine them: checkpointing, batch size 1, sequence length ≤ 256 and a 4-bit base → ${fmtBytes(all.total)}`
          : 'choose a smaller model: even the leanest settings need more than this GPU has',
      );
    }
  }
  return { verdict, fraction, reason, advice };
}
