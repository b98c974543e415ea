// Model slice: the WebGPU check, the model picked (catalog, any Hub repo, a local folder), its
// spec before loading (for the memory estimate), loading with download progress, the model cache.
import type { StateCreator } from 'zustand';
import { parseConfig, parseConfigText, type ModelSpec } from '../model/config';
import { CATALOG, catalogSpec, DEMO } from '../plan/catalog';
import { webgpuHelp } from '../plan/gpuHelp';
import type { KnobName } from '../plan/knobs';
import type { QuantMode } from '../worker/protocol';
import { engine, onEngineEvent } from './engine';
import { folderProblem } from './folder';
import type { Studio } from './index';
import { Speedometer } from './progress';
import { FREE_SPACE } from './storage';
import type { CacheState, GpuState, LoadedModelState, LoadState, ModelChoice, SourceRef } from './types';

export interface ModelSlice {
  gpu: GpuState;
  choice: ModelChoice | null;
  revision: string;
  token: string;
  /** Spec of the chosen model before loading (from the catalog, the Hub's config.json or the folder). */
  candidate: { spec: ModelSpec | null; status: 'idle' | 'checking' | 'ready' | 'error'; error: string | null };
  load: LoadState;
  /** Why the opened folder cannot load (no tokenizer, no weights): Load is disabled with this reason. */
  folderIssue: string | null;
  loaded: LoadedModelState | null;
  cache: CacheState;
  /** GPU memory the user says runs may use, in GiB (WebGPU does not report it). */
  budgetGiB: number;
  /** A message about the GPU device (lost, recovered). */
  deviceNotice: string | null;

  checkGpu(): Promise<void>;
  chooseHub(repo: string, catalog: boolean): void;
  setRevision(revision: string): void;
  setToken(token: string): void;
  checkHubConfig(): Promise<void>;
  /** A local model folder: its files with their paths ("folder/config.json"). */
  chooseFiles(entries: { path: string; file: File }[]): Promise<void>;
  loadModel(): Promise<boolean>;
  /** The built-in demo (public/demo): loads stories260K and its dataset from the page's own origin and sets tiny settings. */
  tryDemo(): Promise<void>;
  refreshCache(): Promise<void>;
  clearCache(repo?: string): Promise<void>;
  setBudget(gib: number): void;
}

const BUDGET_KEY = 'lora-studio.budgetGiB';

function initialBudget(): number {
  const v = Number(globalThis.localStorage?.getItem(BUDGET_KEY));
  return Number.isFinite(v) && v > 0 ? v : 4;
}

