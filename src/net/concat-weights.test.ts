// Frozen products over concatenated weights (model/weights.ts puts each q|k|v and gate|up group's
// dense weights, and biases, in one buffer; lora/linear.ts then runs the group's frozen forward
// and frozen input gradient as one product each, the adapters' parts in the epilogue) against one
// buffer and one product per module (loadWeights concatGroups false): the same loss and LoRA
// gradients up to f32 rounding (the input gradient now sums over all of the group's rows at once),
// with dropout, on Llama (all-linear; q,v only, so k has no adapter), Qwen2 (q/k/v biases) and
// f16-stored weights, nf4, int8 and QA-LoRA INT4/3/2 bases, one dispatch per LoRA module,
// checkpointing and f16-saved activations (quant/concat.ts moves the codes into one
// set of buffers); the same logits without an adapter; six fewer dispatches per layer; and nf4-dq,
// which keeps one set of buffers per module.
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../data/batch';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource, TINY_LLAMA_CONFIG } from '../model/random';
import { loadWeights, type ModelWeights } from '../model/weights';
import { isQuantWeight } from '../quant/weight';
import type { WeightDType } from '../gpu/tensor';
import type { QuantMode } from '../quant/formats';
import { expectClose, rng, testContext } from '../test/gpu';
import type { TransformerOptions } from './options';
import { Transformer } from './transformer';

const QWEN_CONFIG = {
  ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1,
};

const CASES: { name: string; config: Record<string, unknown>; targets: string; dtype: WeightDType; quant?: QuantMode; opts?: Partial<TransformerOptions> }[] = [
  { name: 'llama all-linear', config: TINY_LLAMA_CONFIG, targets: 'all-linear', dtype: 'f32' },
  { name: 'llama q,v only (k without adapter), f16 weights', config: TINY_LLAMA_CONFIG, targets: 'q_proj,v_proj,up_proj', dtype: 'f16' },
  { name: 'qwen2 (q/k/v biases) all-linear + lm_head', config: QWEN_CONFIG, targets: 'all-linear,lm_head', dtype: 'f32' },
  { name: 'llama on an nf4 base (QLoRA)', config: TINY_LLAMA_CONFIG, targets: 'all-linear', dtype: 'f32', quant: 'nf4' },
  { name: 'qwen2 on a qalora-int4 base, group-pooled adapter (QA-LoRA)', config: QWEN_CONFIG, targets: 'all-linear', dtype: 'f32', quant: 'qalora-int4' },
  // Paths beyond the default options (groupLora false: the fused input gradient reads gB at j·rows·r).
  { name: 'grouping off (llama all-linear)', config: TINY_LLAMA_CONFIG, targets: 'all-linear', dtype: 'f32', opts: { groupLora: false } },
  { name: 'grouping off, k and gate without adapter (qwen2 biases)', config: QWEN_CONFIG, targets: 'q_proj,v_proj,up_proj,down_proj', dtype: 'f32', opts: { groupLora: false } },
  { name: 'activation checkpointing (qwen2 biases)', config: QWEN_CONFIG, targets: 'all-linear', dtype: 'f32', opts: { checkpointing: true } },
  { name: 'saved activations f16 (llama)', config: TINY_LLAMA_CONFIG, targets: 'all-linear', dtype: 'f32', opts: { saveActivations: 'f16' } },
  { name: 'int8 base', config: TINY_LLAMA_CONFIG, targets: 'all-linear', dtype: 'f32', quant: 'int8' },
  { name: 'qalora-int3 base', config: TINY_LLAMA_CONFIG, targets: 'all-linear', dtype: 'f32', quant: 'qalora-int3' },
  { name: 'qalora-int2 base, grouping off', config: QWEN_CONFIG, targets: 'all-linear', dtype: 'f32', quant: 'qalora-int2', opts: { groupLora: false } },
];

/** The buffer (a quantized weight's codes) and element offset of each module's weight in layer 0, by kind. */
function layout(w: ModelWeights) {
  return Object.fromEntries([...w.layers[0].linear].map(([kind, lw]) => [kind, {
    buffer: isQuantWeight(lw.W) ? lw.W.codes : lw.W.buffer, offset: lw.W.offset ?? 0, bias: lw.bias && { buffer: lw.bias.buffer, offset: lw.bias.offset ?? 0 },
  }]));
}

