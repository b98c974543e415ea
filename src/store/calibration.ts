// Calibration slice: the time estimate's measured paces, cached per GPU, model and the settings
// that change the speed of a step (./estimate.ts paceKey), in memory and localStorage. A
// calibration (a few real steps on a throwaway adapter, in the worker) starts a moment after the
// settings settle, never while a run trains, and is stopped when the settings change again or the
// GPU is wanted for something else. A live run refines the pace of its settings from its own ETA.
import type { StateCreator } from 'zustand';
import { knobProblems, targetsString, toRunConfig } from '../plan/knobs';
import { engine } from './engine';
import { paceKey, type Pace } from './estimate';
import type { Studio } from './index';

export interface CalibrationSlice {
  /** Measured paces by paceKey. */
  paces: Record<string, Pace>;
  /** The key being measured now (null: none). */
  calibrating: string | null;
  /** Why the last calibration could not measure (the settings do not fit, ...). */
  calibrationError: string | null;
  /** Measures the current settings' pace soon, unless it is known, a run trains, or nothing is loaded. */
  requestCalibration(): void;
  /** Stops a pending or running calibration (before a run starts). */
  cancelCalibration(): Promise<void>;
  /** Records a pace measured for `key` (a calibration, or a run with these settings). */
  notePace(key: string, secondsPerMicroBatch: number, source: Pace['source'], scaled?: boolean): void;
}

const KEY = 'lora-studio.paces';
const MAX_KEPT = 50;
const SETTLE_MS = 1500;
const PERSIST_MS = 10_000;

function readPaces(): Record<string, Pace> {
  try {
    const v = JSON.parse(globalThis.localStorage?.getItem(KEY) ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, Pace>) : {};
  } catch {
    return {};
  }
}

/**
 * The pace key of the current knobs on the loaded model and this GPU (null: nothing loaded, no GPU,
 * the base is loaded with another quantization, f16 matmul math on a GPU without shader-f16, or
 * subgroup reductions on a GPU without subgroups).
 */
export function currentPaceKey(s: Studio): string | null {
  const l = s.loaded;
  if (!l || s.gpu.status !== 'ok') return null;
  const k = s.knobs;
  if (l.info.quant !== k.quant || (k.quant.startsWith('qalora') && l.info.groupSize !== k.groupSize)) return null;
  const a = s.gpu.adapter;
  if (k.matmulMath === 'f16' && !a.hasF16) return null;
  if (k.subgroups && !a.hasSubgroups) return null;
  return paceKey({
    gpu: `${a.vendor} ${a.architecture} ${a.description}`.trim(), model: `${l.info.name} ${l.info.weightsDType}`, quant: k.quant, groupSize: k.groupSize,
    batchSize: k.batchSize, seqLen: k.seqLen, r: k.r, targetModules: targetsString(k.targetModules, l.spec.arch), gradCheckpointing: k.gradCheckpointing,
    saveActivations: k.saveActivations, matmulMath: k.matmulMath, subgroups: k.subgroups,
  });
}

export const createCalibrationSlice: StateCreator<Studio, [], [], CalibrationSlice> = (set, get) => {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inflight: Promise<void> | null = null;
  let persisted = 0;
  const persist = () => {
    persisted = Date.now();
    const kept = Object.entries(get().paces).sort((a, b) => b[1].at - a[1].at).slice(0, MAX_KEPT);
    try {
      globalThis.localStorage?.setItem(KEY, JSON.stringify(Object.fromEntries(kept)));
    } catch {
      // A full or blocked localStorage only loses the cache: the estimate is measured again.
    }
  };

  async function calibrate(): Promise<void> {
    const s = get();
    const key = currentPaceKey(s);
    if (!key || s.activeRun || s.paces[key] || s.calibrating === key || !s.loaded) return;
    if (knobProblems(s.knobs, s.loaded.spec).length) return;
    // A calibration of older settings is superseded.
    if (inflight) {
      await engine().call({ type: 'stopCalibration' }).catch(() => null);
      while (inflight) await inflight;
      if (currentPaceKey(get()) !== key || get().activeRun) return;
    }
    const l = s.loaded;
    const config = toRunConfig(s.knobs, l.spec.arch, l.info.name);
    set({ calibrating: key, calibrationError: null });
    const p = (async () => {
      try {
        const r = await engine().call({ type: 'calibrate', config });
        if (r) get().notePace(key, r.secondsPerMicroBatch, 'calibration', r.scaled);
      } catch (e) {
        set({ calibrationError: (e as Error).message });
      } finally {
        if (get().calibrating === key) set({ calibrating: null });
      }
    })();
    inflight = p;
    await p;
    if (inflight === p) inflight = null;
  }

  return {
    paces: readPaces(),
    calibrating: null,
    calibrationError: null,

    requestCalibration() {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void calibrate();
      }, SETTLE_MS);
    },

    async cancelCalibration() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (!inflight) return;
      await engine().call({ type: 'stopCalibration' }).catch(() => null);
      while (inflight) await inflight;
    },

    notePace(key, secondsPerMicroBatch, source, scaled = false) {
      if (!(Number.isFinite(secondsPerMicroBatch) && secondsPerMicroBatch > 0)) return;
      set((s) => ({ paces: { ...s.paces, [key]: { secondsPerMicroBatch, source, at: Date.now(), ...(scaled ? { scaled } : {}) } } }));
      if (source === 'calibration' || Date.now() - persisted > PERSIST_MS) persist();
    },
  };
};
