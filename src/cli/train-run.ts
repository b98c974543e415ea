// The part of `npm run train` that `npm run experiment` shares: the run defaults, reading the data
// with its progress lines, and training one run into its folder (checkpoints under OUT/checkpoint,
// the PEFT adapter and metrics.json at the top of OUT).
import { existsSync, readFileSync } from 'node:fs';
import type { PromptFormat } from '../data/format';
import { RECORD_SHAPES, type RecordShape } from '../data/shapes';
import { join } from 'node:path';
import { prepareData } from '../data/dataset';
import { isQalora } from '../quant/formats';
import { countModelParams } from '../model/config';
import type { LoadedModel } from '../model/load';
import type { GpuContext } from '../gpu/context';
import { saveKeeping, DEFAULT_KEEP, type GoodCheckpoint } from '../train/checkpoint-shelf';
import { resumeFromFiles, type CheckpointPlace } from '../train/resume';
import type { ModelSpec } from '../model/config';
import { runTraining, type ResumeData, type RunConfig, type RunResult } from '../train/run';
import type { SaveActivations } from '../net/buffers';
import { deviceHasF16 } from '../ops/matmul-math';
import { FolderShelf } from './checkpoint-dir';
import { fmtDuration, nonNegInt, num, positiveInt, progressLine, QUANT_CLI_OPTIONS, UsageError, writeFiles } from './common';
import { parseSchedule } from '../train/schedule';
import { DATA_CLI_OPTIONS, dataOptions, openDataArg, parseDataArg, warningLine, type DataConfig } from './data-input';

/**
 * The LoRA flags' names before they took PEFT's / TRL's (--lora-r, --lora-alpha, ...): still
 * accepted, so existing scripts and the studio's older "Copy as command" lines keep working.
 */
const LEGACY_LORA_OPTIONS = {
  rank: { type: 'string' }, alpha: { type: 'string' }, dropout: { type: 'string' }, rslora: { type: 'boolean' },
  targets: { type: 'string' }, 'lora-plus-ratio': { type: 'string' },
} as const;

/** Each LoRA flag's older alias (LEGACY_LORA_OPTIONS), by the flag's current name. */
export const LORA_FLAG_ALIAS: Readonly<Record<string, keyof typeof LEGACY_LORA_OPTIONS>> = {
  'lora-r': 'rank', 'lora-alpha': 'alpha', 'lora-dropout': 'dropout', 'use-rslora': 'rslora', 'target-modules': 'targets', 'loraplus-lr-ratio': 'lora-plus-ratio',
};

/** The options `npm run train` parses (node:util parseArgs; every value a string but the switches). */
export const TRAIN_CLI_OPTIONS = {
  model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
  'lora-r': { type: 'string' }, 'lora-alpha': { type: 'string' }, 'lora-dropout': { type: 'string' }, 'use-rslora': { type: 'boolean' },
  'target-modules': { type: 'string' }, 'loraplus-lr-ratio': { type: 'string' }, lr: { type: 'string' }, schedule: { type: 'string' },
  ...LEGACY_LORA_OPTIONS,
  warmup: { type: 'string' }, steps: { type: 'string' }, epochs: { type: 'string' }, 'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' }, 'seq-len': { type: 'string' }, 'eval-file': { type: 'string' }, 'eval-split': { type: 'string' },
  seed: { type: 'string' }, 'save-every': { type: 'string' }, resume: { type: 'string' }, 'keep-checkpoints': { type: 'string' }, 'max-grad-norm': { type: 'string' },
  'weight-decay': { type: 'string' }, dtype: { type: 'string' }, 'log-every': { type: 'string' },
  'grad-checkpointing': { type: 'boolean' }, activations: { type: 'string' }, 'matmul-math': { type: 'string' }, subgroups: { type: 'boolean' },
  'no-subgroups': { type: 'boolean' }, ...QUANT_CLI_OPTIONS,
  ...DATA_CLI_OPTIONS,
} as const;

