// The engine's browser host: a dedicated Web Worker that owns the GPUDevice, the loaded model, the
// adapters of the playground and the training run, and talks to the page only through the typed
// protocol in ./protocol. Hub files are cached (./cache), checkpoints go to IndexedDB (./storage),
// GPU buffers are freed by owner (./scopes).
/// <reference lib="webworker" />
import { fileInput, type DatasetExample } from '../data';
import type { Example } from '../data/batch';
import { CHAT_FORMAT, chatTurnEndText, encodeChat, encodePrompt, stopIdsFor, type PromptFormat } from '../data/format';
import { tokenizeTexts } from '../data/text';
import { GpuContext } from '../gpu/context';
import { acquireDevice } from '../gpu/device';
import { mergedModelFiles, readQuantizedLinears } from '../lora/merged';
import { adapterGgufFile, mergedGgufFile, type GgufExport } from '../export/gguf-model';
import { exportAdapter, importAdapter, type AdapterTensors, type LoraHyper } from '../lora/peft';
import { LoraState } from '../lora/state';
import { countModelParams } from '../model/config';
import { generateTokens, Generator } from '../net/generate';
import { loadModel, type LoadedModel } from '../model/load';
import type { LinearModule } from '../model/modules';
import { blobSource, hubSource, type ModelSource } from '../model/source';
import { isQalora, type QuantizedHost } from '../quant/formats';
import { STATE_FILE, type FileMap, type TrainerState } from '../train/checkpoint';
import { DEFAULT_KEEP } from '../train/checkpoint-shelf';
import { isQuotaError, writeWaitingForSpace } from './quota';
import { loraHyper, runTraining, type ResumeData, type RunConfig, type RunHooks } from '../train/run';
import { cachingFetch, clearCachedFiles, DownloadTotals, listCachedFiles } from './cache';
import { hubDatasetInput, listHubDataset } from './hubdata';
import { inspectInput, loadInput, trainEval, trainWithEvalFile } from './dataset';
import { studioMessage } from '../plan/knobs';
import type { OptionError } from '../options';
import { readExternalAdapter } from './external-adapter';
import { measurePace } from '../train/calibrate';
import type { AdapterRef, EngineEvent, ExportedFile, ModelInfo, ModelSourceSpec, Request, RequestMessage, WorkerMessage } from './protocol';
import { BufferScope, BufferTracker } from './scopes';
import { browserShaderLibrary } from './shaders';
import { adapterFiles, adapterFromCheckpoint, loadCheckpoint, resumeFromCheckpoint, saveCheckpoint } from './storage';

declare const self: DedicatedWorkerGlobalScope;

interface Engine {
  ctx: GpuContext;
  tracker: BufferTracker;
}

interface Model {
  loaded: LoadedModel;
  source: ModelSource;
  scope: BufferScope;
  configText: string;
  groupSize: number;
}

interface Adapter {
  lora: LoraState;
  hyper: LoraHyper;
  baseModel: string;
  scope: BufferScope;
}

let engine: Engine | null = null;
let model: Model | null = null;
const adapters = new Map<string, Adapter>();
let lastTrained: string | null = null;
/** Generation graphs by adapter and window length, least recently used first. */
const graphs = new Map<string, { gen: Generator; scope: BufferScope }>();
const MAX_GRAPHS = 4;
/** Prepared datasets (tokenized with the loaded model), newest last. */
const datasets = new Map<string, { examples: DatasetExample[]; seqLen: number; packing: boolean }>();
let nextDataset = 1;
/** What holds the GPU exclusively ('loading a model', 'training'), if anything. */
let busy: string | null = null;
let generating = 0;
/** Bumped by stopGenerate: a generation that started under an older value ends after its current token. */
let generationEpoch = 0;
let paused: { resolve: () => void; promise: Promise<void> } | null = null;

