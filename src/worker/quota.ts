// Browser storage running out: recognising a quota error from any store (Cache API, IndexedDB)
// and what a run writes, so the studio can say what is full before and while it writes.

/**
 * True for a storage quota error: a QuotaExceededError DOMException (Cache API put, IndexedDB
 * request), an IndexedDB transaction aborted with that name, or an error that wraps one.
 */
export function isQuotaError(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const { name, message, error } = x as { name?: unknown; message?: unknown; error?: unknown };
    if (name === 'QuotaExceededError') return true;
    if (typeof message === 'string' && /quota (has been )?exceeded|QuotaExceeded/i.test(message)) return true;
    if (error && (error as { name?: unknown }).name === 'QuotaExceededError') return true; // an aborted transaction's .error
  }
  return false;
}

/** Bytes per trainable parameter in a checkpoint: the f32 adapter plus Adam's two f32 moments. */
const CHECKPOINT_BYTES_PER_PARAM = 12;

/**
 * Bytes a studio run writes to browser storage at its peak: `keep` checkpoints plus the new one
 * being written before the oldest goes, the copy of the dataset, and a little for the run record.
 */
export function runWriteBytes(trainableParams: number, keep: number, datasetBytes: number): { checkpoint: number; total: number } {
  const checkpoint = CHECKPOINT_BYTES_PER_PARAM * trainableParams + 4096;
  return { checkpoint, total: checkpoint * (keep + 1) + datasetBytes + 64 * 1024 };
}

/** 'fits' with room to spare, 'tight' above 80% of what is free, 'wont-fit' beyond it. */
export function storageVerdict(need: number, free: number): 'fits' | 'tight' | 'wont-fit' {
  if (need > free) return 'wont-fit';
  return need > 0.8 * free ? 'tight' : 'fits';
}

/**
 * Writes with `write` until it succeeds. On a quota error it calls `onFull`, then waits on
 * `hold()` (the run's pause, released by Resume or Stop) and tries again; any other error is
 * thrown. Returns undefined, without writing, once `stopped()` (the run ends on its earlier write).
 */
export async function writeWaitingForSpace<T>(write: () => Promise<T>, onFull: () => void, hold: () => Promise<void>, stopped: () => boolean): Promise<T | undefined> {
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if (!isQuotaError(err)) throw err;
      if (stopped()) return undefined;
      onFull();
      await hold();
      if (stopped()) return undefined;
    }
  }
}
