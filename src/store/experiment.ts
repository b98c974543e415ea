// Experiment slice: the current settings plus axes to vary (or a preset's configurations), expanded
// into a plan the user reviews, reorders and prunes; then the plan's runs one after another through
// the run slice (store/run.ts startRun / resumeInterrupted) on the loaded base, reloaded only when
// the base quantization changes. Each run answers the evaluation prompts once it is done (the base
// once per quantization), greedily, through the playground's generate request: the typed prompts,
// then the prompts drawn from the held-out rows at the start (the worker's heldOutPrompts, kept in
// the record), fed as their token ids. The experiment is
// kept in IndexedDB (./experiment-db.ts) and resumes at the run and step it reached after a closed
// tab or a lost device. The spec is the JSON `npm run experiment` reads.
import type { StateCreator } from 'zustand';
import { AXIS_KEYS, ExperimentError, expandExperiment, parseExperiment, qloraStudyPreset, QLORA_STUDY_RUNS, type ExperimentRun, type ExperimentSpec, type Settings } from '../experiment';
import type { AdapterRef } from '../worker/protocol';
import { isQalora } from '../plan/memory';
import type { KnobName } from '../plan/knobs';
import { saveBlob, slug } from './download';
import { engine } from './engine';
import { EXPERIMENT_SCHEMA, listExperiments, putExperiment, readExperiment, removeExperiment, type ExperimentRecord } from './experiment-db';
import { answerRequest, axisText, heldOutUnavailable, knobsFromSettings, parseAxisText, settingsFromKnobs, specOfPlan, type AxisKey } from './experimentlogic';
import { evalFileRef } from './evalfile';
import type { HeldOutPrompt } from '../data/heldout';
import type { Studio } from './index';
import { canResume, runPromptFormat } from './runlogic';
import type { RunRecord } from './types';

/** What the Experiment tab is editing: axes as typed, or a preset's / an imported file's configurations. */
interface ExperimentDraft {
  name: string;
  /** Typed values of each axis that varies (values separated by spaces). */
  axes: Partial<Record<AxisKey, string>>;
  /** Explicit configurations (the QLoRA study preset, an imported spec's runs), crossed with the axes. */
  runs: Settings[] | null;
  /** Evaluation prompts, one per line. */
  prompts: string;
  /** Prompts drawn from the held-out rows (answered after the typed ones, shown with their reference answers). */
  heldOut: number;
  maxNewTokens: number;
  genSeed: number;
  /** The expansion of the last Expand, in its order. */
  expanded: ExperimentRun[] | null;
  /** The reviewed list: reordered and pruned from `expanded`. */
  plan: ExperimentRun[] | null;
  /** The spec `expanded` came from. */
  spec: ExperimentSpec | null;
}

export interface ExperimentSlice {
  expDraft: ExperimentDraft;
  experiments: ExperimentRecord[];
  /** The experiment this tab is driving (its runs go one after another). */
  activeExperiment: string | null;
  expError: string | null;
  expNotice: string | null;
  setExpDraft(p: Partial<ExperimentDraft>): void;
  /** Varies `key` with the typed values, or stops varying it (null). */
  setAxis(key: AxisKey, text: string | null): void;
  /** "QLoRA study: attention r8 / r16, all-linear + lm_head r8, 4-bit and 8-bit" over the current settings. */
  applyStudyPreset(): void;
  /** The current settings + axes → the plan to review (or an error naming the axis). */
  expandDraft(): void;
  movePlanned(index: number, delta: -1 | 1): void;
  prunePlanned(index: number): void;
  importExperiment(file: File): Promise<void>;
  exportExperimentSpec(): void;
  startExperiment(): Promise<void>;
  pauseExperiment(): Promise<void>;
  continueExperiment(): Promise<void>;
  stopExperiment(): Promise<void>;
  /** Continues an experiment where it stopped (its run's checkpoint, then the runs after it). */
  resumeExperiment(id: string): Promise<void>;
  loadExperiments(): Promise<void>;
  deleteExperiment(id: string): Promise<void>;
}

