// A whole fine-tuning run over tokenized examples, shared by the CLI and the studio's worker:
// builds the adapter and the training graph, evaluates before and after, steps through shuffled
// epochs with gradient accumulation, checkpoints periodically, and resumes from a checkpoint.

import { GpuError, type GpuContext } from '../gpu/context';
import { isQalora, type QuantMode } from '../quant/formats';
import type { LoraHyper, AdapterTensors } from '../lora/peft';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import type { LoadedModel } from '../model/load';
import { Transformer } from '../net/transformer';
import type { SaveActivations } from '../net/buffers';
import { batches, makeBatch, permutation, type Example } from '../data/batch';
import type { ExampleList } from '../data/examples';
import { makeCheckpoint, type FileMap, type HistoryPoint, type TrainerState } from './checkpoint';
import type { ScheduleKind } from './schedule';
import { evaluate, Trainer, type StepResult } from './trainer';
import { OptionError, opt } from '../options';
import { hash32, mulberry32 } from '../util/random';

/**
 * Everything that defines a run (the CLI's train flags, the studio's knobs; stored whole in each
 * checkpoint's TrainerState.config so a resume needs nothing else). validateRunConfig checks it.
 * The LoRA settings carry PEFT's LoraConfig names in camelCase: r, loraAlpha = lora_alpha,
 * loraDropout = lora_dropout, useRslora = use_rslora, targetModules = target_modules, and LoRA+'s
 * loraplusLrRatio = loraplus_lr_ratio (settings saved under the older names are read through
 * withPeftNames, ./peft-names.ts).
 */
export interface RunConfig {
  /** Recorded as base_model_name_or_path in adapter_config.json. */
  baseModel: string;
  /** LoRA rank r: A is [r, in], B is [out, r]. */
  r: number;
  /** lora_alpha: the update is scaled by alpha / r (alpha / √r with rslora). */
  loraAlpha: number;
  /** lora_dropout: probability in [0, 1) of zeroing an adapter input element (training only). */
  loraDropout: number;
  /** Rank-stabilised LoRA (Kalajdzievski 2023): scaling alpha / √r instead of alpha / r. */
  useRslora: boolean;
  /** target_modules in parseTargets syntax: "q_proj,v_proj" | "attention" | "all-linear" [+ ",lm_head"]. */
  targetModules: string;
  /** LoRA+ (Hayou et al. 2024) loraplus_lr_ratio: lora_B learns at lr × this ratio; 1 = plain LoRA. */
  loraplusLrRatio: number;
  /** Peak learning rate of AdamW. */
  lr: number;
  schedule: ScheduleKind;
  /** Warmup, in optimizer steps. */
  warmup: number;
  /** Optimizer steps; when absent, `epochs` passes over the training set. */
  steps?: number;
  epochs: number;
  /** B: sequences per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step (the effective batch is batchSize × gradAccum sequences). */
  gradAccum: number;
  /** T: tokens per sequence; longer examples were truncated by the data pipeline. */
  seqLen: number;
  /** Seeds the adapter's initialisation, the epochs' shuffles and the dropout masks. */
  seed: number;
  /** Checkpoint every N optimizer steps (0 = only at the end). */
  saveEvery: number;
  /** Clip the global gradient L2 norm to this (torch's clip_grad_norm_); 0 = no clipping. */
  maxGradNorm: number;
  /** AdamW's decoupled weight decay (applied to the LoRA parameters only; the base is frozen). */
  weightDecay: number;
  /** Recompute each layer's activations in the backward instead of keeping them (less memory). */
  gradCheckpointing?: boolean;
  /**
   * How the activations kept for the backward are stored (TransformerOptions.saveActivations):
   * 'f32' (default, exact) or 'f16' (about half the activation memory, gradients within f16 rounding).
   */
  saveActivations?: SaveActivations;
  /** TransformerOptions.matmulMath: 'f32' (default) or 'f16' (needs a device created with 'shader-f16'). */
  matmulMath?: 'f32' | 'f16';
  /**
   * Row reductions with subgroup operations (GpuContext.useSubgroups): false (default, the
   * workgroup tree) or true (needs a device created with 'subgroups'; differs by rounding). Kept in
   * each checkpoint like every field, so a resumed run keeps it; runTraining applies it to the context.
   */
  subgroups?: boolean;
  /** Quant mode of the frozen base; a QA-LoRA mode makes the adapter see group-pooled inputs. */
  quant?: QuantMode;
  /** QA-LoRA group size (default 32). */
  groupSize?: number;
}

class RunConfigError extends OptionError {
  override name = 'RunConfigError';
}

