// One path from a saved checkpoint (its files, as any host stores them: a folder in the CLI,
// IndexedDB in the studio, memory in the tests) to what a resumed run or an export needs: the
// trainer state, the adapter (read for the loaded model) and Adam's moments. The CLI's --resume,
// `npm run experiment --resume`, the studio's Resume and its exports of a finished run all go
// through here, so a damaged or missing file fails with the same message everywhere.

import { importAdapter, type AdapterTensors, type LoraHyper } from '../lora/peft';
import type { ModelSpec } from '../model/config';
import type { LinearModule } from '../model/modules';
import { parseSafetensors } from '../model/safetensors';
import { OPTIMIZER_FILE, parseTrainerState, STATE_FILE, type FileMap } from './checkpoint';
import { checkpointProblem, DEFAULT_KEEP, fallbackMessage, loadNewestGood, saveKeeping, type CheckpointShelf } from './checkpoint-shelf';
import type { ResumeData } from './run';

/** The two PEFT files of a checkpoint's adapter. */
const ADAPTER_CONFIG_FILE = 'adapter_config.json';
const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/**
 * How messages name a checkpoint's files and what to do about a damaged one, in the host's words:
 * the CLI names the file's path and --resume, the studio names the run.
 */
export interface CheckpointPlace {
  /** The name of one of its files in messages, e.g. `runs/x/checkpoint/trainer_state.json` or `run 3 trainer_state.json`. */
  file(name: string): string;
  /** What to do when it is damaged (a clause: "delete the run"). */
  remedy: string;
}

/** A file of a checkpoint as text or bytes; throws one line naming the missing file and the remedy. */
export function checkpointFile(files: FileMap, name: string, kind: 'text', place: CheckpointPlace): string;
export function checkpointFile(files: FileMap, name: string, kind: 'bytes', place: CheckpointPlace): Uint8Array;
export function checkpointFile(files: FileMap, name: string, kind: 'text' | 'bytes', place: CheckpointPlace): string | Uint8Array {
  const v = files.get(name);
  if (v === undefined) throw new Error(`${place.file(name)} is missing: the checkpoint is damaged; ${place.remedy}.`);
  if (kind === 'text') return typeof v === 'string' ? v : new TextDecoder().decode(v);
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

/** The adapter's two PEFT files of a checkpoint (what an export of the run downloads). */
export function adapterFilesOf(files: FileMap, place: CheckpointPlace): { configJson: string; safetensors: Uint8Array } {
  return {
    configJson: checkpointFile(files, ADAPTER_CONFIG_FILE, 'text', place),
    safetensors: checkpointFile(files, ADAPTER_WEIGHTS_FILE, 'bytes', place),
  };
}

/** A checkpoint's adapter read for the model `spec` (importAdapter's checks and messages). */
export function adapterFromFiles(spec: ModelSpec, files: FileMap, place: CheckpointPlace): { h: LoraHyper; modules: LinearModule[]; weights: Map<string, AdapterTensors> } {
  const f = adapterFilesOf(files, place);
  return importAdapter(spec, f.configJson, f.safetensors, place.file(ADAPTER_WEIGHTS_FILE));
}

/**
 * What runTraining needs to continue a run from a checkpoint: the trainer state (step, cursor,
 * history, config), the adapter weights read for `spec`, and Adam's first and second moments
 * (flat f32, the LoraState's parameter order). Throws one line naming the damaged or missing file.
 */
export function resumeFromFiles(spec: ModelSpec, files: FileMap, place: CheckpointPlace): ResumeData {
  const state = parseTrainerState(checkpointFile(files, STATE_FILE, 'text', place), place.file(STATE_FILE));
  const ad = adapterFromFiles(spec, files, place);
  const opt = parseSafetensors(checkpointFile(files, OPTIMIZER_FILE, 'bytes', place), place.file(OPTIMIZER_FILE));
  return { state, adapter: ad.weights, moments: { m: opt.get('exp_avg'), v: opt.get('exp_avg_sq') } };
}

/** A run's newest intact checkpoint: its files, step, and a message when newer ones were damaged. */
interface LoadedCheckpoint {
  runId: string;
  step: number;
  files: FileMap;
  notice: string | null;
}

/** Checkpoints of many runs, each on its own shelf (the studio: IndexedDB; tests: memory). */
export interface RunCheckpoints {
  /** Stores a checkpoint (checksummed) keeping the newest `keep`; returns the bytes the run's kept ones take. */
  save(runId: string, step: number, files: FileMap, keep: number): Promise<number>;
  /** The newest checkpoint whose checksum matches (damaged newer ones removed with removeDamaged), or undefined. */
  load(runId: string, opts?: { removeDamaged?: boolean }): Promise<LoadedCheckpoint | undefined>;
  /** Steps of the run's kept checkpoints, newest first (a slot whose step the shelf cannot tell is left out). */
  steps(runId: string): Promise<number[]>;
  /** The checkpoint of one step, checksum verified; throws one line when it is no longer kept or is damaged. */
  loadAt(runId: string, step: number): Promise<FileMap>;
}

/** RunCheckpoints over one shelf per run (saveKeeping / loadNewestGood). */
export function shelfCheckpoints(shelfOf: (runId: string) => CheckpointShelf): RunCheckpoints {
  return {
    async save(runId, step, files, keep) {
      const shelf = shelfOf(runId);
      const bytes = await saveKeeping(shelf, step, files, keep);
      return bytes * Math.min(keep, (await shelf.slots()).length);
    },
    async load(runId, opts = {}) {
      const good = await loadNewestGood(shelfOf(runId), opts);
      if (!good) return undefined;
      const place = runPlace(runId);
      const state = parseTrainerState(checkpointFile(good.files, STATE_FILE, 'text', place), place.file(STATE_FILE));
      return { runId, step: state.step, files: good.files, notice: fallbackMessage(good, state.step) };
    },
    async steps(runId) {
      return (await shelfOf(runId).slots()).flatMap((sl) => (sl.step === undefined ? [] : [sl.step]));
    },
    async loadAt(runId, step) {
      const shelf = shelfOf(runId);
      const slot = (await shelf.slots()).find((sl) => sl.step === step);
      const files = slot && (await shelf.read(slot));
      if (!files) throw new Error(`The checkpoint of step ${step} is no longer kept (a run keeps its newest ${DEFAULT_KEEP} unless told otherwise): choose another one.`);
      const why = checkpointProblem(files);
      if (why) throw new Error(`The checkpoint of step ${step} is damaged (${why}): choose another one.`);
      return files;
    },
  };
}

/** How messages name a run's checkpoint kept by RunCheckpoints (the studio's runs). */
export function runPlace(runId: string): CheckpointPlace {
  return { file: (name) => `the checkpoint of run ${runId} (${name})`, remedy: 'delete the run, or train it again' };
}
