// Whole-model checks on random Llama-, Qwen2- and GPT-2-shaped checkpoints: LoRA gradients
// against central finite differences of the model's loss, merge equivalence, PEFT round trip,
// determinism, gradient accumulation and divergence detection.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { makeBatch, type Example } from '../data/batch';
import { mergeLinear } from '../lora/merge';
import { exportAdapter, importAdapter, loraScaling, type LoraHyper } from '../lora/peft';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { rng, testContext } from '../test/gpu';
import { evaluate, Trainer, TrainingDivergedError } from '../train/trainer';
import { Checkpoint } from '../model/checkpoint';
import type { ModelSpec } from '../model/config';
import { linearModules } from '../model/modules';
import { randomModelSource, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { serializeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { memorySource } from '../model/source';
import { Transformer, type Batch } from './transformer';
import { loadWeights, type ModelWeights } from '../model/weights';
import type { QuantMode } from '../quant/formats';

const QWEN_CONFIG = {
  ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1,
};

async function setup(ctx: GpuContext, config: Record<string, unknown>, seed = 3, quant: QuantMode = 'none', groupSize = 4) {
  const { spec, source } = randomModelSource('random', config, seed, 0.15);
  const ckpt = await Checkpoint.open(source);
  const weights = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant, groupSize });
  return { spec, ckpt, weights, source };
}

function randomExamples(spec: ModelSpec, n: number, len: number, seed: number): Example[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({ ids: Array.from({ length: Math.max(2, len - (i % 3)) }, () => Math.floor(r() * spec.V)) }));
}

/** Two examples packed into row 1 (positions restart, attention must not cross). */
function packedBatch(spec: ModelSpec, B: number, T: number, seed: number): Batch {
  const b = makeBatch(randomExamples(spec, B, T, seed), B, T, 0);
  if (B > 1) {
    const cut = Math.floor(T / 2);
    for (let t = cut; t < T; t++) {
      b.pos[T + t] = t - cut;
      b.segStart[T + t] = cut;
    }
    // The token before the cut belongs to the first example: it must not predict across.
    if (b.targets[T + cut - 1] !== -100) {
      b.targets[T + cut - 1] = -100;
      b.predicted--;
    }
  }
  return b;
}

async function randomizeLora(lora: LoraState, seed: number, scale = 0.2) {
  const r = rng(seed);
  const host = Float32Array.from({ length: lora.total }, () => (r() * 2 - 1) * scale);
  lora.ctx.write(lora.params, host);
  return host;
}

async function evalLoss(ctx: GpuContext, model: Transformer, batch: Batch): Promise<number> {
  return (await evaluate(ctx, model, [batch])).loss;
}

const CASES: [string, Record<string, unknown>, string][] = [
  ['llama (GQA, untied head, packed row)', TINY_LLAMA_CONFIG, 'all-linear,lm_head'],
  ['qwen2 (q/k/v bias, MQA, tied head)', QWEN_CONFIG, 'all-linear'],
  ['gpt2 (Conv1D, fused c_attn, learned positions)', TINY_GPT2_CONFIG, 'all-linear,lm_head'],
];

/** Quantized bases: QLoRA (NF4 + double quantization, int8) and QA-LoRA (INT4/INT2 base, pooled adapter). */
const QUANT_CASES: [string, Record<string, unknown>, QuantMode, boolean][] = [
  ['llama on an nf4-dq base (QLoRA)', TINY_LLAMA_CONFIG, 'nf4-dq', false],
  ['gpt2 on an int8 base', TINY_GPT2_CONFIG, 'int8', false],
  ['llama on a qalora-int4 base, group-pooled adapter (QA-LoRA)', TINY_LLAMA_CONFIG, 'qalora-int4', true],
  ['gpt2 on a qalora-int2 base, group-pooled adapter (QA-LoRA)', TINY_GPT2_CONFIG, 'qalora-int2', true],
];

