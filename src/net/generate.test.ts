// Generation with a KV cache on random Llama-, Qwen2- and GPT-2-shaped checkpoints (with LoRA on
// every linear module and the head): the prefill and every decode step give the logits the full
// causal forward gives at that position, and greedy decoding that outgrows the cache (a context
// restart) picks the same tokens as recomputing the whole context for each token.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import type { QuantMode } from '../quant/formats';
import { expectClose, rng, testContext } from '../test/gpu';
import { Checkpoint } from '../model/checkpoint';
import type { ModelSpec } from '../model/config';
import { generateTokens, Generator } from './generate';
import { randomModelSource, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { Transformer } from './transformer';
import { loadWeights, type ModelWeights } from '../model/weights';

const QWEN_CONFIG = { ...TINY_LLAMA_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, num_key_value_heads: 1 };

async function setup(ctx: GpuContext, config: Record<string, unknown>, quant: QuantMode, targets: string, qalora: boolean) {
  const { spec, source } = randomModelSource('random', config, 3, 0.15);
  const weights = await loadWeights(ctx, spec, await Checkpoint.open(source), { dtype: 'f32', quant, groupSize: 4 });
  const lora = new LoraState(ctx, resolveTargets(spec, parseTargets(targets)), { r: 3, loraAlpha: 6, loraDropout: 0, useRslora: false, qaloraGroupSize: qalora ? 4 : undefined });
  const r = rng(17);
  ctx.write(lora.params, Float32Array.from({ length: lora.total }, () => (r() * 2 - 1) * 0.3)); // B ≠ 0: the adapter matters
  return { spec, weights, lora };
}

/** Logits [T, V] of one sequence (padded to T) by the plain causal forward. */
async function fullLogits(ctx: GpuContext, spec: ModelSpec, weights: ModelWeights, lora: LoraState | null, ids: number[], T: number): Promise<Float32Array> {
  const m = new Transformer(ctx, spec, weights, lora, { B: 1, T, training: false });
  const tokens = new Uint32Array(T);
  tokens.set(ids);
  m.writeBatch({ tokens, targets: new Int32Array(T).fill(-100), pos: Uint32Array.from({ length: T }, (_, i) => i), segStart: new Uint32Array(T), predicted: 0 });
  ctx.run(m.logitsProgram!);
  return ctx.readF32(m.logits, 0, T * spec.V);
}

const CASES: [string, Record<string, unknown>, QuantMode, string, boolean][] = [
  ['llama (GQA, LoRA on all linear + head)', TINY_LLAMA_CONFIG, 'none', 'all-linear,lm_head', false],
  ['qwen2 (q/k/v bias, MQA, tied head)', QWEN_CONFIG, 'none', 'all-linear', false],
  ['gpt2 (learned positions, fused c_attn)', TINY_GPT2_CONFIG, 'none', 'all-linear,lm_head', false],
  ['llama on a qalora-int4 base (pooled adapter)', TINY_LLAMA_CONFIG, 'qalora-int4', 'all-linear', true],
];

describe('generation with a KV cache', () => {
  for (const [name, config, quant, targets, qalora] of CASES) {
    it(`${name}: prefill and each decode step equal the full forward at that position`, async () => {
      const ctx = await testContext();
      const { spec, weights, lora } = await setup(ctx, config, quant, targets, qalora);
      const S = 23; // positions compared; the cache holds 24
      const r = rng(5);
      const ids = Array.from({ length: S }, () => Math.floor(r() * spec.V));
      const want = await fullLogits(ctx, spec, weights, lora, ids, 24);
      const gen = new Generator(ctx, spec, weights, lora, { T: 24 });
      const V = spec.V;
      const P = 6;
      expectClose('prefill', await gen.prefillLogits(ids.slice(0, P)), want.subarray((P - 1) * V, P * V), 1e-4, 1e-3);
      for (let t = P; t < S; t++) expectClose(`decode at ${t}`, await gen.stepLogits(ids[t], t), want.subarray(t * V, (t + 1) * V), 1e-4, 1e-3);
      // A new prompt reuses the same graphs and cache.
      expectClose('second prefill', await gen.prefillLogits(ids.slice(0, 3)), want.subarray(2 * V, 3 * V), 1e-4, 1e-3);
    });
  }

  it('greedy decoding past the cache capacity restarts from the recent half and matches recomputation', async () => {
    const ctx = await testContext();
    const { spec, weights, lora } = await setup(ctx, TINY_LLAMA_CONFIG, 'none', 'all-linear', false);
    const T = 8;
    const prompt = [1, 7, 9];
    const gen = new Generator(ctx, spec, weights, lora, { T });
    const got: number[] = [];
    for await (const id of generateTokens(ctx, gen, prompt, { maxNewTokens: 20 })) got.push(id);
    expect(got).toHaveLength(20);
    // The rule, recomputed: the context is the last tokens, and when it would exceed T it restarts
    // from the most recent floor(T/2).
    const ids = [...prompt];
    let ctxStart = 0;
    const want: number[] = [];
    for (let n = 0; n < 20; n++) {
      if (ids.length - ctxStart > T) ctxStart = ids.length - Math.floor(T / 2);
      const window = ids.slice(ctxStart);
      const logits = await fullLogits(ctx, spec, weights, lora, window, T);
      const row = logits.subarray((window.length - 1) * spec.V, window.length * spec.V);
      let best = 0;
      for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
      want.push(best);
      ids.push(best);
    }
    expect(got).toEqual(want);
  });

  it('the context is capped at the model maximum and attention window', async () => {
    const ctx = await testContext();
    const { spec, weights } = await setup(ctx, { ...TINY_LLAMA_CONFIG, model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 16 }, 'none', 'all-linear', false);
    expect(new Generator(ctx, spec, weights, null, { T: 1000 }).T).toBe(16);
    const g2 = await setup(ctx, TINY_GPT2_CONFIG, 'none', 'all-linear', false);
    expect(new Generator(ctx, g2.spec, g2.weights, null, { T: 1000 }).T).toBe(64);
  });
});