/**
 * Checks a RunConfig against the model's maximum positions `maxT`; throws RunConfigError (an
 * OptionError naming the option, with a typical value) for a rank, batch size or grad-accum that
 * is not a positive integer, loraAlpha, lr or loraplusLrRatio not positive, loraDropout outside [0, 1), or a
 * seqLen below 2 or above maxT, or saveActivations or matmulMath other than f32 / f16. Targets are checked later, against the model (resolveTargets).
 */
export function validateRunConfig(c: RunConfig, maxT: number): void {
  if (!(Number.isInteger(c.r) && c.r > 0)) throw new RunConfigError([opt('r'), ` must be a positive integer (got ${c.r}); typical values are 8–64.`]);
  if (!(c.loraAlpha > 0)) throw new RunConfigError([opt('loraAlpha'), ` must be positive (got ${c.loraAlpha}); a common choice is 2 × rank.`]);
  if (!(c.loraDropout >= 0 && c.loraDropout < 1)) throw new RunConfigError([opt('loraDropout'), ` must be in [0, 1) (got ${c.loraDropout}).`]);
  if (!(c.lr > 0)) throw new RunConfigError([opt('lr'), ` must be positive (got ${c.lr}).`]);
  if (!(c.loraplusLrRatio > 0)) throw new RunConfigError([opt('loraplusLrRatio'), ` must be positive (got ${c.loraplusLrRatio}); 1 is plain LoRA, 16 the usual LoRA+ value.`]);
  if (!(Number.isInteger(c.seqLen) && c.seqLen >= 2)) throw new RunConfigError([opt('seqLen'), ` must be an integer ≥ 2 (got ${c.seqLen}).`]);
  if (c.seqLen > maxT) throw new RunConfigError([`sequence length ${c.seqLen} is above the model's maximum of ${maxT} positions; use `, opt('seqLen', maxT), ' or less.']);
  if (!(Number.isInteger(c.batchSize) && c.batchSize > 0)) throw new RunConfigError([opt('batchSize'), ` must be a positive integer (got ${c.batchSize}).`]);
  if (!(Number.isInteger(c.gradAccum) && c.gradAccum > 0)) throw new RunConfigError([opt('gradAccum'), ` must be a positive integer (got ${c.gradAccum}).`]);
  if (c.saveActivations !== undefined && c.saveActivations !== 'f32' && c.saveActivations !== 'f16') {
    throw new RunConfigError([opt('saveActivations'), ` must be f32 or f16 (got ${String(c.saveActivations)}).`]);
  }
  if (c.matmulMath !== undefined && c.matmulMath !== 'f32' && c.matmulMath !== 'f16') throw new RunConfigError(`matmul math must be f32 or f16 (got ${String(c.matmulMath)}).`);
  if (c.subgroups !== undefined && typeof c.subgroups !== 'boolean') throw new RunConfigError(['subgroup reductions must be true or false (got ', String(c.subgroups), ').']);
}

/**
 * Throws a GpuError naming the option (RunOption 'matmulMath' / 'subgroups', so each host names its
 * own control) when the run asks for a GPU feature `ctx`'s adapter lacks: f16 matmul math without
 * 'shader-f16'; then applies cfg.subgroups to the context (GpuContext.useSubgroups, which throws the
 * same way without 'subgroups'). A config without the field leaves the context as it is.
 */
export function applyRunDevice(ctx: GpuContext, cfg: Pick<RunConfig, 'matmulMath' | 'subgroups'>): void {
  if (cfg.matmulMath === 'f16' && !ctx.device.features.has('shader-f16') && !ctx.adapter.hasF16) {
    const gpu = `${ctx.adapter.vendor} ${ctx.adapter.description}`.trim() || 'this GPU';
    throw new GpuError([opt('matmulMath', 'f16'), ` needs a GPU with the WebGPU 'shader-f16' feature, and this one (${gpu}) has none: use `, opt('matmulMath', 'f32'), '.']);
  }
  if (cfg.subgroups !== undefined) ctx.useSubgroups(cfg.subgroups);
}

/** What runTraining reports after each optimizer step (RunHooks.onStep), for progress bars and logs. */
export interface ProgressInfo extends StepResult {
  totalSteps: number;
  /** Input tokens (each example's min(length, T)) per second of wall time since this run (or resume) started stepping. */
  tokensPerSecond: number;
  /** Seconds since stepping started (the eval before training not included). */
  elapsedSeconds: number;
  /** Seconds left at the mean step time so far; NaN before the first step of this session completes. */
  etaSeconds: number;
}

/**
 * How a host follows and steers runTraining: progress and eval callbacks, where checkpoints go,
 * and when to pause or stop. All optional; a throwing hook aborts the run with its error.
 */
