// Saved activations: the exact default recomputes the norm outputs and the MLP hidden in the
// backward (checked against finite differences and PEFT references by transformer.test.ts, and bit
// for bit against checkpointing there); 'f16' keeps the layers' saved tensors as packed f16. Here:
// f16-saved gradients stay within f16 rounding of the f32 ones, on Llama- and GPT-2-shaped models,
// with dropout and the LoRA head (memory.test.ts checks the f16 setting's bytes against the estimate).
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../data/batch';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { loadWeights } from '../model/weights';
import { rng, testContext } from '../test/gpu';
import { Transformer } from './transformer';
import type { SaveActivations } from './buffers';

describe("saveActivations 'f16'", () => {
  for (const [name, config] of [['llama', TINY_LLAMA_CONFIG], ['gpt2', TINY_GPT2_CONFIG]] as const) {
    it(`${name}: LoRA gradients within 1e-2 (relative to the largest) of the f32-saved ones`, async () => {
      const ctx = await testContext();
      const { spec, source } = randomModelSource('random', config, 3, 0.15);
      const weights = await loadWeights(ctx, spec, await Checkpoint.open(source), { dtype: 'f32', quant: 'none', groupSize: 32 });
      const modules = resolveTargets(spec, parseTargets('all-linear,lm_head'));
      const B = 2, T = 8;
      const r = rng(17);
      const examples = Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) }));
      const batch = makeBatch(examples, B, T, 0);
      const run = async (saveActivations: SaveActivations) => {
        const lora = new LoraState(ctx, modules, { r: 4, loraAlpha: 8, loraDropout: 0.2, useRslora: false });
        lora.resetOptimizer();
        const pr = rng(9);
        ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (pr() * 2 - 1) * 0.2));
        const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, saveActivations });
        model.writeBatch(batch);
        ctx.write(model.seed, new Uint32Array([77]));
        ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
        ctx.run(model.trainProgram!);
        return { g: await ctx.readF32(lora.grads, 0, lora.total) };
      };
      const f32 = await run('f32');
      const f16 = await run('f16');
      const scale = Math.max(...f32.g.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-3);
      let maxDiff = 0;
      for (let i = 0; i < f32.g.length; i++) maxDiff = Math.max(maxDiff, Math.abs(f16.g[i] - f32.g[i]));
      expect(maxDiff).toBeLessThan(1e-2 * scale);
      expect(maxDiff).toBeGreaterThan(0); // the f16 path ran: its rounding shows
    });
  }
});
