// A run's files in IndexedDB beside its record (./db): the copy of the dataset it was trained on
// (so Resume after a closed tab needs nothing dropped again) and, through the worker's checkpoint
// store (../worker/storage), its checkpoints. One database per store (idb-keyval's createStore
// opens one object store per database).
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { checkpointRunIds, deleteCheckpoints } from '../worker/storage';
import type { DatasetOptions } from '../worker/protocol';

let datasetStore: UseStore | null = null;
const datasets = () => (datasetStore ??= createStore('lora-studio-datasets', 'datasets'));

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

export async function saveDataset(runId: string, d: StoredDataset): Promise<void> {
  await set(runId, d, datasets());
}

export async function loadDataset(runId: string): Promise<StoredDataset | undefined> {
  return get<StoredDataset>(runId, datasets());
}

/** Run ids that have a checkpoint or a dataset stored. */
export async function runFileIds(): Promise<string[]> {
  const [a, b] = await Promise.all([checkpointRunIds(), keys(datasets())]);
  return [...new Set([...a, ...b.map(String)])];
}

/** Removes a run's checkpoints and its dataset copy. */
export async function deleteRunFiles(runId: string): Promise<void> {
  await deleteCheckpoints(runId);
  await del(runId, datasets());
}