async function gradCheck(name: string, config: Record<string, unknown>, targets: string, quant: QuantMode = 'none', qalora = false): Promise<void> {
  const ctx = await testContext();
  const { spec, weights } = await setup(ctx, config, 3, quant, 4);
  if (quant !== 'none') expect(weights.quantParams).toBeGreaterThan(0);
  const modules = resolveTargets(spec, parseTargets(targets));
  const lora = new LoraState(ctx, modules, { r: 3, loraAlpha: 6, loraDropout: 0, useRslora: false, qaloraGroupSize: qalora ? 4 : undefined });
  lora.resetOptimizer();
  const host = await randomizeLora(lora, 11);
  const B = 2, T = 9;
  const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true });
  const batch = packedBatch(spec, B, T, 5);
  model.writeBatch(batch);
  ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
  ctx.run(model.trainProgram!);
  const grads = await ctx.readF32(lora.grads, 0, lora.total);

  // Probe the largest gradients of each group plus some random coordinates.
  const r = rng(99);
  const idx = new Set<number>();
  for (const g of lora.groups) {
    const order = Array.from({ length: g.n }, (_, i) => g.offset + i).sort((a, b) => Math.abs(grads[b]) - Math.abs(grads[a]));
    order.slice(0, 5).forEach((i) => idx.add(i));
    for (let k = 0; k < 3; k++) idx.add(g.offset + Math.floor(r() * g.n));
  }
  const eps = 2e-3;
  let checked = 0;
  for (const i of idx) {
    const orig = host[i];
    host[i] = orig + eps;
    ctx.write(lora.params, host);
    const lp = await evalLoss(ctx, model, batch);
    host[i] = orig - eps;
    ctx.write(lora.params, host);
    const lm = await evalLoss(ctx, model, batch);
    host[i] = orig;
    const fd = (lp - lm) / (2 * eps);
    const g = grads[i];
    const tol = 3e-2 * Math.max(Math.abs(fd), Math.abs(g)) + 5e-4;
    if (!(Math.abs(fd - g) <= tol)) throw new Error(`${name}: param ${i}: analytic ${g}, finite difference ${fd}`);
    checked++;
  }
  ctx.write(lora.params, host);
  expect(checked).toBeGreaterThanOrEqual(10);
  // The probe is meaningful: the largest gradients are not vanishingly small.
  expect(Math.max(...[...idx].map((i) => Math.abs(grads[i])))).toBeGreaterThan(1e-3);
}

describe('LoRA gradients of the whole model vs central finite differences', () => {
  for (const [name, config, targets] of CASES) it(name, () => gradCheck(name, config, targets));
  for (const [name, config, quant, qalora] of QUANT_CASES) it(name, () => gradCheck(name, config, 'all-linear', quant, qalora));
});

/** Logits of the first `rows` positions for one batch. */
async function logitsOf(ctx: GpuContext, spec: ModelSpec, weights: ModelWeights, lora: LoraState | null, batch: Batch, B: number, T: number) {
  const model = new Transformer(ctx, spec, weights, lora, { B, T, training: false });
  model.writeBatch(batch);
  ctx.run(model.logitsProgram!);
  return ctx.readF32(model.logits, 0, B * T * spec.V);
}

