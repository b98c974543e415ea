// Pure bookkeeping of the studio's experiments: the knobs ↔ the experiment spec's settings (the
// JSON schema npm run experiment reads, src/experiment/spec.ts), axis values typed in a field, the
// memory and time estimate of each planned run, the comparison report's rows from run records, and
// the requests of the answers (typed prompts as text, held-out prompts as their ids).
// Free of IndexedDB, the worker and the DOM, so it is unit-tested (experimentlogic.test.ts).
import { AXIS_KEYS, type ExperimentRun, type ExperimentSpec, type SettingValue, type Settings } from '../experiment/spec';
import type { ReportRun } from '../experiment/report';
import type { ModelSpec } from '../model/config';
import { parseTargets, resolveTargets } from '../lora/targets';
import { isQalora, estimateMemory, type QuantMode, type Tiling } from '../plan/memory';
import { targetsString, type Arch, type Knobs } from '../plan/knobs';
import type { PromptFormat } from '../data/format';
import type { RecordShape } from '../data/shapes';
import type { AdapterRef, GenerateRequest } from '../worker/protocol';
import type { RunRecord } from './types';

export type AxisKey = (typeof AXIS_KEYS)[number];

/** The studio's words for each axis (the knob it varies). */
export const AXIS_LABEL: Record<AxisKey, string> = {
  r: 'Rank (r)', lora_alpha: 'Alpha', target_modules: 'Target modules', quant: 'Base quantization', loraPlusRatio: 'LoRA+ ratio', lr: 'Learning rate',
  use_rslora: 'rsLoRA scaling', lora_dropout: 'Dropout', saveActivations: 'Saved activations', matmulMath: 'Matmul math',
  subgroups: 'Subgroup reductions',
};

/** The spec's settings of a set of knobs (PEFT names for PEFT concepts; what every run of an experiment shares). */
export function settingsFromKnobs(k: Knobs, arch: Arch): Settings {
  const s: Settings = {
    r: k.r, lora_alpha: k.loraAlpha, lora_dropout: k.loraDropout, use_rslora: k.useRslora, target_modules: targetsString(k.targetModules, arch),
    loraPlusRatio: k.loraplusLrRatio, lr: k.lr, quant: k.quant, schedule: k.schedule, warmup: k.warmup,
    batchSize: k.batchSize, gradAccum: k.gradAccum, seqLen: k.seqLen, seed: k.seed, saveEvery: k.evalEvery, maxGradNorm: k.maxGradNorm,
    weightDecay: k.weightDecay, gradCheckpointing: k.gradCheckpointing, saveActivations: k.saveActivations, matmulMath: k.matmulMath, evalSplit: k.evalSplit,
    subgroups: k.subgroups,
  };
  if (k.lengthBy === 'steps') s.steps = k.steps;
  else s.epochs = k.epochs;
  if (isQalora(k.quant)) s.groupSize = k.groupSize;
  return s;
}

/** Module kinds (the knob's checkboxes) of a target_modules value on a model ("attention" → q_proj, v_proj). */
function kindsOfTargets(targets: string, spec: ModelSpec): string[] {
  return [...new Set(resolveTargets(spec, parseTargets(targets)).map((m) => m.kind as string))];
}

/** Knob of each spec key the studio applies; the spec's other keys (data options, evalFile, ...) are set on the Dataset tab. */
const KNOB_OF: Record<string, keyof Knobs> = {
  r: 'r', lora_alpha: 'loraAlpha', lora_dropout: 'loraDropout', use_rslora: 'useRslora', loraPlusRatio: 'loraplusLrRatio', lr: 'lr', quant: 'quant',
  groupSize: 'groupSize', schedule: 'schedule', warmup: 'warmup', batchSize: 'batchSize', gradAccum: 'gradAccum', seqLen: 'seqLen', seed: 'seed',
  saveEvery: 'evalEvery', maxGradNorm: 'maxGradNorm', weightDecay: 'weightDecay', gradCheckpointing: 'gradCheckpointing', saveActivations: 'saveActivations', matmulMath: 'matmulMath', subgroups: 'subgroups',
  evalSplit: 'evalSplit', steps: 'steps', epochs: 'epochs',
};

/**
 * The knobs of one run: `base` with the run's settings applied (target_modules resolved on `spec`;
 * steps or epochs also set "Run length by"). `ignored` lists spec keys the knobs do not hold.
 */
