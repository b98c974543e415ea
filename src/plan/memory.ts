// GPU memory estimate for a fine-tuning run, before anything is downloaded: frozen base weights in
// the chosen quantization mode, the LoRA state (weights, gradients and AdamW moments in f32), and
// the training graph's buffers for the batch and sequence length. Those are the rows of
// net/buffers.ts's transformerBuffers, the very table the engine's Transformer allocates from, so
// the two agree by construction (memory.test.ts checks it against the engine's own accounting).
// Pure: no DOM, no GPU.

import { countModelParams, type ModelSpec } from '../model/config';
import { linearModules, type LinearModule } from '../model/modules';
import { bufferWords, HEAD_CHUNK_BYTES, headChunkRows, transformerBuffers, type SaveActivations } from '../net/buffers';
import { minGroupsForAdapter, type TileLimits } from '../ops/matmul';
import { gradNormPartialSize } from '../ops/optimizer';
import { loraInF } from '../lora/peft';
import { parseTargets, resolveTargets } from '../lora/targets';
import { canQuantize, isQalora, paddedBytes as padded, quantBytes, type QuantMode } from '../quant/formats';

export { QUANT_MODES, isQalora, type QuantMode } from '../quant/formats';

/**
 * What the memory estimate needs: the model's shape and the run's knobs that size GPU buffers
 * (B = batchSize, T = seqLen, LoRA rank r and targets, quantization, checkpointing) and, once a
 * GPU is known, its binding limit and matmul tiling.
 */
