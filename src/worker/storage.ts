// IndexedDB storage shared by the worker and the page (idb-keyval; IndexedDB works in workers):
// each run's latest checkpoint (adapter in PEFT format + Adam moments + trainer state) and the
// dataset file it was trained on, so a closed tab or a lost GPU device resumes where it stopped.
// One database per store (idb-keyval's createStore opens one object store per database).

import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { importAdapter, type AdapterTensors, type LoraHyper } from '../lora/peft';
import type { LinearModule } from '../model/modules';
import type { ModelSpec } from '../model/config';
import { parseSafetensors } from '../model/safetensors';
import { OPTIMIZER_FILE, parseTrainerState, STATE_FILE, type FileMap } from '../train/checkpoint';
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
}

export async function saveCheckpoint(runId: string, step: number, files: FileMap): Promise<void> {
  const rec: StoredCheckpoint = { runId, step, savedAt: Date.now(), files: Object.fromEntries(files) };
  await set(runId, rec, checkpoints());
}

export async function loadCheckpoint(runId: string): Promise<StoredCheckpoint | undefined> {
  return get<StoredCheckpoint>(runId, checkpoints());
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
  return [...new Set([...a, ...b].map(String))];
}

export async function deleteRunFiles(runId: string): Promise<void> {
  await del(runId, checkpoints());
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