export function knobsFromSettings(base: Knobs, settings: Settings, spec: ModelSpec): { knobs: Knobs; ignored: string[] } {
  const knobs: Knobs = { ...base, targetModules: [...base.targetModules] };
  const ignored: string[] = [];
  const put = knobs as unknown as Record<string, SettingValue | string[]>;
  for (const [key, v] of Object.entries(settings)) {
    if (key === 'target_modules') knobs.targetModules = kindsOfTargets(String(v), spec);
    else if (KNOB_OF[key]) put[KNOB_OF[key]] = v;
    else ignored.push(key);
    if (key === 'steps') knobs.lengthBy = 'steps';
    if (key === 'epochs' && settings.steps === undefined) knobs.lengthBy = 'epochs';
  }
  return { knobs, ignored };
}

/**
 * An axis's values as typed: separated by spaces (a target list is one value with commas, no
 * spaces: "q_proj,v_proj all-linear,lm_head"). Numbers for numeric axes, true/false for rsLoRA and subgroup reductions,
 * text for targets, quantization, saved activations and matmul math;
 * what does not read as its type is kept as typed, for the spec's check to name.
 */
export function parseAxisText(key: AxisKey, text: string): SettingValue[] {
  const parts = text.split(/[\s;]+/).map((x) => x.trim()).filter(Boolean);
  if (key === 'target_modules' || key === 'quant' || key === 'saveActivations' || key === 'matmulMath') return parts;
  if (key === 'use_rslora' || key === 'subgroups') return parts.map((p) => (p === 'true' || p === 'on' ? true : p === 'false' || p === 'off' ? false : p));
  return parts.map((p) => (Number.isFinite(Number(p)) ? Number(p) : p));
}

/** An axis's values back as text (the field's content after an import or a preset). */
export function axisText(values: SettingValue[]): string {
  return values.map(String).join(' ');
}

/**
 * The spec to export for a reviewed plan: the original `axes` form while the plan is the expansion
 * in order, else the plan's runs as explicit overrides (each run's values of the keys that vary).
 */
export function specOfPlan(spec: ExperimentSpec, expanded: ExperimentRun[], plan: ExperimentRun[]): ExperimentSpec {
  const same = plan.length === expanded.length && plan.every((r, i) => r.name === expanded[i].name);
  if (same) return spec;
  const keys = [...new Set(plan.flatMap((r) => Object.keys(r.varied)))];
  const base: Settings = { ...spec.base };
  for (const k of keys) delete base[k];
  const runs = plan.map((r) => Object.fromEntries(keys.filter((k) => r.settings[k] !== undefined).map((k) => [k, r.settings[k]])));
  return { ...spec, base, axes: undefined, runs };
}

/** Memory (bytes on the GPU), tokens to process and, with a measured rate, seconds of one planned run. */
export interface RunEstimate {
  memoryBytes: number;
  trainableParams: number;
  steps: number;
  tokens: number;
  /** null until a rate (tokens/s) has been measured on this model. */
  seconds: number | null;
}

/** Optimizer steps of a run of these knobs over `trainExamples` examples (the engine's count: epochs × ⌈examples / (B × accum)⌉). */
export function runSteps(k: Knobs, trainExamples: number): number {
  if (k.lengthBy === 'steps') return k.steps;
  return k.epochs * Math.max(1, Math.ceil(trainExamples / (k.batchSize * k.gradAccum)));
}

/**
 * The estimate of one run: memory from the studio's memory estimate (src/ui/memory.ts), tokens =
 * steps × batch size × gradient accumulation × sequence length, time = tokens / `tokensPerSecond`.
 */
export function runEstimate(k: Knobs, spec: ModelSpec, weightBytes: 2 | 4, trainExamples: number, tokensPerSecond: number | null, tiling?: Tiling): RunEstimate {
  const est = estimateMemory({
    spec, weightBytes, quant: k.quant as QuantMode, groupSize: k.groupSize, r: k.r, targetModules: targetsString(k.targetModules, spec.arch),
    batchSize: k.batchSize, seqLen: k.seqLen, gradCheckpointing: k.gradCheckpointing, saveActivations: k.saveActivations, tiling,
  });
  const steps = runSteps(k, trainExamples);
  const tokens = steps * k.batchSize * k.gradAccum * k.seqLen;
  return { memoryBytes: est.total, trainableParams: est.trainableParams, steps, tokens, seconds: tokensPerSecond && tokensPerSecond > 0 ? tokens / tokensPerSecond : null };
}

/** The whole experiment: runs go one after another, so memory is the largest run's and time the sum. */
export function totalEstimate(each: RunEstimate[]): { memoryBytes: number; tokens: number; seconds: number | null } {
  const secs = each.map((e) => e.seconds);
  return {
    memoryBytes: Math.max(0, ...each.map((e) => e.memoryBytes)),
    tokens: each.reduce((a, e) => a + e.tokens, 0),
    seconds: secs.length && secs.every((s) => s !== null) ? secs.reduce((a, s) => a + s!, 0) : null,
  };
}