export interface RunHooks {
  /** After each optimizer step, once its loss is read back (one step late; see Trainer.trainStep). */
  onStep?: (p: ProgressInfo) => void;
  /** Mean eval loss (nats per token) every evalEvery steps and after the last step. */
  onEval?: (e: { step: number; loss: number }) => void;
  /** The eval loss before the first step, as soon as it is measured (not called when resuming or without eval examples). */
  onEvalBefore?: (loss: number) => void;
  /** Called with the checkpoint files every saveEvery steps and at the end. */
  saveCheckpoint?: (files: FileMap, step: number) => Promise<void>;
  /** Polled between steps; true stops the run after checkpointing. */
  shouldStop?: () => boolean;
  /**
   * Awaited before each step (a paused studio run resolves it when resumed). `flush` reports the
   * step still in flight through onStep and gives the steps completed, for a host that parks here.
   */
  beforeStep?: (flush: () => Promise<number>) => Promise<void>;
  /** Steps between eval-loss measurements during training (0 = before/after only). */
  evalEvery?: number;
}

/**
 * A checkpoint read back for runTraining (train/resume.ts resumeFromFiles): the loop state, the
 * adapter's lora_A / lora_B per module (PEFT names), and AdamW's moments m, v (flat f32 [P] in
 * LoraState's parameter order).
 */
export interface ResumeData {
  state: TrainerState;
  adapter: Map<string, AdapterTensors>;
  moments: { m: Float32Array; v: Float32Array };
}

/** What a finished (or stopped) run leaves: the trained adapter on the GPU and its measurements. */
export interface RunResult {
  /** The adapter's state (weights, moments) on the GPU, for export or generation. */
  lora: LoraState;
  /** One point per optimizer step, the resumed run's earlier steps included. */
  history: HistoryPoint[];
  /** Mean eval loss in nats per token before training (from the checkpoint when resumed); null without eval examples. */
  evalLossBefore: number | null;
  /** Mean eval loss after the last step; null without eval examples. */
  evalLossAfter: number | null;
  /** LoRA parameters trained (all modules' A and B elements). */
  trainableParams: number;
  /** Input tokens per second over this session's steps. */
  tokensPerSecond: number;
  /** Optimizer steps completed (counting the steps before a resume). */
  steps: number;
  /** Highest GPU bytes allocated at once through the context (GpuStats.peakBytes). */
  peakBytes: number;
  /** True when RunHooks.shouldStop ended the run before totalSteps. */
  stoppedEarly: boolean;
  /** The training graph (its buffers stay allocated until the context is destroyed). */
  model: Transformer;
}

/** The adapter hyperparameters of a run in PEFT's terms (r, lora_alpha, lora_dropout, use_rslora; the QA-LoRA group size for a QA-LoRA quant mode, default 32). */
export function loraHyper(c: RunConfig): LoraHyper {
  const h: LoraHyper = { r: c.r, loraAlpha: c.loraAlpha, loraDropout: c.loraDropout, useRslora: c.useRslora };
  if (c.quant && isQalora(c.quant)) h.qaloraGroupSize = c.groupSize ?? 32;
  return h;
}

function stepsPerEpoch(nTrain: number, c: RunConfig): number {
  return Math.max(1, Math.ceil(nTrain / (c.batchSize * c.gradAccum)));
}

/**
 * A whole fine-tuning run: builds the LoRA state (initialised as PEFT does, or loaded from
 * `resume`) and the training graph for B = batchSize, T = seqLen, measures the eval loss, then
 * steps totalSteps = steps ?? ceil(n / (B·gradAccum))·epochs optimizer steps through epochs of
 * seeded shuffles (examples padded with the model's EOS), checkpointing every saveEvery steps and
 * at the end, and measures the eval loss again. Applies the config's GPU features first
 * (applyRunDevice: GpuError when the GPU lacks one). Throws RunConfigError (invalid config, empty
 * training set, a quant mode other than the loaded model's), TargetError (targets the model lacks),
 * GpuError (out of GPU memory or a validation error while building the graph), Error when the
 * resumed adapter lacks a module or has the wrong sizes (LoraState.load), and
 * TrainingDivergedError; hooks' errors pass through.
 */
