// Learning-rate schedules (pure TypeScript), matching transformers'
// get_{constant,linear,cosine}_schedule_with_warmup step for step.

/**
 * A learning-rate schedule after linear warmup, as transformers' SchedulerType names them:
 * 'constant' (get_constant_schedule_with_warmup), 'linear' (get_linear_schedule_with_warmup),
 * 'cosine' (get_cosine_schedule_with_warmup, half a cycle).
 */
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

/** Every ScheduleKind, in the order parseSchedule's message, the CLI's help and the studio's menu list them. */
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

/** The schedule of one run (learningRate); steps are optimizer steps, not micro-batches. */
export interface ScheduleConfig {
  kind: ScheduleKind;
  /** Peak learning rate (reached at the end of warmup). */
  lr: number;
  /** Steps of linear warmup from 0 to lr (0: none). */
  warmupSteps: number;
  /** The run's optimizer steps: linear and cosine reach their minimum here. */
  totalSteps: number;
  /** Linear/cosine decay ends at lr * minLrRatio instead of 0 (default 0). */
  minLrRatio?: number;
}

/**
 * Learning rate at optimizer step `step` (0-based: the lr used for the update that makes step+1).
 * Warmup: lr * step / max(1, warmupSteps) while step < warmupSteps (step 0 gets lr 0; with no
 * warmup the schedule starts at its full value). After warmup, with
 * progress = (step - warmup) / max(1, total - warmup):
 *   constant: lr
 *   linear:   lr * max(0, 1 - progress)            (0 at totalSteps and after)
 *   cosine:   lr * max(0, 0.5 * (1 + cos(pi * progress)))   (0 at totalSteps; like transformers,
 *             progress is not clamped, so past totalSteps the curve rises again)
 * With minLrRatio = r > 0 the decay factor f becomes r + (1 - r) f (transformers'
 * cosine_with_min_lr form), so linear/cosine decay to lr * r and never go below it.
 */
export function learningRate(cfg: ScheduleConfig, step: number): number {
  const warmup = cfg.warmupSteps;
  if (step < warmup) return (cfg.lr * step) / Math.max(1, warmup);
  if (cfg.kind === 'constant') return cfg.lr;
  const r = cfg.minLrRatio ?? 0;
  let f: number;
  if (cfg.kind === 'linear') {
    f = Math.max(0, (cfg.totalSteps - step) / Math.max(1, cfg.totalSteps - warmup));
  } else if (cfg.kind === 'cosine') {
    const progress = (step - warmup) / Math.max(1, cfg.totalSteps - warmup);
    f = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  } else {
    throw new Error(`unknown schedule '${String((cfg as { kind: unknown }).kind)}' (valid: ${SCHEDULE_KINDS.join(', ')})`);
  }
  return cfg.lr * (r + (1 - r) * f);
}

/** Parses a schedule name (case-insensitive); throws with the list of valid names on an unknown one. */
export function parseSchedule(name: string): ScheduleKind {
  const k = name.trim().toLowerCase();
  if ((SCHEDULE_KINDS as readonly string[]).includes(k)) return k as ScheduleKind;
  throw new Error(`unknown learning-rate schedule '${name}' (valid: ${SCHEDULE_KINDS.join(', ')})`);
}
