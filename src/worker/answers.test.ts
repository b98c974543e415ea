// The answers the studio shows in a comparison (an experiment's answers grid, the ticked runs'
// answers) are the engine worker's `generate` for the request store/experimentlogic.ts
// answerRequest builds. Here the real worker module runs in Node (its `self` and navigator.gpu
// provided by Dawn): it loads stories260K and a PEFT adapter onto it, and answers; the answer must
// equal the greedy generation npm run experiment / npm run generate give (experiment/answer.ts) for
// the same adapter folder and prompt. A run's adapter differs only in where the worker finds its
// LoraState (its map by run id, or IndexedDB); the generation after that is this one. The worker's
// heldOutPrompts request draws the eval split of a prepared dataset as the engine's prepareData
// does, and a held-out prompt is answered from its ids as greedyAnswer answers them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { greedyAnswer as answer } from '../experiment/answer';
import { loadAdapterState } from '../cli/common';
import { dirSource } from '../cli/fs-source';
import type { PromptFormat } from '../data/format';
import { loadModel, type LoadedModel } from '../model/load';
import { answerRequest } from '../store/experimentlogic';
import { testContext } from '../test/gpu';
import { loadShaderLibrary } from '../cli/node-gpu';
import { GpuContext } from '../gpu/context';
import { acquireDevice } from '../gpu/device';
import { DEFAULT_DATASET_OPTIONS, type DatasetSummary, type Request, type WorkerMessage } from './protocol';
import type { LoraState } from '../lora/state';
import { prepareData } from '../data/dataset';
import { heldOutPrompts, type HeldOutPrompt } from '../data/heldout';
import { bytesInput } from '../data/input';
import { splitIndices } from '../data/sampling';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const ADAPTER = fileURLToPath(new URL('../../../shared/adapters/stories260K-lora-bin/', import.meta.url));
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
const pending = new Map<number, Pending>();
let nextId = 1;

/** One request to the worker module, answered by its reply (events are ignored). */
function call<T>(req: Request): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    (globalThis as unknown as { onmessage: (ev: { data: unknown }) => void }).onmessage({ data: { id, req } });
  });
}

let ctx: GpuContext;
/** The reference side's model and adapter (the first test loads them; the worker holds its own). */
let loaded: LoadedModel;
let lora: LoraState;
const instances: unknown[] = [];

beforeAll(async () => {
  await testContext(); // sets up Dawn's Vulkan driver (SwiftShader) for this process
  // The worker opens its device on the same adapter as the reference, and gets the same GPUDevice:
  // Dawn then compiles each generation pipeline once for both sides (SwiftShader compiles slowly).
  // Each side keeps its own GpuContext (buffers, pipeline cache).
  const { create } = await import('webgpu');
  const inst = create([]);
  instances.push(inst); // a collected Dawn instance would tear down the device
  const real = (await inst.requestAdapter())!;
  let device: Promise<GPUDevice> | null = null;
  const adapter = new Proxy(real, {
    get: (t, k) => (k === 'requestDevice' ? (desc?: GPUDeviceDescriptor) => (device ??= t.requestDevice(desc)) : Reflect.get(t, k, t)),
  });
  const gpu = { requestAdapter: async () => adapter, getPreferredCanvasFormat: () => 'rgba8unorm' } as unknown as GPU;
  const g = globalThis as unknown as Record<string, unknown>;
  g.self = globalThis;
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
  g.postMessage = (m: WorkerMessage) => {
    if (m.type !== 'reply') return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(m.error));
  };
  await import('./engine.worker');
  const acquired = await acquireDevice(gpu);
  ctx = new GpuContext(acquired.device, acquired.adapter, loadShaderLibrary());
}, 120_000);


