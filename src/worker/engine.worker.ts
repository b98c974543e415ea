// The engine's browser host: a dedicated Web Worker that owns the GPUDevice, the loaded model and
// the training run, and talks to the page only through the typed protocol in ./protocol.
/// <reference lib="webworker" />
import { GpuContext } from '../gpu/context';
import { acquireDevice } from '../gpu/device';
import { exportAdapter } from '../lora/peft';
import type { LoraState } from '../lora/state';
import { countModelParams } from '../model/config';
import { generateTokens } from '../model/generate';
import { loadModel, type LoadedModel } from '../model/load';
import { blobSource, hubSource, type ModelSource } from '../model/source';
import { Transformer } from '../model/transformer';
import { tokenizeTexts } from '../data/text';
import { loraHyper, runTraining, type RunConfig } from '../train/run';
import type { EngineEvent, ModelInfo, ModelSourceSpec, Request, RequestMessage, WorkerMessage } from './protocol';
import { browserShaderLibrary } from './shaders';

declare const self: DedicatedWorkerGlobalScope;

let ctx: GpuContext | null = null;
let model: LoadedModel | null = null;
let trained: { lora: LoraState; cfg: RunConfig } | null = null;
let paused: { resolve: () => void; promise: Promise<void> } | null = null;
let stopRequested = false;
let lostMessage: string | null = null;

function post(m: WorkerMessage): void {
  self.postMessage(m);
}

async function getContext(): Promise<GpuContext> {
  if (ctx && !lostMessage) return ctx;
  if (!self.navigator.gpu) throw new Error('WebGPU is not available in this browser (navigator.gpu is missing).');
  const { device, adapter } = await acquireDevice(self.navigator.gpu, {
    onLost: (message) => {
      lostMessage = message;
      post({ id: 0, type: 'event', event: { kind: 'deviceLost', message } });
    },
  });
  lostMessage = null;
  ctx = new GpuContext(device, adapter, browserShaderLibrary());
  return ctx;
}

function source(spec: ModelSourceSpec, emit: (e: EngineEvent) => void): ModelSource {
  if (spec.kind === 'files') return blobSource(spec.name, new Map(spec.files.map((f) => [f.path, f.file])));
  return hubSource(spec.repo, {
    revision: spec.revision,
    token: spec.token,
    onProgress: (p) => emit({ kind: 'load', stage: 'download', loaded: p.loaded, total: p.total, detail: p.file }),
  });
}

function modelInfo(m: LoadedModel): ModelInfo {
  const s = m.spec;
  return {
    name: m.name, modelType: s.modelType, params: countModelParams(s), layers: s.L, hidden: s.C, vocab: s.V, maxPositions: s.maxT,
    weightsDType: m.weights.dtype, baseWeightBytes: m.weights.bytes,
  };
}

function requireModel(): LoadedModel {
  if (!model) throw new Error('No model is loaded yet: pick a model first.');
  return model;
}

async function handle(req: Request, emit: (e: EngineEvent) => void): Promise<unknown> {
  switch (req.type) {
    case 'init':
      return (await getContext()).adapter;
    case 'loadModel': {
      const c = await getContext();
      model = null;
      trained = null;
      model = await loadModel(c, source(req.source, emit), {
        dtype: req.dtype ?? 'auto',
        onProgress: (p) => emit({ kind: 'load', stage: 'weights', loaded: p.loaded, total: p.total, detail: p.tensor }),
      });
      return modelInfo(model);
    }
    case 'train': {
      const c = await getContext();
      const m = requireModel();
      const T = req.config.seqLen;
      const train = tokenizeTexts(m.tokenizer, req.data.texts, T).examples;
      const evalSet = tokenizeTexts(m.tokenizer, req.data.evalTexts, T).examples;
      stopRequested = false;
      paused = null;
      const res = await runTraining(c, m, train, evalSet, req.config, {
        onStep: (info) => emit({ kind: 'step', info }),
        onEval: (e) => emit({ kind: 'eval', step: e.step, loss: e.loss }),
        shouldStop: () => stopRequested,
        beforeStep: async () => {
          if (paused) await paused.promise;
        },
      });
      trained = { lora: res.lora, cfg: req.config };
      return {
        runId: req.runId, steps: res.steps, evalLossBefore: res.evalLossBefore, evalLossAfter: res.evalLossAfter,
        trainableParams: res.trainableParams, tokensPerSecond: res.tokensPerSecond, peakBytes: res.peakBytes, stoppedEarly: res.stoppedEarly,
      };
    }
    case 'pause':
      if (!paused) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        paused = { resolve, promise };
      }
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
    case 'generate': {
      const c = await getContext();
      const m = requireModel();
      const g = req.req;
      const lora = g.adapter === 'trained' ? trained?.lora ?? null : null;
      if (g.adapter === 'trained' && !lora) throw new Error('No adapter has been trained yet.');
      let ids = g.prompt === '' ? [] : m.tokenizer.encode(g.prompt, true);
      if (ids.length === 0 && m.tokenizer.bos !== null) ids = [m.tokenizer.bos];
      if (ids.length === 0) throw new Error('Give a prompt: this tokenizer has no BOS token.');
      const T = Math.min(m.spec.maxT, Math.max(64, ids.length + g.maxNewTokens));
      const tr = new Transformer(c, m.spec, m.weights, lora, { B: 1, T, training: false });
      const out: number[] = [];
      let printed = '';
      for await (const id of generateTokens(c, tr, ids, { maxNewTokens: g.maxNewTokens, temperature: g.temperature, topP: g.topP, seed: g.seed, stop: m.spec.eos })) {
        out.push(id);
        const text = m.tokenizer.decode(out, true);
        if (text.startsWith(printed) && text.length > printed.length) {
          emit({ kind: 'token', text: text.slice(printed.length) });
          printed = text;
        }
      }
      return { text: m.tokenizer.decode(out, true), tokens: out.length };
    }
    case 'exportAdapter': {
      const m = requireModel();
      if (!trained) throw new Error('No adapter has been trained yet.');
      const tensors = await trained.lora.tensors();
      const e = exportAdapter(m.spec, loraHyper(trained.cfg), trained.lora.modules, tensors, trained.cfg.baseModel);
      return { files: [{ name: 'adapter_config.json', bytes: new TextEncoder().encode(e.configJson) }, { name: 'adapter_model.safetensors', bytes: e.safetensors }] };
    }
  }
}

self.onmessage = (ev: MessageEvent<RequestMessage>) => {
  const { id, req } = ev.data;
  const emit = (event: EngineEvent) => post({ id, type: 'event', event });
  handle(req, emit).then(
    (result) => post({ id, type: 'reply', ok: true, result }),
    (e: unknown) => post({ id, type: 'reply', ok: false, error: (e as Error)?.message ?? String(e) }),
  );
};