describe('adapter export and merge', () => {
  for (const [name, config, targets] of [CASES[0], CASES[2]]) {
    // A tied head cannot be merged without also changing the input embedding.
    const tgt = spec0Tied(config) ? 'all-linear' : targets;
    it(`${name}: PEFT round trip and W + s·B·A merge reproduce the unmerged logits`, async () => {
      const ctx = await testContext();
      const { spec, ckpt, weights } = await setup(ctx, config, 8);
      const modules = resolveTargets(spec, parseTargets(tgt));
      const h: LoraHyper = { r: 4, loraAlpha: 7, loraDropout: 0.1, useRslora: true };
      const lora = new LoraState(ctx, modules, h);
      await randomizeLora(lora, 21, 0.3);
      const B = 2, T = 7;
      const batch = makeBatch(randomExamples(spec, B, T, 2), B, T, 0);
      const want = await logitsOf(ctx, spec, weights, lora, batch, B, T);
      const base = await logitsOf(ctx, spec, weights, null, batch, B, T);

      // PEFT files → import → same logits.
      const tensors = await lora.tensors();
      const exp = exportAdapter(spec, h, modules, tensors, 'random');
      const imp = importAdapter(spec, exp.configJson, exp.safetensors, 'adapter_model.safetensors');
      expect(imp.h).toEqual(h);
      const lora2 = new LoraState(ctx, imp.modules, imp.h);
      lora2.load(imp.weights);
      const got2 = await logitsOf(ctx, spec, weights, lora2, batch, B, T);
      expect(Math.max(...got2.map((v, i) => Math.abs(v - want[i])))).toBe(0);

      // Merge into a new checkpoint (in the checkpoint's own layout) and load it without LoRA.
      const s = loraScaling(h);
      const byWeight = new Map(modules.map((m) => [m.weightKey, m]));
      const out: TensorToWrite[] = [];
      for (const n of ckpt.names()) {
        const info = ckpt.info(n);
        let data = await ckpt.readF32(n);
        const m = byWeight.get(n);
        if (m) data = mergeLinear(m, data, tensors.get(m.name)!, h.r, s);
        out.push({ name: n, dtype: 'F32', shape: info.shape, data });
      }
      const mergedSrc = memorySource('merged', new Map<string, Uint8Array | string>([['model.safetensors', serializeSafetensors(out)]]));
      const merged = await loadWeights(ctx, spec, await Checkpoint.open(mergedSrc), { dtype: 'f32' });
      const got = await logitsOf(ctx, spec, merged, null, batch, B, T);
      let maxErr = 0;
      let maxDelta = 0;
      for (let i = 0; i < want.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
        maxDelta = Math.max(maxDelta, Math.abs(want[i] - base[i]));
      }
      expect(maxDelta).toBeGreaterThan(0.05); // the adapter really changes the output
      expect(maxErr).toBeLessThan(2e-4 * Math.max(1, maxDelta));
    });
  }
});

function spec0Tied(config: Record<string, unknown>): boolean {
  return config.model_type === 'gpt2' ? config.tie_word_embeddings !== false : config.tie_word_embeddings === true;
}

