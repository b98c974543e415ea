// Run records in IndexedDB (config, metrics, status); their checkpoints and datasets live in the
// stores (./run-files.ts: dataset copies; ../worker/storage.ts: checkpoints).
import { createStore, del, keys, set, values, type UseStore } from 'idb-keyval';
import { deleteRunFiles, runFileIds } from './run-files';
import type { RunRecord } from './types';

let store: UseStore | null = null;
const runs = () => (store ??= createStore('lora-studio-runs', 'runs'));

/** Every stored entry as it is (runlogic's readRecord checks and upgrades them). */
export async function listRuns(): Promise<unknown[]> {
  return values<unknown>(runs());
}

/**
 * Removes checkpoints and datasets whose run record is gone (a delete interrupted between the
 * record and its files). Safe beside other tabs: a run's record is written before its files and
 * removed before them.
 */
export async function sweepOrphanFiles(): Promise<number> {
  const ids = new Set((await keys(runs())).map(String));
  let n = 0;
  for (const id of await runFileIds()) {
    if (ids.has(id)) continue;
    await deleteRunFiles(id);
    n++;
  }
  return n;
}

export async function putRun(r: RunRecord): Promise<void> {
  await set(r.id, r, runs());
}

export async function removeRun(id: string): Promise<void> {
  await del(id, runs());
  await deleteRunFiles(id);
}
