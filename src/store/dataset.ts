// Dataset slice: the dropped or picked file, or a Hub dataset opened by id (config and split
// chosen from the viewer API's listing), its column mapping / template, and the engine's
// "prepare dataset → stats + preview" answer (re-run when the mapping, the source, the model or
// the sequence length changes).
import type { StateCreator } from 'zustand';
import { pickSplit } from '../data/hub';
import { DEFAULT_DATASET_OPTIONS, type DatasetOptions, type DatasetSourceSpec, type HubDatasetListing } from '../worker/protocol';
import { engine } from './engine';
import type { Studio } from './index';
import type { DatasetState, HubDatasetState } from './types';

export interface DatasetSlice {
  dataset: DatasetState;
  dropDataset(file: File): Promise<void>;
  /** Opens a Hub dataset by id ("OWNER/NAME"), with the model panel's access token; config and split default to the first config's train split. */
  openHubDataset(id: string, pick?: { config?: string; split?: string; options?: DatasetOptions }): Promise<void>;
  /** Chooses another config or split of the open Hub dataset (a new config starts at its train split). */
  setHubSplit(config: string, split?: string): void;
  setDatasetOptions(o: Partial<DatasetOptions>): void;
  prepareDataset(): Promise<void>;
  /** Runs a pending re-preparation now and waits for the one in flight (before a run starts). */
  settleDataset(): Promise<void>;
  onModelLoaded(): void;
  onModelUnloaded(): void;
  onSeqLenChanged(): void;
}

/** The open dataset's name for labels and run records: the file's name, or "OWNER/NAME (config/split)". */
export function datasetName(d: DatasetState): string | null {
  if (d.file) return d.file.name;
  if (d.hub) return `${d.hub.dataset} (${d.hub.config}/${d.hub.split})`;
  return null;
}

function hubState(listing: HubDatasetListing, config?: string, split?: string): HubDatasetState {
  const chosen = pickSplit(listing, config, split);
  const sizes: HubDatasetState['sizes'] = {};
  for (const f of listing.files) {
    const k = `${f.config}/${f.split}`;
    sizes[k] = { files: (sizes[k]?.files ?? 0) + 1, bytes: (sizes[k]?.bytes ?? 0) + f.size };
  }
  return { dataset: listing.dataset, config: chosen.config, split: chosen.split, configs: listing.configs, sizes, partial: listing.partial };
}

const REPREPARE_MS = 250;
const EMPTY: Omit<DatasetState, 'options'> = { file: null, hub: null, download: null, progress: null, status: 'idle', summary: null, error: null };

export const createDatasetSlice: StateCreator<Studio, [], [], DatasetSlice> = (set, get) => {
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inflight: Promise<void> | null = null;
  let openListing: HubDatasetListing | null = null;
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void get().prepareDataset();
    }, REPREPARE_MS);
  };
  return {
    dataset: { ...EMPTY, options: { ...DEFAULT_DATASET_OPTIONS } },

    async dropDataset(file) {
      openListing = null;
      set({ dataset: { ...EMPTY, file, options: { ...DEFAULT_DATASET_OPTIONS }, status: 'preparing' } });
      await get().prepareDataset();
    },

    async openHubDataset(id, pick = {}) {
      const my = ++seq;
      openListing = null;
      set({ dataset: { ...EMPTY, options: { ...(pick.options ?? DEFAULT_DATASET_OPTIONS) }, status: 'preparing' } });
      try {
        const listing = await engine().call({ type: 'listHubDataset', dataset: id.trim(), token: get().token || undefined });
        if (my !== seq) return;
        openListing = listing;
        set((s) => ({ dataset: { ...s.dataset, hub: hubState(listing, pick.config, pick.split) } }));
      } catch (e) {
        if (my !== seq) return;
        set((s) => ({ dataset: { ...s.dataset, status: 'error', error: (e as Error).message } }));
        return;
      }
      await get().prepareDataset();
    },

    setHubSplit(config, split) {
      const hub = get().dataset.hub;
      if (!hub || !openListing) return;
      let next: HubDatasetState;
      try {
        next = hubState(openListing, config, config === hub.config ? split : undefined);
      } catch (e) {
        set((s) => ({ dataset: { ...s.dataset, status: 'error', error: (e as Error).message } }));
        return;
      }
      set((s) => ({ dataset: { ...s.dataset, hub: next, summary: null, download: null } }));
      void get().prepareDataset();
    },

    setDatasetOptions(o) {
      set((s) => ({ dataset: { ...s.dataset, options: { ...s.dataset.options, ...o } } }));
      later();
    },

    prepareDataset() {
      const { file, hub, options } = get().dataset;
      let source: DatasetSourceSpec;
      if (file) source = { kind: 'file', file, name: file.name };
      else if (hub) source = { kind: 'hub', dataset: hub.dataset, config: hub.config, split: hub.split, token: get().token || undefined };
      else return Promise.resolve();
      const my = ++seq;
      set((s) => ({ dataset: { ...s.dataset, status: 'preparing', progress: null, error: null } }));
      // The evaluation file (if any) is read with the same options and sequence length.
      void get().prepareEvalFile();
      const p = (async () => {
        try {
          const summary = await engine().call({ type: 'prepareDataset', source, options, seqLen: get().knobs.seqLen }, (e) => {
            if (e.kind === 'datasetDownload' && my === seq) set((s) => ({ dataset: { ...s.dataset, download: { loaded: e.loaded, total: e.total, detail: e.detail } } }));
            if (e.kind === 'datasetProgress' && my === seq) {
              const { rows, examples, tokens, bytes, totalBytes } = e;
              set((s) => ({ dataset: { ...s.dataset, progress: { rows, examples, tokens, bytes, totalBytes } } }));
            }
          });
          if (my !== seq) return;
          set((s) => ({ dataset: { ...s.dataset, summary, download: null, progress: null, status: summary.ok ? (summary.datasetId ? 'ready' : 'inspected') : 'error' } }));
        } catch (e) {
          if (my !== seq) return;
          set((s) => ({ dataset: { ...s.dataset, status: 'error', summary: null, download: null, progress: null, error: (e as Error).message } }));
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
      await get().settleEvalFile();
    },

    onModelLoaded() {
      if (datasetName(get().dataset)) void get().prepareDataset();
      get().resetPlayground();
    },

    onModelUnloaded() {
      get().resetPlayground();
    },

    onSeqLenChanged() {
      if (datasetName(get().dataset)) later();
    },
  };
};