/**
 * The --activations flag (f32 | f16), else a resumed run's recorded setting, else f32. Throws a
 * UsageError naming the flag for another value.
 */
export function parseActivations(flag: string | undefined, prev: SaveActivations | undefined): SaveActivations {
  const v = flag ?? prev ?? 'f32';
  if (v !== 'f32' && v !== 'f16') throw new UsageError(`--activations must be f32 (exact) or f16 (half the activation memory), got "${v}"`);
  return v;
}

/**
 * The --matmul-math flag (f32 | f16), else a resumed run's recorded setting, else f32. Throws a
 * UsageError naming the flag for another value.
 */
export function parseMatmulMath(flag: string | undefined, prev: 'f32' | 'f16' | undefined): 'f32' | 'f16' {
  const v = flag ?? prev ?? 'f32';
  if (v !== 'f32' && v !== 'f16') throw new UsageError(`--matmul-math must be f32 (the default) or f16 (f16 products, f32 sums; needs a GPU with shader-f16), got "${v}"`);
  return v;
}

/**
 * Throws a UsageError in the CLI's words when the run asks for f16 matmul math and `ctx`'s device
 * lacks 'shader-f16' (gpuContext was asked for it, so the adapter has none).
 */
export function checkMatmulMath(ctx: GpuContext, math: 'f32' | 'f16'): void {
  if (math !== 'f16' || deviceHasF16(ctx)) return;
  const a = ctx.adapter;
  throw new UsageError(`--matmul-math f16 needs a GPU with the WebGPU 'shader-f16' feature, and this one (${`${a.vendor} ${a.description}`.trim()}) has none; leave it out (f32 is the default).`);
}

/**
 * --subgroups on, --no-subgroups off (a resumed run that recorded them on, on a GPU without them),
 * else a resumed run's recorded choice, else off. Throws a UsageError when both flags are given.
 */
export function parseSubgroups(a: { subgroups?: boolean; 'no-subgroups'?: boolean }, prev: boolean | undefined): boolean {
  if (a.subgroups && a['no-subgroups']) throw new UsageError('give --subgroups or --no-subgroups, not both.');
  if (a['no-subgroups']) return false;
  return a.subgroups ?? prev ?? false;
}

/** A run's settings when neither a flag, a resumed checkpoint nor an experiment spec gives them. */
export const RUN_DEFAULTS = {
  r: 8, loraAlpha: 16, loraDropout: 0.05, useRslora: false, targetModules: 'attention', loraplusLrRatio: 1, lr: 2e-4, schedule: 'linear', warmup: 0, epochs: 1,
  batchSize: 4, gradAccum: 1, seed: 42, saveEvery: 0, keepCheckpoints: DEFAULT_KEEP, maxGradNorm: 1, weightDecay: 0, evalSplit: 0.1,
  subgroups: false,
} as const;

