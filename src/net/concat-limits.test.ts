// loadWeights' fallback when a q|k|v or gate|up group would exceed the device's
// maxStorageBufferBindingSize: the modules keep buffers of their own (the biases, still small,
// may share one), and training gives the same loss and LoRA gradients as concatGroups false.
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../data/batch';
import type { GpuContext } from '../gpu/context';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource, TINY_LLAMA_CONFIG } from '../model/random';
import { loadWeights, type ModelWeights } from '../model/weights';
import type { QuantMode } from '../quant/formats';
import { isQuantWeight } from '../quant/weight';
import { expectClose, rng, testContext } from '../test/gpu';
import { Transformer } from './transformer';

const QWEN_CONFIG = { ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1 };

/** `ctx` as seen through a device whose binding limit is `maxBinding` bytes (everything else the real device). */
function limited(ctx: GpuContext, maxBinding: number): GpuContext {
  const dev = ctx.device;
  const limits = new Proxy(dev.limits, { get: (t, p) => (p === 'maxStorageBufferBindingSize' ? maxBinding : Reflect.get(t, p, t)) });
  const device = new Proxy(dev, {
    get: (t, p) => {
      if (p === 'limits') return limits;
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return Object.create(ctx, { device: { value: device } }) as GpuContext;
}

function buf(w: ModelWeights, kind: string) {
  const W = w.layers[0].linear.get(kind)!.W;
  return isQuantWeight(W) ? W.codes : W.buffer;
}

describe('groups above the binding limit stay separate', () => {
  for (const quant of ['none', 'int8'] as QuantMode[]) {
    it(`qwen2 ${quant}: q|k|v and gate|up over the limit load one buffer per module and train as before`, async () => {
      const ctx = await testContext();
      const { spec, source } = randomModelSource('random', QWEN_CONFIG, 3, 0.15);
      const ckpt = await Checkpoint.open(source);
      // q [32, 32] f32 = 4096 bytes fits; q|k|v [48, 32] = 6144 and gate|up [88, 32] do not (int8: q 1024, gate 1408, q|k|v 1536).
      const max = quant === 'none' ? 5000 : 1500;
      const small = await loadWeights(limited(ctx, max), spec, ckpt, { dtype: 'f32', quant, groupSize: 4 });
      expect(buf(small, 'k_proj')).not.toBe(buf(small, 'q_proj'));
      expect(buf(small, 'up_proj')).not.toBe(buf(small, 'gate_proj'));
      const sep = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant, groupSize: 4, concatGroups: false });
      const B = 2, T = 9;
      const r = rng(41);
      const batch = makeBatch(Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) })), B, T, 0);
      const run = async (weights: ModelWeights) => {
        const lora = new LoraState(ctx, resolveTargets(spec, parseTargets('all-linear')), { r: 4, loraAlpha: 8, loraDropout: 0.2, useRslora: false });
        lora.resetOptimizer();
        const pr = rng(9);
        ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (pr() * 2 - 1) * 0.2));
        const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true });
        model.writeBatch(batch);
        ctx.write(model.seed, new Uint32Array([123]));
        ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
        ctx.write(model.stats, new Float32Array(4));
        ctx.run(model.trainProgram!);
        return { loss: (await ctx.readF32(model.stats, 0, 1))[0], g: await ctx.readF32(lora.grads, 0, lora.total) };
      };
      const a = await run(small), b = await run(sep);
      expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(b.loss));
      expectClose('grads', a.g, b.g, 1e-6, 1e-4);
    });
  }
});
