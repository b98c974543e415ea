// The training loop's GPU side: one submission per micro-batch (the optimizer is appended to the
// last one), no GPU object created after construction, and the only readback is the step's loss
// and gradient norm (8 bytes), awaited one step late so the GPU never waits for the CPU.

import { type GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import type { LoraState } from '../lora/state';
import { STAT_EVAL_LOSS, STAT_GRAD_NORM, STAT_TRAIN_LOSS, type Batch, type Transformer } from '../net/transformer';
import { adamw, gradNorm, gradNormPartialSize } from '../ops/optimizer';
import { learningRate, type ScheduleKind } from './schedule';
import { OptionError, opt } from '../options';
import { hash32 } from '../util/random';

interface OptimConfig {
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  totalSteps: number;
  /** LoRA+: lr of lora_B = ratio × lr (1 = plain LoRA). */
  loraplusLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Gradient-norm clipping threshold; 0 disables clipping. */
  maxGradNorm: number;
  seed: number;
}

/** What one optimizer step measured, read back (8 bytes) one step after it was submitted. */
export interface StepResult {
  /** 1-based optimizer step that produced this result. */
  step: number;
  /** Mean next-token cross-entropy over the predicted tokens of the step's micro-batches, in nats. */
  loss: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate of this step's update (after the schedule's warmup and decay). */
  lr: number;
  /** Predicted tokens (targets not -100) of the step's micro-batches: the loss's denominator. */
  tokens: number;
}

/**
 * The loss or the gradient norm of a step came back NaN or ±Infinity: the adapter's weights are
 * no longer usable from that step on. An OptionError, so its message names the options that help
 * (lr, maxGradNorm) in the host's words; thrown by Trainer.trainStep / flush (divergedError).
 */
export class TrainingDivergedError extends OptionError {
  override name = 'TrainingDivergedError';
}

/** The error that stops a run whose loss or gradient norm is not finite, naming the options that help. */
export function divergedError(step: number, loss: number, gradNorm: number): TrainingDivergedError {
  return new TrainingDivergedError([
    `Training diverged at step ${step}: the loss is ${loss} (gradient norm ${gradNorm}). Lower `,
    opt('lr'), ', keep gradient clipping on (', opt('maxGradNorm'), '), or resume from the last checkpoint.',
  ]);
}

/**
 * The optimizer loop on the GPU for one Transformer built with training: true and its LoRA state.
 * Each step runs gradAccum micro-batches of B × T tokens (gradients summed, the loss gradient
 * scaled by 1 / the step's predicted tokens, so k micro-batches equal one batch k times as large),
 * then the global gradient norm, clipping to maxGradNorm and AdamW (torch.optim.AdamW semantics:
 * decoupled weight decay, bias correction; lora_B's lr × loraplusLrRatio for LoRA+, Hayou et al.
 * 2024), with the lr of train/schedule.ts learningRate. The constructor throws Error when the
 * Transformer has no training program; steps throw TrainingDivergedError on a non-finite loss or
 * norm, and Error when the GPU device was lost.
 */
