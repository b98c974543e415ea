// Storage slice: what this site keeps in the browser (models in the Cache API; checkpoints,
// datasets and run records in IndexedDB), what it may use, whether the browser keeps it
// persistent, asking for persistence once, and what to say when storage is full.
import type { StateCreator } from 'zustand';
import type { Studio } from './index';

type StorageKind = 'models' | 'checkpoints' | 'datasets' | 'runs';

interface StorageInfo {
  status: 'idle' | 'ready' | 'unsupported';
  /** Bytes the origin uses and may use (navigator.storage.estimate()). */
  usage: number;
  quota: number;
  /** navigator.storage.persisted(); null until known. */
  persisted: boolean | null;
  /** Per kind, summed from what the studio stored (estimate() gives totals only). */
  kinds: Record<StorageKind, number>;
}

/** What could not be written, with the one line the page shows. */
interface StorageFull {
  what: 'checkpoint' | 'models' | 'runs' | 'dataset';
  message: string;
}

export interface StorageSlice {
  storage: StorageInfo;
  /** The sentence saying why persistence was asked (set when the studio asks). */
  persistNote: string | null;
  storageFull: StorageFull | null;
  refreshStorage(): Promise<void>;
  /** Asks navigator.storage.persist() once for this site (at the first download or run). */
  askPersistence(): Promise<void>;
  reportStorageFull(full: StorageFull): void;
  clearStorageFull(): void;
}

const ASKED_KEY = 'lora-studio.persistAsked';
const PERSIST_WHY = 'So that the browser does not delete downloaded models, checkpoints and runs when the disk runs low, the studio asked it to keep this site\'s storage persistent.';
/** What to do when storage is full, in the page's words. */
export const FREE_SPACE = 'delete cached models or old runs here';

/** Which message about a full disk wins when several writes fail. */
const FULL_RANK: Record<StorageFull['what'], number> = { checkpoint: 3, dataset: 2, models: 1, runs: 0 };

type StorageManagerLike = Pick<StorageManager, 'estimate' | 'persisted' | 'persist'>;

function storageManager(): StorageManagerLike | null {
  const s = (globalThis.navigator as Navigator | undefined)?.storage;
  return s && typeof s.estimate === 'function' ? s : null;
}

/** Approximate bytes of a record in IndexedDB (its JSON). */
function recordBytes(r: unknown): number {
  return JSON.stringify(r).length;
}

export const createStorageSlice: StateCreator<Studio, [], [], StorageSlice> = (set, get) => ({
  storage: { status: 'idle', usage: 0, quota: 0, persisted: null, kinds: { models: 0, checkpoints: 0, datasets: 0, runs: 0 } },
  persistNote: null,
  storageFull: null,

  async refreshStorage() {
    const sm = storageManager();
    const runs = get().runs;
    const kinds = {
      models: get().cache.entries.reduce((a, e) => a + e.bytes, 0),
      checkpoints: runs.reduce((a, r) => a + (r.stored?.checkpoints ?? 0), 0),
      datasets: runs.reduce((a, r) => a + (r.stored?.dataset ?? 0), 0),
      runs: runs.reduce((a, r) => a + recordBytes(r), 0),
    };
    if (!sm) {
      set({ storage: { status: 'unsupported', usage: 0, quota: 0, persisted: null, kinds } });
      return;
    }
    try {
      const [est, persisted] = await Promise.all([sm.estimate(), sm.persisted().catch(() => null)]);
      set({ storage: { status: 'ready', usage: est.usage ?? 0, quota: est.quota ?? 0, persisted, kinds } });
    } catch {
      set({ storage: { status: 'unsupported', usage: 0, quota: 0, persisted: null, kinds } });
    }
  },

  async askPersistence() {
    const sm = storageManager();
    if (!sm || typeof sm.persist !== 'function' || globalThis.localStorage?.getItem(ASKED_KEY)) return;
    globalThis.localStorage?.setItem(ASKED_KEY, String(Date.now()));
    set({ persistNote: PERSIST_WHY });
    await sm.persist().catch(() => false);
    await get().refreshStorage();
  },

  reportStorageFull(full) {
    // A paused run's message says the most (what is held, what to do): other writes failing for
    // the same full disk do not replace it.
    const cur = get().storageFull;
    if (cur && FULL_RANK[cur.what] > FULL_RANK[full.what]) return;
    set({ storageFull: full });
    void get().refreshStorage();
  },

  clearStorageFull() {
    set({ storageFull: null });
  },
});
