// Run records in IndexedDB (config, metrics, status); their checkpoints and datasets live in the
// worker's stores (src/worker/storage.ts).
import { createStore, del, set, values, type UseStore } from 'idb-keyval';
import { deleteRunFiles } from '../worker/storage';
import type { RunRecord } from './types';

let store: UseStore | null = null;
const runs = () => (store ??= createStore('lora-studio-runs', 'runs'));

export async function listRuns(): Promise<RunRecord[]> {
  const all = await values<RunRecord>(runs());
  return all.sort((a, b) => b.createdAt - a.createdAt);
}

export async function putRun(r: RunRecord): Promise<void> {
  await set(r.id, r, runs());
}

export async function removeRun(id: string): Promise<void> {
  await del(id, runs());
  await deleteRunFiles(id);
}