/** The training rate to estimate with: the newest finished run on this model that measured one (an experiment's own runs first). */
export function measuredRate(runs: readonly RunRecord[], modelName: string, prefer?: string): number | null {
  const done = runs.filter((r) => r.model.name === modelName && r.metrics.tokensPerSecond > 0 && (r.status === 'done' || r.status === 'stopped'));
  const own = prefer ? done.filter((r) => r.experiment?.id === prefer) : [];
  const pick = (own.length ? own : done).sort((a, b) => b.updatedAt - a.updatedAt)[0];
  return pick ? pick.metrics.tokensPerSecond : null;
}

/** A run record's comparison settings (the keys an experiment may vary), for finding what varies in any selection of runs. */
export function axisSettings(r: RunRecord): Settings {
  return {
    r: r.config.r, lora_alpha: r.config.loraAlpha, target_modules: r.config.targetModules, quant: r.config.quant ?? 'none', loraPlusRatio: r.config.loraplusLrRatio,
    lr: r.config.lr, use_rslora: r.config.useRslora ?? false, lora_dropout: r.config.loraDropout ?? 0, saveActivations: r.config.saveActivations ?? 'f32',
    matmulMath: r.config.matmulMath ?? 'f32', subgroups: r.config.subgroups ?? false,
  };
}

/** Each run's values of the axis keys that differ across `runs` (a selection's varied columns). */
export function variedAcross(runs: readonly RunRecord[]): Settings[] {
  const all = runs.map(axisSettings);
  const keys = AXIS_KEYS.filter((k) => new Set(all.map((s) => JSON.stringify(s[k]))).size > 1);
  return all.map((s) => Object.fromEntries(keys.map((k) => [k, s[k]])));
}

/**
 * A run record as a row of the comparison report (src/experiment/report.ts): its configuration,
 * trainable parameters and share of the model, steps, wall time, tokens/s, peak GPU memory, eval
 * loss before and after. `name` is the row's name (the experiment's run name, or the record's);
 * `weightsDType` the base's stored dtype when known (an f32 base reads 32 bits).
 */
export function reportRunOf(r: RunRecord, varied: Settings, name = r.name, weightsDType?: string): ReportRun {
  const last = r.metrics.train[r.metrics.train.length - 1];
  return {
    name,
    varied,
    metrics: {
      config: {
        r: r.config.r, loraAlpha: r.config.loraAlpha, targetModules: r.config.targetModules, quant: r.config.quant ?? 'none', loraplusLrRatio: r.config.loraplusLrRatio,
        lr: r.config.lr, useRslora: r.config.useRslora, loraDropout: r.config.loraDropout, saveActivations: r.config.saveActivations, matmulMath: r.config.matmulMath,
        subgroups: r.config.subgroups,
      },
      weights_dtype: weightsDType,
      trainable_params: r.trainableParams,
      model_params: r.model.params || undefined,
      steps: last?.step ?? 0,
      wall_seconds: r.metrics.elapsedSeconds,
      tokens_per_second: r.metrics.tokensPerSecond,
      peak_gpu_bytes: r.metrics.peakBytes,
      eval_loss_before: r.metrics.evalLossBefore,
      eval_loss_after: r.metrics.evalLossAfter,
    },
  };
}

/**
 * The engine request of one answer in a comparison (the playground's generate request): greedy
 * (temperature 0, top-p 1), seeded with the experiment's genSeed (0), maxNewTokens (64), the
 * prompt wrapped as the run's training data was (`format`; absent: as typed).
 */
export function answerRequest(prompt: string | { text: string; ids: number[] }, adapter: AdapterRef, opts: { maxNewTokens?: number; genSeed?: number }, format: PromptFormat | undefined): GenerateRequest {
  const g = { adapter, maxNewTokens: opts.maxNewTokens ?? 64, temperature: 0, topP: 1, seed: opts.genSeed ?? 0, format };
  return typeof prompt === 'string' ? { prompt, ...g } : { prompt: prompt.text, promptIds: [...prompt.ids], ...g };
}

/**
 * Why no prompt can be drawn from the held-out rows of this data and split, in the studio's words,
 * or null when they can: plain text has no prompt (every token trains), nor does data trained on
 * its prompt; an evaluation split of 0 without an evaluation file holds no row out.
 */
export function heldOutUnavailable(shape: RecordShape | null | undefined, trainOnPrompt: boolean, evalSplit: number, evalFile: boolean): string | null {
  if (shape === 'text') return 'plain text data has no prompt to hold out: every token trains';
  if (trainOnPrompt) return 'the data trains on its prompts (Dataset tab: Train on the prompt too), so no prompt is held apart from its answer';
  if (!(evalSplit > 0) && !evalFile) return 'no rows are held out: Eval split is 0 (Settings tab) and there is no evaluation file';
  return null;
}
