// Run checkpoints in IndexedDB (idb-keyval; IndexedDB works in workers): each run's last
// checkpoints (adapter in PEFT format + Adam moments + trainer state + checksum, the newest two
// kept, one entry per step), so a closed tab or a lost GPU device resumes where it stopped. The
// worker writes and reads them (idbCheckpoints is its SessionHost's RunCheckpoints); the page reads
// a run's newest step and deletes them with the run (src/store/run-files.ts, which also keeps the
// runs' dataset copies). One database per store (idb-keyval's createStore opens one object store
// per database).

import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import type { FileMap } from '../train/checkpoint';
import type { CheckpointShelf, ShelfSlot } from '../train/checkpoint-shelf';
import { shelfCheckpoints, type RunCheckpoints } from '../train/resume';

let checkpointStore: UseStore | null = null;
const checkpoints = () => (checkpointStore ??= createStore('lora-studio-checkpoints', 'checkpoints'));

interface StoredCheckpoint {
  runId: string;
  step: number;
  savedAt: number;
  files: Record<string, Uint8Array | string>;
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
class IdbShelf implements CheckpointShelf {
  constructor(readonly runId: string) {}

  async slots(): Promise<ShelfSlot[]> {
    const mine = (await keys(checkpoints())).map(String).filter((k) => runOfKey(k) === this.runId);
    const step = (k: string) => (k.includes('@') ? Number(k.slice(k.lastIndexOf('@') + 1)) : -1);
    return mine
      .sort((a, b) => step(b) - step(a))
      .map((k) => (step(k) >= 0 ? { id: k, label: `the checkpoint of step ${step(k)}`, step: step(k) } : { id: k, label: 'the saved checkpoint' }));
  }

  async read(slot: ShelfSlot): Promise<FileMap | undefined> {
    const ck = await get<StoredCheckpoint>(slot.id, checkpoints());
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

/** The studio's run checkpoints: one IdbShelf per run (written by the worker, read by the page for a run's step). */
export const idbCheckpoints: RunCheckpoints = shelfCheckpoints((runId) => new IdbShelf(runId));

/** Run ids that have a checkpoint stored. */
export async function checkpointRunIds(): Promise<string[]> {
  return [...new Set((await keys(checkpoints())).map(runOfKey))];
}

/** Removes all of a run's checkpoints. */
export async function deleteCheckpoints(runId: string): Promise<void> {
  const shelf = new IdbShelf(runId);
  for (const s of await shelf.slots()) await shelf.remove(s);
}
