// QA-LoRA's exact merge: the adapter folds into the zero points of the INT-N base, the codes stay
// unchanged, and the merged INT-N model (saved and loaded back as a checkpoint) reproduces the
// eval loss of base + adapter.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { makeBatch } from '../data/batch';
import { isQuantWeight } from '../quant/weight';
import { mergeCheckpoint } from '../lora/merge';
import { exportAdapter, importAdapter, type LoraHyper } from '../lora/peft';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { parseConfig, type ModelSpec } from '../model/config';
import { resolveKeyPrefix } from '../model/modules';
import { randomCheckpointFiles, TINY_GPT2_CONFIG } from '../model/random';
import { serializeSafetensors } from '../model/safetensors-writer';
import { memorySource, type ModelSource } from '../model/source';
import { Transformer } from '../net/transformer';
import { loadWeights } from '../model/weights';
import { rng, testContext } from '../test/gpu';
import { evaluate } from '../train/trainer';
import { type QuantizedHost } from '../quant/formats';
import { qaScaleZero } from '../quant/qalora';
import { readQuantized } from '../quant/gpu';
import { quantConfigJson, readQuantConfig } from '../model/qalora-checkpoint';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));

async function mergeRoundTrip(src: ModelSource, config: Record<string, unknown>, mode: 'qalora-int4' | 'qalora-int2', g: number, targets: string) {
  const ctx = await testContext();
  const spec: ModelSpec = parseConfig(config, 'config.json');
  const ckpt = await Checkpoint.open(src);
  const weights = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant: mode, groupSize: g });
  const modules = resolveTargets(spec, parseTargets(targets));
  const h: LoraHyper = { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, qaloraGroupSize: g };
  const lora = new LoraState(ctx, modules, h);
  const r = rng(5);
  ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (r() * 2 - 1) * 0.3));
  const B = 2, T = 16;
  const ex = Array.from({ length: B }, () => ({ ids: Array.from({ length: T }, () => Math.floor(r() * spec.V)) }));
  const batch = makeBatch(ex, B, T, 0);
  const unmerged = await evaluate(ctx, new Transformer(ctx, spec, weights, lora, { B, T, training: false }), [batch]);
  const base = await evaluate(ctx, new Transformer(ctx, spec, weights, null, { B, T, training: false }), [batch]);

  // PEFT export (A / L convention) and back: identical loss.
  const tensors = await lora.tensors();
  const exp = exportAdapter(spec, h, modules, tensors, 'base');
  expect(JSON.parse(exp.configJson)).toMatchObject({ use_qalora: true, qalora_group_size: g });
  const imp = importAdapter(spec, exp.configJson, exp.safetensors, 'adapter');
  const lora2 = new LoraState(ctx, imp.modules, imp.h);
  lora2.load(imp.weights);
  const reimported = await evaluate(ctx, new Transformer(ctx, spec, weights, lora2, { B, T, training: false }), [batch]);
  expect(Math.abs(reimported.loss - unmerged.loss)).toBeLessThan(1e-6 * unmerged.loss);

  // Merge into the zero points and save as a quantized checkpoint.
  const key = resolveKeyPrefix(ckpt.names(), spec);
  const quantized = new Map<string, QuantizedHost>();
  for (const layer of weights.layers) for (const lw of layer.linear.values()) if (isQuantWeight(lw.W)) quantized.set(key(lw.module.weightKey), await readQuantized(ctx, lw.W));
  expect(quantized.size).toBeGreaterThan(0);
  const merged = await mergeCheckpoint(ckpt, spec, modules, tensors, h, undefined, quantized);
  const outCfg: Record<string, unknown> = { ...config, quantization_config: quantConfigJson({ mode, bits: Number(mode.slice(-1)), groupSize: g }) };
  if (merged.untied) outCfg.tie_word_embeddings = false;
  const mSrc = memorySource('merged', new Map<string, Uint8Array | string>([['config.json', JSON.stringify(outCfg)], ['model.safetensors', serializeSafetensors(merged.tensors)]]));
  const mCkpt = await Checkpoint.open(mSrc);
  const pre = readQuantConfig(JSON.parse((await mSrc.text('config.json')) as string), 'config.json');
  expect(pre).toEqual({ mode, bits: Number(mode.slice(-1)), groupSize: g });
  const mSpec = parseConfig(outCfg, 'merged/config.json');
  const mWeights = await loadWeights(ctx, mSpec, mCkpt, { dtype: 'f32', prequantized: pre });
  expect(mWeights.quantParams).toBe(weights.quantParams);
  // f32 zero points (2 more bytes per group than the f16 ones of the training base).
  expect(mWeights.quantBytes).toBeGreaterThan(weights.quantBytes);
  expect(mWeights.quantBytes).toBeLessThan(1.5 * weights.quantBytes);

  // Codes are untouched by the merge; only zero points moved.
  const [name, q0] = [...quantized][0];
  const lw = mWeights.layers.flatMap((l) => [...l.linear.values()]).find((x) => key(x.module.weightKey) === name)!;
  if (!isQuantWeight(lw.W)) throw new Error(`${name} was not loaded quantized`);
  const q1 = await readQuantized(ctx, lw.W);
  expect(Array.from(q1.codes)).toEqual(Array.from(q0.codes));
  expect(q1.zeros).toBeInstanceOf(Float32Array);
  const z0 = Array.from({ length: q1.zeros!.length }, (_, j) => qaScaleZero(q0, j).z);
  expect(Array.from(q1.zeros!)).not.toEqual(z0);

  const mergedLoss = await evaluate(ctx, new Transformer(ctx, mSpec, mWeights, null, { B, T, training: false }), [batch]);
  return { base: base.loss, unmerged: unmerged.loss, merged: mergedLoss.loss, unquantized: weights.unquantized.length, untied: merged.untied };
}

describe('QA-LoRA exact merge into the INT-N model', () => {
  it('stories260K, qalora-int4, g=4, adapter also on the tied head (merged densely, head untied)', async () => {
    const src = dirSource(STORIES);
    const config = JSON.parse(await src.text('config.json')) as Record<string, unknown>;
    const r = await mergeRoundTrip(src, config, 'qalora-int4', 4, 'all-linear,lm_head');
    expect(r.unquantized).toBe(0);
    expect(r.untied).toBe(true);
    expect(Math.abs(r.unmerged - r.base)).toBeGreaterThan(1e-2); // the adapter matters
    expect(Math.abs(r.merged - r.unmerged) / r.unmerged).toBeLessThan(1e-4);
  });

  it('GPT-2-shaped (Conv1D), qalora-int2, g=8', async () => {
    const { files } = randomCheckpointFiles(TINY_GPT2_CONFIG, 4, 0.1);
    const r = await mergeRoundTrip(memorySource('gpt2', files), TINY_GPT2_CONFIG, 'qalora-int2', 8, 'all-linear');
    expect(r.unquantized).toBe(0);
    expect(Math.abs(r.unmerged - r.base)).toBeGreaterThan(1e-3);
    expect(Math.abs(r.merged - r.unmerged) / r.unmerged).toBeLessThan(1e-4);
  });

  it('a quantized checkpoint of another method is refused with a clear message', () => {
    expect(() => readQuantConfig({ quantization_config: { quant_method: 'gptq', bits: 4 } }, 'x/config.json')).toThrow(
      /x\/config\.json: quantization_config \(quant_method "gptq"\) is not supported/,
    );
  });
});
