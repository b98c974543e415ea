// Runs slice: every run's record (config, metrics, status) kept in IndexedDB, comparison, rename,
// delete, and the downloads (adapter as .zip or two files, merged model).
import type { StateCreator } from 'zustand';
import { idbCheckpoints } from '../worker/storage';
import { loadDataset } from './run-files';
import { clusterFiles, clusterRunOf } from './cluster';
import { listRuns, putRun, removeRun, sweepOrphanFiles } from './db';
import { saveBlob, slug, ZIP_LIMIT_BYTES, zipBlob } from './download';
import { engine } from './engine';
import { fmtBytes } from '../plan/memory';
import type { Studio } from './index';
import { readRecord, settleStale } from './runlogic';
import { isQuotaError } from '../worker/quota';
import { FREE_SPACE } from './storage';
import type { RunRecord } from './types';

export interface RunsSlice {
  runs: RunRecord[];
  runsStatus: 'idle' | 'loading' | 'ready';
  runsError: string | null;
  compare: string[];
  exportBusy: string | null;
  exportError: string | null;
  /** Something to know about the last download (not an error). */
  exportNotice: string | null;
  /** Tensors merged so far / all, while a merged model is being prepared. */
  exportProgress: { done: number; total: number } | null;

  loadRuns(): Promise<void>;
  /** Replaces (or adds) a record; 'now' writes it at once, 'soon' within a second. */
  upsertRun(r: RunRecord, persist: 'now' | 'soon'): Promise<void>;
  renameRun(id: string, name: string): Promise<void>;
  deleteRun(id: string): Promise<void>;
  toggleCompare(id: string, on: boolean): void;
  /**
   * The adapter as PEFT files. Every export takes `step`: absent, the run's final (newest) adapter;
   * a step, the checkpoint of that step still kept (its file names carry `-stepN`).
   */
  exportAdapter(id: string, form: 'zip' | 'files', step?: number): Promise<void>;
  /** Steps of each run's checkpoints still kept in IndexedDB, newest first (filled by loadShelf). */
  shelfSteps: Record<string, number[]>;
  loadShelf(id: string): Promise<void>;
  /** The merged model; quantized: the QA-LoRA merge into the loaded INT-N base. */
  exportMerged(id: string, quantized?: boolean, step?: number): Promise<void>;
  /** llama.cpp GGUF of the merged model (f16 / q8_0) or of the adapter alone; needs the run's base loaded. */
  exportGguf(id: string, what: 'merged' | 'adapter', ggufType: 'f16' | 'q8_0', step?: number): Promise<void>;
  /** "Export run for a cluster": the TRL script, Axolotl YAML and README as one .zip (no model needed). */
  exportCluster(id: string): Promise<void>;
}

const SOON_MS = 1000;

/** A download's base name: the run's slug, with `-stepN` when an earlier checkpoint is exported. */
function exportName(r: RunRecord, step: number | undefined): string {
  return step === undefined ? slug(r.name) : `${slug(r.name)}-step${step}`;
}

/** The notice's tail naming the checkpoint exported (empty for the final adapter). */
function ofStep(step: number | undefined): string {
  return step === undefined ? '' : `From the checkpoint of step ${step}.`;
}

/** The confirmation once a download is handed to the browser: its file names and size. */
function downloaded(names: string[], bytes: number, more = ''): string {
  const what = names.length === 1 ? names[0] : `${names.length} files (${names.join(', ')})`;
  return `Download ready: ${what}, ${fmtBytes(bytes)}, saved by the browser (usually to your Downloads folder).${more ? ` ${more}` : ''}`;
}