/** Holds the run before its next step (or its checkpoint write) until 'resume' or 'stop'. */
function pauseRun(): { resolve: () => void; promise: Promise<void> } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { resolve, promise };
}
let stopRequested = false;


function post(m: WorkerMessage): void {
  self.postMessage(m);
}

/** After a device loss every GPU object is gone: forget them (nothing to destroy). */
function forgetGpuState(): void {
  engine = null;
  model = null;
  adapters.clear();
  graphs.clear();
  lastTrained = null;
}

let acquiring: Promise<Engine> | null = null;

async function getEngine(): Promise<Engine> {
  if (engine && !engine.ctx.lostMessage) return engine;
  if (acquiring) return acquiring;
  if (engine) forgetGpuState();
  if (!self.navigator.gpu) {
    throw new Error('WebGPU is not available in this browser\'s workers (navigator.gpu is missing): use Chrome or Edge 113+ over https or localhost.');
  }
  acquiring = (async () => {
    const { device, adapter } = await acquireDevice(self.navigator.gpu, {
      onLost: (message) => {
        forgetGpuState();
        post({ id: 0, type: 'event', event: { kind: 'deviceLost', message } });
      },
    });
    const ctx = new GpuContext(device, adapter, browserShaderLibrary());
    engine = { ctx, tracker: new BufferTracker(ctx) };
    return engine;
  })().finally(() => {
    acquiring = null;
  });
  return acquiring;
}

function requireModel(): Model {
  if (!model) throw new Error('No model is loaded yet: load a model first.');
  return model;
}

function claim(what: string): void {
  if (busy) throw new Error(`The engine is busy ${busy}: wait for it to finish (or stop it) first.`);
  if (generating > 0 && what !== 'generating') throw new Error('The engine is generating text: wait for it to finish first.');
  busy = what;
}

function modelInfo(m: Model): ModelInfo {
  const { loaded } = m;
  const s = loaded.spec;
  return {
    name: loaded.name, modelType: s.modelType, params: countModelParams(s), layers: s.L, hidden: s.C, vocab: s.V, maxPositions: s.maxT,
    weightsDType: loaded.weights.dtype, baseWeightBytes: loaded.weights.bytes, configText: m.configText,
    quant: loaded.weights.quant, groupSize: m.groupSize, unquantized: loaded.weights.unquantized,
  };
}

function hub(spec: Extract<ModelSourceSpec, { kind: 'hub' }>, emit: (e: EngineEvent) => void): ModelSource {
  // Progress of the whole download (every file of this load), named after the file in flight.
  const totals = new DownloadTotals();
  return hubSource(spec.repo, {
    revision: spec.revision || undefined,
    token: spec.token || undefined,
    fetch: cachingFetch((p) => emit({ kind: 'load', stage: 'download', ...totals.update(p), detail: p.file }), undefined, (file, err) => {
      if (isQuotaError(err)) emit({ kind: 'storageFull', what: 'models', file });
    }),
  });
}

function openSource(spec: ModelSourceSpec, emit: (e: EngineEvent) => void): ModelSource {
  if (spec.kind === 'files') {
    if (spec.files.length === 0) throw new Error('No files were given: open the model folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json).');
    return blobSource(spec.name, new Map(spec.files.map((f) => [f.path, f.file])));
  }
  return hub(spec, emit);
}

function dropGraphs(filter: (key: string) => boolean = () => true): void {
  for (const [key, g] of graphs) {
    if (!filter(key)) continue;
    engine?.tracker.dispose(g.scope);
    graphs.delete(key);
  }
}

function dropAdapter(runId: string): void {
  const a = adapters.get(runId);
  if (!a) return;
  dropGraphs((k) => k.startsWith(`${runId}|`));
  engine?.tracker.dispose(a.scope);
  adapters.delete(runId);
}

function unloadModel(): void {
  dropGraphs();
  for (const id of [...adapters.keys()]) dropAdapter(id);
  lastTrained = null;
  if (model) engine?.tracker.dispose(model.scope);
  model = null;
}

