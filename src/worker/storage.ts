// IndexedDB storage shared by the worker and the page (idb-keyval; IndexedDB works in workers):
// each run's last checkpoints (adapter in PEFT format + Adam moments + trainer state + checksum,
// the newest two kept, one entry per step) and the dataset file it was trained on, so a closed
// tab or a lost GPU device resumes where it stopped.
// One database per store (idb-keyval's createStore opens one object store per database).

import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { importAdapter, type AdapterTensors, type LoraHyper } from '../lora/peft';
import type { LinearModule } from '../model/modules';
import type { ModelSpec } from '../model/config';
import { parseSafetensors } from '../model/safetensors';
import { OPTIMIZER_FILE, parseTrainerState, STATE_FILE, type FileMap } from '../train/checkpoint';
import { checkpointProblem, DEFAULT_KEEP, fallbackMessage, loadNewestGood, saveKeeping, type CheckpointShelf, type ShelfSlot } from '../train/checkpoint-shelf';
import type { ResumeData } from '../train/run';
import type { DatasetOptions } from './protocol';

let checkpointStore: UseStore | null = null;
let datasetStore: UseStore | null = null;
const checkpoints = () => (checkpointStore ??= createStore('lora-studio-checkpoints', 'checkpoints'));
const datasets = () => (datasetStore ??= createStore('lora-studio-datasets', 'datasets'));

export interface StoredCheckpoint {
  runId: string;
  step: number;
  savedAt: number;
  files: Record<string, Uint8Array | string>;
}

export interface StoredDataset {
  /** The data file (absent for a Hub dataset). */
  file?: Blob;
  /** A Hub dataset by id, config and split (absent for a file). */
  hub?: { dataset: string; config: string; split: string };
  name: string;
  options: DatasetOptions;
  /** The run's separate evaluation file (absent: the eval split of the dataset). */
  evalFile?: Blob;
  evalName?: string;
}

/** IndexedDB key of a run's checkpoint at a step (runs from before keeping N used the bare run id). */
function checkpointKey(runId: string, step: number): string {
  return `${runId}@${String(step).padStart(9, '0')}`;
}

/** The run a checkpoint key belongs to. */
function runOfKey(key: IDBValidKey): string {
  const k = String(key);
  const at = k.lastIndexOf('@');
  return at < 0 ? k : k.slice(0, at);
}

/** A run's checkpoints in IndexedDB, newest first (one entry each, written in one transaction). */
export class IdbShelf implements CheckpointShelf {
  /** The entry `read` returned last (loadCheckpoint needs its step and date too). */
  last: StoredCheckpoint | undefined;

  constructor(readonly runId: string) {}

  async slots(): Promise<ShelfSlot[]> {
    const mine = (await keys(checkpoints())).map(String).filter((k) => runOfKey(k) === this.runId);
    const step = (k: string) => (k.includes('@') ? Number(k.slice(k.lastIndexOf('@') + 1)) : -1);
    return mine.sort((a, b) => step(b) - step(a)).map((k) => ({ id: k, label: step(k) >= 0 ? `the checkpoint of step ${step(k)}` : 'the saved checkpoint' }));
  }

  async read(slot: ShelfSlot): Promise<FileMap | undefined> {
    const ck = await get<StoredCheckpoint>(slot.id, checkpoints());
    this.last = ck;
    return ck ? new Map(Object.entries(ck.files)) : undefined;
  }

  async put(step: number, files: FileMap): Promise<void> {
    const rec: StoredCheckpoint = { runId: this.runId, step, savedAt: Date.now(), files: Object.fromEntries(files) };
    await set(checkpointKey(this.runId, step), rec, checkpoints());
  }

  async remove(slot: ShelfSlot): Promise<void> {
    await del(slot.id, checkpoints());
  }
}

/**
 * Stores a run's checkpoint (checksummed) and keeps the newest `keep`; the older ones are removed
 * only after the new one is written. Returns the bytes the run's kept checkpoints take.
 */
export async function saveCheckpoint(runId: string, step: number, files: FileMap, keep = DEFAULT_KEEP): Promise<number> {
  const shelf = new IdbShelf(runId);
  const bytes = await saveKeeping(shelf, step, files, keep);
  return bytes * Math.min(keep, (await shelf.slots()).length);
}

