// Run slice: the training run of this tab — start, pause, resume, stop — with the engine's events
// folded into its record (live metrics, checkpoints, samples), and resuming an interrupted run
// (closed tab, lost GPU device) from its last checkpoint in IndexedDB.
import type { StateCreator } from 'zustand';
import { estimateMemory, isQalora } from '../plan/memory';
import { knobProblems, targetsLabel, targetsString, toRunConfig, type KnobName } from '../plan/knobs';
import type { EngineError } from '../worker/client';
import type { RequestOf } from '../worker/protocol';
import { isQuotaError } from '../worker/quota';
import { loadDataset, saveDataset } from './run-files';
import { datasetName } from './dataset';
import { evalFileRef } from './evalfile';
import { currentPaceKey } from './calibration';
import { gpuProblems } from './plan';
import { paceOfRun } from './estimate';
import { engine } from './engine';
import type { Studio } from './index';
import { FREE_SPACE } from './storage';
import { canResume, closedRun, defaultRunName, emptyMetrics, newRunId, rewindTo, RUN_SCHEMA, runPromptFormat, withEval, withEvalBefore, withSample, withStatus, withStep } from './runlogic';
import type { LoadedModelState, RunRecord } from './types';

export interface RunSlice {
  /** heldAt: a paused run parked in the worker after this step (null: running, or not parked yet). */
  activeRun: { runId: string; phase: 'running' | 'paused' | 'stopping'; heldAt?: number | null } | null;
  runError: string | null;
  /** Something to know about the run that is not an error (it resumed from an older checkpoint). */
  runNotice: string | null;
  /**
   * What a run being started waits for before the engine has it (the time estimate's speed
   * measurement finishing its step, the dataset being prepared), in words; null when none is.
   */
  runStarting: string | null;
  /** Starts a run of the current knobs; resolves when it ends. `opts` names it and ties it to an experiment (store/experiment.ts). */
  startRun(opts?: RunStartOptions): Promise<void>;
  pauseRun(): Promise<void>;
  continueRun(): Promise<void>;
  stopRun(): Promise<void>;
  resumeInterrupted(runId: string): Promise<void>;
  /** After the runs are read on page load: the run a closed page left gets its settings, dataset and model choice back at once. */
  restoreClosedRun(): Promise<void>;
  /** The closed page's run stays as stopped (listed on Runs, resumable from there); the announcement goes. */
  discardClosedRun(runId: string): Promise<void>;
  onDeviceLost(message: string): void;
  /** Opens the dataset kept with a run again, with its options (false: it is not kept any more). */
  restoreRunDataset(runId: string): Promise<boolean>;
}

/** What an experiment tells a run it starts: its name and its place in the experiment. */
interface RunStartOptions {
  name?: string;
  experiment?: { id: string; index: number };
}

type TrainRequest = RequestOf<'train'>;

/** The engine request of a studio run: checkpoints kept in IndexedDB, eval and a sample every N steps. */
function trainRequest(r: RunRecord, datasetId: string, evalDatasetId: string | undefined, resume: boolean): TrainRequest {
  const k = r.knobs;
  return {
    type: 'train', runId: r.id, config: r.config, data: { datasetId, evalSplit: k.evalSplit, evalDatasetId }, evalEvery: k.evalEvery,
    sample: k.samplePrompt.trim() ? { prompt: k.samplePrompt, maxNewTokens: k.sampleTokens, format: runPromptFormat(r) } : undefined, persist: true, resume,
  };
}