/** The flags `npm run train` parsed (TRAIN_CLI_OPTIONS). */
type TrainArgs = { [K in keyof typeof TRAIN_CLI_OPTIONS]?: (typeof TRAIN_CLI_OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

/**
 * A value flag given under its name or its older alias, with the name the user typed (so a message
 * about its value names that flag); the name itself when neither is given.
 */
function flag(a: TrainArgs, name: keyof TrainArgs, alias: keyof typeof LEGACY_LORA_OPTIONS): [string | undefined, string] {
  const v = a[name] as string | undefined;
  if (v !== undefined || a[alias] === undefined) return [v, name];
  return [a[alias] as string, alias];
}

/**
 * The run settings of `npm run train`'s flags, each falling back to a resumed run's recorded value
 * (`prev`), then to RUN_DEFAULTS; `base` is what the loaded model decides (the sequence length
 * defaults to min(256, maxT)). Throws a UsageError naming the flag for a bad value.
 */
export function runConfigFromArgs(
  a: TrainArgs, prev: Partial<RunConfig> & { evalFile?: string; evalSplit?: number; keepCheckpoints?: number },
  base: { maxT: number; quant: RunConfig['quant']; groupSize: number; dtype: string; baseModel: string },
): RunConfig & { dtype: string; keepCheckpoints: number; evalFile?: string; evalSplit: number } {
  return {
    dtype: base.dtype,
    quant: base.quant, groupSize: base.groupSize,
    gradCheckpointing: a['grad-checkpointing'] ?? prev.gradCheckpointing ?? false,
    saveActivations: parseActivations(a.activations, prev.saveActivations),
    matmulMath: parseMatmulMath(a['matmul-math'], prev.matmulMath),
    subgroups: parseSubgroups(a, prev.subgroups),
    baseModel: base.baseModel,
    r: num(...flag(a, 'lora-r', 'rank'), prev.r ?? RUN_DEFAULTS.r),
    loraAlpha: num(...flag(a, 'lora-alpha', 'alpha'), prev.loraAlpha ?? RUN_DEFAULTS.loraAlpha),
    loraDropout: num(...flag(a, 'lora-dropout', 'dropout'), prev.loraDropout ?? RUN_DEFAULTS.loraDropout),
    useRslora: a['use-rslora'] ?? a.rslora ?? prev.useRslora ?? RUN_DEFAULTS.useRslora,
    targetModules: a['target-modules'] ?? a.targets ?? prev.targetModules ?? RUN_DEFAULTS.targetModules,
    loraplusLrRatio: num(...flag(a, 'loraplus-lr-ratio', 'lora-plus-ratio'), prev.loraplusLrRatio ?? RUN_DEFAULTS.loraplusLrRatio),
    lr: num(a.lr, 'lr', prev.lr ?? RUN_DEFAULTS.lr),
    schedule: parseSchedule(a.schedule ?? prev.schedule ?? RUN_DEFAULTS.schedule),
    warmup: num(a.warmup, 'warmup', prev.warmup ?? RUN_DEFAULTS.warmup, nonNegInt),
    steps: a.steps !== undefined ? num(a.steps, 'steps', 0, positiveInt) : a.epochs !== undefined ? undefined : prev.steps,
    epochs: num(a.epochs, 'epochs', prev.epochs ?? RUN_DEFAULTS.epochs, positiveInt),
    batchSize: num(a['batch-size'], 'batch-size', prev.batchSize ?? RUN_DEFAULTS.batchSize, positiveInt),
    gradAccum: num(a['grad-accum'], 'grad-accum', prev.gradAccum ?? RUN_DEFAULTS.gradAccum, positiveInt),
    seqLen: num(a['seq-len'], 'seq-len', prev.seqLen ?? Math.min(256, base.maxT), positiveInt),
    seed: num(a.seed, 'seed', prev.seed ?? RUN_DEFAULTS.seed, nonNegInt),
    saveEvery: num(a['save-every'], 'save-every', prev.saveEvery ?? RUN_DEFAULTS.saveEvery, nonNegInt),
    keepCheckpoints: num(a['keep-checkpoints'], 'keep-checkpoints', prev.keepCheckpoints ?? RUN_DEFAULTS.keepCheckpoints, positiveInt),
    maxGradNorm: num(a['max-grad-norm'], 'max-grad-norm', prev.maxGradNorm ?? RUN_DEFAULTS.maxGradNorm),
    weightDecay: num(a['weight-decay'], 'weight-decay', prev.weightDecay ?? RUN_DEFAULTS.weightDecay),
    evalFile: a['eval-file'] ?? prev.evalFile,
    evalSplit: num(a['eval-split'], 'eval-split', prev.evalSplit ?? RUN_DEFAULTS.evalSplit, (x) => (x >= 0 && x < 1 ? null : 'must be in [0, 1)')),
  };
}

export type Prepared = Awaited<ReturnType<typeof prepareData>>;

/** Reads --data (and --eval-file) into train/eval examples for `seqLen`, printing what it found. */
export async function readRunData(
  loaded: LoadedModel, data: string, dataCfg: DataConfig, o: { seqLen: number; seed: number; evalSplit: number; evalFile?: string },
): Promise<Prepared> {
  const { spec, tokenizer } = loaded;
  const dataArg = parseDataArg(data);
  const evalArg = o.evalFile ? parseDataArg(o.evalFile, '--eval-file') : null;
  const prepared = await prepareData(await openDataArg(dataArg), tokenizer, {
    ...dataOptions(dataCfg, o.seqLen, o.seed, spec.maxT),
    evalSplit: o.evalSplit,
    evalInput: evalArg ? await openDataArg(evalArg) : undefined,
    onProgress: (p) => progressLine(`reading ${data}: ${p.rows} rows`),
  });
  const { stats } = prepared;
  progressLine(
    `data: ${stats.format} (${stats.file_format}, ${stats.prompt_format}); ${stats.examples} examples, ${stats.tokens} tokens, ${stats.trained_tokens} trained` +
      `${stats.packing ? `; packed into ${stats.train_rows} + ${stats.eval_rows} rows` : ''}`,
    true,
  );
  if (stats.truncated) progressLine(`${stats.truncated} of ${stats.examples} examples were truncated to ${o.seqLen} tokens`, true);
  for (const w of stats.warnings) progressLine(warningLine(w), true);
  if (stats.skipped_count) {
    const s0 = stats.skipped[0];
    progressLine(`${stats.skipped_count} rows skipped (first: line ${s0.line}: ${s0.reason}); npm run data lists them`, true);
  }
  if (stats.duplicates) progressLine(`${stats.duplicates} examples duplicate an earlier one (first: line ${stats.duplicate_lines[0].line} = line ${stats.duplicate_lines[0].same_as})`, true);
  return prepared;
}

/** One line about the loaded base: size, dtype, quantization, and the split. */
export function modelLine(loaded: LoadedModel, prepared: Prepared): string {
  const { spec, weights } = loaded;
  return (
    `model ${spec.modelType} (${(countModelParams(spec) / 1e6).toFixed(2)}M params, weights ${weights.dtype}` +
    `${weights.quant !== 'none' ? `, ${weights.quant}: ${(weights.quantBytes / Math.max(1, weights.quantParams)).toFixed(3)} B/param over ${weights.quantParams} params` : ''}); ` +
    `${prepared.stats.train_examples} train / ${prepared.stats.eval_examples} eval examples`
  );
}

/**
 * Trains one run and writes it to `out` exactly as npm run train does: checkpoints (keeping
 * cfg.keepCheckpoints) in OUT/checkpoint, then adapter_config.json, adapter_model.safetensors and
 * metrics.json in OUT. Returns the run's result and its metrics.
 */
export async function trainIntoFolder(
  ctx: GpuContext, loaded: LoadedModel, prepared: Prepared, cfg: RunConfig & DataConfig & Record<string, unknown>,
  o: { out: string; model: string; data: string; groupSize: number; logEvery: number; resume?: ResumeData },
): Promise<{ res: RunResult; metrics: Record<string, unknown> }> {
  const { out } = o;
  const shelf = new FolderShelf(join(out, 'checkpoint'));
  const t0 = performance.now();
  const res = await runTraining(ctx, loaded, prepared.train, prepared.eval, cfg, {
    onStep: (p) => {
      if (p.step % o.logEvery === 0 || p.step === p.totalSteps || p.step === 1) {
        progressLine(
          `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}  gnorm ${p.gradNorm.toFixed(3)}  ` +
            `${p.tokensPerSecond.toFixed(0)} tok/s  elapsed ${fmtDuration(p.elapsedSeconds)}  ETA ${fmtDuration(p.etaSeconds)}`,
          true,
        );
      }
    },
    onEval: (e) => progressLine(`eval loss at step ${e.step}: ${e.loss.toFixed(4)}`, true),
    saveCheckpoint: async (files, step) => {
      await saveKeeping(shelf, step, files, (cfg.keepCheckpoints as number | undefined) ?? DEFAULT_KEEP);
      progressLine(`checkpoint at step ${step} -> ${join(out, 'checkpoint')}`, true);
    },
  }, o.resume);
  const wallSeconds = (performance.now() - t0) / 1000;

  // The adapter itself (PEFT format) sits at the top of --out.
  const files = new Map<string, Uint8Array | string>();
  const ck = join(out, 'checkpoint');
  files.set('adapter_config.json', readFileSync(join(ck, 'adapter_config.json'), 'utf8'));
  files.set('adapter_model.safetensors', readFileSync(join(ck, 'adapter_model.safetensors')));
  const w = loaded.weights;
  const { stats } = prepared;
  const metrics = {
    model: o.model, data: o.data, quant: w.quant, group_size: isQalora(w.quant) ? o.groupSize : null, weights_dtype: w.dtype,
    quantized_params: w.quantParams, quantized_bytes: w.quantBytes,
    bytes_per_quantized_param: w.quantParams ? w.quantBytes / w.quantParams : null,
    unquantized: w.unquantized,
    eval_loss_before: res.evalLossBefore, eval_loss_after: res.evalLossAfter,
    train_loss: res.history.map((h) => ({ step: h.step, loss: h.loss })),
    learning_rate: res.history.map((h) => ({ step: h.step, lr: h.lr })),
    grad_norm: res.history.map((h) => ({ step: h.step, grad_norm: h.gradNorm })),
    tokens_per_second: res.tokensPerSecond, trainable_params: res.trainableParams, model_params: countModelParams(loaded.spec), steps: res.steps,
    // Seconds this process trained (a resumed run counts only the part after the resume).
    wall_seconds: wallSeconds,
    peak_gpu_bytes: res.peakBytes, base_weight_bytes: w.bytes, config: cfg,
    // How prompts were formatted: `npm run generate --adapter` wraps its prompt the same way.
    prompt_format: { shape: stats.format, chat_template: cfg.chatTemplate ?? 'auto', name: stats.prompt_format },
  };
  files.set('metrics.json', JSON.stringify(metrics, null, 1));
  writeFiles(out, files);
  progressLine(`done: eval loss ${res.evalLossBefore?.toFixed(4) ?? '-'} -> ${res.evalLossAfter?.toFixed(4) ?? '-'}; adapter written to ${out}`, true);
  return { res, metrics };
}

/** How the CLI names a checkpoint folder's files in messages (their paths) and what to do about a damaged one. */
export function folderPlace(dir: string): CheckpointPlace {
  return { file: (name) => join(dir, name), remedy: 'give --resume an earlier checkpoint folder (OUT/checkpoint-prev), or train again without --resume' };
}

/** The trainer state, adapter and optimizer moments of a good checkpoint folder, to resume a run from (train/resume.ts). */
export function resumeDataOf(spec: ModelSpec, good: GoodCheckpoint): ResumeData {
  return resumeFromFiles(spec, good.files, folderPlace(good.slot.id));
}

/** The prompt formatting an adapter folder written by npm run train records in its metrics.json (null: as typed). */
export function trainedPromptFormat(dir: string): (PromptFormat & { name: string }) | null {
  const file = join(dir, 'metrics.json');
  if (!existsSync(file)) return null;
  let m: { prompt_format?: { shape?: unknown; chat_template?: unknown; name?: unknown } };
  try {
    m = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null; // not ours: a PEFT folder may hold other files
  }
  const p = m.prompt_format;
  if (!p || typeof p.shape !== 'string' || !RECORD_SHAPES.includes(p.shape as RecordShape) || p.shape === 'text') return null;
  return { shape: p.shape as RecordShape, chatTemplate: typeof p.chat_template === 'string' ? p.chat_template : 'auto', name: String(p.name ?? p.shape) };
}