export const createRunsSlice: StateCreator<Studio, [], [], RunsSlice> = (set, get) => {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const write = async (id: string) => {
    const t = timers.get(id);
    if (t) clearTimeout(t);
    timers.delete(id);
    const r = get().runs.find((x) => x.id === id);
    if (!r) return;
    try {
      await putRun(r);
    } catch (e) {
      if (isQuotaError(e)) get().reportStorageFull({ what: 'runs', message: `Storage for this site is full: the latest progress of run "${r.name}" could not be saved; ${FREE_SPACE}.` });
      else set({ runsError: `Could not save run "${r.name}" to IndexedDB: ${(e as Error).message}` });
    }
  };
  return {
    runs: [],
    runsStatus: 'idle',
    runsError: null,
    compare: [],
    exportBusy: null,
    exportError: null,
    exportNotice: null,
    exportProgress: null,
    shelfSteps: {},

    async loadShelf(id) {
      const steps = await idbCheckpoints.steps(id).catch(() => []);
      set((s) => ({ shelfSteps: { ...s.shelfSteps, [id]: steps } }));
    },

    async loadRuns() {
      set({ runsStatus: 'loading' });
      try {
        const stored: RunRecord[] = [];
        const skipped: string[] = [];
        for (const raw of await listRuns()) {
          const r = readRecord(raw);
          if ('record' in r) stored.push(r.record);
          else skipped.push(r.skipped);
        }
        stored.sort((a, b) => b.createdAt - a.createdAt);
        const settled = stored.map(settleStale);
        // A tab closed right after a checkpoint may not have recorded it: the checkpoint store knows.
        for (let i = 0; i < settled.length; i++) {
          if (settled[i].status !== 'interrupted') continue;
          const ck = await idbCheckpoints.load(settled[i].id).catch(() => undefined);
          if (ck && ck.step !== settled[i].checkpointStep) settled[i] = { ...settled[i], checkpointStep: ck.step };
        }
        for (let i = 0; i < stored.length; i++) if (settled[i] !== stored[i]) await putRun(settled[i]);
        // Keep records of this tab's live run (it may have started before the list arrived).
        const live = get().runs.filter((r) => !settled.some((s) => s.id === r.id));
        set({
          runs: [...live, ...settled].sort((a, b) => b.createdAt - a.createdAt), runsStatus: 'ready',
          runsError: skipped.length ? `Not listed: ${skipped.join('; ')}.` : null,
        });
        await get().restoreClosedRun();
        await sweepOrphanFiles().catch(() => 0); // housekeeping only: a failure here loses nothing
        void get().refreshStorage();
      } catch (e) {
        set({ runsStatus: 'ready', runsError: `Could not read the runs from IndexedDB: ${(e as Error).message}` });
      }
    },

    async upsertRun(r, persist) {
      set((s) => {
        const i = s.runs.findIndex((x) => x.id === r.id);
        const runs = i < 0 ? [r, ...s.runs] : s.runs.map((x) => (x.id === r.id ? r : x));
        return { runs };
      });
      if (persist === 'now') await write(r.id);
      else if (!timers.has(r.id)) timers.set(r.id, setTimeout(() => void write(r.id), SOON_MS));
    },

    async renameRun(id, name) {
      const r = get().runs.find((x) => x.id === id);
      const clean = name.trim();
      if (!r || !clean || clean === r.name) return;
      await get().upsertRun({ ...r, name: clean, updatedAt: Date.now() }, 'now');
    },

    async deleteRun(id) {
      if (get().activeRun?.runId === id) {
        set({ runsError: 'This run is training: stop it before deleting it.' });
        return;
      }
      const t = timers.get(id);
      if (t) clearTimeout(t);
      timers.delete(id);
      // The record goes from IndexedDB first and from the list after, so a run that has left the
      // list is gone for good (a reload right after the click does not bring it back).
      try {
        await removeRun(id);
      } catch (e) {
        set({ runsError: `Could not delete the run from IndexedDB: ${(e as Error).message}` });
        return;
      }
      set((s) => ({ runs: s.runs.filter((r) => r.id !== id), compare: s.compare.filter((c) => c !== id) }));
      void get().refreshStorage();
      if (get().playground.adapterId === id) get().setPlayground({ adapterId: null });
      await engine()
        .call({ type: 'dropAdapter', runId: id })
        .catch(() => undefined); // the worker only frees the adapter's GPU buffers; nothing to report
    },

    toggleCompare(id, on) {
      set((s) => ({ compare: on ? [...new Set([...s.compare, id])] : s.compare.filter((c) => c !== id) }));
    },

    async exportAdapter(id, form, step) {
      const r = get().runs.find((x) => x.id === id);
      if (!r) return;
      set({ exportBusy: `adapter:${id}`, exportError: null, exportNotice: null });
      try {
        // A saved checkpoint's PEFT files as saved (no model or GPU needed), the newest or the chosen step's.
        const { files } = await engine().call({ type: 'exportAdapter', runId: id, ...(step === undefined ? {} : { step }) });
        const name = exportName(r, step);
        if (form === 'zip') {
          const zip = await zipBlob(name, files);
          saveBlob(`${name}-adapter.zip`, zip);
          set({ exportNotice: downloaded([`${name}-adapter.zip`], zip.size, ofStep(step)) });
        } else {
          for (const f of files) saveBlob(f.name, f.data);
          set({ exportNotice: downloaded(files.map((f) => f.name), files.reduce((a, f) => a + f.data.size, 0), ofStep(step)) });
        }
      } catch (e) {
        set({ exportError: (e as Error).message });
      } finally {
        set({ exportBusy: null });
      }
    },

    async exportMerged(id, quantized = false, step) {
      const r = get().runs.find((x) => x.id === id);
      if (!r) return;
      const loaded = get().loaded;
      if (!loaded || loaded.info.name !== r.model.name) {
        set({ exportError: `Load the run's base model (${r.model.name}) first: merging reads its weights.` });
        return;
      }
      if (quantized && (loaded.info.quant !== r.knobs.quant || loaded.info.groupSize !== r.knobs.groupSize)) {
        set({ exportError: `The QA-LoRA merge needs the base loaded as ${r.knobs.quant} with group size ${r.knobs.groupSize} (it is ${loaded.info.quant}): load it so (Model tab).` });
        return;
      }
      set({ exportBusy: `merged:${id}`, exportError: null, exportNotice: null, exportProgress: null });
      try {
        const { files } = await engine().call({ type: 'exportMerged', runId: id, quantized, ...(step === undefined ? {} : { step }) }, (e) => {
          if (e.kind === 'export') set({ exportProgress: { done: e.done, total: e.total } });
        });
        const name = `${exportName(r, step)}-merged${quantized ? `-${r.knobs.quant}` : ''}`;
        const bytes = files.reduce((a, f) => a + f.data.size, 0);
        if (bytes <= ZIP_LIMIT_BYTES) {
          const zip = await zipBlob(name, files);
          saveBlob(`${name}.zip`, zip);
          set({ exportNotice: downloaded([`${name}.zip`], zip.size, ofStep(step)) });
        } else {
          // Past the 4 GiB a classic .zip can hold: the folder's files one by one.
          for (const f of files) saveBlob(f.name, f.data);
          set({ exportNotice: `${name} is ${(bytes / 2 ** 30).toFixed(1)} GiB, more than one .zip holds: its ${files.length} files were downloaded one by one; put them in one folder.` });
        }
      } catch (e) {
        set({ exportError: (e as Error).message });
      } finally {
        set({ exportBusy: null, exportProgress: null });
      }
    },

    async exportGguf(id, what, ggufType, step) {
      const r = get().runs.find((x) => x.id === id);
      if (!r) return;
      const loaded = get().loaded;
      if (!loaded || loaded.info.name !== r.model.name) {
        set({ exportError: `Load the run's base model (${r.model.name}) first: the GGUF file is written from its weights and tokenizer.` });
        return;
      }
      set({ exportBusy: `gguf:${id}`, exportError: null, exportNotice: null, exportProgress: null });
      try {
        const { files, notes } = await engine().call({ type: 'exportGguf', runId: id, what, ggufType, ...(step === undefined ? {} : { step }) }, (e) => {
          if (e.kind === 'export') set({ exportProgress: { done: e.done, total: e.total } });
        });
        const f = files[0];
        const fileName = `${exportName(r, step)}-${what === 'adapter' ? 'lora-' : ''}${ggufType}.gguf`;
        saveBlob(fileName, f.data);
        set({ exportNotice: downloaded([fileName], f.data.size, [notes.length ? `${notes.join('; ')}.` : '', ofStep(step)].filter(Boolean).join(' ')) });
      } catch (e) {
        set({ exportError: (e as Error).message });
      } finally {
        set({ exportBusy: null, exportProgress: null });
      }
    },

    async exportCluster(id) {
      const r = get().runs.find((x) => x.id === id);
      if (!r) return;
      set({ exportBusy: `cluster:${id}`, exportError: null, exportNotice: null });
      try {
        // The stored dataset names a Hub dataset's config and split exactly; the record's name is the fallback.
        const stored = await loadDataset(id).catch(() => undefined);
        const run = clusterRunOf(r, stored);
        const name = `${slug(r.name)}-cluster`;
        const zip = await zipBlob(name, clusterFiles(run).map((f) => ({ name: f.name, data: new Blob([f.text], { type: 'text/plain' }) })));
        saveBlob(`${name}.zip`, zip);
        const evalNote = run.evalFile ? ` and the evaluation file as ${run.evalFile}` : '';
        set({ exportNotice: `${downloaded([`${name}.zip`], zip.size)} It references the data as ${run.data}${evalNote}: copy ${run.evalFile ? 'them' : 'that file'} (or use the Hub id) next to train_trl.py on the cluster.` });
      } catch (e) {
        set({ exportError: (e as Error).message });
      } finally {
        set({ exportBusy: null });
      }
    },
  };
};