export class Trainer {
  /** Optimizer steps completed (submitted). */
  step = 0;
  private readonly optProgram: Program;
  private readonly stepBuf: GPUBuffer;
  private readonly partial: GPUBuffer;
  private pending: Promise<StepResult> | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly model: Transformer,
    readonly lora: LoraState,
    readonly cfg: OptimConfig,
  ) {
    if (!model.trainProgram) throw new Error('Trainer needs a Transformer built with training: true');
    this.stepBuf = ctx.createBuffer('optim.step', 16);
    const n = lora.total;
    this.partial = ctx.createBuffer('optim.partial', gradNormPartialSize(n) * 4);
    const p = new Program('optimizer');
    for (const d of gradNorm(ctx, 'gradnorm', { n, grads: lora.grads, partial: this.partial, stats: model.stats, outIndex: STAT_GRAD_NORM })) p.dispatch(d);
    for (const g of lora.groups) {
      if (g.n === 0) continue;
      p.dispatch(
        adamw(ctx, `adamw.${g.name}`, {
          n: g.n, offset: g.offset, params: lora.params, grads: lora.grads, m: lora.m, v: lora.v, step: this.stepBuf,
          stats: model.stats, normIndex: STAT_GRAD_NORM, lrMul: g.name === 'lora_B' ? cfg.loraplusLrRatio : 1,
          beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay, maxNorm: cfg.maxGradNorm,
        }),
      );
    }
    this.optProgram = p;
  }

  /** Dispatches and submissions per optimizer step with `gradAccum` micro-batches. */
  workPerStep(gradAccum: number): { dispatches: number; submissions: number } {
    return { dispatches: gradAccum * this.model.trainProgram!.dispatchCount + this.optProgram.dispatchCount, submissions: gradAccum };
  }

  /** The learning rate of the update made at 0-based optimizer step `step` (learningRate of the config). */
  lrAt(step: number): number {
    const c = this.cfg;
    return learningRate({ kind: c.schedule, lr: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.totalSteps }, step);
  }

  /**
   * Runs one optimizer step over `micro` (gradient accumulation = micro.length). Returns the
   * result of the previous step (null for the first), so the CPU never stalls on this step.
   */
  async trainStep(micro: Batch[]): Promise<StepResult | null> {
    const { ctx, model } = this;
    if (ctx.lostMessage) throw new Error(`GPU device lost: ${ctx.lostMessage}`);
    const predicted = micro.reduce((a, b) => a + b.predicted, 0);
    const lr = this.lrAt(this.step);
    const stepNo = this.step + 1;
    // Loss gradients are normalised by the tokens of the whole step (not per micro-batch), so
    // accumulation over k micro-batches equals one batch k times as large.
    ctx.write(model.lossScale, new Float32Array([predicted > 0 ? 1 / predicted : 0]));
    ctx.write(this.stepBuf, new Float32Array([lr, stepNo]));
    let finish: (() => Promise<ArrayBuffer>) | null = null;
    for (let i = 0; i < micro.length; i++) {
      model.writeBatch(micro[i]);
      ctx.write(model.seed, new Uint32Array([hash32(this.cfg.seed, stepNo, i)]));
      const enc = ctx.device.createCommandEncoder();
      model.trainProgram!.encode(enc);
      if (i === micro.length - 1) {
        this.optProgram.encode(enc);
        finish = ctx.readLater(enc, model.stats, 0, 8);
        enc.clearBuffer(model.stats, STAT_TRAIN_LOSS * 4, 4);
        enc.clearBuffer(this.lora.grads);
      }
      ctx.submit(enc);
    }
    this.step = stepNo;
    const prev = this.pending;
    const read = finish!;
    this.pending = read().then((buf) => {
      const s = new Float32Array(buf);
      const loss = predicted > 0 ? s[STAT_TRAIN_LOSS] / predicted : NaN;
      if (!Number.isFinite(s[STAT_TRAIN_LOSS]) || !Number.isFinite(s[STAT_GRAD_NORM])) {
        throw divergedError(stepNo, s[STAT_TRAIN_LOSS] / predicted, s[STAT_GRAD_NORM]);
      }
      return { step: stepNo, loss, gradNorm: s[STAT_GRAD_NORM], lr, tokens: predicted };
    });
    // Keep an unobserved rejection from crashing the host before someone awaits it.
    this.pending.catch(() => undefined);
    return prev ? await prev : null;
  }

  /** The result of the last submitted step. */
  async flush(): Promise<StepResult | null> {
    const p = this.pending;
    this.pending = null;
    return p ? await p : null;
  }
}

/** Mean next-token loss of `model` over `batches` (dropout off), with one readback at the end. */
export async function evaluate(ctx: GpuContext, model: Transformer, batches: Iterable<Batch>): Promise<{ loss: number; tokens: number }> {
  ctx.write(model.stats, new Float32Array([0]), STAT_EVAL_LOSS * 4);
  ctx.write(model.lossScale, new Float32Array([1]));
  let tokens = 0;
  for (const b of batches) {
    model.writeBatch(b);
    tokens += b.predicted;
    ctx.run(model.evalProgram);
  }
  const s = await ctx.readF32(model.stats, STAT_EVAL_LOSS * 4, 1);
  return { loss: tokens > 0 ? s[0] / tokens : NaN, tokens };
}
