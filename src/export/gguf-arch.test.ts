// GGUF export beyond stories260K F16/Q8_0 (gguf.test.ts): random Qwen2 and GPT-2 checkpoints merged
// with a LoRA and written F16, read back by the independent reader and mapped back to Hugging Face
// names/layouts, give our forward's eval loss; Q4_0 of the real stories260K stays within a stated
// loss bound; Llama 3 rope scaling is written as convert_hf_to_gguf.py writes it (rope_freqs.weight).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { makeBatch } from '../data/batch';
import { f16BitsToF32, f32ToF16Bits } from '../gpu/half';
import { mergeCheckpoint } from '../lora/merge';
import type { LoraHyper } from '../lora/peft';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { parseConfig, type ModelSpec } from '../model/config';
import { randomCheckpointFiles, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { serializeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { memorySource, type ModelSource } from '../model/source';
import { Transformer } from '../net/transformer';
import { loadWeights } from '../model/weights';
import { hfTensorsFromGguf, writeAndRead } from '../test/gguf-readback';
import { rng, testContext } from '../test/gpu';
import { evaluate } from '../train/trainer';
import { readQuantizedLinears } from '../lora/merged';
import { LoraState } from '../lora/state';
import { loadModel } from '../model/load';
import { mergedGgufFile } from './gguf-model';
import { ggufTensorName } from './gguf-llama';
import { randomAdapter } from '../test/random-adapter';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gguf-arch-'));


async function evalLoss(spec: ModelSpec, src: ModelSource, ids: number[][]): Promise<number> {
  const ctx = await testContext();
  const weights = await loadWeights(ctx, spec, await Checkpoint.open(src), { dtype: 'f32' });
  const B = ids.length, T = ids[0].length;
  const batch = makeBatch(ids.map((x) => ({ ids: x })), B, T, 0);
  return (await evaluate(ctx, new Transformer(ctx, spec, weights, null, { B, T, training: false }), [batch])).loss;
}

const sourceOf = (config: unknown, tensors: TensorToWrite[]) =>
  memorySource('readback', new Map<string, Uint8Array | string>([['config.json', JSON.stringify(config)], ['model.safetensors', serializeSafetensors(tensors)]]));

/** A byte-level BPE tokenizer.json with one token per id (no merges): enough for the GGUF vocab. */
function tokenizerJson(V: number): string {
  const vocab = Object.fromEntries(Array.from({ length: V }, (_, i) => [`t${i}`, i]));
  return JSON.stringify({ version: '1.0', added_tokens: [], pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false }, decoder: { type: 'ByteLevel' }, model: { type: 'BPE', vocab, merges: [] } });
}

function randomModel(config: Record<string, unknown>, seed: number) {
  const { spec, files } = randomCheckpointFiles(config, seed, 0.15);
  files.set('tokenizer.json', tokenizerJson(spec.V));
  return { spec, src: memorySource('random', files) };
}

const QWEN2_CONFIG = { ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1 };

describe('GGUF F16 of merged Qwen2 and GPT-2 models, read back', () => {
  for (const [label, config, arch, extra] of [
    ['qwen2 (q/k/v bias, MQA, tied head, NeoX rope: no q/k permute)', QWEN2_CONFIG, 'qwen2', 'blk.0.attn_q.bias'],
    ['gpt2 (Conv1D transposed, fused c_attn, learned positions)', TINY_GPT2_CONFIG, 'gpt2', 'position_embd.weight'],
  ] as const) {
    it(label, async () => {
      const { spec, src } = randomModel(config, 5);
      const ckpt = await Checkpoint.open(src);
      const h: LoraHyper = { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false };
      const adapter = randomAdapter(spec, 'all-linear', h, 3);
      const merged = await mergeCheckpoint(ckpt, spec, adapter.modules, adapter.weights, h);
      const r = rng(2);
      const ids = Array.from({ length: 3 }, () => Array.from({ length: 24 }, () => 1 + Math.floor(r() * (spec.V - 1))));
      const mergedLoss = await evalLoss(spec, sourceOf(config, merged.tensors), ids);
      const baseLoss = await evalLoss(spec, src, ids);
      expect(Math.abs(mergedLoss - baseLoss)).toBeGreaterThan(1e-3); // the LoRA is visible in the loss

      const exp = await mergedGgufFile({ checkpoint: ckpt, spec }, src, adapter, { type: 'f16', name: arch });
      const g = await writeAndRead(exp.file, join(tmp, `${arch}.gguf`));
      expect(g.parsed.typedMetadata['general.architecture'].value).toBe(arch);
      expect(g.parsed.typedMetadata['tokenizer.ggml.model'].value).toBe('gpt2');
      expect(g.parsed.tensorInfos.map((t) => t.name)).toContain(extra);
      const back = hfTensorsFromGguf(g, spec, ckpt.names());
      const byName = new Map(merged.tensors.map((t) => [t.name, t.data as Float32Array]));
      const types = new Map(g.parsed.tensorInfos.map((t) => [t.name, Number(t.dtype)]));
      expect(types.get(ggufTensorName(adapter.modules[0].name + '.weight', spec)!.name)).toBe(1); // matrices F16
      for (const t of back) {
        const m = byName.get(t.name)!;
        const f32 = types.get(ggufTensorName(t.name, spec)!.name) === 0; // norms, biases, GPT-2 positions stay F32
        const want = f32 ? m : Float32Array.from(m, (v) => f16BitsToF32(f32ToF16Bits(v)));
        expect([t.name, Array.from(t.data as Float32Array)]).toEqual([t.name, Array.from(want)]);
      }
      const loss = await evalLoss(spec, sourceOf(config, back), ids);
      expect(Math.abs(loss - mergedLoss)).toBeLessThan(2e-3 * mergedLoss);
    });
  }
});

describe('GGUF Q4_0 of the real stories260K', () => {
  it('eval loss within 5% of the f32 model (Q4_0 where rows are whole blocks, F16 elsewhere)', async () => {
    const src = dirSource(STORIES);
    const config = JSON.parse(await src.text('config.json')) as Record<string, unknown>;
    const spec = parseConfig(config, 'config.json');
    const ckpt = await Checkpoint.open(src);
    const exp = await mergedGgufFile({ checkpoint: ckpt, spec }, src, null, { type: 'q4_0', name: 'stories' });
    const g = await writeAndRead(exp.file, join(tmp, 'q4.gguf'));
    const types = new Map(g.parsed.tensorInfos.map((t) => [t.name, Number(t.dtype)]));
    expect(types.get('blk.0.attn_q.weight')).toBe(2);
    expect(types.get('blk.0.ffn_down.weight')).toBe(1); // 172-wide rows
    const r = rng(11);
    const ids = Array.from({ length: 4 }, () => Array.from({ length: 48 }, () => 3 + Math.floor(r() * (spec.V - 3))));
    const want = await evalLoss(spec, src, ids);
    const got = await evalLoss(spec, sourceOf(config, hfTensorsFromGguf(g, spec, ckpt.names())), ids);
    expect(Math.abs(got - want)).toBeLessThan(0.05 * want);
    expect(got).not.toBe(want); // quantized: a different model
  });
});

/** convert_hf_to_gguf.py LlamaModel.generate_extra_tensors for rope_type "llama3", written out in float64. */
function llama3FactorsPy(theta: number, dim: number, rs: { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number }): number[] {
  const lowW = rs.original_max_position_embeddings / rs.low_freq_factor;
  const highW = rs.original_max_position_embeddings / rs.high_freq_factor;
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) {
    const freq = 1 / theta ** (i / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highW) out.push(1);
    else if (wavelen > lowW) out.push(rs.factor);
    else {
      const smooth = (rs.original_max_position_embeddings / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      out.push(1 / ((1 - smooth) / rs.factor + smooth));
    }
  }
  return out;
}

describe('GGUF Llama 3 rope scaling', () => {
  it('rope_freqs.weight (F32 [HS/2]) as convert_hf_to_gguf.py computes it; no rope.scaling.type key', async () => {
    // HS 8, theta 1e4: wavelengths 6.3, 63, 628, 6283 against 1000/4 and 1000/1: all three branches.
    const rs = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1000 };
    const { spec, src } = randomModel({ ...TINY_LLAMA_CONFIG, rope_scaling: rs }, 4);
    const exp = await mergedGgufFile({ checkpoint: await Checkpoint.open(src), spec }, src, null, { type: 'f16', name: 'l3' });
    const g = await writeAndRead(exp.file, join(tmp, 'llama3.gguf'));
    const t = g.tensor('rope_freqs.weight');
    expect(t.type).toBe(0);
    expect(t.dims).toEqual([spec.HS / 2]);
    const want = llama3FactorsPy(spec.ropeTheta, spec.HS, rs);
    expect(want.slice(0, 2)).toEqual([1, 1]);
    expect(want[3]).toBe(8);
    expect(want[2]).toBeGreaterThan(1);
    expect(want[2]).toBeLessThan(8);
    for (let i = 0; i < want.length; i++) expect(t.values[i]).toBeCloseTo(Math.fround(want[i]), 6);
    expect(g.parsed.typedMetadata['llama.rope.scaling.type']).toBeUndefined();
    expect(g.parsed.tensorInfos.length).toBe(1 + 2 * 9 + 2 + 1);
  });
});

