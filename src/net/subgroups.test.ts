// A training step with GpuContext.subgroups (the row reductions of the norms, the cross-entropy and
// the loss sum on subgroup operations) against the same step on the default tree path: the loss
// and every LoRA gradient agree within 1e-5 relative, on a Llama (RMSNorm) and a GPT-2
// (LayerNorm) model. Skipped, saying so, where the adapter has no 'subgroups' feature.
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../data/batch';
import type { GpuContext } from '../gpu/context';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { loadWeights } from '../model/weights';
import { rng, testContext, testContextSubgroups } from '../test/gpu';
import { STAT_TRAIN_LOSS } from './buffers';
import { Transformer } from './transformer';

const ctxSg = await testContextSubgroups();
const SKIP = ctxSg ? '' : ' (skipped: the adapter has no subgroups feature)';

/** One training step (forward, loss, backward) of a random model on `ctx`: the summed loss and the LoRA gradients. */
async function step(ctx: GpuContext, config: Record<string, unknown>) {
  const { spec, source } = randomModelSource('random', config, 3, 0.15);
  const weights = await loadWeights(ctx, spec, await Checkpoint.open(source), { dtype: 'f32', quant: 'none', groupSize: 32 });
  const modules = resolveTargets(spec, parseTargets('all-linear,lm_head'));
  const lora = new LoraState(ctx, modules, { r: 4, loraAlpha: 8, loraDropout: 0.1, useRslora: false });
  lora.resetOptimizer();
  const pr = rng(9);
  ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (pr() * 2 - 1) * 0.2));
  const B = 3, T = 37;
  const r = rng(23);
  const batch = makeBatch(Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) })), B, T, 0);
  const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true });
  const reducers = model.trainProgram!.steps.flatMap((s) =>
    s.kind === 'dispatch' && ['norm', 'crossentropy'].includes(s.d.kernel.spec.shader) ? [s.d.kernel.spec.defines!.SUBGROUPS] : [],
  );
  model.writeBatch(batch);
  ctx.write(model.seed, new Uint32Array([77]));
  ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
  ctx.run(model.trainProgram!);
  const loss = (await ctx.readF32(model.stats, STAT_TRAIN_LOSS * 4, 1))[0];
  return { loss, g: await ctx.readF32(lora.grads, 0, lora.total), reducers };
}

describe('training step with subgroup reductions', () => {
  for (const [name, config] of [['llama', TINY_LLAMA_CONFIG], ['gpt2', TINY_GPT2_CONFIG]] as const) {
    it.skipIf(!ctxSg)(`${name}: loss and LoRA gradients within 1e-5 relative of the tree path's${SKIP}`, async () => {
      const tree = await step(await testContext(), config);
      const sub = await step(ctxSg!, config);
      expect(tree.reducers.length).toBeGreaterThan(0);
      expect(tree.reducers.every((v) => v === false)).toBe(true);
      expect(sub.reducers.every((v) => v === true)).toBe(true);
      expect(tree.loss).toBeGreaterThan(1);
      expect(Math.abs(sub.loss - tree.loss)).toBeLessThanOrEqual(1e-5 * tree.loss);
      const scale = Math.max(...tree.g.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-3);
      let maxDiff = 0;
      for (let i = 0; i < tree.g.length; i++) maxDiff = Math.max(maxDiff, Math.abs(sub.g[i] - tree.g[i]));
      expect(maxDiff).toBeLessThanOrEqual(1e-5 * scale);
    });
  }
});
