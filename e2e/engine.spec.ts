// The engine in the browser: the Web Worker loads the real stories260K model from local files,
// reproduces its known greedy output, trains a LoRA adapter and exports it in PEFT format.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { knownContinuation } from './studio-helpers';

const DIR = fileURLToPath(new URL('../../shared/models/stories260K/', import.meta.url));
const FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];

test('worker: load a local model folder, generate, train, export', async ({ page }) => {
  await page.goto('/');
  // The studio itself starts the engine: once it shows the adapter, the page is settled.
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 240_000 });
  const files = FILES.map((name) => ({ name, b64: readFileSync(DIR + name).toString('base64') }));
  const result = await page.evaluate(async (files) => {
    // Served by Vite's dev server; typed through the source module.
    const clientUrl: string = '/src/worker/client.ts';
    const { EngineClient } = (await import(/* @vite-ignore */ clientUrl)) as typeof import('../src/worker/client');
    const c = new EngineClient();
    const adapter = await c.call({ type: 'init' });
    const blobs = files.map((f) => ({ path: `stories260K/${f.name}`, file: new Blob([Uint8Array.from(atob(f.b64), (ch) => ch.charCodeAt(0))]) }));
    const info = await c.call({ type: 'loadModel', source: { kind: 'files', name: 'stories260K', files: blobs } });
    const tokens: string[] = [];
    const gen = await c.call({ type: 'generate', req: { prompt: '', adapter: 'base', maxNewTokens: 12 } }, (e) => {
      if (e.kind === 'token') tokens.push(e.text);
    });
    // A prompt wrapped as Alpaca-shaped training data was (the playground's default for such runs).
    const wrapped = await c.call({ type: 'generate', req: { prompt: 'Tom had a', adapter: 'base', maxNewTokens: 2, format: { shape: 'alpaca', chatTemplate: 'auto' } } });
    const texts = Array.from({ length: 16 }, (_, i) => `Tom had a purple frog number ${i}. The purple frog ate cake with Tom.`);
    const steps: number[] = [];
    const summary = await c.call(
      {
        type: 'train', runId: 'e2e',
        data: { texts, evalTexts: texts.slice(0, 4) },
        config: {
          baseModel: 'stories260K', r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, targetModules: 'attention', loraplusLrRatio: 16, lr: 5e-3,
          schedule: 'constant', warmup: 0, steps: 4, epochs: 1, batchSize: 2, gradAccum: 1, seqLen: 32, seed: 1, saveEvery: 0, maxGradNorm: 1, weightDecay: 0,
        },
      },
      (e) => {
        if (e.kind === 'step') steps.push(e.info.loss);
      },
    );
    const exp = await c.call({ type: 'exportAdapter' });
    const cfg = JSON.parse(await exp.files.find((f) => f.name === 'adapter_config.json')!.data.text());
    const st = new Uint8Array(await exp.files.find((f) => f.name === 'adapter_model.safetensors')!.data.arrayBuffer());
    const n = Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(st.slice(8, 8 + n)));
    // The merged model: progress events while merging, then the files as Blobs.
    const progress: [number, number][] = [];
    const merged = await c.call({ type: 'exportMerged', runId: 'e2e' }, (e) => {
      if (e.kind === 'export') progress.push([e.done, e.total]);
    });
    const mergedFiles = merged.files.map((f) => [f.name, f.data.size] as const);
    return { adapter, info, gen, wrapped, progress, mergedFiles, streamed: tokens.join(''), steps, summary, cfg, keys: Object.keys(header).sort() };
  }, files);

  expect(result.adapter.vendor.length).toBeGreaterThan(0);
  expect(result.info).toMatchObject({ modelType: 'llama', layers: 5, hidden: 64, vocab: 512 });
  expect(result.gen.text).toBe(knownContinuation().split(' ').slice(0, 9).join(' ')); // 12 tokens (9 words) of the known continuation
  expect(result.streamed).toBe(result.gen.text);
  expect(result.gen.prompt).toBe('');
  expect(result.wrapped.prompt).toMatch(/^Below is an instruction that describes a task\. .*\n\n### Instruction:\nTom had a\n\n### Response:\n$/s);
  expect(result.wrapped.tokens).toBe(2);
  const [done, total] = result.progress[result.progress.length - 1];
  expect(total).toBeGreaterThan(10); // stories260K's tensors
  expect(done).toBe(total);
  expect(result.mergedFiles.map(([n]) => n).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  expect(result.mergedFiles.find(([n]) => n === 'model.safetensors')![1]).toBeGreaterThan(1_000_000);
  expect(result.steps).toHaveLength(4);
  expect(result.summary.evalLossAfter!).toBeLessThan(result.summary.evalLossBefore!);
  expect(result.cfg).toMatchObject({ peft_type: 'LORA', r: 4, target_modules: ['q_proj', 'v_proj'] });
  expect(result.keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
  expect(result.keys).toContain('__metadata__');
});
