// The engine's state in a host: the GPU device, the loaded model, the playground's adapters and
// generation graphs, the prepared datasets and the training run's controls, with one method per
// request of ./protocol's RequestMap. No DOM and no Node: the host hands it the WebGPU entry
// point, the shaders, where models, datasets and checkpoints come from, and a callback for events
// not tied to a request (device loss). The worker (./engine.worker.ts) is a thin shell over it;
// Node tests drive it with Dawn. Training, generation and exports live in ./session-train,
// ./session-generate and ./session-export.

import { fileInput, viewAll, type DataInput, type ExampleStore } from '../data';
import type { PromptFormat } from '../data/format';
import { heldOutPrompts } from '../data/heldout';
import { GpuContext } from '../gpu/context';
import { acquireDevice, type AdapterSummary } from '../gpu/device';
import type { ShaderLibrary } from '../gpu/shaders';
import { LoraState } from '../lora/state';
import { countModelParams } from '../model/config';
import type { Generator } from '../net/generate';
import { loadModel, type LoadedModel } from '../model/load';
import type { ModelSource } from '../model/source';
import type { OptionError } from '../options';
import type { RunCheckpoints } from '../train/resume';
import type { LoraHyper } from '../lora/peft';
import { studioMessage } from '../plan/knobs';
import { datasetProgress, inspectInput, loadInput, trainEval } from './dataset';
import { readExternalAdapter } from './external-adapter';
import { calibrate, stopCalibration, type Calibration } from './session-calibrate';
import { exportAdapter, exportGguf, exportMerged } from './session-export';
import { generate } from './session-generate';
import { train } from './session-train';
import type { CacheEntry, DatasetSourceSpec, DatasetSummary, EngineEvent, ExternalAdapterInfo, HubDatasetListing, ModelInfo, ModelSourceSpec, RequestMap } from './protocol';
import { BufferScope, BufferTracker } from './scopes';

/** Sends one event (of the request being handled, or a global one such as device loss). */
export type Emit = (e: EngineEvent) => void;

/** What the host provides: the browser worker (./browser-host) or a Node test. */
export interface SessionHost {
  /** The WebGPU entry point (navigator.gpu in the worker, Dawn in Node); throws one line when there is none. */
  gpu(): GPU | Promise<GPU>;
  /** The WGSL sources of shaders/. */
  shaders(): ShaderLibrary;
  /** Where a loadModel (or fetchConfig, as a Hub spec) reads the model's files; may emit `load` download events. */
  modelSource(spec: ModelSourceSpec, emit: Emit): ModelSource;
  /** A Hub split's Parquet files as one DataInput; may emit `datasetDownload` events. */
  hubDataset(spec: Extract<DatasetSourceSpec, { kind: 'hub' }>, emit: Emit): Promise<DataInput>;
  /** Lists a Hub dataset's Parquet export. */
  listHubDataset(dataset: string, token?: string): Promise<HubDatasetListing>;
  /** The model cache's files, and deleting them (all, or one repo's); returns how many were deleted. */
  cacheList(): Promise<CacheEntry[]>;
  cacheClear(repo?: string): Promise<number>;
  /** Where persisted runs keep their checkpoints (IndexedDB in the studio). */
  checkpoints: RunCheckpoints;
}

/** The worker's GPU: its context and the tracker that attributes buffers to scopes. */
export interface Engine {
  ctx: GpuContext;
  tracker: BufferTracker;
}

/** The loaded base model in the worker: weights and tokenizer, where it came from, its buffers' scope, its config.json text and QA-LoRA group size. */
export interface Model {
  loaded: LoadedModel;
  source: ModelSource;
  scope: BufferScope;
  configText: string;
  groupSize: number;
}

/** An adapter held in the worker (trained, a run's, or opened from a folder): its GPU state, PEFT hyperparameters, the base it was trained on, and its buffers' scope. */
export interface Adapter {
  lora: LoraState;
  hyper: LoraHyper;
  baseModel: string;
  scope: BufferScope;
}

/** A run held before its next step (or its checkpoint write) until resume or stop. */
interface PauseGate {
  resolve: () => void;
  promise: Promise<void>;
}

