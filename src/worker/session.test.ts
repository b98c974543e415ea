// The studio's engine session driven in Node with Dawn, through the worker's handler table:
// load stories260K (the CLI's folder source) → prepare a JSONL dataset → train 2 steps with
// checkpoints → resume from the older checkpoint when the newest is damaged → generate → export
// (the final adapter, and an earlier checkpoint's adapter, merged model and adapter GGUF).
// Each reply is checked against the engine called directly on the same device (src/data,
// src/train, src/model/generate), so the session's wiring cannot drift from what the CLI does.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { loadShaderLibrary, nodeGpu } from '../cli/node-gpu';
import { fileInput, loadDataset, splitExamples } from '../data';
import { encodePrompt } from '../data/format';
import { importAdapter } from '../lora/peft';
import { generateTokens, Generator } from '../net/generate';
import { parseSafetensors } from '../model/safetensors';
import { OPTIMIZER_FILE } from '../train/checkpoint';
import { MemoryShelf } from '../train/checkpoint-shelf';
import { adapterFromFiles, runPlace, shelfCheckpoints } from '../train/resume';
import { runTraining, type RunConfig } from '../train/run';
import { handle } from './handlers';
import type { EngineEvent, ExportedFile, RequestOf, RequestType, Reply } from './protocol';
import { EngineSession, type SessionHost } from './session';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const STORIES = fileURLToPath(new URL('../../public/demo/stories.jsonl', import.meta.url));

const shelves = new Map<string, MemoryShelf>();
const shelfOf = (runId: string) => shelves.get(runId) ?? shelves.set(runId, new MemoryShelf()).get(runId)!;
const offline = () => {
  throw new Error('no network in this test');
};
const host: SessionHost = {
  gpu: nodeGpu,
  shaders: () => loadShaderLibrary(),
  modelSource: () => dirSource(DIR),
  hubDataset: offline,
  listHubDataset: offline,
  cacheList: offline,
  cacheClear: offline,
  checkpoints: shelfCheckpoints(shelfOf),
};
const global: EngineEvent[] = [];
const session = new EngineSession(host, (e) => global.push(e));
afterAll(() => session.dispose());

/** One request through the handler table, with the events it emitted. */
async function call<K extends RequestType>(req: RequestOf<K>): Promise<{ reply: Reply<K>; events: EngineEvent[] }> {
  const events: EngineEvent[] = [];
  const reply = await handle(session, req, (e) => events.push(e));
  return { reply, events };
}

async function fileBytes(files: ExportedFile[], name: string): Promise<Uint8Array> {
  const f = files.find((x) => x.name === name);
  if (!f) throw new Error(`no ${name} in ${files.map((x) => x.name).join(', ')}`);
  return new Uint8Array(await f.data.arrayBuffer());
}

const CFG: RunConfig = {
  baseModel: 'stories260K', r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, targetModules: 'attention', loraplusLrRatio: 1,
  lr: 5e-3, schedule: 'linear', warmup: 0, epochs: 1, steps: 2, batchSize: 2, gradAccum: 1, seqLen: 32, seed: 11, saveEvery: 1,
  maxGradNorm: 1, weightDecay: 0,
};
const EVAL_SPLIT = 0.25;
/** What the first session test leaves for the later ones: the prepared dataset and run r1's losses. */
const first = { datasetId: '', losses: [] as number[] };

describe('EngineSession errors (before a model)', () => {
  it('answers a request before a model with one line, and an unknown request type by name', async () => {
    await expect(handle(session, { type: 'generate', req: { prompt: 'x', adapter: 'base', maxNewTokens: 1 } }, () => {})).rejects.toThrow(/No model is loaded yet: load a model first\./);
    await expect(handle(session, { type: 'nope' } as unknown as RequestOf<'init'>, () => {})).rejects.toThrow(/does not know the request 'nope'/);
  });
});