/** Window length of a generation graph: a power of two ≥ 64 holding prompt + new tokens (capped at the model's maximum). */
function windowFor(m: LoadedModel, n: number): number {
  let T = 64;
  while (T < n) T *= 2;
  return Math.min(T, m.spec.maxT);
}

async function* streamText(
  c: GpuContext, m: LoadedModel, gen: Generator, ids: number[],
  opts: { maxNewTokens: number; temperature?: number; topP?: number; seed?: number; format?: PromptFormat; stopText?: string },
  shouldStop: () => boolean = () => false,
): AsyncGenerator<string, { text: string; tokens: number; stopped: boolean }> {
  const out: number[] = [];
  let printed = '';
  let stopped = false;
  for await (const id of generateTokens(c, gen, ids, { ...opts, stop: stopIdsFor(m.tokenizer, opts.format) })) {
    out.push(id);
    const text = m.tokenizer.decode(out, true);
    // A chat answer ends where its template's plain-text end of turn appears (not part of the answer).
    if (opts.stopText && text.includes(opts.stopText)) return { text: text.slice(0, text.indexOf(opts.stopText)).trimEnd(), tokens: out.length, stopped: false };
    if (text.startsWith(printed) && text.length > printed.length) {
      yield text.slice(printed.length);
      printed = text;
    }
    if (shouldStop()) {
      stopped = out.length < opts.maxNewTokens;
      break;
    }
  }
  return { text: m.tokenizer.decode(out, true), tokens: out.length, stopped };
}

/** The adapter of a finished run: in memory, or read back from its checkpoint in IndexedDB. */
async function adapterFor(ref: AdapterRef, e: Engine, m: Model): Promise<{ key: string; adapter: Adapter | null }> {
  if (ref === 'base') return { key: 'base', adapter: null };
  if (typeof ref === 'object' && 'external' in ref) {
    const a = adapters.get(ref.external);
    if (!a) throw new Error('The opened adapter folder is no longer on the GPU (another model was loaded, or it was closed): open it again.');
    return { key: ref.external, adapter: a };
  }
  const runId = ref === 'trained' ? lastTrained : ref.runId;
  if (runId === null) throw new Error('No adapter has been trained yet.');
  let a = adapters.get(runId);
  if (!a) {
    const ck = await loadCheckpoint(runId);
    if (!ck) throw new Error(`Run ${runId} has no saved adapter (its checkpoint is missing): train it again.`);
    let ad: ReturnType<typeof adapterFromCheckpoint>;
    try {
      ad = adapterFromCheckpoint(m.loaded.spec, ck);
    } catch (err) {
      throw new Error(`The adapter of run ${runId} does not fit the loaded model (${(err as Error).message}); load the base it was trained on.`);
    }
    const scope = new BufferScope(`adapter ${runId}`);
    const lora = e.tracker.run(scope, () => new LoraState(e.ctx, ad.modules, ad.h));
    lora.load(ad.weights);
    a = { lora, hyper: ad.h, baseModel: m.loaded.name, scope };
    adapters.set(runId, a);
  }
  return { key: runId, adapter: a };
}

function graphFor(e: Engine, m: Model, key: string, lora: LoraState | null, T: number): Generator {
  const k = `${key}|${T}`;
  const hit = graphs.get(k);
  if (hit) {
    graphs.delete(k);
    graphs.set(k, hit);
    return hit.gen;
  }
  const scope = new BufferScope(`generate ${k}`);
  const gen = e.tracker.run(scope, () => new Generator(e.ctx, m.loaded.spec, m.loaded.weights, lora, { T }));
  graphs.set(k, { gen, scope });
  while (graphs.size > MAX_GRAPHS) {
    const [oldest, g] = graphs.entries().next().value as [string, { gen: Generator; scope: BufferScope }];
    e.tracker.dispose(g.scope);
    graphs.delete(oldest);
  }
  return gen;
}