function pauseGate(): PauseGate {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { resolve, promise };
}

type Req<K extends keyof RequestMap> = RequestMap[K]['req'];
type Rep<K extends keyof RequestMap> = Promise<RequestMap[K]['reply']>;

/**
 * One engine's state. The fields are shared with the concern modules (session-train, -generate,
 * -export); hosts use only the request methods (through ./handlers) and `dispose`.
 */
export class EngineSession {
  engine: Engine | null = null;
  model: Model | null = null;
  /** Adapters on the GPU: runs' (by run id) and opened folders' (by the page's id). */
  readonly adapters = new Map<string, Adapter>();
  lastTrained: string | null = null;
  /** Generation graphs by adapter and window length, least recently used first. */
  readonly graphs = new Map<string, { gen: Generator; scope: BufferScope }>();
  /** Prepared datasets (tokenized with the loaded model), newest last. */
  readonly datasets = new Map<string, { examples: ExampleStore; seqLen: number; packing: boolean; format: PromptFormat | null }>();
  private nextDataset = 1;
  /** What holds the GPU exclusively ('loading a model', 'training'), if anything. */
  busy: string | null = null;
  generating = 0;
  /** Bumped by stopGenerate: a generation that started under an older value ends after its current token. */
  generationEpoch = 0;
  paused: PauseGate | null = null;
  stopRequested = false;
  /** The time estimate's calibration in flight (./session-calibrate), stopped by any GPU request. */
  calibration: Calibration | null = null;
  /** GPU requests being handled now: a calibration does not start while any is. */
  gpuRequests = 0;
  private acquiring: Promise<Engine> | null = null;

  /** `onEvent` receives events not tied to a request (deviceLost). */
  constructor(readonly host: SessionHost, private readonly onEvent: Emit) {}

  /** The device, acquired on first use and again after a loss (whose GPU objects are forgotten). */
  async getEngine(): Promise<Engine> {
    if (this.engine && !this.engine.ctx.lostMessage) return this.engine;
    if (this.acquiring) return this.acquiring;
    if (this.engine) this.forgetGpuState();
    this.acquiring = (async () => {
      const gpu = await this.host.gpu();
      // 'shader-f16' and 'subgroups' whenever the adapter has them, so “Matmul math” f16 and
      // “Subgroup reductions” can run (each run turns the latter on or off: session-train.ts).
      const { device, adapter } = await acquireDevice(gpu, {
        wantF16: true,
        wantSubgroups: true,
        onLost: (message) => {
          this.forgetGpuState();
          this.onEvent({ kind: 'deviceLost', message });
        },
      });
      const ctx = new GpuContext(device, adapter, this.host.shaders());
      this.engine = { ctx, tracker: new BufferTracker(ctx) };
      return this.engine;
    })().finally(() => {
      this.acquiring = null;
    });
    return this.acquiring;
  }

  /** After a device loss every GPU object is gone: forget them (nothing to destroy). */
  private forgetGpuState(): void {
    this.engine = null;
    this.model = null;
    this.adapters.clear();
    this.graphs.clear();
    this.lastTrained = null;
  }

  requireModel(): Model {
    if (!this.model) throw new Error('No model is loaded yet: load a model first.');
    return this.model;
  }

  /** Takes the GPU exclusively for `what`; throws one line when something else holds it. Release with `busy = null`. */
  claim(what: string): void {
    if (this.busy) throw new Error(`The engine is busy ${this.busy}: wait for it to finish (or stop it) first.`);
    if (this.generating > 0 && what !== 'generating') throw new Error('The engine is generating text: wait for it to finish first.');
    this.busy = what;
  }

  /** Frees the generation graphs whose key passes `filter` (all by default). */
  dropGraphs(filter: (key: string) => boolean = () => true): void {
    for (const [key, g] of this.graphs) {
      if (!filter(key)) continue;
      this.engine?.tracker.dispose(g.scope);
      this.graphs.delete(key);
    }
  }

  /** Frees an adapter's buffers and its generation graphs. */
  freeAdapter(id: string): void {
    const a = this.adapters.get(id);
    if (!a) return;
    this.dropGraphs((k) => k.startsWith(`${id}|`));
    this.engine?.tracker.dispose(a.scope);
    this.adapters.delete(id);
  }

