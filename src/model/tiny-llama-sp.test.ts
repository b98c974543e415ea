// tiny-llama-sp (../shared): a model folder whose only tokenizer is a SentencePiece tokenizer.model
// loads through loadModel and trains: the tokenizer is converted at load, nothing else changes.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { tokenizeTexts } from '../data/text';
import { testContext } from '../test/gpu';
import { runTraining, type RunConfig } from '../train/run';
import { mergedModelFiles } from '../lora/merged';
import { loadModel, readSpec } from './load';
import { Checkpoint } from './checkpoint';
import { memorySource } from './source';
import { loadTokenizer } from './tokenizer';

const DIR = fileURLToPath(new URL('../../../shared/models/tiny-llama-sp/', import.meta.url));

const CFG: RunConfig = {
  baseModel: 'tiny-llama-sp', r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, targetModules: 'all-linear', loraplusLrRatio: 1,
  lr: 1e-2, schedule: 'constant', warmup: 0, epochs: 1, batchSize: 4, gradAccum: 1, seqLen: 16, seed: 3, saveEvery: 0,
  maxGradNorm: 1, weightDecay: 0, steps: 6,
};

describe('tiny-llama-sp (tokenizer.model only)', () => {
  it('loads with its SentencePiece tokenizer and a short LoRA run lowers the loss on its data', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(DIR));
    expect(m.tokenizer.vocabSize).toBe(m.spec.V);
    expect(m.tokenizer.encode('Hello world')).toEqual([1, 15043, 3186]);
    const texts = Array.from({ length: 8 }, (_, i) => `The cat sat on mat number ${i % 2}.`);
    const { examples } = tokenizeTexts(m.tokenizer, texts, CFG.seqLen);
    expect(examples.length).toBe(8);
    const res = await runTraining(ctx, m, examples, examples.slice(0, 4), CFG);
    expect(res.steps).toBe(6);
    const losses = res.history.map((h) => h.loss);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(losses[0]).toBeGreaterThan(5); // a random model over 32,000 tokens
    expect(res.evalLossAfter!).toBeLessThan(res.evalLossBefore!);
  });

  it('a merged model of it carries the converted tokenizer.json, which encodes the same', async () => {
    const src = dirSource(DIR);
    const base = { checkpoint: await Checkpoint.open(src), spec: await readSpec(src) };
    const merged = await mergedModelFiles(base, src, { modules: [], weights: new Map(), h: { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false } });
    expect(merged.files.has('tokenizer.json')).toBe(true);
    const again = await loadTokenizer(memorySource('merged', merged.files));
    const orig = await loadTokenizer(src);
    for (const t of ['Hello world', '  two  spaces\n', 'café 🚀 日本']) expect(again.encode(t)).toEqual(orig.encode(t));
  });
});
