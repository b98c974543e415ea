// The PyTorch .bin forms of stories260K and of a PEFT adapter (../shared, read by tests only) give
// the same eval loss as their safetensors twins.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { batches } from '../data/batch';
import { tokenizeTexts } from '../data/text';
import { bf16BitsToF32, f32ToBf16Bits } from '../gpu/half';
import { importAdapter } from '../lora/peft';
import { LoraState } from '../lora/state';
import { testContext } from '../test/gpu';
import { evaluate } from '../train/trainer';
import { Checkpoint } from './checkpoint';
import { loadModel, type LoadedModel } from './load';
import { serializeSafetensors, type TensorToWrite } from './safetensors-writer';
import { memorySource, type ModelSource } from './source';
import { readTensorFile } from './tensor-dir';
import { Transformer } from '../net/transformer';

const MODELS = fileURLToPath(new URL('../../../shared/models/', import.meta.url));
const ADAPTER = fileURLToPath(new URL('../../../shared/adapters/stories260K-lora-bin/', import.meta.url));
const TEXTS = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
  'Tom had a big red ball. He threw it to his friend and they laughed together all day.',
  'The sun was hot, so the cat slept under the tree until the bird sang a happy song.',
  'One day, a boy found a shiny stone. He showed it to his mom and she smiled.',
];

async function evalLoss(m: LoadedModel, lora: LoraState | null = null): Promise<number> {
  const ctx = await testContext();
  const examples = tokenizeTexts(m.tokenizer, TEXTS, 32).examples;
  const model = new Transformer(ctx, m.spec, m.weights, lora, { B: 4, T: 32, training: false });
  return (await evaluate(ctx, model, batches(examples, 4, 32, m.spec.eos[0] ?? 0))).loss;
}

/** stories260K with every weight rounded to bfloat16 (round to nearest even), as F32 safetensors in memory. */
async function roundedStories(): Promise<ModelSource> {
  const dir = MODELS + 'stories260K/';
  const ck = await Checkpoint.open(dirSource(dir));
  const tensors: TensorToWrite[] = [];
  for (const n of ck.names()) {
    const data = (await ck.readF32(n)).map((v) => bf16BitsToF32(f32ToBf16Bits(v)));
    tensors.push({ name: n, dtype: 'F32', shape: ck.info(n).shape, data });
  }
  const files = new Map<string, Uint8Array | string>([['model.safetensors', serializeSafetensors(tensors)]]);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) files.set(f, readFileSync(dir + f, 'utf8'));
  return memorySource('stories260K-rounded', files);
}

describe('stories260K as PyTorch .bin checkpoints (GPU)', () => {
  it('pytorch_model.bin gives the eval loss of model.safetensors', async () => {
    const ctx = await testContext();
    const st = await loadModel(ctx, dirSource(MODELS + 'stories260K'));
    const bin = await loadModel(ctx, dirSource(MODELS + 'stories260K-bin'));
    expect(bin.checkpoint.format).toBe('pytorch');
    const want = await evalLoss(st);
    expect(want).toBeGreaterThan(1);
    expect(await evalLoss(bin)).toBe(want);
  });

  it('the sharded bf16 .bin gives the eval loss of stories260K rounded to bfloat16', async () => {
    const ctx = await testContext();
    const bin = await loadModel(ctx, dirSource(MODELS + 'stories260K-bin-sharded-bf16'), { dtype: 'f32' });
    const rounded = await loadModel(ctx, await roundedStories(), { dtype: 'f32' });
    const full = await loadModel(ctx, dirSource(MODELS + 'stories260K'), { dtype: 'f32' });
    const got = await evalLoss(bin);
    expect(got).toBe(await evalLoss(rounded));
    expect(got).not.toBe(await evalLoss(full)); // the rounding is visible: the comparison can fail
  });

  it('adapter_model.bin gives the eval loss of the same adapter converted to safetensors', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(MODELS + 'stories260K'));
    const cfg = readFileSync(ADAPTER + 'adapter_config.json', 'utf8');
    const bin = new Uint8Array(readFileSync(ADAPTER + 'adapter_model.bin'));
    const file = readTensorFile(bin, 'adapter_model.bin');
    const converted = serializeSafetensors(file.names().map((n) => ({ name: n, dtype: 'F32', shape: file.info(n)!.shape, data: file.get(n) })));
    const loss = async (bytes: Uint8Array, name: string) => {
      const imp = importAdapter(m.spec, cfg, bytes, name);
      expect(imp.modules.length).toBe(10);
      const lora = new LoraState(ctx, imp.modules, imp.h);
      lora.load(imp.weights);
      return evalLoss(m, lora);
    };
    const fromBin = await loss(bin, 'adapter_model.bin');
    expect(fromBin).toBe(await loss(converted, 'adapter_model.safetensors'));
    expect(Math.abs(fromBin - (await evalLoss(m)))).toBeGreaterThan(1e-4); // the adapter changes the model
  });
});