  private unloadModel(): void {
    this.dropGraphs();
    for (const id of [...this.adapters.keys()]) this.freeAdapter(id);
    this.lastTrained = null;
    if (this.model) this.engine?.tracker.dispose(this.model.scope);
    this.model = null;
  }

  async init(): Rep<'init'> {
    return (await this.getEngine()).ctx.adapter satisfies AdapterSummary;
  }

  async loadModel(req: Req<'loadModel'>, emit: Emit): Rep<'loadModel'> {
    const e = await this.getEngine();
    const src = this.host.modelSource(req.source, emit);
    const quant = req.quant?.mode ?? 'none';
    const groupSize = req.quant?.groupSize ?? 32;
    this.claim('loading a model');
    try {
      this.unloadModel();
      this.datasets.clear(); // tokenized with the previous model
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
      this.model = { loaded, source: src, scope, configText: await src.text('config.json'), groupSize };
      return modelInfo(this.model);
    } finally {
      this.busy = null;
    }
  }

  async fetchConfig(req: Req<'fetchConfig'>, emit: Emit): Rep<'fetchConfig'> {
    return { text: await this.host.modelSource({ kind: 'hub', repo: req.repo, revision: req.revision, token: req.token }, emit).text('config.json') };
  }

  cacheList(): Rep<'cacheList'> {
    return this.host.cacheList();
  }

  async cacheClear(req: Req<'cacheClear'>): Rep<'cacheClear'> {
    return { deleted: await this.host.cacheClear(req.repo) };
  }

  listHubDataset(req: Req<'listHubDataset'>): Rep<'listHubDataset'> {
    return this.host.listHubDataset(req.dataset, req.token);
  }

  /** Inspects the data and, with a model loaded, tokenizes it; a bad file is a reply with ok: false (the panel shows it), not an error. */
  async prepareDataset(req: Req<'prepareDataset'>, emit: Emit): Rep<'prepareDataset'> {
    let inspect = null;
    const src = req.source;
    const name = src.kind === 'file' ? src.name : `${src.dataset} (${src.config}/${src.split})`;
    try {
      const input = src.kind === 'file' ? fileInput(src.file, src.name) : await this.host.hubDataset(src, emit);
      inspect = await inspectInput(input);
      if (!this.model) return { ok: true, name, inspect, datasetId: null, stats: null, preview: [] };
      const d = await loadInput(input, this.model.loaded.tokenizer, req.options, req.seqLen, this.model.loaded.spec.maxT, datasetProgress(emit));
      const datasetId = `ds${this.nextDataset++}`;
      // Keep the previous ones too: a run may start from them while this one is being prepared
      // (a training set and its evaluation file, each with the one before it).
      const format = d.stats.format !== 'text' ? { shape: d.stats.format, chatTemplate: req.options.chatTemplate } : null;
      this.datasets.set(datasetId, { examples: d.store, seqLen: req.seqLen, packing: req.options.packing, format });
      for (const id of [...this.datasets.keys()].slice(0, -4)) this.datasets.delete(id);
      return { ok: true, name, inspect, datasetId, stats: d.stats, preview: d.preview } satisfies DatasetSummary;
    } catch (err) {
      return { ok: false, name, inspect, error: studioMessage(err), option: (err as OptionError).option };
    }
  }

  /** Evaluation prompts from the held-out rows: the train request's split (trainEval, unpacked) or the evaluation file. */
  async heldOutPrompts(req: Req<'heldOutPrompts'>): Rep<'heldOutPrompts'> {
    const m = this.requireModel();
    const d = this.datasets.get(req.data.datasetId);
    if (!d) throw new Error('The dataset is no longer in the engine (another model was loaded, or the page reloaded): wait for its statistics on the Dataset tab, then try again.');
    const evalId = req.data.evalDatasetId;
    const ev = evalId === undefined ? undefined : this.datasets.get(evalId);
    if (evalId !== undefined && !ev) throw new Error('The evaluation file is no longer prepared: wait for its statistics on the Dataset tab, then try again.');
    // Unpacked: a packed eval row joins several held-out examples; these are the examples behind it.
    const heldOut = ev ? viewAll(ev.examples) : trainEval(d.examples, req.data.evalSplit, req.seed, false, d.seqLen).eval;
    try {
      return heldOutPrompts(heldOut, req.count, m.loaded.tokenizer, d.format);
    } catch (err) {
      throw new Error(`Held-out prompts: ${studioMessage(err)}`);
    }
  }

