// The answers the studio shows in a comparison (an experiment's answers grid, the ticked runs'
// answers) are the engine worker's `generate` for the request store/experimentlogic.ts
// answerRequest builds. Here the real worker module runs in Node (its `self` and navigator.gpu
// provided by Dawn): it loads stories260K, trains a short run, and answers; the answer must equal
// the greedy generation npm run experiment / npm run generate give for the same adapter (exported
// by the worker as PEFT files) and prompt.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { greedyAnswer as answer } from '../experiment/answer';
import { dirSource } from '../cli/fs-source';
import type { PromptFormat } from '../data/format';
import { importAdapter } from '../lora/peft';
import { LoraState } from '../lora/state';
import { loadModel, type LoadedModel } from '../model/load';
import { answerRequest } from '../store/experimentlogic';
import { testContext } from '../test/gpu';
import { defaultKnobs, toRunConfig } from '../ui/knobs';
import { parseConfigText } from '../model/config';
import type { EngineEvent, Request, WorkerMessage } from './protocol';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
const pending = new Map<number, Pending>();
let nextId = 1;
const instances: unknown[] = [];

/** One request to the worker module, answered by its reply (events are ignored). */
function call<T>(req: Request): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    (globalThis as unknown as { onmessage: (ev: { data: unknown }) => void }).onmessage({ data: { id, req } });
  });
}

beforeAll(async () => {
  await testContext(); // sets up Dawn's Vulkan driver (SwiftShader) for this process
  const { create } = await import('webgpu');
  const gpu = create([]);
  instances.push(gpu); // a collected Dawn instance would tear down the worker's device
  const g = globalThis as unknown as Record<string, unknown>;
  g.self = globalThis;
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
  g.postMessage = (m: WorkerMessage) => {
    if (m.type !== 'reply') return void (m as { event?: EngineEvent });
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(m.error));
  };
  await import('./engine.worker');
}, 120_000);


describe('comparison answers', () => {
  it('equal the engine\'s greedy generate for the same adapter and prompt', async () => {
    const t0 = performance.now();
    const lap = (what: string) => console.log(`answers.test: ${what} at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const files = FILES.map((f) => ({ path: `stories260K/${f}`, file: new Blob([readFileSync(DIR + f)]) }));
    await call({ type: 'loadModel', source: { kind: 'files', name: 'stories260K', files }, quant: { mode: 'none', groupSize: 32 } });
    const spec = parseConfigText(readFileSync(DIR + 'config.json', 'utf8'), 'config.json');
    const knobs = { ...defaultKnobs(spec), lengthBy: 'steps' as const, steps: 3, batchSize: 2, seqLen: 32, lr: 0.01, evalEvery: 0 };
    const texts = Array.from({ length: 8 }, (_, i) => `Tom had a purple frog number ${i}. The purple frog ate cake with Tom.`);
    await call({ type: 'train', runId: 'r1', config: toRunConfig(knobs, spec.arch, 'stories260K'), data: { texts, evalTexts: texts.slice(0, 2) }, persist: false });

    lap('worker: model loaded, run trained');
    const { files: adapterFiles } = await call<{ files: { name: string; data: Blob }[] }>({ type: 'exportAdapter' });
    const byName = new Map(adapterFiles.map((f) => [f.name, f.data]));
    const ctx = await testContext();
    const loaded: LoadedModel = await loadModel(ctx, dirSource(DIR));
    const imp = importAdapter(loaded.spec, await byName.get('adapter_config.json')!.text(), new Uint8Array(await byName.get('adapter_model.safetensors')!.arrayBuffer()), 'adapter_model.safetensors');
    const lora = new LoraState(ctx, imp.modules, imp.h);
    lora.load(imp.weights);

    lap('reference: model and exported adapter loaded');
    // The prompt wrapped as Alpaca-shaped training data was (the format path of both sides).
    const prompt = 'Write about a frog.';
    const format: PromptFormat = { shape: 'alpaca', chatTemplate: 'auto' };
    const opts = { maxNewTokens: 8, genSeed: 3 };
    const studio = await call<{ text: string }>({ type: 'generate', req: answerRequest(prompt, { runId: 'r1' }, opts, format) });
    const studioBase = await call<{ text: string }>({ type: 'generate', req: answerRequest(prompt, 'base', opts, format) });
    lap('worker: answered');
    expect(studio.text).toBe(await answer(ctx, loaded, lora, prompt, format, 8, 3));
    expect(studioBase.text).toBe(await answer(ctx, loaded, null, prompt, format, 8, 3));
    lap('reference: answered');
    // The trained adapter answers differently from the base (the check compares two different things).
    expect(studio.text).not.toBe(studioBase.text);
  }, 180_000);
});
