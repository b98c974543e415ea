// Eval-file slice: a separate evaluation file on the Dataset tab (the CLI's --eval-file). When one
// is set it replaces the eval split: the run trains on every example of the training set and
// measures eval loss on this file, read with the same options and sequence length. It is prepared
// whenever the training set is (the worker tokenizes it with the loaded model).
import type { StateCreator } from 'zustand';
import type { DatasetSummary } from '../worker/protocol';
import { engine } from './engine';
import type { Studio } from './index';

/** The evaluation file and what the engine made of it. */
interface EvalFileState {
  file: File | null;
  status: 'idle' | 'preparing' | 'inspected' | 'ready' | 'error';
  summary: DatasetSummary | null;
  error: string | null;
}

export interface EvalFileSlice {
  evalFile: EvalFileState;
  /** Sets the evaluation file (replaces the eval split) and prepares it. */
  dropEvalFile(file: File): Promise<void>;
  /** Back to the eval split of the training set. */
  clearEvalFile(): void;
  /** Prepares the evaluation file with the dataset's options and the sequence length (no-op without one). */
  prepareEvalFile(): Promise<void>;
  /** Waits for the preparation in flight (before a run starts). */
  settleEvalFile(): Promise<void>;
}

const EMPTY: EvalFileState = { file: null, status: 'idle', summary: null, error: null };

/** The worker's id of the prepared evaluation file when it is set and ready; null when none is set; an error message when it is set but cannot be used. */
export function evalFileRef(e: EvalFileState): { id: string; examples: number } | null | string {
  if (!e.file) return null;
  const s = e.summary;
  if (e.status === 'ready' && s?.ok && s.datasetId && s.stats) return { id: s.datasetId, examples: s.stats.examples };
  if (s && !s.ok) return `The evaluation file ${e.file.name} cannot be used: ${s.error} (Dataset tab: fix it or remove it).`;
  if (e.error) return `The evaluation file ${e.file.name} cannot be used: ${e.error} (Dataset tab: fix it or remove it).`;
  return `The evaluation file ${e.file.name} is not prepared yet: load a model (Model tab) and wait for its statistics (Dataset tab).`;
}

export const createEvalFileSlice: StateCreator<Studio, [], [], EvalFileSlice> = (set, get) => {
  let seq = 0;
  let inflight: Promise<void> | null = null;
  return {
    evalFile: { ...EMPTY },

    async dropEvalFile(file) {
      set({ evalFile: { ...EMPTY, file, status: 'preparing' } });
      await get().prepareEvalFile();
    },

    clearEvalFile() {
      seq++;
      set({ evalFile: { ...EMPTY } });
    },

    prepareEvalFile() {
      const file = get().evalFile.file;
      if (!file) return Promise.resolve();
      const my = ++seq;
      set((s) => ({ evalFile: { ...s.evalFile, status: 'preparing', error: null } }));
      const p = (async () => {
        try {
          const summary = await engine().call({ type: 'prepareDataset', source: { kind: 'file', file, name: file.name }, options: get().dataset.options, seqLen: get().knobs.seqLen });
          if (my !== seq) return;
          set((s) => ({ evalFile: { ...s.evalFile, summary, status: summary.ok ? (summary.datasetId ? 'ready' : 'inspected') : 'error' } }));
        } catch (e) {
          if (my !== seq) return;
          set((s) => ({ evalFile: { ...s.evalFile, status: 'error', summary: null, error: (e as Error).message } }));
        }
      })();
      inflight = p;
      void p.finally(() => {
        if (inflight === p) inflight = null;
      });
      return p;
    },

    async settleEvalFile() {
      while (inflight) await inflight;
    },
  };
};