export const createRunSlice: StateCreator<Studio, [], [], RunSlice> = (set, get) => {
  let deviceLost: string | null = null;

  const record = (id: string) => get().runs.find((r) => r.id === id);
  const update = (id: string, f: (r: RunRecord) => RunRecord, persist: 'now' | 'soon') => {
    const r = record(id);
    if (r) void get().upsertRun(f(r), persist);
  };

  /** The run's settings back into the knobs (the base loads with its quantization, the data is prepared for its sequence length). */
  function restoreKnobs(r: RunRecord): void {
    set({ knobs: { ...r.knobs }, touched: Object.keys(r.knobs) as KnobName[] });
  }

  /** The dataset kept with the run, opened again with its options (false: it is not kept any more). */
  async function restoreDataset(runId: string): Promise<boolean> {
    const d = await loadDataset(runId);
    if (!d) return false;
    // The run's evaluation file (or none: the eval split) first; preparing the dataset prepares it too.
    if (d.evalFile) {
      const ef = d.evalFile instanceof File ? d.evalFile : new File([d.evalFile], d.evalName ?? 'eval');
      set({ evalFile: { file: ef, status: 'preparing', summary: null, error: null } });
    } else get().clearEvalFile();
    if (d.hub) await get().openHubDataset(d.hub.dataset, { ...d.hub, options: d.options });
    else if (d.file) {
      const file = d.file instanceof File ? d.file : new File([d.file], d.name);
      set({ dataset: { file, hub: null, download: null, progress: null, options: d.options, status: 'preparing', summary: null, error: null } });
      await get().prepareDataset();
    }
    return true;
  }

  /** Sends the train request and folds its events into the run's record until it ends. */
  async function drive(runId: string, req: TrainRequest): Promise<void> {
    deviceLost = null;
    // The run's own pace refines the time estimate of its settings (the knobs are the run's now).
    const pace = currentPaceKey(get());
    set({ activeRun: { runId, phase: 'running' }, runError: null, runNotice: null, runStarting: null });
    try {
      const summary = await engine().call(req, (e) => {
        if (e.kind === 'step') {
          update(runId, (r) => withStep(r, e.info), 'soon');
          const p = paceOfRun(e.info.etaSeconds, e.info.totalSteps - e.info.step, req.config.gradAccum);
          if (pace && p !== null) get().notePace(pace, p, 'run');
        }
        else if (e.kind === 'eval') update(runId, (r) => withEval(r, e.step, e.loss), 'soon');
        else if (e.kind === 'evalBefore') update(runId, (r) => withEvalBefore(r, e.loss), 'now');
        else if (e.kind === 'sample') update(runId, (r) => withSample(r, e.step, e.text), 'soon');
        else if (e.kind === 'held') {
          const a = get().activeRun;
          if (a?.runId === runId) set({ activeRun: { ...a, heldAt: e.step } });
        }
        else if (e.kind === 'checkpoint') {
          update(runId, (r) => ({ ...withEvalBefore(r, e.evalLossBefore), checkpointStep: e.step, stored: { dataset: r.stored?.dataset ?? 0, checkpoints: e.bytes ?? r.stored?.checkpoints ?? 0 } }), 'now');
          if (get().storageFull?.what === 'checkpoint') get().clearStorageFull();
          void get().refreshStorage();
        } else if (e.kind === 'storageFull' && e.what === 'checkpoint') {
          // The worker holds the run before the write; Resume tries it again.
          const prev = record(runId)?.checkpointStep ?? null;
          const a = get().activeRun;
          if (a?.runId === runId) set({ activeRun: { ...a, phase: 'paused' } });
          update(runId, (r) => withStatus(r, 'paused'), 'now');
          get().reportStorageFull({
            what: 'checkpoint',
            message: `Storage for this site is full: the checkpoint of step ${e.step} could not be saved (${prev === null ? 'no earlier one was saved' : `the one of step ${prev} is intact`}); ${FREE_SPACE}, then press Resume.`,
          });
        } else if (e.kind === 'resumedFrom') {
          update(runId, (r) => ({ ...rewindTo(r, e.step), checkpointStep: e.step }), 'now');
          set({ runNotice: e.notice });
        }
      });
      const r = record(runId);
      if (r) {
        const metrics = {
          ...r.metrics, evalLossBefore: r.metrics.evalLossBefore ?? summary.evalLossBefore, evalLossAfter: summary.evalLossAfter,
          tokensPerSecond: summary.tokensPerSecond, peakBytes: summary.peakBytes, etaSeconds: 0,
        };
        await get().upsertRun(withStatus({ ...withEvalBefore(r, summary.evalLossBefore), metrics, trainableParams: summary.trainableParams }, summary.stoppedEarly ? 'stopped' : 'done'), 'now');
      }
      if (!get().playground.adapterId || get().playground.adapterId === runId) get().setPlayground({ adapterId: runId });
    } catch (err) {
      const message = (err as Error).message;
      const lost = deviceLost !== null || /device (was )?lost/i.test(message);
      const r = record(runId);
      if (r) await get().upsertRun(withStatus(r, lost ? 'interrupted' : 'failed', lost ? `GPU device lost: ${deviceLost ?? message}` : message), 'now');
      set({ runError: lost ? `The GPU device was lost during training; resume the run from its last checkpoint (step ${r?.checkpointStep ?? 0}).` : message });
      // An error about a setting opens its tab and focuses its control.
      const option = (err as EngineError).option;
      if (!lost && option) get().focusOption(option, message);
    } finally {
      set({ activeRun: null });
    }
  }

  /** Checks everything, records the run and sends it to the engine. */
  async function start(opts: RunStartOptions = {}): Promise<void> {
    if (get().calibrating) set({ runStarting: 'Starting: the speed measurement finishes its step first…' });
    await get().cancelCalibration();
    set({ runStarting: 'Starting: preparing the dataset…' });
    await get().settleDataset();
    set({ runStarting: 'Starting…' });
    const s = get();
    if (s.activeRun) return;
    const fail = (m: string) => set({ runError: m });
    if (!s.loaded) return fail('Load a model first (Model tab).');
    const sum = s.dataset.summary;
    const dsName = datasetName(s.dataset);
    if (!sum || !sum.ok || s.dataset.status !== 'ready' || !dsName || !sum.datasetId || !sum.stats) return fail('Add a dataset first (Dataset tab): drop a data file or open a Hub dataset.');
    const evalRef = evalFileRef(s.evalFile);
    if (typeof evalRef === 'string') return fail(evalRef);
    const { spec, info, source } = s.loaded;
    const knobs = s.knobs;
    const problems = [...knobProblems(knobs, spec), ...gpuProblems(knobs, s.gpu)];
    if (problems.length) return fail(problems[0]);
    const want = `${knobs.quant}${isQalora(knobs.quant) ? ` (group size ${knobs.groupSize})` : ''}`;
    const have = `${info.quant}${isQalora(info.quant) ? ` (group size ${info.groupSize})` : ''}`;
    if (want !== have) return fail(`The base is loaded as ${have} but the settings ask for ${want}: load the model again (Model tab).`);
    const targets = targetsString(knobs.targetModules, spec.arch);
    const baseModel = source.kind === 'hub' ? source.repo : source.name;
    const config = toRunConfig(knobs, spec.arch, baseModel);
    const est = estimateMemory({
      spec, weightBytes: info.weightsDType === 'f16' ? 2 : 4, quant: knobs.quant, groupSize: knobs.groupSize, r: knobs.r, targetModules: targets,
      batchSize: knobs.batchSize, seqLen: knobs.seqLen, gradCheckpointing: knobs.gradCheckpointing, saveActivations: knobs.saveActivations,
    });
    const id = newRunId();
    const now = Date.now();
    const taken = new Set(s.runs.map((x) => x.name));
    const name = opts.name && !taken.has(opts.name) ? opts.name : defaultRunName(opts.name ?? info.name, knobs.r, targetsLabel(knobs.targetModules, spec.arch), taken);
    const r: RunRecord = {
      schema: RUN_SCHEMA, id, name, createdAt: now, updatedAt: now, status: 'running', ...(opts.experiment ? { experiment: { ...opts.experiment } } : {}),
      model: { name: info.name, source, modelType: info.modelType, params: info.params }, knobs: { ...knobs }, config,
      dataset: { name: dsName, examples: sum.stats.examples, options: { ...s.dataset.options }, shape: sum.stats.format, promptFormat: sum.stats.prompt_format, ...(evalRef && s.evalFile.file ? { evalFile: { name: s.evalFile.file.name, examples: evalRef.examples } } : {}) },
      trainableParams: est.trainableParams, totalSteps: null, metrics: emptyMetrics(), checkpointStep: null, elapsedBefore: 0, error: null,
    };
    void get().askPersistence();
    await get().upsertRun(r, 'now');
    try {
      const { file, hub } = s.dataset;
      // A Hub dataset is kept as its id, config and split (its Parquet files stay in the browser cache).
      const evalFile = evalRef ? s.evalFile.file : null;
      await saveDataset(id, {
        ...(file ? { file } : { hub: { dataset: hub!.dataset, config: hub!.config, split: hub!.split } }), name: dsName, options: { ...s.dataset.options },
        ...(evalFile ? { evalFile, evalName: evalFile.name } : {}),
      });
      update(id, (x) => ({ ...x, stored: { checkpoints: x.stored?.checkpoints ?? 0, dataset: (file?.size ?? 0) + (evalFile?.size ?? 0) } }), 'now');
    } catch (e) {
      if (isQuotaError(e)) get().reportStorageFull({ what: 'dataset', message: `Storage for this site is full: the copy of the dataset was not kept, so this run cannot resume after the tab closes; ${FREE_SPACE}.` });
      else set({ runError: `The dataset could not be kept in IndexedDB (${(e as Error).message}); the run trains, but cannot resume after the tab closes.` });
    }
    await drive(id, trainRequest(r, sum.datasetId, evalRef?.id, false));
  }

  return {
    activeRun: null,
    runError: null,
    runNotice: null,
    runStarting: null,

    async startRun(opts) {
      if (get().activeRun || get().runStarting) return;
      set({ runStarting: 'Starting…' });
      try {
        await start(opts);
      } finally {
        set({ runStarting: null });
      }
    },

    async pauseRun() {
      const a = get().activeRun;
      if (!a || a.phase !== 'running') return;
      await engine().call({ type: 'pause' });
      const now = get().activeRun; // a 'held' event may have arrived meanwhile
      if (now?.runId === a.runId) set({ activeRun: { ...now, phase: 'paused' } });
      update(a.runId, (r) => withStatus(r, 'paused'), 'now');
    },

    async continueRun() {
      const a = get().activeRun;
      if (!a || a.phase !== 'paused') return;
      // A checkpoint that did not fit is written again now; if it still does not, the run pauses again.
      if (get().storageFull?.what === 'checkpoint') get().clearStorageFull();
      await engine().call({ type: 'resume' });
      const now = get().activeRun;
      if (now?.runId === a.runId) set({ activeRun: { ...now, phase: 'running', heldAt: null } });
      update(a.runId, (r) => withStatus(r, 'running'), 'now');
    },

    async stopRun() {
      const a = get().activeRun;
      if (!a) return;
      set({ activeRun: { ...a, phase: 'stopping' } });
      await engine().call({ type: 'stop' });
    },

    async resumeInterrupted(runId) {
      const fail = (m: string) => set({ runError: m });
      if (get().activeRun) return fail('Another run is training: stop it first.');
      await get().cancelCalibration();
      const r = record(runId);
      if (!r || !canResume(r)) return fail('This run has no checkpoint to resume from.');
      restoreKnobs(r);
      // The base model: reload it from the Hub cache, or from the folder opened in this tab.
      const want = r.model.source;
      const runQuant = `${r.knobs.quant}/${isQalora(r.knobs.quant) ? r.knobs.groupSize : ''}`;
      const loadedQuant = (l: LoadedModelState | null) => (l ? `${l.info.quant}/${isQalora(l.info.quant) ? l.info.groupSize : ''}` : '');
      if (get().loaded?.info.name !== r.model.name || loadedQuant(get().loaded) !== runQuant) {
        const choice = get().choice;
        if (want.kind === 'hub') {
          get().chooseHub(want.repo, false);
          get().setRevision(want.revision === 'main' ? '' : want.revision);
        } else if (!(choice?.kind === 'files' && choice.name === want.name)) {
          return fail(`Open the model folder "${want.name}" (Model tab), then press Resume again.`);
        }
        if (!(await get().loadModel())) {
          const l = get().load;
          return fail(`The base model could not be loaded: ${l.status === 'error' ? l.message : 'unknown error'}`);
        }
        if (get().loaded?.info.name !== r.model.name) return fail(`The loaded model is ${get().loaded?.info.name}, not the run's base ${r.model.name}.`);
      }
      // The dataset it was trained on, kept with the run.
      if (!(await restoreDataset(runId))) return fail('The run\'s dataset is not in IndexedDB any more, so it cannot resume: start a new run.');
      const sum = get().dataset.summary;
      if (!sum || !sum.ok || !sum.datasetId) return fail(`The run's dataset no longer prepares: ${sum && !sum.ok ? sum.error : get().dataset.error ?? 'unknown error'}`);
      const evalRef = evalFileRef(get().evalFile);
      if (typeof evalRef === 'string') return fail(evalRef);
      if (r.dataset.evalFile && !evalRef) return fail(`The run's evaluation file ${r.dataset.evalFile.name} is not in IndexedDB any more, so it cannot resume: start a new run.`);
      const step = r.checkpointStep!;
      await get().upsertRun(withStatus(rewindTo(r, step), 'running'), 'now');
      await drive(runId, trainRequest(r, sum.datasetId, evalRef?.id, true));
    },

    async restoreClosedRun() {
      const s = get();
      const r = closedRun(s.runs);
      // Only into a fresh page: nothing chosen, loaded or training yet.
      if (!r || s.activeRun || s.loaded || s.choice || datasetName(s.dataset)) return;
      restoreKnobs(r);
      const src = r.model.source;
      if (src.kind === 'hub') {
        get().chooseHub(src.repo, true);
        get().setRevision(src.revision === 'main' ? '' : src.revision);
        if (!get().candidate.spec) void get().checkHubConfig();
      }
      await restoreDataset(r.id).catch(() => false);
    },

    async discardClosedRun(runId) {
      const r = record(runId);
      if (r) await get().upsertRun(withStatus(r, 'stopped'), 'now');
    },

    onDeviceLost(message) {
      deviceLost = message;
    },

    restoreRunDataset: restoreDataset,
  };
};
