// Calibration for the studio's time estimate: real training steps of the run's settings on a
// throwaway adapter, timed on this device. Nothing is saved and nothing is evaluated.

import type { GpuContext } from '../gpu/context';
import type { LoadedModel } from '../model/load';
import type { Example } from '../data/batch';
import { runTraining, type RunConfig } from './run';

/** Steps of one timing: the first (pipelines compiled, buffers first touched) is not timed. */
const CALIBRATION_STEPS = 2;
/** Tokens of the first, small timing (B' × T'), which bounds what one calibration step costs on a slow device. */
export const PROBE_TOKENS = 32;
/** A full-size timing follows the probe only when the probe predicts a step shorter than this (seconds). */
const FULL_SIZE_BUDGET_S = 1;

/** Seconds of the last step of CALIBRATION_STEPS one-micro-batch steps of B × T synthetic full-length rows (null: stopped). */
async function timeSteps(ctx: GpuContext, loaded: LoadedModel, cfg: RunConfig, B: number, T: number, shouldStop: () => boolean): Promise<number | null> {
  const V = loaded.spec.V;
  const rows: Example[] = Array.from({ length: B }, (_, b) => ({ ids: Array.from({ length: T }, (_, t) => (b * 7 + t * 13 + 1) % V) }));
  const times: number[] = [];
  const res = await runTraining(
    ctx, loaded, rows, [],
    { ...cfg, batchSize: B, seqLen: T, steps: CALIBRATION_STEPS, gradAccum: 1, saveEvery: 0, warmup: 0 },
    { onStep: () => times.push(performance.now()), shouldStop },
  );
  if (res.stoppedEarly || times.length < CALIBRATION_STEPS) return null;
  return (times[times.length - 1] - times[0]) / 1000 / (times.length - 1);
}

/**
 * Seconds one micro-batch of cfg's B × T tokens takes with its adapter, targets, quantization,
 * activation checkpointing and saved-activation storage (cfg.saveActivations: f16 adds its
 * pack / unpack dispatches, so the studio keys its paces on it too). Synthetic full-length rows (every token trained, so the work is that
 * of a full row of real data). First a probe of at most PROBE_TOKENS tokens (B' ≤ B rows of
 * T' ≤ T), scaled by B·T / (B'·T'); when that predicts a step under FULL_SIZE_BUDGET_S, the full
 * B × T is timed instead (a fast GPU is measured at the real size; a slow one is never held for
 * a long step). `shouldStop` is polled before each step; a stopped calibration returns null.
 * Throws what runTraining throws (a setting that cannot train, an allocation that does not fit).
 */
export async function measurePace(ctx: GpuContext, loaded: LoadedModel, cfg: RunConfig, shouldStop: () => boolean): Promise<{ seconds: number; scaled: boolean } | null> {
  const B = cfg.batchSize;
  const T = cfg.seqLen;
  const Tp = Math.min(T, PROBE_TOKENS);
  const Bp = Math.max(1, Math.min(B, Math.floor(PROBE_TOKENS / Tp)));
  const probe = await timeSteps(ctx, loaded, cfg, Bp, Tp, shouldStop);
  if (probe === null) return null;
  if (Bp === B && Tp === T) return { seconds: probe, scaled: false };
  const scaled = (probe * (B * T)) / (Bp * Tp);
  if (scaled >= FULL_SIZE_BUDGET_S || shouldStop()) return { seconds: scaled, scaled: true };
  const full = await timeSteps(ctx, loaded, cfg, B, T, shouldStop);
  return full === null ? { seconds: scaled, scaled: true } : { seconds: full, scaled: false };
}