/** Adapter tensors of a run (memory first, then IndexedDB) for export. */
async function runAdapter(runId: string | undefined, m: Model | null): Promise<{ h: LoraHyper; modules: LinearModule[]; weights: Map<string, AdapterTensors>; baseModel: string }> {
  const id = runId ?? lastTrained;
  if (id === null || id === undefined) throw new Error('No adapter has been trained yet.');
  const a = adapters.get(id);
  if (a) return { h: a.hyper, modules: a.lora.modules, weights: await a.lora.tensors(), baseModel: a.baseModel };
  if (!m) throw new Error('Load the run\'s base model first.');
  const ck = await loadCheckpoint(id);
  if (!ck) throw new Error(`Run ${id} has no saved adapter.`);
  const ad = adapterFromCheckpoint(m.loaded.spec, ck);
  return { ...ad, baseModel: m.loaded.name };
}

async function train(req: Extract<Request, { type: 'train' }>, emit: (e: EngineEvent) => void): Promise<unknown> {
  const e = await getEngine();
  const m = requireModel();
  const { spec, tokenizer } = m.loaded;
  const cfg: RunConfig = req.config;
  let trainSet: Example[];
  let evalSet: Example[];
  if ('texts' in req.data) {
    trainSet = tokenizeTexts(tokenizer, req.data.texts, cfg.seqLen).examples;
    evalSet = tokenizeTexts(tokenizer, req.data.evalTexts, cfg.seqLen).examples;
  } else {
    const d = datasets.get(req.data.datasetId);
    if (!d) throw new Error('The dataset is no longer in the engine (another model was loaded, or the page reloaded): drop the file again.');
    if (d.seqLen !== cfg.seqLen) throw new Error(`The dataset was prepared for sequence length ${d.seqLen}, the run asks for ${cfg.seqLen}: wait for the dataset to update, then start again.`);
    const ev = req.data.evalDatasetId === undefined ? undefined : datasets.get(req.data.evalDatasetId);
    if (req.data.evalDatasetId !== undefined && (!ev || ev.seqLen !== cfg.seqLen)) throw new Error('The evaluation file is no longer prepared for this run (another model was loaded, or its sequence length changed): wait for its statistics on the Dataset tab, then start again.');
    const split = ev ? trainWithEvalFile(d.examples, ev.examples, d.packing, cfg.seqLen) : trainEval(d.examples, req.data.evalSplit, cfg.seed, d.packing, cfg.seqLen);
    trainSet = split.train;
    evalSet = split.eval;
  }
  let resume: ResumeData | undefined;
  if (req.resume) {
    const ck = await loadCheckpoint(req.runId, { removeDamaged: true });
    if (!ck) throw new Error(`Run ${req.runId} has no intact checkpoint to resume from: start it again.`);
    resume = resumeFromCheckpoint(spec, ck);
    if (ck.notice) emit({ kind: 'resumedFrom', step: ck.step, notice: ck.notice });
  }
  claim('training');
  dropAdapter(req.runId);
  if (lastTrained === req.runId) lastTrained = null;
  stopRequested = false;
  paused = null;
  const scope = new BufferScope(`run ${req.runId}`);
  let sampler: { scope: BufferScope; lora: LoraState | null; gen: Generator | null } | null = null;
  const sample = req.sample && req.sample.maxNewTokens > 0 ? req.sample : null;
  const sampleFrom = async (files: FileMap, step: number) => {
    const ad = importAdapter(spec, files.get('adapter_config.json') as string, files.get('adapter_model.safetensors') as Uint8Array, 'checkpoint');
    sampler ??= { scope: new BufferScope('sampler'), lora: null, gen: null };
    const s = sampler;
    s.lora ??= e.tracker.run(s.scope, () => new LoraState(e.ctx, ad.modules, ad.h));
    s.lora.load(ad.weights);
    const { ids } = encodePrompt(m.loaded.tokenizer, sample!.prompt, sample!.format);
    const T = windowFor(m.loaded, ids.length + sample!.maxNewTokens);
    if (!s.gen || s.gen.T !== T) s.gen = e.tracker.run(s.scope, () => new Generator(e.ctx, spec, m.loaded.weights, s.lora, { T }));
    const gen = streamText(e.ctx, m.loaded, s.gen, ids, { maxNewTokens: sample!.maxNewTokens, format: sample!.format });
    let r = await gen.next();
    while (!r.done) r = await gen.next();
    emit({ kind: 'sample', step, text: r.value.text });
  };
  const hooks: RunHooks = {
    onStep: (info) => emit({ kind: 'step', info }),
    onEval: (ev) => emit({ kind: 'eval', step: ev.step, loss: ev.loss }),
    onEvalBefore: (loss) => emit({ kind: 'evalBefore', loss }),
    shouldStop: () => stopRequested,
    beforeStep: async (flush) => {
      if (!paused) return;
      // Parked: the step in flight is reported first, so the page shows every step trained.
      emit({ kind: 'held', step: await flush() });
      await paused?.promise;
    },
    evalEvery: req.evalEvery ?? 0,
  };
  if (req.persist || sample) {
    hooks.saveCheckpoint = async (files, step) => {
      // Storage full: the run waits, paused, with its state on the GPU; Resume tries the write
      // again, Stop ends the run with its previous checkpoint as the last.
      const bytes = req.persist
        ? await writeWaitingForSpace(() => saveCheckpoint(req.runId, step, files, req.keepCheckpoints ?? DEFAULT_KEEP), () => emit({ kind: 'storageFull', what: 'checkpoint', step }), () => (paused ??= pauseRun()).promise, () => stopRequested)
        : undefined;
      if (req.persist && bytes === undefined) return;
      const state = JSON.parse(files.get(STATE_FILE) as string) as TrainerState;
      emit({ kind: 'checkpoint', step, evalLossBefore: state.evalLossBefore, bytes });
      if (sample) await sampleFrom(files, step);
    };
  }
  try {
    const res = await e.tracker.runAsync(scope, () => runTraining(e.ctx, m.loaded, trainSet, evalSet, cfg, hooks, resume));
    // Keep the adapter (the playground and exports use it); free the training graph.
    e.tracker.dispose(scope, [res.lora.params, res.lora.grads, res.lora.m, res.lora.v]);
    adapters.set(req.runId, { lora: res.lora, hyper: loraHyper(cfg), baseModel: cfg.baseModel, scope });
    lastTrained = req.runId;
    return {
      runId: req.runId, steps: res.steps, evalLossBefore: res.evalLossBefore, evalLossAfter: res.evalLossAfter,
      trainableParams: res.trainableParams, tokensPerSecond: res.tokensPerSecond, peakBytes: res.peakBytes, stoppedEarly: res.stoppedEarly,
    };
  } catch (err) {
    if (engine === e) e.tracker.dispose(scope);
    throw err;
  } finally {
    busy = null;
    paused = null;
    const s = sampler as { scope: BufferScope } | null;
    if (s && engine === e) e.tracker.dispose(s.scope);
  }
}