describe('GGUF of a QA-LoRA run (merged exactly into the INT-4 base, then F16 or Q8_0)', () => {
  it('stories260K qalora-int4 g=4: F16 gives the eval loss of INT-4 base + adapter (f16 rounding), Q8_0 within 2%', async () => {
    const ctx = await testContext();
    const src = dirSource(STORIES);
    const config = JSON.parse(await src.text('config.json')) as Record<string, unknown>;
    const loaded = await loadModel(ctx, src, { quant: 'qalora-int4', groupSize: 4, dtype: 'f32' });
    const spec = loaded.spec;
    const h: LoraHyper = { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, qaloraGroupSize: 4 };
    const modules = resolveTargets(spec, parseTargets('all-linear'));
    const lora = new LoraState(ctx, modules, h);
    const r = rng(5);
    ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (r() * 2 - 1) * 0.3));
    const ids = Array.from({ length: 4 }, () => Array.from({ length: 48 }, () => 3 + Math.floor(r() * (spec.V - 3))));
    const batch = makeBatch(ids.map((x) => ({ ids: x })), 4, 48, 0);
    const unmerged = (await evaluate(ctx, new Transformer(ctx, spec, loaded.weights, lora, { B: 4, T: 48, training: false }), [batch])).loss;
    const quantBase = (await evaluate(ctx, new Transformer(ctx, spec, loaded.weights, null, { B: 4, T: 48, training: false }), [batch])).loss;
    expect(Math.abs(unmerged - quantBase)).toBeGreaterThan(1e-3); // the adapter is visible
    const adapter = { modules, weights: await lora.tensors(), h };
    const linears = await readQuantizedLinears(ctx, loaded);
    for (const [type, bound] of [['f16', 2e-3], ['q8_0', 2e-2]] as const) {
      const exp = await mergedGgufFile(loaded, src, adapter, { type, name: 'qa', quantized: { mode: 'qalora-int4', groupSize: 4, linears } });
      expect(exp.notes.join(' ')).toMatch(/QA-LoRA|INT-?4|dequantiz/i);
      const g = await writeAndRead(exp.file, join(tmp, `qalora-${type}.gguf`));
      expect(g.parsed.typedMetadata['general.file_type'].value).toBe(type === 'f16' ? 1 : 7);
      const loss = await evalLoss(spec, sourceOf(config, hfTensorsFromGguf(g, spec, loaded.checkpoint.names())), ids);
      expect(Math.abs(loss - unmerged), type).toBeLessThan(bound * unmerged);
    }
  });
});