export interface MemoryInput {
  spec: ModelSpec;
  /** Bytes per element of the weights that stay unquantized: 4 (f32 checkpoints) or 2 (stored f16). */
  weightBytes: 2 | 4;
  quant: QuantMode;
  /** QA-LoRA group size along the input dimension. */
  groupSize: number;
  r: number;
  /** parseTargets syntax: "q_proj,v_proj", "attention", "all-linear" [+ ",lm_head"]. */
  targetModules: string;
  batchSize: number;
  seqLen: number;
  gradCheckpointing: boolean;
  /** Storage of the activations kept for the backward: 'f32' (default, exact) or 'f16' (half the bytes). */
  saveActivations?: SaveActivations;
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
const DEFAULT_TILING: Tiling = {
  limits: { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256 },
  minGroups: 128,
};

/** GPU memory of a training run, in bytes, by what holds it (each buffer padded as the allocator pads it). */
export interface MemoryEstimate {
  /** Frozen base weights on the GPU. */
  baseWeights: number;
  /** LoRA weights + gradients + AdamW m and v (4 × f32 per trainable parameter) + optimizer scratch. */
  lora: number;
  /** Buffers of the training graph (activations, logits chunk, backward scratch, LoRA intermediates). */
  activations: number;
  /** baseWeights + lora + activations, in bytes. */
  total: number;
  /** LoRA parameters: Σ r·(in + out) over the targeted modules (QA-LoRA: r·(in/g + out)). */
  trainableParams: number;
  /** Parameters of the base model (countModelParams). */
  modelParams: number;
  /** The largest single buffer: checked against the device's maxBufferSize. */
  largestBuffer: { label: string; bytes: number };
}

/** Trainable parameters: r·(in + out) per module; QA-LoRA's A sees the group-pooled input, r·(in/g + out). */
function trainableParams(modules: LinearModule[], rank: number, quant: QuantMode, groupSize: number): number {
  const h = { r: rank, loraAlpha: 1, loraDropout: 0, useRslora: false, qaloraGroupSize: isQalora(quant) ? groupSize : undefined };
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

/**
 * Bytes of GPU memory a training run with `inp` will allocate: the frozen base as the engine
 * stores it (baseWeightBytes), the LoRA state (params, grads, m, v: 4 f32 per trainable parameter,
 * plus the optimizer's scratch), and every row of net/buffers.ts transformerBuffers for N = B·T
 * rows, the same table the Transformer allocates from. Browser, driver and pipeline overheads are
 * not included (judgeFit keeps a margin). Throws TargetError for targets the model lacks.
 */
export function estimateMemory(inp: MemoryInput): MemoryEstimate {
  const { spec, r: rank } = inp;
  const modules = resolveTargets(spec, parseTargets(inp.targetModules));
  const trainable = trainableParams(modules, rank, inp.quant, inp.groupSize);
  const baseWeights = baseWeightBytes(spec, inp.weightBytes, inp.quant, inp.groupSize);
  // params, grads, m, v: four f32 buffers of the flat LoRA layout; the optimizer's step counter
  // and gradient-norm partial sums are a few bytes.
  const lora = 4 * padded(trainable * 4) + padded(16) + padded(gradNormPartialSize(trainable) * 4);
  let activations = 0;
  let largest = { label: 'embedding', bytes: spec.V * spec.C * inp.weightBytes };
  const N = inp.batchSize * inp.seqLen;
  const rows = transformerBuffers(spec, {
    B: inp.batchSize, T: inp.seqLen, training: true, checkpointing: inp.gradCheckpointing,
    headRows: headChunkRows(N, spec.V, Math.min(inp.maxBinding ?? Infinity, 2 ** 52), HEAD_CHUNK_BYTES),
    lora: { modules, r: rank, qaloraGroupSize: isQalora(inp.quant) ? inp.groupSize : 0 },
    splitK: inp.tiling ?? DEFAULT_TILING, saveActivations: inp.saveActivations,
  });
  for (const row of rows) {
    const b = padded(row.bytes); // the allocator's 16-byte padding
    activations += b;
    if (b > largest.bytes) largest = { label: row.key, bytes: b };
  }
  if (trainable * 4 > largest.bytes) largest = { label: 'LoRA parameters', bytes: trainable * 4 };
  return {
    baseWeights, lora, activations, total: baseWeights + lora + activations, trainableParams: trainable, modelParams: countModelParams(spec), largestBuffer: largest,
  };
}

type Verdict = 'fits' | 'tight' | 'wont-fit';

interface FitLimits {
  /** The GPU memory the user says the run may use (WebGPU does not report it). */
  budgetBytes: number;
  maxBufferSize: number;
}

/** judgeFit's answer: whether the run fits the user's GPU memory budget, why, and what to change. */
export interface FitReport {
  /** 'fits' (≤ 75% of the budget), 'tight' (above 75%), 'wont-fit' (over the budget, or a buffer over maxBufferSize). */
  verdict: Verdict;
  /** total / budget */
  fraction: number;
  /** One line: why. */
  reason: string;
  /** What to change, each a concrete setting that fits (or helps most). */
  advice: string[];
}

/** Above this share of the budget a run is tight (browsers, the page and the driver need room too). */
const TIGHT_FRACTION = 0.75;

function judgeOne(est: MemoryEstimate, lim: FitLimits): Verdict {
  if (est.largestBuffer.bytes > lim.maxBufferSize || est.total > lim.budgetBytes) return 'wont-fit';
  return est.total > TIGHT_FRACTION * lim.budgetBytes ? 'tight' : 'fits';
}

/** A buffer's name (a row of net/buffers.ts's table, 'embedding' or 'LoRA parameters') in words a user knows. */
export { bufferWords };

/** Bytes in binary units with a fixed precision: "512 B", "1.5 KiB", "12.3 MiB", "1.25 GiB"; "—" for NaN or ±Infinity. */
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
  return resolveTargets(inp.spec, parseTargets(inp.targetModules)).every((m) => m.layer < 0 || m.inF % inp.groupSize === 0);
}

/**
 * The changes the memory advice tries, in families ordered by what they cost the user: a smaller
 * batch (the same training with more gradient accumulation), saved activations f16 (gradients
 * within f16 rounding, about 1e-2 of the largest; a little slower for converting the saved bytes,
 * one pack and one unpack dispatch a layer; no capacity lost: a smaller cost than checkpointing's third slower step, and
 * than a 4-bit base, which rounds the weights themselves), activation checkpointing (slower), a
 * 4-bit base (a little quality), a shorter sequence (cuts examples), a smaller rank (less capacity).
 * Saved activations f16 is offered only while they are f32 and checkpointing is off (under
 * checkpointing it saves nothing: one set of activations).
 * Every change is valid for the model and the other knobs: sequence lengths within the model's
 * maximum positions, batch sizes ≥ 1, quant modes the targets can take.
 */
export function adviceFamilies(inp: MemoryInput): [string, Partial<MemoryInput>][][] {
  const batch: [string, Partial<MemoryInput>][] = [];
  for (let b = Math.floor(inp.batchSize / 2); b >= 1; b = Math.floor(b / 2)) {
    batch.push([`batch size ${b} (raise gradient accumulation to keep the effective batch)`, { batchSize: b }]);
    if (b === 1) break;
  }
  const half: [string, Partial<MemoryInput>][] = (inp.saveActivations ?? 'f32') === 'f32' && !inp.gradCheckpointing
    ? [['saved activations f16 (gradients within f16 rounding)', { saveActivations: 'f16' }]] : [];
  const ckpt: [string, Partial<MemoryInput>][] = inp.gradCheckpointing ? [] : [['turn on activation checkpointing', { gradCheckpointing: true }]];
  const quant: [string, Partial<MemoryInput>][] = inp.quant !== 'none' ? [] : (['nf4', 'qalora-int4'] as const).filter((q) => quantFits(inp, q)).map((q) => [`quantized base: ${q}`, { quant: q }]);
  const seq: [string, Partial<MemoryInput>][] = [];
  const top = Math.min(inp.seqLen, inp.spec.maxT);
  if (top < inp.seqLen) seq.push([`sequence length ${top} (the model's maximum)`, { seqLen: top }]);
  for (let t = Math.floor(top / 2); t >= 64; t = Math.floor(t / 2)) seq.push([`sequence length ${t}`, { seqLen: t }]);
  const rank: [string, Partial<MemoryInput>][] = inp.r > 4 ? [[`rank ${Math.max(4, Math.floor(inp.r / 2))}`, { r: Math.max(4, Math.floor(inp.r / 2)) }]] : [];
  return [batch, half, ckpt, quant, seq, rank];
}

/**
 * The advice when no single change fits: the leanest settings together, the cheaper combination
 * first: f16-saved activations with batch size 1, sequence length ≤ 256 and a 4-bit base; then the
 * same with checkpointing instead of f16 (under checkpointing f16 saves nothing, so the two are
 * never named together). Else: a smaller model.
 */
function combined(inp: MemoryInput, lim: FitLimits): string {
  const lean: Partial<MemoryInput> = { batchSize: 1, seqLen: Math.min(inp.seqLen, 256, inp.spec.maxT), quant: inp.quant === 'none' && quantFits(inp, 'nf4') ? 'nf4' : inp.quant };
  const rest = 'batch size 1, sequence length ≤ 256 and a 4-bit base';
  if (!inp.gradCheckpointing) {
    const half = estimateMemory({ ...inp, ...lean, saveActivations: 'f16' });
    if (judgeOne(half, lim) === 'fits') return `combine them: saved activations f16, ${rest} → ${fmtBytes(half.total)}`;
  }
  const all = estimateMemory({ ...inp, ...lean, gradCheckpointing: true });
  return judgeOne(all, lim) === 'fits'
    ? `combine them: checkpointing, ${rest} → ${fmtBytes(all.total)}`
    : 'choose a smaller model: even the leanest settings need more than this GPU has';
}

/**
 * Fits, tight or will not fit, and what to change: each candidate change (smaller batch or
 * sequence, f16-saved activations, activation checkpointing, a quantized base, a smaller rank) is estimated, and the ones
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
    else advice.push(combined(inp, lim));
  }
  return { verdict, fraction, reason, advice };
}
