// Grouped LoRA products (lora/linear.ts forwardGroup / backwardGroup: q|k|v and gate|up as one
// grouped dispatch each for loraA, gB, dB, dA) against one dispatch per module
// (TransformerOptions.groupLora false): the same loss and LoRA gradients bit for bit, on Llama-
// (all-linear, and q,v only), Qwen2- (q/k/v biases) and GPT-2-shaped random models and QA-LoRA,
// with dropout, with and without split-K; and the dispatches per layer of the SmolLM2-135M
// training step (the target: at most 50), also under saveActivations 'f16'.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dispatchesPerLayer } from '../cli/bench-dispatch';
import { makeBatch } from '../data/batch';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { loadWeights } from '../model/weights';
import type { QuantMode } from '../quant/formats';
import { rng, testContext } from '../test/gpu';
import { Transformer } from './transformer';

const QWEN_CONFIG = {
  ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1,
};

interface Case {
  name: string;
  config: Record<string, unknown>;
  targets: string;
  quant?: QuantMode;
  /** Force split-K of dA, dB (splitKMinGroups huge). */
  split?: boolean;
  /** Modules per grouped dispatch expected in a layer's labels ('|' joins them). */
  grouped: boolean;
}

const CASES: Case[] = [
  { name: 'llama all-linear', config: TINY_LLAMA_CONFIG, targets: 'all-linear', grouped: true },
  { name: 'llama all-linear, split-K', config: TINY_LLAMA_CONFIG, targets: 'all-linear', split: true, grouped: true },
  { name: 'llama q,v only, split-K', config: TINY_LLAMA_CONFIG, targets: 'q_proj,v_proj', split: true, grouped: true },
  { name: 'qwen2 (biases) all-linear + lm_head', config: QWEN_CONFIG, targets: 'all-linear,lm_head', grouped: true },
  { name: 'gpt2 all-linear + lm_head (groups of one)', config: TINY_GPT2_CONFIG, targets: 'all-linear,lm_head', split: true, grouped: false },
  { name: 'llama QA-LoRA (qalora-int4)', config: TINY_LLAMA_CONFIG, targets: 'all-linear', quant: 'qalora-int4', grouped: true },
];

describe('grouped LoRA products: the same bits as one dispatch per module', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const ctx = await testContext();
      const quant = c.quant ?? 'none';
      const { spec, source } = randomModelSource('random', c.config, 3, 0.15);
      const weights = await loadWeights(ctx, spec, await Checkpoint.open(source), { dtype: 'f32', quant, groupSize: 4 });
      const modules = resolveTargets(spec, parseTargets(c.targets));
      const B = c.split ? 5 : 2, T = c.split ? 60 : 9;
      const r = rng(31);
      const examples = Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) }));
      const batch = makeBatch(examples, B, T, 0);
      const run = async (groupLora: boolean) => {
        const lora = new LoraState(ctx, modules, { r: 4, loraAlpha: 8, loraDropout: 0.2, useRslora: false, qaloraGroupSize: quant === 'none' ? undefined : 4 });
        lora.resetOptimizer();
        const pr = rng(9);
        ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (pr() * 2 - 1) * 0.2));
        const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, groupLora, splitKMinGroups: c.split ? 1 << 20 : undefined });
        const labels = model.trainProgram!.steps.flatMap((st) => (st.kind === 'dispatch' ? [st.d.label] : []));
        model.writeBatch(batch);
        ctx.write(model.seed, new Uint32Array([123]));
        ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
        ctx.write(model.stats, new Float32Array(4));
        ctx.run(model.trainProgram!);
        const loss = await ctx.readF32(model.stats, 0, 1);
        const g = await ctx.readF32(lora.grads, 0, lora.total);
        return { labels, loss: new Uint32Array(loss.buffer), g: new Uint32Array(g.buffer), scale: Math.max(...g.map(Math.abs)) };
      };
      const grouped = await run(true);
      const separate = await run(false);
      expect(grouped.scale).toBeGreaterThan(1e-4);
      expect(grouped.loss).toEqual(separate.loss);
      expect(grouped.g).toEqual(separate.g);
      const joint = grouped.labels.filter((l) => l.includes('|'));
      // One dispatch per module for the LoRA products; the frozen products over concatenated q|k|v
      // and gate|up weights (net/concat-weights.test.ts) are one either way.
      expect(separate.labels.filter((l) => l.includes('|') && !/\.(fwd|dinp)$/.test(l))).toEqual([]);
      if (c.grouped) {
        expect(joint.length).toBeGreaterThan(0);
        expect(grouped.labels.length).toBeLessThan(separate.labels.length);
      } else {
        expect(joint).toEqual([]);
      }
      if (c.split) expect(grouped.labels.filter((l) => /^L\d+\.lora\.reduce$/.test(l)).length).toBe(spec.L);
      if (c.split && c.grouped) expect(joint.some((l) => l.endsWith('.dA'))).toBe(true);
    });
  }
});

describe('dispatches per decoder layer', () => {
  // One test for both (each count builds two SmolLM2-shaped graphs at B 4, T 512: the slow part).
  it("SmolLM2-135M (B 4, T 512, r 16, all-linear, dropout 0.05): at most 50 (57 with one dispatch per module); under saveActivations 'f16' at most 50, the f32 count + 2 (one pack, one unpack of the layer's saved tensors)", async () => {
    const ctx = await testContext();
    const config = JSON.parse(readFileSync(new URL('../../../shared/configs/SmolLM2-135M.json', import.meta.url), 'utf8'));
    const c = { B: 4, T: 512, r: 16, targetModules: 'all-linear', loraDropout: 0.05 };
    const f32 = await dispatchesPerLayer(ctx, config, c);
    expect(f32).toBeLessThanOrEqual(50);
    const f16 = await dispatchesPerLayer(ctx, config, { ...c, saveActivations: 'f16' });
    expect(f16).toBeLessThanOrEqual(50);
    expect(f16).toBe(f32 + 2);
  });
});