describe('EngineSession (Dawn, stories260K)', () => {
  it('loads, prepares, trains, resumes, generates and exports as the engine does directly', async () => {
    const adapter = (await call({ type: 'init' })).reply;
    expect(adapter.maxStorageBufferBindingSize).toBe(session.engine!.ctx.adapter.maxStorageBufferBindingSize);
    // The device has 'shader-f16' exactly when the adapter does (“Matmul math” f16 needs it).
    expect(session.engine!.ctx.device.features.has('shader-f16')).toBe(adapter.hasF16);

    // Load: the reply describes the folder's config.json.
    const load = await call({ type: 'loadModel', source: { kind: 'hub', repo: 'stories260K' } });
    const config = readFileSync(DIR + 'config.json', 'utf8');
    const json = JSON.parse(config) as Record<string, number>;
    expect(load.reply).toMatchObject({ modelType: 'llama', layers: json.num_hidden_layers, hidden: json.hidden_size, vocab: json.vocab_size, configText: config, quant: 'none' });
    expect(load.events.filter((e) => e.kind === 'load').at(-1)).toMatchObject({ stage: 'weights', loaded: load.events.filter((e) => e.kind === 'load').length });
    const { ctx } = session.engine!;
    const loaded = session.model!.loaded;

    // Prepare: the demo stories (first 12 lines), as a dropped file.
    const lines = readFileSync(STORIES, 'utf8').split('\n').filter(Boolean).slice(0, 12);
    const file = new Blob([lines.join('\n') + '\n']);
    const options = { format: 'auto', template: '', responseColumn: '', chatTemplate: 'auto', trainOnPrompt: false, onBadRows: 'stop', packing: false } as const;
    const prep = (await call({ type: 'prepareDataset', source: { kind: 'file', file, name: 'stories.jsonl' }, options, seqLen: CFG.seqLen })).reply;
    if (!prep.ok) throw new Error(prep.error);
    const direct = await loadDataset(fileInput(file, 'stories.jsonl'), loaded.tokenizer, { format: 'auto', chatTemplate: 'auto', seqLen: CFG.seqLen, maxSeqLen: loaded.spec.maxT });
    expect(prep.stats).toEqual(direct.stats);
    expect(prep.stats!.examples).toBe(12);
    expect(prep.inspect.shape).toBe('text');

    // Train 2 steps, persisted with a checkpoint per step; the same run directly on the same device.
    const data = { datasetId: prep.datasetId!, evalSplit: EVAL_SPLIT };
    const run = await call({ type: 'train', config: CFG, data, runId: 'r1', persist: true, keepCheckpoints: 2 });
    const split = splitExamples(direct.examples, EVAL_SPLIT, CFG.seed);
    const ref = await runTraining(ctx, loaded, split.train, split.eval, CFG);
    const losses = run.events.flatMap((e) => (e.kind === 'step' ? [e.info.loss] : []));
    Object.assign(first, { datasetId: prep.datasetId!, losses });
    expect(losses).toEqual(ref.history.map((h) => h.loss));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(run.reply).toMatchObject({ runId: 'r1', steps: 2, evalLossBefore: ref.evalLossBefore, evalLossAfter: ref.evalLossAfter, trainableParams: ref.trainableParams, stoppedEarly: false });
    expect(run.events.filter((e) => e.kind === 'checkpoint').map((e) => e.kind === 'checkpoint' && e.step)).toEqual([1, 2]);

    // The newest checkpoint damaged: resuming falls back to step 1 (with a notice) and redoes step 2 exactly.
    const shelf = shelfOf('r1');
    const newest = shelf.entries.find((x) => x.step === 2)!;
    const opt = Uint8Array.from(newest.files.get(OPTIMIZER_FILE) as Uint8Array);
    opt[opt.length - 1] ^= 1;
    newest.files.set(OPTIMIZER_FILE, opt);
    const resumed = await call({ type: 'train', config: CFG, data, runId: 'r1', persist: true, resume: true, keepCheckpoints: 2 });
    expect(resumed.events[0]).toMatchObject({ kind: 'resumedFrom', step: 1 });
    expect(resumed.events.flatMap((e) => (e.kind === 'step' ? [e.info.loss] : []))).toEqual([ref.history[1].loss]);
    expect(resumed.reply.evalLossAfter).toBe(ref.evalLossAfter);
    const refWeights = await ref.lora.tensors();

    // Export: the saved checkpoint's adapter and the one in memory both hold the reference weights.
    for (const req of [{ type: 'exportAdapter', runId: 'r1' }, { type: 'exportAdapter' }] as const) {
      const { files } = (await call(req)).reply;
      const configJson = new TextDecoder().decode(await fileBytes(files, 'adapter_config.json'));
      const ad = importAdapter(loaded.spec, configJson, await fileBytes(files, 'adapter_model.safetensors'), 'export');
      expect(JSON.parse(configJson)).toMatchObject({ r: CFG.r, lora_alpha: CFG.loraAlpha, base_model_name_or_path: 'stories260K' });
      expect([...ad.weights.keys()]).toEqual([...refWeights.keys()]);
      for (const [k, w] of refWeights) {
        expect(Array.from(ad.weights.get(k)!.A)).toEqual(Array.from(w.A));
        expect(Array.from(ad.weights.get(k)!.B)).toEqual(Array.from(w.B));
      }
    }

    // Generate greedily with the trained adapter: the same tokens as a direct Generator with the reference adapter.
    const gen = await call({ type: 'generate', req: { prompt: 'Once upon a time', adapter: 'trained', maxNewTokens: 8 } });
    const refGen = new Generator(ctx, loaded.spec, loaded.weights, ref.lora, { T: 64 });
    const prompt = encodePrompt(loaded.tokenizer, 'Once upon a time').ids;
    const ids: number[] = [];
    for await (const id of generateTokens(ctx, refGen, prompt, { maxNewTokens: 8, stop: loaded.spec.eos })) ids.push(id);
    expect(gen.reply).toMatchObject({ text: loaded.tokenizer.decode(ids, true), tokens: ids.length, stopped: false, prompt: 'Once upon a time' });
    expect(gen.events.map((e) => (e.kind === 'token' ? e.text : '')).join('')).toBe(gen.reply.text);
    expect(ids.length).toBeGreaterThan(0);
    expect(global).toEqual([]);
  }, 120_000);

  // Uses run r1 of the test above: its shelf keeps step 2 (the final adapter, also in memory) and step 1.
  it('exports an earlier checkpoint (step): its own adapter, merged model and GGUF; a step gone or damaged is one line', async () => {
    const loaded = session.model!.loaded;
    const shelf = shelfOf('r1');
    expect(await host.checkpoints.steps('r1')).toEqual([2, 1]);
    const saved = (step: number) => shelf.entries.find((e) => e.step === step)!.files;
    const at = (step: number) => adapterFromFiles(loaded.spec, saved(step), runPlace('r1'));

    // The adapter of step 1: the checkpoint's file, byte for byte.
    const ad1 = (await call({ type: 'exportAdapter', runId: 'r1', step: 1 })).reply.files;
    expect(await fileBytes(ad1, 'adapter_model.safetensors')).toEqual(saved(1).get('adapter_model.safetensors'));

    // Merged at step 1 vs final: the difference of each merged target is scaling·(B₁A₁ − B₂A₂), in float64.
    const merged = async (step?: number) => parseSafetensors(await fileBytes((await call({ type: 'exportMerged', runId: 'r1', ...(step === undefined ? {} : { step }) })).reply.files, 'model.safetensors'), 'merged');
    const [m1, m2] = [await merged(1), await merged()];
    const [a1, a2] = [at(1), at(2)];
    const scaling = CFG.loraAlpha / CFG.r;
    let maxDiff = 0;
    for (const mod of a1.modules) {
      const [A1, B1] = [a1.weights.get(mod.name)!.A, a1.weights.get(mod.name)!.B];
      const [A2, B2] = [a2.weights.get(mod.name)!.A, a2.weights.get(mod.name)!.B];
      const w1 = m1.get(`${mod.name}.weight`);
      const w2 = m2.get(`${mod.name}.weight`);
      const r = CFG.r;
      const inF = A1.length / r;
      expect(w1.length).toBe((B1.length / r) * inF);
      let scale = 0;
      for (let o = 0; o < B1.length / r; o++) {
        for (let i = 0; i < inF; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += B1[o * r + k] * A1[k * inF + i] - B2[o * r + k] * A2[k * inF + i];
          d *= scaling;
          scale = Math.max(scale, Math.abs(d));
          expect(Math.abs(w1[o * inF + i] - w2[o * inF + i] - d)).toBeLessThan(1e-5);
        }
      }
      maxDiff = Math.max(maxDiff, scale);
    }
    expect(maxDiff).toBeGreaterThan(1e-4); // the two checkpoints differ, so the check above can fail

    // The adapter GGUF of step 1 differs from the final one's.
    const gguf = async (step?: number) => {
      const { files } = (await call({ type: 'exportGguf', runId: 'r1', what: 'adapter', ggufType: 'f16', ...(step === undefined ? {} : { step }) })).reply;
      return new Uint8Array(await files[0].data.arrayBuffer());
    };
    const [g1, g2] = [await gguf(1), await gguf()];
    expect(g1.length).toBe(g2.length);
    expect(Buffer.from(g1).equals(Buffer.from(g2))).toBe(false);

    // A step no longer kept, and a damaged one: one line each, for every export.
    await expect(handle(session, { type: 'exportMerged', runId: 'r1', step: 7 }, () => {})).rejects.toThrow(/^The checkpoint of step 7 is no longer kept \(.*\): choose another one\.$/);
    const w = Uint8Array.from(saved(1).get('adapter_model.safetensors') as Uint8Array);
    w[w.length - 1] ^= 1;
    saved(1).set('adapter_model.safetensors', w);
    for (const req of [{ type: 'exportAdapter', runId: 'r1', step: 1 }, { type: 'exportGguf', runId: 'r1', what: 'merged', ggufType: 'q8_0', step: 1 }] as const) {
      await expect(handle(session, req, () => {})).rejects.toThrow(/^The checkpoint of step 1 is damaged \(.*\): choose another one\.$/);
    }
  }, 60_000);

  // After the tests above (their model and dataset): “Subgroup reductions” per run on the one device.
  it('a run with subgroups on builds its graph with them, the playground still generates after it, and a run without the field turns them off', async () => {
    const { ctx } = session.engine!;
    // The device has 'subgroups' exactly when the adapter does (the worker asks for it).
    expect(ctx.device.features.has('subgroups')).toBe(ctx.adapter.hasSubgroups);
    if (!ctx.adapter.hasSubgroups) return; // SwiftShader has them; a GPU without is covered by gpu/subgroups.test.ts
    const data = { datasetId: first.datasetId, evalSplit: EVAL_SPLIT };
    const sg = await call({ type: 'train', config: { ...CFG, steps: 1, saveEvery: 0, subgroups: true }, data, runId: 'sg' });
    expect(ctx.subgroups).toBe(true);
    const loss = sg.events.flatMap((e) => (e.kind === 'step' ? [e.info.loss] : []));
    expect(loss).toHaveLength(1);
    expect(Math.abs(loss[0] - first.losses[0])).toBeLessThan(1e-4 * first.losses[0]); // the tree's first step, within rounding
    const gen = await call({ type: 'generate', req: { prompt: 'Once upon a time', adapter: 'trained', maxNewTokens: 4 } });
    expect(gen.reply.tokens).toBeGreaterThan(0);
    await call({ type: 'train', config: { ...CFG, steps: 1, saveEvery: 0 }, data, runId: 'tree' });
    expect(ctx.subgroups).toBe(false);
  }, 60_000);
});