/** A run's newest checkpoint whose checksum matches, with a message when newer ones were damaged. */
export interface LoadedCheckpoint extends StoredCheckpoint {
  notice: string | null;
}

/**
 * The newest good checkpoint of a run (checksum verified; a damaged newer one is skipped, and
 * removed with `removeDamaged`, so that keeping N never drops the good one for it).
 */
export async function loadCheckpoint(runId: string, opts: { removeDamaged?: boolean } = {}): Promise<LoadedCheckpoint | undefined> {
  const shelf = new IdbShelf(runId);
  const good = await loadNewestGood(shelf, opts);
  const rec = shelf.last;
  if (!good || !rec) return undefined;
  return { ...rec, notice: fallbackMessage(good, rec.step) };
}

/** Steps of a run's checkpoints in IndexedDB, newest first (older studios' unnumbered entry is left out). */
export async function checkpointSteps(runId: string): Promise<number[]> {
  const slots = await new IdbShelf(runId).slots();
  return slots.map((s) => (s.id.includes('@') ? Number(s.id.slice(s.id.lastIndexOf('@') + 1)) : -1)).filter((n) => n >= 0);
}

/** A run's checkpoint of one step, checksum verified; throws one line when it is gone or damaged. */
export async function loadCheckpointAt(runId: string, step: number): Promise<StoredCheckpoint> {
  const ck = await get<StoredCheckpoint>(checkpointKey(runId, step), checkpoints());
  if (!ck) throw new Error(`The checkpoint of step ${step} is no longer kept (a run keeps its newest ${DEFAULT_KEEP}): choose another one.`);
  const why = checkpointProblem(new Map(Object.entries(ck.files)));
  if (why) throw new Error(`The checkpoint of step ${step} is damaged (${why}): choose another one.`);
  return ck;
}

export async function saveDataset(runId: string, d: StoredDataset): Promise<void> {
  await set(runId, d, datasets());
}

export async function loadDataset(runId: string): Promise<StoredDataset | undefined> {
  return get<StoredDataset>(runId, datasets());
}

/** Run ids that have a checkpoint or a dataset stored. */
export async function runFileIds(): Promise<string[]> {
  const [a, b] = await Promise.all([keys(checkpoints()), keys(datasets())]);
  return [...new Set([...a, ...b].map(runOfKey))];
}

/** Removes a run's checkpoints and its dataset copy. */
export async function deleteRunFiles(runId: string): Promise<void> {
  const shelf = new IdbShelf(runId);
  for (const s of await shelf.slots()) await shelf.remove(s);
  await del(runId, datasets());
}

function fileOf(ck: StoredCheckpoint, name: string, kind: 'text' | 'bytes'): string | Uint8Array {
  const v = ck.files[name];
  if (v === undefined) throw new Error(`The checkpoint of run ${ck.runId} has no ${name}; it is damaged: delete the run.`);
  if (kind === 'text') return typeof v === 'string' ? v : new TextDecoder().decode(v);
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

/** The adapter's two PEFT files of a checkpoint. */
export function adapterFiles(ck: StoredCheckpoint): { configJson: string; safetensors: Uint8Array } {
  return { configJson: fileOf(ck, 'adapter_config.json', 'text') as string, safetensors: fileOf(ck, 'adapter_model.safetensors', 'bytes') as Uint8Array };
}

/** The adapter of a checkpoint, read for this model. */
export function adapterFromCheckpoint(spec: ModelSpec, ck: StoredCheckpoint): { h: LoraHyper; modules: LinearModule[]; weights: Map<string, AdapterTensors> } {
  const f = adapterFiles(ck);
  return importAdapter(spec, f.configJson, f.safetensors, `run ${ck.runId}`);
}

/** What runTraining needs to continue a run (the same as the CLI's --resume). */
export function resumeFromCheckpoint(spec: ModelSpec, ck: StoredCheckpoint): ResumeData {
  const state = parseTrainerState(fileOf(ck, STATE_FILE, 'text') as string, `run ${ck.runId} ${STATE_FILE}`);
  const ad = adapterFromCheckpoint(spec, ck);
  const opt = parseSafetensors(fileOf(ck, OPTIMIZER_FILE, 'bytes') as Uint8Array, `run ${ck.runId} ${OPTIMIZER_FILE}`);
  return { state, adapter: ad.weights, moments: { m: opt.get('exp_avg'), v: opt.get('exp_avg_sq') } };
}
