// The time estimate's calibration in the engine session: a few training steps of the studio's
// settings on a throwaway adapter (train/calibrate.ts measurePace), run only while the GPU is
// otherwise idle. Any request that needs the GPU stops it first (after its current step), so a
// calibration never delays the user's own work; one that finds the engine busy replies null.

import type { RequestType } from './protocol';
import type { EngineSession } from './session';
import { measurePace } from '../train/calibrate';
import { BufferScope } from './scopes';

/** Requests that use the GPU: each stops a calibration in flight first, and none starts while one is handled. */
const USES_GPU: ReadonlySet<RequestType> = new Set<RequestType>(['train', 'loadModel', 'generate', 'exportMerged', 'exportGguf', 'loadExternalAdapter']);

/** A request that stops the calibration in flight before it runs: a GPU request, a new calibration, or stopCalibration. */
const preempts = (type: RequestType) => USES_GPU.has(type) || type === 'calibrate' || type === 'stopCalibration';

/** The calibration in flight: `stop` ends it after its current step; `done` settles when it has. */
export interface Calibration {
  stop: boolean;
  done: Promise<unknown>;
}

/** Stops the calibration in flight (if any) and waits until it has released the GPU. */
export async function stopCalibration(s: EngineSession): Promise<void> {
  const c = s.calibration;
  if (!c) return;
  c.stop = true;
  await c.done.catch(() => undefined);
}

/**
 * The `calibrate` request: seconds per micro-batch of `config` on the loaded model, or null when the
 * engine is busy, has no model, or the calibration was stopped (by stopCalibration, a GPU request,
 * or another model).
 */
export async function calibrate(s: EngineSession, config: Parameters<typeof measurePace>[2]): Promise<{ secondsPerMicroBatch: number; scaled: boolean } | null> {
  if (s.busy || s.generating > 0 || s.gpuRequests > 0 || !s.model) return null;
  const e = await s.getEngine();
  const m = s.requireModel();
  if (s.busy || s.gpuRequests > 0) return null;
  s.claim('measuring the speed of this GPU');
  const me: Calibration = { stop: false, done: Promise.resolve() };
  const scope = new BufferScope('calibration');
  s.calibration = me;
  const run = (async () => {
    try {
      const p = await e.tracker.runAsync(scope, () => measurePace(e.ctx, m.loaded, config, () => me.stop || s.model !== m));
      return p === null ? null : { secondsPerMicroBatch: p.seconds, scaled: p.scaled };
    } finally {
      if (s.engine === e) e.tracker.dispose(scope);
      s.busy = null;
      if (s.calibration === me) s.calibration = null;
    }
  })();
  me.done = run;
  return run;
}

/**
 * Runs one request's handler, first stopping a calibration in flight when the request preempts it,
 * and counting GPU requests while they run (so no calibration starts under them).
 */
export async function preemptingCalibration<T>(s: EngineSession, type: RequestType, run: () => Promise<T>): Promise<T> {
  const gpu = USES_GPU.has(type);
  if (gpu) s.gpuRequests++;
  try {
    if (s.calibration && preempts(type)) await stopCalibration(s);
    return await run();
  } finally {
    if (gpu) s.gpuRequests--;
  }
}