/** The calibration in flight (the time estimate): stopped by any request that needs the GPU. */
let calibration: { stop: boolean; done: Promise<unknown> } | null = null;
const PREEMPTS_CALIBRATION = new Set<Request['type']>(['train', 'loadModel', 'generate', 'exportMerged', 'exportGguf', 'loadExternalAdapter', 'calibrate', 'stopCalibration']);

async function stopCalibration(): Promise<void> {
  const c = calibration;
  if (!c) return;
  c.stop = true;
  await c.done.catch(() => undefined);
}

async function calibrate(req: Extract<Request, { type: 'calibrate' }>): Promise<{ secondsPerMicroBatch: number; scaled: boolean } | null> {
  if (busy || generating > 0 || gpuRequests > 0 || !model) return null;
  const e = await getEngine();
  const m = requireModel();
  if (busy || gpuRequests > 0) return null;
  claim('measuring the speed of this GPU');
  const me = { stop: false, done: Promise.resolve() as Promise<unknown> };
  const scope = new BufferScope('calibration');
  calibration = me;
  const run = (async () => {
    try {
      const p = await e.tracker.runAsync(scope, () => measurePace(e.ctx, m.loaded, req.config, () => me.stop || model !== m));
      return p === null ? null : { secondsPerMicroBatch: p.seconds, scaled: p.scaled };
    } finally {
      if (engine === e) e.tracker.dispose(scope);
      busy = null;
      if (calibration === me) calibration = null;
    }
  })();
  me.done = run;
  return run;
}