describe('training loop properties', () => {
  it('gradient accumulation over two micro-batches equals one batch twice as large', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_LLAMA_CONFIG);
    const modules = resolveTargets(spec, parseTargets('q_proj,v_proj,down_proj'));
    const T = 8;
    const ex = randomExamples(spec, 2, T, 31);
    const grads = async (B: number, micro: Batch[]) => {
      const lora = new LoraState(ctx, modules, { r: 2, loraAlpha: 4, loraDropout: 0, useRslora: false });
      lora.resetOptimizer();
      await randomizeLora(lora, 4);
      const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true });
      const total = micro.reduce((a, b) => a + b.predicted, 0);
      ctx.write(model.lossScale, new Float32Array([1 / total]));
      for (const b of micro) {
        model.writeBatch(b);
        ctx.run(model.trainProgram!);
      }
      return ctx.readF32(lora.grads, 0, lora.total);
    };
    const one = await grads(2, [makeBatch(ex, 2, T, 0)]);
    const two = await grads(1, [makeBatch([ex[0]], 1, T, 0), makeBatch([ex[1]], 1, T, 0)]);
    const scale = Math.max(...one.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-4);
    for (let i = 0; i < one.length; i++) expect(Math.abs(one[i] - two[i])).toBeLessThan(1e-5 + 1e-4 * scale);
  });

  it('activation checkpointing gives the same gradients with less memory', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_LLAMA_CONFIG);
    const modules = resolveTargets(spec, parseTargets('all-linear,lm_head'));
    const B = 2, T = 8;
    const batch = makeBatch(randomExamples(spec, B, T, 17), B, T, 0);
    const grads = async (checkpointing: boolean) => {
      const lora = new LoraState(ctx, modules, { r: 2, loraAlpha: 4, loraDropout: 0.3, useRslora: false });
      lora.resetOptimizer();
      await randomizeLora(lora, 9);
      const data = () => ctx.stats.liveBytes - ctx.stats.uniformBytes;
      const before = data();
      const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, checkpointing });
      const bytes = data() - before;
      model.writeBatch(batch);
      ctx.write(model.seed, new Uint32Array([1234]));
      ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
      ctx.run(model.trainProgram!);
      return { g: await ctx.readF32(lora.grads, 0, lora.total), bytes };
    };
    const full = await grads(false);
    const ckpt = await grads(true);
    expect(Math.max(...full.g.map(Math.abs))).toBeGreaterThan(1e-4);
    expect(Array.from(ckpt.g)).toEqual(Array.from(full.g));
    expect(ckpt.bytes).toBeLessThan(full.bytes);
  });

  it('split-K LoRA gradients (dA, dB over B·T tokens) match the unsplit ones and are bit-reproducible', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_LLAMA_CONFIG);
    const modules = resolveTargets(spec, parseTargets('all-linear'));
    const B = 5, T = 60; // 300 tokens: K is cut into 3 chunks of 128 (the last one partial)
    const batch = makeBatch(randomExamples(spec, B, T, 23), B, T, 0);
    const grads = async (splitKMinGroups: number) => {
      const lora = new LoraState(ctx, modules, { r: 4, loraAlpha: 8, loraDropout: 0.2, useRslora: false });
      lora.resetOptimizer();
      await randomizeLora(lora, 5);
      const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, splitKMinGroups });
      const reduces = model.trainProgram!.steps.filter((st) => st.kind === 'dispatch' && st.d.label.endsWith('.lora.reduce')).length;
      model.writeBatch(batch);
      ctx.write(model.seed, new Uint32Array([99]));
      ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
      ctx.run(model.trainProgram!);
      return { g: await ctx.readF32(lora.grads, 0, lora.total), reduces };
    };
    const plain = await grads(1);
    const split1 = await grads(1 << 20);
    const split2 = await grads(1 << 20);
    expect(plain.reduces).toBe(0);
    expect(split1.reduces).toBe(spec.L); // one reduce per layer for all its modules' dA and dB
    expect(Array.from(split2.g)).toEqual(Array.from(split1.g));
    const scale = Math.max(...plain.g.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-4);
    for (let i = 0; i < plain.g.length; i++) expect(Math.abs(split1.g[i] - plain.g[i])).toBeLessThan(1e-6 + 1e-4 * scale);
  });

  it('the output head in row chunks gives the same loss and gradients as in one piece', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_GPT2_CONFIG);
    const modules = resolveTargets(spec, parseTargets('all-linear,lm_head'));
    const B = 2, T = 40;
    const batch = makeBatch(randomExamples(spec, B, T, 23), B, T, 0);
    const run = async (headChunkBytes?: number) => {
      const lora = new LoraState(ctx, modules, { r: 2, loraAlpha: 4, loraDropout: 0, useRslora: false });
      lora.resetOptimizer();
      await randomizeLora(lora, 3);
      const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, headChunkBytes });
      model.writeBatch(batch);
      ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
      ctx.write(model.stats, new Float32Array(4));
      ctx.run(model.trainProgram!);
      const loss = (await ctx.readF32(model.stats, 0, 1))[0];
      return { rows: model.headRows, loss, g: await ctx.readF32(lora.grads, 0, lora.total), evalLoss: (await evaluate(ctx, model, [batch])).loss };
    };
    const whole = await run();
    const chunked = await run(64 * spec.V * 4); // 64 rows per chunk: 80 rows → 64 + 16
    expect(whole.rows).toBe(80);
    expect(chunked.rows).toBe(64);
    expect(chunked.loss).toBeCloseTo(whole.loss, 3);
    expect(chunked.evalLoss).toBeCloseTo(whole.evalLoss, 6);
    const scale = Math.max(...whole.g.map(Math.abs));
    for (let i = 0; i < whole.g.length; i++) expect(Math.abs(chunked.g[i] - whole.g[i])).toBeLessThan(1e-6 + 1e-5 * scale);
  });

  it('the same seed gives the same run (dropout on, LoRA+), a different seed another', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_GPT2_CONFIG);
    const modules = resolveTargets(spec, parseTargets('all-linear'));
    const B = 2, T = 8;
    const batch = makeBatch(randomExamples(spec, B, T, 7), B, T, 0);
    const run = async (seed: number) => {
      const lora = new LoraState(ctx, modules, { r: 4, loraAlpha: 8, loraDropout: 0.2, useRslora: false });
      lora.initialize(seed);
      const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true });
      const tr = new Trainer(ctx, model, lora, {
        lr: 1e-2, schedule: 'constant', warmupSteps: 0, totalSteps: 3, loraplusLrRatio: 16, weightDecay: 0.01,
        beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, seed,
      });
      const losses = [];
      for (let i = 0; i < 3; i++) losses.push(await tr.trainStep([batch]));
      losses.push(await tr.flush());
      return { losses: losses.filter(Boolean).map((r) => r!.loss), params: await lora.readParams() };
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(a.losses).toEqual(b.losses);
    expect(Array.from(a.params)).toEqual(Array.from(b.params));
    expect(Array.from(a.params)).not.toEqual(Array.from(c.params));
    expect(a.losses[2]).toBeLessThan(a.losses[0]);
  });

  it('a non-finite loss stops training with a clear message', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_LLAMA_CONFIG);
    const lora = new LoraState(ctx, resolveTargets(spec, parseTargets('attention')), { r: 2, loraAlpha: 4, loraDropout: 0, useRslora: false });
    lora.initialize(1);
    const bad = new Float32Array(lora.total).fill(NaN);
    ctx.write(lora.params, bad);
    const model = new Transformer(ctx, spec, weights, lora, { B: 1, T: 6, training: true });
    const tr = new Trainer(ctx, model, lora, {
      lr: 1e-3, schedule: 'constant', warmupSteps: 0, totalSteps: 2, loraplusLrRatio: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, seed: 1,
    });
    const batch = makeBatch(randomExamples(spec, 1, 6, 1), 1, 6, 0);
    await tr.trainStep([batch]);
    await expect(tr.flush()).rejects.toThrow(TrainingDivergedError);
    await expect(
      (async () => {
        await tr.trainStep([batch]);
        return tr.flush();
      })(),
    ).rejects.toThrow(/diverged at step 2.*Lower the learning rate/);
  });

  it('the eval loss accumulates over batches and equals the mean of per-batch sums', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, TINY_LLAMA_CONFIG);
    const model = new Transformer(ctx, spec, weights, null, { B: 2, T: 6, training: false });
    const exs = randomExamples(spec, 4, 6, 3);
    const b1 = makeBatch(exs.slice(0, 2), 2, 6, 0);
    const b2 = makeBatch(exs.slice(2), 2, 6, 0);
    const l1 = await evaluate(ctx, model, [b1]);
    const l2 = await evaluate(ctx, model, [b2]);
    const both = await evaluate(ctx, model, [b1, b2]);
    expect(both.tokens).toBe(l1.tokens + l2.tokens);
    expect(both.loss).toBeCloseTo((l1.loss * l1.tokens + l2.loss * l2.tokens) / both.tokens, 5);
    expect(linearModules(spec).length).toBe(spec.L * 7 + 1);
  });
});