/** A run's place in an experiment: the record of plan entry `index`. */
export function experimentRun(runs: readonly RunRecord[], id: string, index: number): RunRecord | undefined {
  return runs.filter((r) => r.experiment?.id === id && r.experiment.index === index).sort((a, b) => b.createdAt - a.createdAt)[0];
}

/** The name of the base's column of answers: "base", or "base (nf4)" when the plan uses several quantizations. */
export function baseColumnName(x: ExperimentRecord, quant: string): string {
  const quants = new Set(x.plan.map((p) => String(p.settings.quant ?? 'none')));
  return quants.size > 1 ? `base (${quant})` : 'base';
}

/** Why the current data and split cannot give held-out prompts (null: they can); the draft then asks for none. */
export function heldOutReason(s: Pick<Studio, 'dataset' | 'knobs' | 'evalFile'>): string | null {
  const sum = s.dataset.summary;
  return heldOutUnavailable(sum?.ok ? (sum.stats?.format ?? sum.inspect.shape) : null, s.dataset.options.trainOnPrompt, s.knobs.evalSplit, !!s.evalFile.file);
}

const ALL_KNOBS = (k: object) => Object.keys(k) as KnobName[];

/** The prompts of a draft: one per non-empty line. */
const promptLines = (text: string) => text.split('\n').map((p) => p.trim()).filter(Boolean);

