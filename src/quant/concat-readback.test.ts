// quant/concat.ts through loadWeights: every module's view of a concatenated group reads
// back (readQuantized, what the QA-LoRA merge export writes) exactly the codes, scales and zero
// points of the same module loaded into its own buffers (concatGroups false), for each format and
// for a merged QA-LoRA checkpoint loaded prequantized (f32 zero points); and the merged model's
// eval loss is the same either way.
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../data/batch';
import { mergeCheckpoint } from '../lora/merge';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { parseConfig } from '../model/config';
import { quantConfigJson } from '../model/qalora-checkpoint';
import { resolveKeyPrefix } from '../model/modules';
import { randomCheckpointFiles, TINY_LLAMA_CONFIG } from '../model/random';
import { serializeSafetensors } from '../model/safetensors-writer';
import { memorySource } from '../model/source';
import { loadWeights, type ModelWeights } from '../model/weights';
import { Transformer } from '../net/transformer';
import { rng, testContext } from '../test/gpu';
import { evaluate } from '../train/trainer';
import type { GpuContext } from '../gpu/context';
import type { QuantizedHost, QuantMode } from './formats';
import { readQuantized } from './gpu';
import { isQuantWeight } from './weight';

const QWEN_CONFIG = { ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1 };

/** Every quantized decoder linear read back, by module name, with whether it is a view at offset > 0. */
async function readAll(ctx: GpuContext, w: ModelWeights) {
  const out = new Map<string, { h: QuantizedHost; offset: number }>();
  for (const layer of w.layers) for (const lw of layer.linear.values()) if (isQuantWeight(lw.W)) out.set(lw.module.name, { h: await readQuantized(ctx, lw.W), offset: lw.W.offset ?? 0 });
  return out;
}

function expectSame(a: Map<string, { h: QuantizedHost; offset: number }>, b: Map<string, { h: QuantizedHost; offset: number }>) {
  expect([...a.keys()]).toEqual([...b.keys()]);
  expect([...a.values()].filter((v) => v.offset > 0).length).toBeGreaterThan(0); // views past the first row block
  for (const [name, { h }] of a) {
    const s = b.get(name)!.h;
    for (const k of ['codes', 'scales', 'zeros', 'extra'] as const) {
      expect(h[k] === null ? null : Array.from(h[k]!), `${name}.${k}`).toEqual(s[k] === null ? null : Array.from(s[k]!));
    }
  }
}

describe('concatenated quantized groups read back per module', () => {
  for (const [cfgName, config] of [['llama', TINY_LLAMA_CONFIG], ['qwen2', QWEN_CONFIG]] as const) {
    for (const quant of ['int8', 'nf4', 'qalora-int4', 'qalora-int3', 'qalora-int2'] as QuantMode[]) {
      it(`${cfgName} ${quant}: each view reads back its own matrix`, async () => {
        const ctx = await testContext();
        const { spec, files } = randomCheckpointFiles(config, 3, 0.1);
        const ckpt = await Checkpoint.open(memorySource('r', files));
        const cat = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant, groupSize: 4 });
        const sep = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant, groupSize: 4, concatGroups: false });
        const [q, k] = ['q_proj', 'k_proj'].map((kind) => cat.layers[1].linear.get(kind)!.W);
        expect(isQuantWeight(q) && isQuantWeight(k) && q.codes === k.codes).toBe(true);
        expect(cat.quantBytes).toBe(sep.quantBytes);
        expect(cat.bytes).toBe(sep.bytes);
        expectSame(await readAll(ctx, cat), await readAll(ctx, sep));
      });
    }
  }

  it('a merged QA-LoRA checkpoint (f32 zero points) loaded prequantized: the same tensors and loss as separate buffers', async () => {
    const ctx = await testContext();
    const config = QWEN_CONFIG;
    const { spec, files } = randomCheckpointFiles(config, 4, 0.1);
    const ckpt = await Checkpoint.open(memorySource('r', files));
    const g = 4, mode = 'qalora-int4' as const;
    const weights = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant: mode, groupSize: g });
    const modules = resolveTargets(spec, parseTargets('all-linear'));
    const h = { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, qaloraGroupSize: g };
    const lora = new LoraState(ctx, modules, h);
    const r = rng(5);
    ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (r() * 2 - 1) * 0.3));
    const key = resolveKeyPrefix(ckpt.names(), spec);
    const quantized = new Map<string, QuantizedHost>();
    for (const layer of weights.layers) for (const lw of layer.linear.values()) if (isQuantWeight(lw.W)) quantized.set(key(lw.module.weightKey), await readQuantized(ctx, lw.W));
    const merged = await mergeCheckpoint(ckpt, spec, modules, await lora.tensors(), h, undefined, quantized);
    const outCfg = { ...config, quantization_config: quantConfigJson({ mode, bits: 4, groupSize: g }) };
    const mCkpt = await Checkpoint.open(memorySource('m', new Map<string, Uint8Array | string>([['config.json', JSON.stringify(outCfg)], ['model.safetensors', serializeSafetensors(merged.tensors)]])));
    const mSpec = parseConfig(outCfg, 'm/config.json');
    const pre = { mode, bits: 4, groupSize: g };
    const cat = await loadWeights(ctx, mSpec, mCkpt, { dtype: 'f32', prequantized: pre });
    const sep = await loadWeights(ctx, mSpec, mCkpt, { dtype: 'f32', prequantized: pre, concatGroups: false });
    const q = cat.layers[0].linear.get('q_proj')!.W, k = cat.layers[0].linear.get('k_proj')!.W;
    expect(isQuantWeight(q) && isQuantWeight(k) && q.codes === k.codes && !!q.zerosF32).toBe(true);
    expect(cat.quantBytes).toBe(sep.quantBytes);
    expectSame(await readAll(ctx, cat), await readAll(ctx, sep));
    const B = 2, T = 12;
    const batch = makeBatch(Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) })), B, T, 0);
    const lc = await evaluate(ctx, new Transformer(ctx, mSpec, cat, null, { B, T, training: false }), [batch]);
    const ls = await evaluate(ctx, new Transformer(ctx, mSpec, sep, null, { B, T, training: false }), [batch]);
    expect(Math.abs(lc.loss - ls.loss)).toBeLessThanOrEqual(1e-6 * ls.loss);
  });
});
