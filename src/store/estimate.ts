// Time estimate before a run starts: the seconds one micro-batch of B × T tokens takes on this GPU
// (measured by a short calibration in the worker, or by a run with the same settings), times the
// run's micro-batches. Pure: the cache key, the step count, the arithmetic and the words.
import type { Knobs } from '../plan/knobs';

/** A measured pace: seconds per micro-batch (B sequences of T tokens, forward + backward + optimizer), and where it came from. */
export interface Pace {
  secondsPerMicroBatch: number;
  source: 'calibration' | 'run';
  /** When it was measured (ms since the epoch). */
  at: number;
  /** Scaled from a smaller probe batch than B × T (a slow device), not measured at the full size. */
  scaled?: boolean;
}

/** What the speed of a step depends on: the GPU, the model and its storage, and the settings that change the work of a step. */
export interface PaceSettings {
  gpu: string;
  model: string;
  quant: string;
  /** QA-LoRA group size (ignored for other quant modes). */
  groupSize: number;
  batchSize: number;
  seqLen: number;
  r: number;
  /** parseTargets string ("q_proj,v_proj"). */
  targetModules: string;
  gradCheckpointing: boolean;
  /**
   * How the saved activations are stored: 'f16' adds pack / unpack dispatches to every step.
   * Absent means 'f32' (the key of an f32 run is the key paces had before this setting existed).
   */
  saveActivations?: Knobs['saveActivations'];
  /** How the dense matmuls compute: 'f16' runs other kernels. Absent means 'f32' (as for saveActivations). */
  matmulMath?: Knobs['matmulMath'];
  /** Subgroup reductions: other reduction kernels. Absent means off (as for saveActivations). */
  subgroups?: boolean;
}

/**
 * The cache key of a pace: one string of everything that changes the time of a micro-batch.
 * Learning rate, seed, steps, gradient accumulation and the like do not enter (accumulation
 * multiplies micro-batches, it does not change them). f32 saved activations add nothing to the key
 * and f16 adds "a16", so the paces stored before saved activations entered the key still match f32
 * runs, and an f16 run is measured on its own. f16 matmul math adds "m16" the same way, and
 * subgroup reductions "sg".
 */
export function paceKey(s: PaceSettings): string {
  const q = s.quant.startsWith('qalora') ? `${s.quant}/g${s.groupSize}` : s.quant;
  return [s.gpu, s.model, q, `B${s.batchSize}`, `T${s.seqLen}`, `r${s.r}`, s.targetModules, s.gradCheckpointing ? 'gc' : 'nogc', ...(s.saveActivations === 'f16' ? ['a16'] : []), ...(s.matmulMath === 'f16' ? ['m16'] : []), ...(s.subgroups ? ['sg'] : [])].join('|');
}

/** Examples the run trains on: all of them with an evaluation file, else what the eval split leaves (as splitExamples holds out). */
export function trainExamples(examples: number, evalSplit: number, evalFile: boolean): number {
  if (evalFile || !(evalSplit > 0) || examples < 2) return examples;
  return examples - Math.min(examples - 1, Math.max(1, Math.round(examples * evalSplit)));
}

/** Optimizer steps of the run (null: measured in epochs and the dataset is not known yet). */
export function runSteps(k: Pick<Knobs, 'lengthBy' | 'steps' | 'epochs' | 'batchSize' | 'gradAccum'>, nTrain: number | null): number | null {
  if (k.lengthBy === 'steps') return k.steps;
  if (nTrain === null) return null;
  return k.epochs * Math.max(1, Math.ceil(nTrain / (k.batchSize * k.gradAccum)));
}

/** Seconds for `steps` optimizer steps of `gradAccum` micro-batches each at this pace. */
export function estimateSeconds(p: Pick<Pace, 'secondsPerMicroBatch'>, steps: number, gradAccum: number): number {
  return steps * gradAccum * p.secondsPerMicroBatch;
}

/** Tokens per second of this pace (B × T tokens per micro-batch, padding included: the GPU computes them all). */
export function paceTokensPerSecond(p: Pick<Pace, 'secondsPerMicroBatch'>, batchSize: number, seqLen: number): number {
  return (batchSize * seqLen) / p.secondsPerMicroBatch;
}

/** The pace a live run shows: its time left over its steps left, per micro-batch (null before it is known). */
export function paceOfRun(etaSeconds: number, stepsLeft: number, gradAccum: number): number | null {
  if (!(Number.isFinite(etaSeconds) && etaSeconds > 0 && stepsLeft > 0 && gradAccum > 0)) return null;
  return etaSeconds / stepsLeft / gradAccum;
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

/**
 * A duration in words, rounded as an estimate deserves: "under 5 seconds", "about 40 seconds",
 * "about 4 minutes", "about 1 hour 20 minutes", "about 3 days". '—' for a value that is not a
 * duration (negative, NaN, infinite).
 */
export function fmtEstimate(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 5) return 'under 5 seconds';
  if (seconds < 55) return `about ${Math.round(seconds / 5) * 5} seconds`;
  if (seconds < 60 * 59.5) return `about ${plural(Math.max(1, Math.round(seconds / 60)), 'minute')}`;
  if (seconds < 3600 * 47.5) {
    const tenMin = Math.round(seconds / 600);
    const h = Math.floor(tenMin / 6);
    const m = (tenMin % 6) * 10;
    return `about ${plural(h, 'hour')}${m ? ` ${m} minutes` : ''}`;
  }
  return `about ${plural(Math.round(seconds / 86400), 'day')}`;
}

/** The estimate line shown beside the memory estimate: "about 4 minutes for 200 steps on this GPU". */
export function estimateLine(seconds: number, steps: number): string {
  return `${fmtEstimate(seconds)} for ${plural(steps, 'step')} on this GPU`;
}