/** Relative path of a picked file (a folder's files carry webkitRelativePath). */
export function relPath(f: File): string {
  return (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
}

function sourceRefOf(choice: ModelChoice, revision: string): SourceRef {
  return choice.kind === 'hub' ? { kind: 'hub', repo: choice.repo, revision: revision || 'main' } : { kind: 'files', name: choice.name };
}

export const createModelSlice: StateCreator<Studio, [], [], ModelSlice> = (set, get) => {
  onEngineEvent((e) => {
    if (e.kind !== 'deviceLost') return;
    set({ loaded: null, deviceNotice: `${e.message}` });
    get().onDeviceLost(e.message);
  });
  return {
    gpu: { status: 'checking' },
    choice: null,
    revision: '',
    token: '',
    candidate: { spec: null, status: 'idle', error: null },
    load: { status: 'idle' },
    folderIssue: null,
    loaded: null,
    cache: { status: 'idle', entries: [], error: null },
    budgetGiB: initialBudget(),
    deviceNotice: null,

    async checkGpu() {
      const nav = globalThis.navigator as Navigator & { gpu?: GPU };
      if (!nav || !('gpu' in nav) || !nav.gpu) {
        set({
          gpu: {
            status: 'missing',
            message: 'This browser does not expose WebGPU, which the studio needs to train on your GPU.',
            help: webgpuHelp(nav?.userAgent ?? '', globalThis.isSecureContext !== false),
          },
        });
        return;
      }
      try {
        const adapter = await engine().call({ type: 'init' });
        set({ gpu: { status: 'ok', adapter } });
      } catch (e) {
        set({ gpu: { status: 'missing', message: (e as Error).message, help: webgpuHelp(nav.userAgent, globalThis.isSecureContext !== false) } });
      }
    },

    chooseHub(repo, catalog) {
      const entry = CATALOG.find((m) => m.repo === repo);
      const spec = catalog && entry ? catalogSpec(entry) : null;
      set({
        choice: { kind: 'hub', repo, catalog: catalog && !!entry },
        candidate: spec ? { spec, status: 'ready', error: null } : { spec: null, status: 'idle', error: null },
        load: { status: 'idle' },
        folderIssue: null,
      });
      if (spec) get().applyModelDefaults(spec);
    },

    setRevision(revision) {
      set({ revision });
    },

    setToken(token) {
      set({ token });
    },

    async checkHubConfig() {
      const c = get().choice;
      if (!c || c.kind !== 'hub') return;
      set({ candidate: { spec: null, status: 'checking', error: null } });
      try {
        const { text } = await engine().call({ type: 'fetchConfig', repo: c.repo, revision: get().revision || undefined, token: get().token || undefined });
        const spec = parseConfigText(text, `hf://${c.repo}/config.json`);
        set({ candidate: { spec, status: 'ready', error: null } });
        get().applyModelDefaults(spec);
      } catch (e) {
        set({ candidate: { spec: null, status: 'error', error: (e as Error).message } });
      }
    },

    async tryDemo() {
      const base = `${import.meta.env.BASE_URL ?? '/'}${DEMO.base}`;
      const fetchFile = async (path: string, name: string): Promise<File> => {
        const res = await fetch(base + path);
        if (!res.ok) throw new Error(`The demo file ${path} could not be read from this page (HTTP ${res.status}); reload the page.`);
        return new File([await res.blob()], name);
      };
      try {
        const entries = await Promise.all(DEMO.modelFiles.map(async (f) => ({ path: `${DEMO.model}/${f}`, file: await fetchFile(`${DEMO.model}/${f}`, f) })));
        await get().chooseFiles(entries);
        if (!(await get().loadModel())) return;
        for (const k of Object.keys(DEMO.knobs) as KnobName[]) get().setKnob(k, DEMO.knobs[k]!);
        await get().dropDataset(await fetchFile(DEMO.data, DEMO.data));
      } catch (e) {
        set({ candidate: { spec: null, status: 'error', error: (e as Error).message } });
      }
    },

    async chooseFiles(entries) {
      if (entries.length === 0) return;
      const top = entries[0].path.includes('/') ? entries[0].path.split('/')[0] : 'local model';
      const name = entries.every((e) => e.path.startsWith(`${top}/`)) ? top : 'local model';
      set({ choice: { kind: 'files', name, files: entries }, load: { status: 'idle' }, candidate: { spec: null, status: 'checking', error: null }, folderIssue: null });
      const config = entries.filter((e) => e.path.split('/').pop() === 'config.json').sort((a, b) => a.path.length - b.path.length)[0];
      if (config) {
        const dir = config.path.includes('/') ? config.path.slice(0, config.path.lastIndexOf('/')) : '';
        set({ folderIssue: folderProblem(name, dir, entries.map((e) => e.path)) });
      }
      if (!config) {
        set({ candidate: { spec: null, status: 'error', error: `${name}: no config.json among the ${entries.length} files opened; open the model's folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json).` } });
        return;
      }
      try {
        const spec = parseConfig(JSON.parse(await config.file.text()), `${name}/config.json`);
        set({ candidate: { spec, status: 'ready', error: null } });
        get().applyModelDefaults(spec);
      } catch (e) {
        const msg = e instanceof SyntaxError ? `${name}/config.json: not valid JSON (${e.message}).` : (e as Error).message;
        set({ candidate: { spec: null, status: 'error', error: msg } });
      }
    },

    async loadModel() {
      const { choice, revision, token } = get();
      if (!choice) {
        set({ load: { status: 'error', message: 'Choose a model first.' } });
        return false;
      }
      const issue = choice.kind === 'files' ? get().folderIssue : null;
      if (issue) {
        set({ load: { status: 'error', message: issue } });
        return false;
      }
      if (get().activeRun) {
        set({ load: { status: 'error', message: 'A training run is in progress: stop it before loading another model.' } });
        return false;
      }
      const quant: QuantMode = get().knobs.quant;
      const groupSize = get().knobs.groupSize;
      const speed = new Speedometer();
      set({ load: { status: 'loading', stage: 'starting', detail: '', loaded: 0, total: 0, bytesPerSecond: 0, etaSeconds: NaN }, loaded: null, deviceNotice: null });
      get().onModelUnloaded();
      if (choice.kind === 'hub') void get().askPersistence();
      try {
        const source =
          choice.kind === 'hub'
            ? { kind: 'hub' as const, repo: choice.repo, revision: revision || undefined, token: token || undefined }
            : { kind: 'files' as const, name: choice.name, files: choice.files.map((f) => ({ path: f.path, file: f.file as Blob })) };
        const info = await engine().call({ type: 'loadModel', source, quant: { mode: quant, groupSize } }, (e) => {
          if (e.kind === 'storageFull' && e.what === 'models') {
            get().reportStorageFull({ what: 'models', message: `Storage for this site is full: ${e.file} was not kept in the model cache (the model loads, but downloads again next time); ${FREE_SPACE}.` });
          }
          if (e.kind !== 'load') return;
          const s = e.stage === 'download' ? speed.update('model', e.loaded, e.total, performance.now()) : { bytesPerSecond: 0, etaSeconds: NaN };
          set({ load: { status: 'loading', stage: e.stage, detail: e.detail, loaded: e.loaded, total: e.total, ...s } });
        });
        const spec = parseConfigText(info.configText, `${info.name}/config.json`);
        set({ loaded: { info, spec, source: sourceRefOf(choice, revision), loadedAt: Date.now() }, load: { status: 'idle' }, candidate: { spec, status: 'ready', error: null } });
        get().applyModelDefaults(spec);
        get().onModelLoaded();
        if (choice.kind === 'hub') void get().refreshCache();
        return true;
      } catch (e) {
        set({ load: { status: 'error', message: (e as Error).message } });
        return false;
      }
    },

    async refreshCache() {
      set((s) => ({ cache: { ...s.cache, status: 'loading', error: null } }));
      try {
        const entries = await engine().call({ type: 'cacheList' });
        set({ cache: { status: 'ready', entries, error: null } });
        void get().refreshStorage();
      } catch (e) {
        set((s) => ({ cache: { ...s.cache, status: 'ready', error: (e as Error).message } }));
      }
    },

    async clearCache(repo) {
      try {
        await engine().call({ type: 'cacheClear', repo });
      } catch (e) {
        set((s) => ({ cache: { ...s.cache, error: (e as Error).message } }));
      }
      await get().refreshCache();
    },

    setBudget(gib) {
      if (!(gib > 0)) return;
      globalThis.localStorage?.setItem(BUDGET_KEY, String(gib));
      set({ budgetGiB: gib });
    },
  };
};