export const createExperimentSlice: StateCreator<Studio, [], [], ExperimentSlice> = (set, get) => {
  let stopRequested = false;

  const rec = (id: string) => get().experiments.find((x) => x.id === id);
  const save = async (x: ExperimentRecord) => {
    const next = { ...x, updatedAt: Date.now() };
    set((s) => ({ experiments: s.experiments.some((e) => e.id === x.id) ? s.experiments.map((e) => (e.id === x.id ? next : e)) : [next, ...s.experiments] }));
    try {
      await putExperiment(next);
    } catch (e) {
      set({ expError: `Could not save experiment "${x.name}" to IndexedDB: ${(e as Error).message}` });
    }
  };
  const modelSpec = () => get().loaded?.spec ?? get().candidate.spec;

  const heldOutWhy = () => heldOutReason(get());

  /** Draws the experiment's held-out prompts from the prepared dataset with the runs' seed and split (the worker's heldOutPrompts). */
  async function drawHeldOut(count: number): Promise<HeldOutPrompt[]> {
    if (count <= 0) return [];
    await get().settleDataset();
    await get().settleEvalFile();
    const s = get();
    const sum = s.dataset.summary;
    if (!sum?.ok || !sum.datasetId) throw new Error('Add a dataset first (Dataset tab): the held-out prompts are drawn from it.');
    const evalRef = evalFileRef(s.evalFile);
    if (typeof evalRef === 'string') throw new Error(evalRef);
    return engine().call({ type: 'heldOutPrompts', data: { datasetId: sum.datasetId, evalSplit: s.knobs.evalSplit, evalDatasetId: evalRef?.id }, seed: s.knobs.seed, count });
  }

  /** The spec of the draft over the current settings (throws ExperimentError naming the key). */
  function draftSpec(): ExperimentSpec {
    const spec = modelSpec();
    if (!spec) throw new ExperimentError('Choose a model first (Model tab): the runs are planned on it.');
    const d = get().expDraft;
    const axes: Record<string, unknown> = {};
    for (const k of AXIS_KEYS) {
      const t = d.axes[k];
      if (t !== undefined) axes[k] = parseAxisText(k, t);
    }
    const raw = {
      name: d.name, base: settingsFromKnobs(get().knobs, spec.arch), ...(Object.keys(axes).length ? { axes } : {}), ...(d.runs ? { runs: d.runs } : {}),
      prompts: promptLines(d.prompts), heldOutPrompts: heldOutWhy() ? 0 : d.heldOut, maxNewTokens: d.maxNewTokens, genSeed: d.genSeed,
    };
    const parsed = parseExperiment(raw, 'experiment');
    if (!parsed.axes && !parsed.runs) throw new ExperimentError('Vary at least one setting (tick an axis and type its values), or choose the QLoRA study.');
    return parsed;
  }

  /** A run's answers to the prompts (typed, then held out as their ids), greedy and seeded, as the playground's generate gives them. */
  async function answer(x: ExperimentRecord, adapter: AdapterRef, format: ReturnType<typeof runPromptFormat>): Promise<string[]> {
    const out: string[] = [];
    for (const prompt of [...x.spec.prompts, ...(x.heldOut ?? [])]) {
      const res = await engine().call({ type: 'generate', req: answerRequest(prompt, adapter, x.spec, format) });
      out.push(res.text);
    }
    return out;
  }

  /** The answers of a finished run (and of the base at its quantization, once). */
  async function answerRun(id: string, index: number, r: RunRecord): Promise<void> {
    let x = rec(id)!;
    if (x.spec.prompts.length + (x.heldOut?.length ?? 0) === 0) return;
    const format = runPromptFormat(r);
    const quant = r.knobs.quant + (isQalora(r.knobs.quant) ? `-g${r.knobs.groupSize}` : '');
    if (!x.baseAnswers[quant]) {
      const base = await answer(x, 'base', format);
      x = rec(id)!;
      await save({ ...x, baseAnswers: { ...x.baseAnswers, [quant]: base } });
    }
    if (!rec(id)!.runAnswers[index]) {
      const mine = await answer(x, { runId: r.id }, format);
      x = rec(id)!;
      await save({ ...x, runAnswers: { ...x.runAnswers, [index]: mine } });
    }
  }

  /** Trains the plan from `current` on, one run after another, until it ends, stops or fails. */
  async function drive(id: string): Promise<void> {
    stopRequested = false;
    set({ activeExperiment: id, expError: null, expNotice: null });
    try {
      for (;;) {
        const x = rec(id);
        if (!x) return;
        if (stopRequested) return void (await save({ ...x, status: 'stopped' }));
        if (x.current >= x.plan.length) return void (await save({ ...x, status: 'done', error: null }));
        const entry = x.plan[x.current];
        let r = experimentRun(get().runs, id, x.current);
        // A run stopped at its last step has nothing left to train: it counts as trained.
        const trained = (q: RunRecord) => q.status === 'done' || (q.status === 'stopped' && !canResume(q) && !stopRequested);
        if (r && !trained(r) && canResume(r)) {
          await get().resumeInterrupted(r.id);
        } else if (!r || !trained(r)) {
          const spec = get().loaded?.spec;
          if (!spec) return void (await save({ ...x, status: 'interrupted', error: 'Load the model first (Model tab), then press Resume.' }));
          const { knobs } = knobsFromSettings(x.baseKnobs, entry.settings, spec);
          set({ knobs, touched: ALL_KNOBS(knobs) });
          const info = get().loaded!.info;
          if (info.quant !== knobs.quant || (isQalora(knobs.quant) && info.groupSize !== knobs.groupSize)) {
            // The base is quantized at load: a run with another base quantization reloads it.
            set({ expNotice: `Reloading the base as ${knobs.quant} for run ${entry.name}…` });
            if (!(await get().loadModel())) {
              const l = get().load;
              return void (await save({ ...x, status: 'failed', error: `The base could not be loaded as ${knobs.quant}: ${l.status === 'error' ? l.message : 'unknown error'}` }));
            }
            set({ expNotice: null });
          }
          await get().startRun({ name: `${x.name} ${entry.name}`, experiment: { id, index: x.current } });
        }
        r = experimentRun(get().runs, id, x.current);
        const now = rec(id)!;
        if (!r) return void (await save({ ...now, status: 'interrupted', error: get().runError ?? 'The run did not start.' }));
        if (!trained(r)) {
          if (r.status === 'stopped') return void (await save({ ...now, status: 'stopped' }));
          if (r.status === 'failed') return void (await save({ ...now, status: 'failed', error: r.error ?? get().runError }));
          return void (await save({ ...now, status: 'interrupted', error: get().runError ?? r.error }));
        }
        await answerRun(id, now.current, r);
        const after = rec(id)!;
        await save({ ...after, current: after.current + 1 });
      }
    } catch (e) {
      const x = rec(id);
      if (x) await save({ ...x, status: 'failed', error: (e as Error).message });
      set({ expError: (e as Error).message });
    } finally {
      set({ activeExperiment: null, expNotice: null });
    }
  }

  return {
    expDraft: { name: 'experiment', axes: { r: '4 8 16' }, runs: null, prompts: '', heldOut: 3, maxNewTokens: 32, genSeed: 0, expanded: null, plan: null, spec: null },
    experiments: [],
    activeExperiment: null,
    expError: null,
    expNotice: null,

    setExpDraft(p) {
      // Any change to what is planned asks for a new expansion.
      const replan = 'name' in p || 'axes' in p || 'runs' in p || 'prompts' in p || 'heldOut' in p || 'maxNewTokens' in p || 'genSeed' in p;
      set((s) => ({ expDraft: { ...s.expDraft, ...p, ...(replan && !('plan' in p) ? { plan: null, expanded: null, spec: null } : {}) }, expError: null }));
    },

    setAxis(key, text) {
      const axes = { ...get().expDraft.axes };
      if (text === null) delete axes[key];
      else axes[key] = text;
      get().setExpDraft({ axes });
    },

    applyStudyPreset() {
      const spec = qloraStudyPreset({}, [], 'qlora-study');
      get().setExpDraft({ name: spec.name, runs: QLORA_STUDY_RUNS.map((r) => ({ ...r })), axes: {} });
      get().expandDraft();
    },

    expandDraft() {
      try {
        const spec = draftSpec();
        const expanded = expandExperiment(spec);
        set((s) => ({ expDraft: { ...s.expDraft, spec, expanded, plan: expanded }, expError: null }));
      } catch (e) {
        set((s) => ({ expDraft: { ...s.expDraft, spec: null, expanded: null, plan: null }, expError: (e as Error).message }));
      }
    },

    movePlanned(index, delta) {
      const plan = [...(get().expDraft.plan ?? [])];
      const j = index + delta;
      if (j < 0 || j >= plan.length) return;
      [plan[index], plan[j]] = [plan[j], plan[index]];
      set((s) => ({ expDraft: { ...s.expDraft, plan } }));
    },

    prunePlanned(index) {
      const plan = (get().expDraft.plan ?? []).filter((_, i) => i !== index);
      set((s) => ({ expDraft: { ...s.expDraft, plan } }));
    },

    async importExperiment(file) {
      try {
        const parsed = parseExperiment(await file.text(), file.name);
        const spec = modelSpec();
        if (!spec) throw new ExperimentError(`${file.name}: choose a model first (Model tab), then import the experiment: its settings are applied to that model.`);
        const { knobs, ignored } = knobsFromSettings(get().knobs, parsed.base, spec);
        set({ knobs, touched: ALL_KNOBS(knobs) });
        get().onSeqLenChanged();
        const axes: Partial<Record<AxisKey, string>> = {};
        for (const [k, vs] of Object.entries(parsed.axes ?? {})) axes[k as AxisKey] = axisText(vs);
        get().setExpDraft({ name: parsed.name, axes, runs: parsed.runs ?? null, prompts: parsed.prompts.join('\n'), heldOut: parsed.heldOutPrompts ?? 0, maxNewTokens: parsed.maxNewTokens ?? 64, genSeed: parsed.genSeed ?? 0 });
        get().expandDraft();
        const notes = [
          ignored.length ? `${ignored.join(', ')} ${ignored.length === 1 ? 'is' : 'are'} set on the Dataset tab, not from the file` : '',
          parsed.model || parsed.data ? 'its model and data are the ones loaded here' : '',
        ].filter(Boolean);
        set({ expNotice: `Imported ${file.name}${notes.length ? `: ${notes.join('; ')}.` : '.'}` });
      } catch (e) {
        set({ expError: (e as Error).message });
      }
    },

    exportExperimentSpec() {
      const d = get().expDraft;
      if (!d.spec || !d.expanded || !d.plan) return set({ expError: 'Expand the experiment first: the file holds the runs you reviewed.' });
      const spec = specOfPlan(d.spec, d.expanded, d.plan);
      const clean = JSON.parse(JSON.stringify(spec)) as ExperimentSpec; // drops the undefined keys
      saveBlob(`${slug(spec.name)}.experiment.json`, new Blob([JSON.stringify(clean, null, 2) + '\n'], { type: 'application/json' }));
    },

    async startExperiment() {
      const s = get();
      if (s.activeRun || s.activeExperiment) return set({ expError: 'A run is training: stop it first.' });
      if (!s.loaded) return set({ expError: 'Load a model first (Model tab).' });
      const d = s.expDraft;
      if (!d.spec || !d.expanded || !d.plan) return set({ expError: 'Expand the experiment first, and review its runs.' });
      if (d.plan.length === 0) return set({ expError: 'Every run was removed from the plan: expand the experiment again.' });
      const now = Date.now();
      const names = new Set(s.experiments.map((x) => x.name));
      let name = d.spec.name;
      for (let i = 2; names.has(name); i++) name = `${d.spec.name} (${i})`;
      let heldOut: HeldOutPrompt[] = [];
      try {
        heldOut = await drawHeldOut(d.spec.heldOutPrompts ?? 0);
      } catch (e) {
        return set({ expError: (e as Error).message });
      }
      const x: ExperimentRecord = {
        schema: EXPERIMENT_SCHEMA, id: `exp-${now.toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`, name, createdAt: now, updatedAt: now,
        spec: { ...specOfPlan(d.spec, d.expanded, d.plan), name }, plan: d.plan.map((p, index) => ({ ...p, index })), baseKnobs: { ...s.knobs },
        current: 0, status: 'running', ...(heldOut.length ? { heldOut } : {}), baseAnswers: {}, runAnswers: {}, error: null,
      };
      await save(x);
      await drive(x.id);
    },

    async pauseExperiment() {
      await get().pauseRun();
    },

    async continueExperiment() {
      await get().continueRun();
    },

    async stopExperiment() {
      if (!get().activeExperiment) return;
      stopRequested = true;
      await get().stopRun();
    },

    async resumeExperiment(id) {
      const x = rec(id);
      if (!x) return;
      if (get().activeRun || get().activeExperiment) return set({ expError: 'A run is training: stop it first.' });
      await save({ ...x, status: 'running', error: null });
      await drive(id);
    },

    async loadExperiments() {
      try {
        const stored = (await listExperiments()).map(readExperiment).filter((x): x is ExperimentRecord => x !== null);
        // An experiment a closed page left mid-way resumes from where it stopped.
        const settled = stored.map((x) => (x.status === 'running' ? { ...x, status: 'interrupted' as const } : x));
        for (let i = 0; i < stored.length; i++) if (settled[i] !== stored[i]) await putExperiment(settled[i]);
        const live = get().experiments.filter((x) => !settled.some((s) => s.id === x.id));
        set({ experiments: [...live, ...settled].sort((a, b) => b.createdAt - a.createdAt) });
      } catch (e) {
        set({ expError: `Could not read the experiments from IndexedDB: ${(e as Error).message}` });
      }
    },

    async deleteExperiment(id) {
      if (get().activeExperiment === id) return set({ expError: 'This experiment is training: stop it before deleting it.' });
      await removeExperiment(id);
      set((s) => ({ experiments: s.experiments.filter((x) => x.id !== id) }));
    },
  };
};
