// Calibration for the studio's time estimate: a few real training steps of the run's settings on
// a throwaway adapter, timed on this device. Nothing is saved and nothing is evaluated.

import type { GpuContext } from '../gpu/context';
import type { LoadedModel } from '../model/load';
import type { Example } from '../data/batch';
import { runTraining, type RunConfig } from './run';

/** Steps a calibration runs: the first (pipelines compiled, buffers first touched) is not timed. */
export const CALIBRATION_STEPS = 3;

/**
 * Seconds one micro-batch of B × T tokens takes with `cfg`'s adapter, targets, quantization and
 * activation checkpointing: CALIBRATION_STEPS optimizer steps of one micro-batch each on
 * synthetic full-length rows (every token trained, so the work is that of a full row of real
 * data), timed from the first step's result to the last's. `shouldStop` is polled before each
 * step; a stopped calibration returns null. Throws what runTraining throws (a setting that cannot
 * train, an allocation that does not fit).
 */
export async function measurePace(ctx: GpuContext, loaded: LoadedModel, cfg: RunConfig, shouldStop: () => boolean): Promise<number | null> {
  const { spec } = loaded;
  const T = cfg.seqLen;
  const rows: Example[] = Array.from({ length: cfg.batchSize }, (_, b) => ({ ids: Array.from({ length: T }, (_, t) => (b * 7 + t * 13 + 1) % spec.V) }));
  const times: number[] = [];
  const res = await runTraining(
    ctx, loaded, rows, [],
    { ...cfg, steps: CALIBRATION_STEPS, gradAccum: 1, saveEvery: 0, warmup: 0 },
    { onStep: () => times.push(performance.now()), shouldStop },
  );
  if (res.stoppedEarly || times.length < CALIBRATION_STEPS) return null;
  return (times[times.length - 1] - times[0]) / 1000 / (times.length - 1);
}