export async function runTraining(
  ctx: GpuContext,
  loaded: LoadedModel,
  train: ExampleList,
  evalSet: ExampleList,
  cfg: RunConfig,
  hooks: RunHooks = {},
  resume?: ResumeData,
): Promise<RunResult> {
  const { spec } = loaded;
  validateRunConfig(cfg, spec.maxT);
  applyRunDevice(ctx, cfg);
  if (train.length === 0) throw new RunConfigError('the training set is empty.');
  const modules = resolveTargets(spec, parseTargets(cfg.targetModules));
  if ((cfg.quant ?? 'none') !== loaded.weights.quant) {
    throw new RunConfigError(`the run asks for a ${cfg.quant ?? 'none'} base but the model was loaded as ${loaded.weights.quant}; load it with the same quant mode.`);
  }
  const h = loraHyper(cfg);
  const lora = new LoraState(ctx, modules, h);
  if (resume) {
    lora.load(resume.adapter);
    ctx.write(lora.m, resume.moments.m);
    ctx.write(lora.v, resume.moments.v);
  } else {
    lora.initialize(cfg.seed);
  }
  const B = cfg.batchSize;
  const T = cfg.seqLen;
  const model = await ctx.guard(`building the training graph (batch ${B} × ${T} tokens)`, () => new Transformer(ctx, spec, loaded.weights, lora, { B, T, training: true, checkpointing: cfg.gradCheckpointing, saveActivations: cfg.saveActivations, matmulMath: cfg.matmulMath }));
  const perEpoch = stepsPerEpoch(train.length, cfg);
  const totalSteps = cfg.steps ?? perEpoch * cfg.epochs;
  const trainer = new Trainer(ctx, model, lora, {
    lr: cfg.lr, schedule: cfg.schedule, warmupSteps: cfg.warmup, totalSteps, loraplusLrRatio: cfg.loraplusLrRatio,
    weightDecay: cfg.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: cfg.maxGradNorm, seed: cfg.seed,
  });
  const pad = spec.eos[0] ?? 0;
  const evalLoss = async () => (evalSet.length ? (await evaluate(ctx, model, batches(evalSet, B, T, pad))).loss : null);

  const history: HistoryPoint[] = resume ? [...resume.state.history] : [];
  const evalLossBefore = resume ? resume.state.evalLossBefore : await evalLoss();
  if (!resume && evalLossBefore !== null) hooks.onEvalBefore?.(evalLossBefore);
  let epoch = resume?.state.epoch ?? 0;
  let cursor = resume?.state.cursor ?? 0;
  trainer.step = resume?.state.step ?? 0;
  let order = permutation(train.length, mulberry32(hash32(cfg.seed, epoch)));
  const nextExamples = (): Example[] => {
    const out: Example[] = [];
    for (let i = 0; i < B; i++) {
      if (cursor >= order.length) {
        epoch++;
        cursor = 0;
        order = permutation(train.length, mulberry32(hash32(cfg.seed, epoch)));
      }
      out.push(train.at(order[cursor++])!);
    }
    return out;
  };

  const state = (): TrainerState => ({
    version: 1, step: trainer.step, totalSteps, epoch, cursor, history, evalLossBefore, config: { ...cfg },
  });
  const checkpoint = async () => {
    if (!hooks.saveCheckpoint) return;
    await hooks.saveCheckpoint(await makeCheckpoint(lora, spec, h, cfg.baseModel, state()), trainer.step);
  };

  const t0 = performance.now();
  let tokensDone = 0;
  const startStep = trainer.step;
  let stoppedEarly = false;
  const record = (r: StepResult | null) => {
    if (!r) return;
    history.push({ step: r.step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm });
    const elapsed = (performance.now() - t0) / 1000;
    const done = r.step - startStep;
    hooks.onStep?.({
      ...r, totalSteps, tokensPerSecond: tokensDone / Math.max(elapsed, 1e-9), elapsedSeconds: elapsed,
      etaSeconds: done > 0 ? (elapsed / done) * (totalSteps - r.step) : NaN,
    });
  };

  while (trainer.step < totalSteps) {
    if (hooks.beforeStep) await hooks.beforeStep(async () => (record(await trainer.flush()), trainer.step));
    if (hooks.shouldStop?.()) {
      stoppedEarly = true;
      break;
    }
    const micro = [];
    for (let i = 0; i < cfg.gradAccum; i++) {
      const exs = nextExamples();
      tokensDone += exs.reduce((a, e) => a + Math.min(e.ids.length, T), 0);
      micro.push(makeBatch(exs, B, T, pad));
    }
    record(await trainer.trainStep(micro));
    const s = trainer.step;
    if (hooks.evalEvery && s % hooks.evalEvery === 0 && s < totalSteps) {
      record(await trainer.flush());
      const l = await evalLoss();
      if (l !== null) hooks.onEval?.({ step: s, loss: l });
    }
    if (cfg.saveEvery > 0 && s % cfg.saveEvery === 0 && s < totalSteps) {
      record(await trainer.flush());
      await checkpoint();
    }
  }
  record(await trainer.flush());
  await ctx.device.queue.onSubmittedWorkDone();
  const elapsed = (performance.now() - t0) / 1000;
  const evalLossAfter = await evalLoss();
  if (evalLossAfter !== null) hooks.onEval?.({ step: trainer.step, loss: evalLossAfter });
  await checkpoint();
  return {
    lora, history, evalLossBefore, evalLossAfter, trainableParams: lora.total,
    tokensPerSecond: tokensDone / Math.max(elapsed, 1e-9), steps: trainer.step, peakBytes: ctx.stats.peakBytes, stoppedEarly, model,
  };
}