/** GPU requests being handled now (a calibration yields to them and does not start while any is). */
let gpuRequests = 0;

/** Handles a request; one that needs the GPU first stops the calibration in flight. */
async function dispatch(req: Request, emit: (e: EngineEvent) => void): Promise<unknown> {
  const gpu = PREEMPTS_CALIBRATION.has(req.type) && req.type !== 'calibrate' && req.type !== 'stopCalibration';
  if (gpu) gpuRequests++;
  try {
    if (calibration && PREEMPTS_CALIBRATION.has(req.type)) await stopCalibration();
    return await handle(req, emit);
  } finally {
    if (gpu) gpuRequests--;
  }
}

async function handle(req: Request, emit: (e: EngineEvent) => void): Promise<unknown> {
  switch (req.type) {
    case 'calibrate':
      return calibrate(req);
    case 'stopCalibration':
      return null;
    case 'init':
      return (await getEngine()).ctx.adapter;
    case 'loadModel': {
      const e = await getEngine();
      const src = openSource(req.source, emit);
      const quant = req.quant?.mode ?? 'none';
      const groupSize = req.quant?.groupSize ?? 32;
      claim('loading a model');
      try {
        unloadModel();
        datasets.clear(); // tokenized with the previous model
        const scope = new BufferScope('model');
        const loaded = await e.tracker.runAsync(scope, () =>
          loadModel(e.ctx, src, {
            dtype: req.dtype ?? 'auto',
            quant,
            groupSize,
            onProgress: (p) => emit({ kind: 'load', stage: 'weights', loaded: p.loaded, total: p.total, detail: p.tensor }),
          }),
        ).catch((err: unknown) => {
          e.tracker.dispose(scope);
          throw err;
        });
        model = { loaded, source: src, scope, configText: await src.text('config.json'), groupSize };
        return modelInfo(model);
      } finally {
        busy = null;
      }
    }
    case 'fetchConfig':
      return { text: await hub({ kind: 'hub', repo: req.repo, revision: req.revision, token: req.token }, emit).text('config.json') };
    case 'cacheList':
      return listCachedFiles();
    case 'cacheClear':
      return { deleted: await clearCachedFiles(req.repo) };
    case 'listHubDataset':
      return await listHubDataset(req.dataset, req.token);
    case 'prepareDataset': {
      let inspect = null;
      const src = req.source;
      const name = src.kind === 'file' ? src.name : `${src.dataset} (${src.config}/${src.split})`;
      try {
        const input = src.kind === 'file' ? fileInput(src.file, src.name) : await hubDatasetInput(src, emit);
        inspect = await inspectInput(input);
        if (!model) return { ok: true, name, inspect, datasetId: null, stats: null, preview: [] };
        const d = await loadInput(input, model.loaded.tokenizer, req.options, req.seqLen, model.loaded.spec.maxT);
        const datasetId = `ds${nextDataset++}`;
        // Keep the previous ones too: a run may start from them while this one is being prepared
        // (a training set and its evaluation file, each with the one before it).
        datasets.set(datasetId, { examples: d.examples, seqLen: req.seqLen, packing: req.options.packing });
        for (const id of [...datasets.keys()].slice(0, -4)) datasets.delete(id);
        return { ok: true, name, inspect, datasetId, stats: d.stats, preview: d.preview };
      } catch (err) {
        return { ok: false, name, inspect, error: studioMessage(err), option: (err as OptionError).option };
      }
    }
    case 'train':
      return train(req, emit);
    case 'pause':
      if (!paused && busy === 'training') paused = pauseRun();
      return null;
    case 'resume':
      paused?.resolve();
      paused = null;
      return null;
    case 'stop':
      stopRequested = true;
      paused?.resolve();
      paused = null;
      return null;
    case 'stopGenerate':
      generationEpoch++;
      return null;
    case 'generate': {
      const epoch = generationEpoch;
      const e = await getEngine();
      const m = requireModel();
      if (busy) throw new Error(`The engine is busy ${busy}: the playground works once it has finished (or been stopped).`);
      generating++;
      try {
        const g = req.req;
        const { key, adapter } = await adapterFor(g.adapter, e, m);
        // A conversation (chat playground) is rendered with the chat template chat data trains with.
        const format = g.messages ? CHAT_FORMAT : g.format;
        const { ids, text: promptText } = g.messages ? encodeChat(m.loaded.tokenizer, g.messages, format) : encodePrompt(m.loaded.tokenizer, g.prompt, format);
        const gen = streamText(e.ctx, m.loaded, graphFor(e, m, key, adapter?.lora ?? null, windowFor(m.loaded, ids.length + g.maxNewTokens)), ids, { maxNewTokens: g.maxNewTokens, temperature: g.temperature, topP: g.topP, seed: g.seed, format, stopText: g.messages ? chatTurnEndText(m.loaded.tokenizer, format) : undefined }, () => generationEpoch !== epoch);
        let r = await gen.next();
        while (!r.done) {
          emit({ kind: 'token', text: r.value });
          r = await gen.next();
        }
        return { ...r.value, prompt: promptText };
      } finally {
        generating--;
      }
    }
    case 'exportAdapter': {
      // A run's saved adapter needs no model; otherwise the one trained in memory.
      const ck = req.runId ? await loadCheckpoint(req.runId) : undefined;
      let f: { configJson: string; safetensors: Uint8Array };
      if (ck) f = adapterFiles(ck);
      else {
        const m = requireModel();
        const a = await runAdapter(req.runId, m);
        f = exportAdapter(m.loaded.spec, a.h, a.modules, a.weights, a.baseModel);
      }
      return {
        files: [
          { name: 'adapter_config.json', data: new Blob([f.configJson], { type: 'application/json' }) },
          { name: 'adapter_model.safetensors', data: new Blob([f.safetensors as Uint8Array<ArrayBuffer>]) },
        ],
      };
    }
    case 'exportMerged': {
      const m = requireModel();
      const a = await runAdapter(req.runId, m);
      let quantized: { mode: string; groupSize: number; linears: Map<string, QuantizedHost> } | undefined;
      if (req.quantized) {
        // QA-LoRA: fold the adapter into the zero points of the loaded INT-N base (codes unchanged).
        const mode = m.loaded.weights.quant;
        if (!isQalora(mode)) throw new Error(`The base is loaded as ${mode}: a QA-LoRA merge needs it loaded as qalora-int4/3/2 with the run's group size.`);
        if (a.h.qaloraGroupSize !== m.groupSize) {
          throw new Error(`This adapter was trained ${a.h.qaloraGroupSize ? `with group size ${a.h.qaloraGroupSize}` : 'without QA-LoRA'}; the base is loaded with ${mode}, group size ${m.groupSize}.`);
        }
        const e = await getEngine();
        quantized = { mode, groupSize: m.groupSize, linears: await readQuantizedLinears(e.ctx, m.loaded) };
      }
      let lastReport = 0;
      const merged = await mergedModelFiles(m.loaded, m.source, a, quantized, (done, total) => {
        const now = Date.now();
        if (done === total || now - lastReport > 200) {
          lastReport = now;
          emit({ kind: 'export', done, total });
        }
      });
      const files: ExportedFile[] = [...merged.files].map(([name, text]) => ({ name, data: new Blob([text], { type: name.endsWith('.json') ? 'application/json' : 'text/plain' }) }));
      // The weights go into a Blob tensor by tensor: each chunk is handed to the browser's blob
      // storage (which spills to disk) and dropped, so no copy of the whole model stays in memory.
      const parts: Blob[] = [];
      await merged.weights.write((chunk) => {
        parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
      });
      files.push({ name: merged.weights.name, data: new Blob(parts) });
      return { files };
    }
    case 'exportGguf': {
      const m = requireModel();
      const a = await runAdapter(req.runId, m);
      const name = m.loaded.name.split('/').pop() || 'model';
      let out: GgufExport;
      if (req.what === 'adapter') out = adapterGgufFile(m.loaded.spec, a, { type: req.ggufType, name });
      else {
        // A QA-LoRA run on its INT-N base: the exact merge, dequantized; otherwise the dense merge.
        const mode = m.loaded.weights.quant;
        const quantized = isQalora(mode) && a.h.qaloraGroupSize === m.groupSize
          ? { mode, groupSize: m.groupSize, linears: await readQuantizedLinears((await getEngine()).ctx, m.loaded) }
          : undefined;
        let lastReport = 0;
        out = await mergedGgufFile(m.loaded, m.source, a, { type: req.ggufType, name, quantized }, (done, total) => {
          const now = Date.now();
          if (done === total || now - lastReport > 200) {
            lastReport = now;
            emit({ kind: 'export', done, total });
          }
        });
      }
      // Tensor by tensor into Blob parts (the browser's blob storage), as the merged safetensors export.
      const parts: Blob[] = [];
      await out.file.write((chunk) => {
        parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
      });
      return { files: [{ name: out.file.name, data: new Blob(parts, { type: 'application/octet-stream' }) }], notes: out.notes };
    }
    case 'simulateDeviceLoss': {
      const e = engine;
      if (!e) return null;
      const message = 'The GPU device was lost (simulated for a test).';
      e.ctx.lostMessage = message;
      e.ctx.device.destroy();
      forgetGpuState();
      post({ id: 0, type: 'event', event: { kind: 'deviceLost', message } });
      return null;
    }
    case 'dropAdapter':
      if (busy !== 'training' && generating === 0) dropAdapter(req.runId);
      return null;
    case 'loadExternalAdapter': {
      // An adapter folder onto the loaded base; its buffers live until dropAdapter or another model.
      const e = await getEngine();
      const m = requireModel();
      if (busy) throw new Error(`The engine is busy ${busy}: open the adapter folder once it has finished.`);
      if (generating > 0 && adapters.has(req.id)) throw new Error('That adapter is generating text: open it again once it has finished.');
      const ad = await readExternalAdapter(m.loaded.spec, req.name, req.files);
      if (model !== m) throw new Error('Another model was loaded while the adapter folder was read: open it again.');
      dropAdapter(req.id);
      const scope = new BufferScope(`adapter ${req.id}`);
      const lora = e.tracker.run(scope, () => new LoraState(e.ctx, ad.modules, ad.h));
      lora.load(ad.weights);
      adapters.set(req.id, { lora, hyper: ad.h, baseModel: ad.info.baseModel ?? req.name, scope });
      return ad.info;
    }
  }
}

self.onmessage = (ev: MessageEvent<RequestMessage>) => {
  const { id, req } = ev.data;
  const emit = (event: EngineEvent) => post({ id, type: 'event', event });
  dispatch(req, emit).then(
    (result) => post({ id, type: 'reply', ok: true, result }),
    (e: unknown) => post({ id, type: 'reply', ok: false, error: studioMessage(e), option: (e as OptionError | null)?.option }),
  );
};