describe('comparison answers', () => {
  it('equal the engine\'s greedy generate for the same adapter and prompt', async () => {
    const t0 = performance.now();
    const lap = (what: string) => console.log(`answers.test: ${what} at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const files = FILES.map((f) => ({ path: `stories260K/${f}`, file: new Blob([readFileSync(DIR + f)]) }));
    await call({ type: 'loadModel', source: { kind: 'files', name: 'stories260K', files }, quant: { mode: 'none', groupSize: 32 } });
    // An adapter as the worker holds a run's (LoraState on its device), here a PEFT folder trained
    // elsewhere: training one first would only add minutes of shader compilation on SwiftShader.
    const adapterFiles = ['adapter_config.json', 'adapter_model.bin'].map((f) => ({ path: `stories260K-lora-bin/${f}`, file: new Blob([readFileSync(ADAPTER + f)]) }));
    await call({ type: 'loadExternalAdapter', id: 'folder:1', name: 'stories260K-lora-bin', files: adapterFiles });
    lap('worker: model and adapter loaded');
    loaded = await loadModel(ctx, dirSource(DIR));
    lora = await loadAdapterState(ctx, loaded.spec, ADAPTER);
    lap('reference: model and adapter loaded');
    // The prompt wrapped as Alpaca-shaped training data was (the format path of both sides).
    const prompt = 'Write about a frog.';
    const format: PromptFormat = { shape: 'alpaca', chatTemplate: 'auto' };
    const opts = { maxNewTokens: 8, genSeed: 3 };
    const studio = await call<{ text: string }>({ type: 'generate', req: answerRequest(prompt, { external: 'folder:1' }, opts, format) });
    const studioBase = await call<{ text: string }>({ type: 'generate', req: answerRequest(prompt, 'base', opts, format) });
    lap('worker: answered');
    expect(studio.text).toBe(await answer(ctx, loaded, lora, prompt, format, 8, 3));
    expect(studioBase.text).toBe(await answer(ctx, loaded, null, prompt, format, 8, 3));
    lap('reference: answered');
    // The trained adapter answers differently from the base (the check compares two different things).
    expect(studio.text).not.toBe(studioBase.text);
  }, 180_000);

  it('held-out prompts: the worker draws the run\'s eval split, and answers their ids as the engine does', async () => {
    expect(loaded).toBeDefined(); // the model and adapter the first test loaded (on both sides)
    const names = ['Tom', 'Lily', 'Ben', 'Sue', 'Max', 'Mia', 'Sam', 'Anna'];
    const text = names.map((n) => JSON.stringify({ instruction: `Tell about ${n}.`, output: `${n} had a red ball.` })).join('\n') + '\n';
    const format: PromptFormat = { shape: 'alpaca', chatTemplate: 'auto' };
    const sum = await call<DatasetSummary>({ type: 'prepareDataset', source: { kind: 'file', file: new Blob([text]), name: 'stories.jsonl' }, options: { ...DEFAULT_DATASET_OPTIONS }, seqLen: 160 });
    expect(sum.ok && sum.datasetId).toBeTruthy();
    const datasetId = sum.ok ? sum.datasetId! : '';
    const held = await call<HeldOutPrompt[]>({ type: 'heldOutPrompts', data: { datasetId, evalSplit: 0.25 }, seed: 7, count: 2 });
    // The run's eval split (the train request's split of the same dataset and seed), in its order.
    expect(held.map((h) => h.line - 1)).toEqual(Array.from(splitIndices(names.length, 0.25, 7).eval));
    const d = await prepareData(bytesInput('stories.jsonl', text), loaded.tokenizer, { seqLen: 160, evalSplit: 0.25, seed: 7 });
    expect(held).toEqual(heldOutPrompts(d.heldOut, 2, loaded.tokenizer, format));
    for (const h of held) expect(h.reference).toBe(`${names[h.line - 1]} had a red ball.`);
    // A held-out prompt is generated from its ids as they are (not re-templated).
    const opts = { maxNewTokens: 8, genSeed: 3 };
    const studio = await call<{ text: string; prompt: string }>({ type: 'generate', req: answerRequest(held[0], { external: 'folder:1' }, opts, format) });
    expect(studio.text).toBe(await answer(ctx, loaded, lora, { ids: held[0].ids }, format, 8, 3));
    expect(studio.prompt).toBe(loaded.tokenizer.decode(held[0].ids, false));
    await expect(call({ type: 'heldOutPrompts', data: { datasetId, evalSplit: 0 }, seed: 7, count: 2 })).rejects.toThrow(/^Held-out prompts: No rows are held out/);
  }, 120_000);
});