describe('frozen products over concatenated q|k|v and gate|up weights', () => {
  for (const c of CASES) {
    it(`${c.name}: loss and LoRA gradients as with one product per module`, async () => {
      const ctx = await testContext();
      const { spec, source } = randomModelSource('random', c.config, 3, 0.15);
      const ckpt = await Checkpoint.open(source);
      const modules = resolveTargets(spec, parseTargets(c.targets));
      const B = 2, T = 9;
      const r = rng(41);
      const examples = Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) }));
      const batch = makeBatch(examples, B, T, 0);
      const run = async (concatGroups: boolean) => {
        const weights = await loadWeights(ctx, spec, ckpt, { dtype: c.dtype, concatGroups, quant: c.quant, groupSize: 4 });
        if (c.quant) expect(weights.quantParams).toBeGreaterThan(0);
        const lora = new LoraState(ctx, modules, { r: 4, loraAlpha: 8, loraDropout: 0.2, useRslora: false, qaloraGroupSize: c.quant?.startsWith('qalora') ? 4 : undefined });
        lora.resetOptimizer();
        const pr = rng(9);
        ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (pr() * 2 - 1) * 0.2));
        const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, ...c.opts });
        model.writeBatch(batch);
        ctx.write(model.seed, new Uint32Array([123]));
        ctx.write(model.lossScale, new Float32Array([1 / batch.predicted]));
        ctx.write(model.stats, new Float32Array(4));
        ctx.run(model.trainProgram!);
        const labels = model.trainProgram!.steps.flatMap((st) => (st.kind === 'dispatch' ? [st.d.label] : []));
        return { weights, labels, loss: (await ctx.readF32(model.stats, 0, 1))[0], g: await ctx.readF32(lora.grads, 0, lora.total) };
      };
      const cat = await run(true);
      const sep = await run(false);
      // The layout: q, k, v (and gate, up) row blocks of one buffer; one buffer each without concatenation.
      const lc = layout(cat.weights), ls = layout(sep.weights);
      const qRows = spec.NH * spec.HS, kvRows = spec.NKV * spec.HS;
      expect(lc.k_proj.buffer).toBe(lc.q_proj.buffer);
      expect(lc.v_proj.buffer).toBe(lc.q_proj.buffer);
      expect([lc.q_proj.offset, lc.k_proj.offset, lc.v_proj.offset]).toEqual([0, qRows * spec.C, (qRows + kvRows) * spec.C]);
      expect(lc.up_proj.buffer).toBe(lc.gate_proj.buffer);
      expect(lc.up_proj.offset).toBe(spec.FF * spec.C);
      expect(lc.o_proj.buffer).not.toBe(lc.q_proj.buffer);
      expect(ls.k_proj.buffer).not.toBe(ls.q_proj.buffer);
      if (spec.qkvBias) expect([lc.k_proj.bias!.buffer === lc.q_proj.bias!.buffer, lc.v_proj.bias!.offset]).toEqual([true, qRows + kvRows]);
      expect(cat.weights.bytes).toBe(sep.weights.bytes);
      // One forward and one input-gradient product per group and layer instead of one per module.
      expect(cat.labels.filter((l) => /q_proj\|k_proj\|v_proj\.(fwd|dinp)$/.test(l)).length).toBe((c.opts?.checkpointing ? 3 : 2) * spec.L - 1);
      // Checkpointing runs each layer's forward twice (three more saved per layer); QA-LoRA with one
      // dispatch per module also pools the adapter input once per group instead of once per module.
      const saved = sep.labels.length - cat.labels.length;
      if (c.opts) expect(saved).toBeGreaterThanOrEqual(6 * spec.L - 2 + (c.opts.checkpointing ? 3 * spec.L : 0));
      else expect(saved).toBe(6 * spec.L - 2);
      expect(Math.abs(cat.loss - sep.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(sep.loss));
      expect(Math.max(...cat.g.map(Math.abs))).toBeGreaterThan(1e-3);
      expectClose('grads', cat.g, sep.g, 1e-5, 1e-4);
    });
  }

  it('without an adapter: the same logits; an nf4-dq base keeps one set of buffers per module', async () => {
    const ctx = await testContext();
    const { spec, source } = randomModelSource('random', TINY_LLAMA_CONFIG, 5, 0.15);
    const ckpt = await Checkpoint.open(source);
    const B = 1, T = 7;
    const r = rng(3);
    const batch = makeBatch([{ ids: Array.from({ length: T + 1 }, () => Math.floor(r() * spec.V)) }], B, T, 0);
    const logits = async (concatGroups: boolean) => {
      const model = new Transformer(ctx, spec, await loadWeights(ctx, spec, ckpt, { dtype: 'f32', concatGroups }), null, { B, T, training: false });
      model.writeBatch(batch);
      ctx.run(model.logitsProgram!);
      return ctx.readF32(model.logits, 0, B * T * spec.V);
    };
    expectClose('logits', await logits(true), await logits(false), 1e-6, 1e-5);
    const dq = await loadWeights(ctx, spec, ckpt, { dtype: 'f32', quant: 'nf4-dq', groupSize: 4 });
    const [q, k] = ['q_proj', 'k_proj'].map((kind) => dq.layers[0].linear.get(kind)!.W);
    expect(isQuantWeight(q) && isQuantWeight(k) && q.codes !== k.codes).toBe(true);
  });
});
