// Learning-rate schedules (pure TypeScript), matching transformers'
// get_{constant,linear,cosine}_schedule_with_warmup step for step.

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

export interface ScheduleConfig {
  kind: ScheduleKind;
  lr: number;
  warmupSteps: number;
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