  async pause(): Rep<'pause'> {
    if (!this.paused && this.busy === 'training') this.paused = pauseGate();
    return null;
  }

  /** The pause gate a run waits on, made if none is set (storage full holds the run on it too). */
  holdRun(): Promise<void> {
    return (this.paused ??= pauseGate()).promise;
  }

  async resume(): Rep<'resume'> {
    this.paused?.resolve();
    this.paused = null;
    return null;
  }

  async stop(): Rep<'stop'> {
    this.stopRequested = true;
    this.paused?.resolve();
    this.paused = null;
    return null;
  }

  async stopGenerate(): Rep<'stopGenerate'> {
    this.generationEpoch++;
    return null;
  }

  async dropAdapter(req: Req<'dropAdapter'>): Rep<'dropAdapter'> {
    if (this.busy !== 'training' && this.generating === 0) this.freeAdapter(req.runId);
    return null;
  }

  /** An adapter folder onto the loaded base; its buffers live until dropAdapter or another model. */
  async loadExternalAdapter(req: Req<'loadExternalAdapter'>): Rep<'loadExternalAdapter'> {
    const e = await this.getEngine();
    const m = this.requireModel();
    if (this.busy) throw new Error(`The engine is busy ${this.busy}: open the adapter folder once it has finished.`);
    if (this.generating > 0 && this.adapters.has(req.id)) throw new Error('That adapter is generating text: open it again once it has finished.');
    const ad = await readExternalAdapter(m.loaded.spec, req.name, req.files);
    if (this.model !== m) throw new Error('Another model was loaded while the adapter folder was read: open it again.');
    this.freeAdapter(req.id);
    const scope = new BufferScope(`adapter ${req.id}`);
    const lora = e.tracker.run(scope, () => new LoraState(e.ctx, ad.modules, ad.h));
    lora.load(ad.weights);
    this.adapters.set(req.id, { lora, hyper: ad.h, baseModel: ad.info.baseModel ?? req.name, scope });
    return ad.info satisfies ExternalAdapterInfo;
  }

  /** Times a few steps of `config` for the time estimate (./session-calibrate); null when the engine is busy or it was stopped. */
  calibrate(req: Req<'calibrate'>): Rep<'calibrate'> {
    return calibrate(this, req.config);
  }

  /** Stops the calibration in flight and waits until it has let go of the GPU (the handler table has usually stopped it already). */
  async stopCalibration(): Rep<'stopCalibration'> {
    await stopCalibration(this);
    return null;
  }

  train(req: Req<'train'>, emit: Emit): Rep<'train'> {
    return train(this, req, emit);
  }

  generate(req: Req<'generate'>, emit: Emit): Rep<'generate'> {
    return generate(this, req, emit);
  }

  exportAdapter(req: Req<'exportAdapter'>): Rep<'exportAdapter'> {
    return exportAdapter(this, req);
  }

  exportMerged(req: Req<'exportMerged'>, emit: Emit): Rep<'exportMerged'> {
    return exportMerged(this, req, emit);
  }

  exportGguf(req: Req<'exportGguf'>, emit: Emit): Rep<'exportGguf'> {
    return exportGguf(this, req, emit);
  }

  async simulateDeviceLoss(): Rep<'simulateDeviceLoss'> {
    const e = this.engine;
    if (!e) return null;
    const message = 'The GPU device was lost (simulated for a test).';
    e.ctx.lostMessage = message;
    e.ctx.device.destroy();
    this.forgetGpuState();
    this.onEvent({ kind: 'deviceLost', message });
    return null;
  }

  /** Frees every GPU object and the device (a Node test's end; the worker lives as long as the page). */
  dispose(): void {
    this.unloadModel();
    this.engine?.ctx.device.destroy();
    this.engine = null;
  }
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
