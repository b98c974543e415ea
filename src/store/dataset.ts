// Dataset slice: the dropped or picked file, its column mapping / template, and the engine's
// "prepare dataset → stats + preview" answer (re-run when the mapping, the model or the sequence
// length changes).
import type { StateCreator } from 'zustand';
import { DEFAULT_DATASET_OPTIONS, type DatasetOptions } from '../worker/protocol';
import { engine } from './engine';
import type { Studio } from './index';
import type { DatasetState } from './types';

export interface DatasetSlice {
  dataset: DatasetState;
  dropDataset(file: File): Promise<void>;
  setDatasetOptions(o: Partial<DatasetOptions>): void;
  prepareDataset(): Promise<void>;
  /** Runs a pending re-preparation now and waits for the one in flight (before a run starts). */
  settleDataset(): Promise<void>;
  onModelLoaded(): void;
  onModelUnloaded(): void;
  onSeqLenChanged(): void;
}

const REPREPARE_MS = 250;

export const createDatasetSlice: StateCreator<Studio, [], [], DatasetSlice> = (set, get) => {
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inflight: Promise<void> | null = null;
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void get().prepareDataset();
    }, REPREPARE_MS);
  };
  return {
    dataset: { file: null, options: { ...DEFAULT_DATASET_OPTIONS }, status: 'idle', summary: null, error: null },

    async dropDataset(file) {
      set({ dataset: { file, options: { ...DEFAULT_DATASET_OPTIONS }, status: 'preparing', summary: null, error: null } });
      await get().prepareDataset();
    },

    setDatasetOptions(o) {
      set((s) => ({ dataset: { ...s.dataset, options: { ...s.dataset.options, ...o } } }));
      later();
    },

    prepareDataset() {
      const { file, options } = get().dataset;
      if (!file) return Promise.resolve();
      const my = ++seq;
      set((s) => ({ dataset: { ...s.dataset, status: 'preparing', error: null } }));
      const p = (async () => {
        try {
          const summary = await engine().call({ type: 'prepareDataset', file, name: file.name, options, seqLen: get().knobs.seqLen });
          if (my !== seq) return;
          set((s) => ({ dataset: { ...s.dataset, summary, status: summary.ok ? (summary.datasetId ? 'ready' : 'inspected') : 'error' } }));
        } catch (e) {
          if (my !== seq) return;
          set((s) => ({ dataset: { ...s.dataset, status: 'error', summary: null, error: (e as Error).message } }));
        }
      })();
      inflight = p;
      void p.finally(() => {
        if (inflight === p) inflight = null;
      });
      return p;
    },

    async settleDataset() {
      if (timer) {
        clearTimeout(timer);
        timer = null;
        await get().prepareDataset();
      }
      while (inflight) await inflight;
    },

    onModelLoaded() {
      if (get().dataset.file) void get().prepareDataset();
      get().resetPlayground();
    },

    onModelUnloaded() {
      get().resetPlayground();
    },

    onSeqLenChanged() {
      if (get().dataset.file) later();
    },
  };
};
