// The memory estimate against hand-computed numbers for SmolLM2-135M (its real config.json), and
// against the engine's own buffer accounting on the real stories260K model.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { parseConfig } from '../model/config';
import { loadModel } from '../model/load';
import { Transformer } from '../net/transformer';
import { testContext } from '../test/gpu';
import { Trainer } from '../train/trainer';
import { adviceFamilies, baseWeightBytes, bufferWords, estimateMemory, judgeFit, type MemoryInput } from './memory';
import { minGroupsFor } from '../ops/matmul';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const smol = parseConfig(JSON.parse(readFileSync(`${SHARED}configs/SmolLM2-135M.json`, 'utf8')), 'SmolLM2-135M.json');

const base: MemoryInput = {
  spec: smol, weightBytes: 2, quant: 'none', groupSize: 32, r: 8, targetModules: 'attention', batchSize: 4, seqLen: 256, gradCheckpointing: false,
};

// Hand numbers for SmolLM2-135M (C 576, FF 1536, L 30, 9 heads, 3 KV heads, head_dim 64, V 49152, tied head):
//   embedding 49152·576 = 28,311,552; per layer q 331,776 + k 110,592 + v 110,592 + o 331,776
//   + gate/up/down 3·884,736 = 3,538,944 linear + 2·576 norm = 3,540,096; ×30 = 106,202,880;
//   final norm 576 → 134,515,008 parameters.
const PARAMS = 134_515_008;
const LINEAR = 30 * 3_538_944; // 106,168,320 quantizable (decoder-block linears)
const REST = PARAMS - LINEAR; // 28,346,688: embedding + norms, kept at the storage dtype

describe('memory estimate: SmolLM2-135M by hand', () => {
  it('bytes per quantized parameter match the budgeting table', () => {
    const perParam = (q: Parameters<typeof baseWeightBytes>[2], g = 32) => (baseWeightBytes(smol, 2, q, g) - REST * 2) / LINEAR;
    expect(perParam('nf4')).toBe(0.5625);
    // ≈ 4.127 bits; the engine also keeps the 256-entry dynamic code (1 KiB) with each matrix
    expect(perParam('nf4-dq')).toBeCloseTo(0.516, 2);
    expect(perParam('nf4-dq')).toBeGreaterThan(0.5159);
    expect(perParam('qalora-int4')).toBe(0.625); // 4/8 + 4/32
    expect(perParam('qalora-int3', 64)).toBe(3 / 8 + 4 / 64);
    expect(perParam('qalora-int2', 64)).toBe(2 / 8 + 4 / 64);
    // a group that does not tile 576-wide rows leaves those matrices unquantized (as the engine does)
    expect(perParam('qalora-int2', 128)).toBeGreaterThan(2 / 8 + 4 / 128);
  });

  it('base weights in each mode', () => {
    const e = estimateMemory(base);
    expect(e.modelParams).toBe(PARAMS);
    expect(e.baseWeights).toBe(269_030_016); // f16: 2 bytes each
    expect(baseWeightBytes(smol, 4, 'none', 32)).toBe(538_060_032);
    // nf4: 106,168,320 · 0.5625 = 59,719,680 + 28,346,688 · 2 = 56,693,376
    expect(baseWeightBytes(smol, 2, 'nf4', 32)).toBe(116_413_056);
    // int8: 1 byte each + a 4-byte scale per output row (per layer rows 576+192+192+576+1536+1536+576 = 5184)
    expect(baseWeightBytes(smol, 2, 'int8', 32)).toBeCloseTo(LINEAR + 30 * 5184 * 4 + REST * 2, 3);
    expect(baseWeightBytes(smol, 2, 'int8', 32)).toBeCloseTo(163_483_776, 3);
    // QA-LoRA INT4, g = 32: 0.625 B → 66,355,200 + 56,693,376
    expect(baseWeightBytes(smol, 2, 'qalora-int4', 32)).toBe(123_048_576);
  });

  it('trainable parameters and LoRA state', () => {
    // attention = q_proj, v_proj; r 8: q 8·(576+576) = 9216, v 8·(576+192) = 6144 → 15,360 · 30
    const e = estimateMemory(base);
    expect(e.trainableParams).toBe(460_800);
    // params + grads + m + v in f32 = 16 B each, plus the optimizer's step counter and partial sums
    expect(e.lora).toBeGreaterThanOrEqual(460_800 * 16);
    expect(e.lora).toBeLessThan(460_800 * 16 + 4096);
    // all-linear, r 16: per layer 16·(1152 + 768 + 768 + 1152 + 2112·2 + 2112) = 16·10,176 = 162,816
    expect(estimateMemory({ ...base, targetModules: 'all-linear', r: 16 }).trainableParams).toBe(30 * 162_816);
    // + lm_head: 16·(576 + 49152) = 795,648 more
    expect(estimateMemory({ ...base, targetModules: 'all-linear,lm_head', r: 16 }).trainableParams).toBe(30 * 162_816 + 795_648);
    // QA-LoRA: A sees the group-pooled input (in/32): q 8·(18+576) = 4752, v 8·(18+192) = 1680
    expect(estimateMemory({ ...base, quant: 'qalora-int4' }).trainableParams).toBe(30 * (4752 + 1680));
  });

  it('activations for batch 4 × 256 tokens', () => {
    // N = 1024 rows. Per layer (f32 values): att, resMid 2·N·576; mean/rstd 4·N; qkv N·960; lse N·9;
    // gate|up N·3072 → 5,321,728 values = 21,286,912 B; ×30 layers. The norm outputs (ln1, ln2) and
    // the MLP hidden h are recomputed in the backward: one N·576 and one N·1536 buffer for all layers.
    const perLayer = 4 * (2 * 1024 * 576 + 4 * 1024 + 1024 * 960 + 1024 * 9 + 1024 * 3072);
    // Fixed: one logits chunk of 320 rows (64 MiB budget / (V·4 B) = 341 rows, down to a multiple of 64:
    // 62,914,560 B), inputs 4·N, lnf N·576, lastHidden 576, losses/meanf/rstdf 3·N, rope 32,
    // seed/lossScale/stats 16 B each, the shared ln N·576 and h N·1536.
    const fixed = 62_914_560 + 4 * (4 * 1024 + 1024 * 576 + 576 + 3 * 1024 + 32) + 3 * 16 + 4 * 1024 * (576 + 1536);
    // LoRA u per module N·8 (60 modules; q|v of a layer share one [2, N, 8] buffer), residual stream
    // 31·N·576, LoRA scratch gB 2·N·8 (one block per module of the q|v group; dropout is applied in
    // the matmul loads and the adapter's input gradient in the frozen product's epilogue),
    // backward dres, dln, datt N·576 each, dh N·1536, dgu N·3072, dqkv N·960, D N·9.
    const lora = 60 * 1024 * 8 * 4 + 31 * 1024 * 576 * 4 + 2 * 1024 * 8 * 4;
    const backward = 4 * 1024 * (3 * 576 + 1536 + 3072 + 960 + 9);
    // Split-K partials of one layer's modules, kept until the layer's one reduce, over the 1024 tokens
    // on a hardware GPU's tiling, 8 chunks of 128 tokens each, one [M, N] partial per chunk:
    // q_proj's dA [8, 576] and dB [576, 8], v_proj's dA [8, 576] and dB [192, 8].
    const splitK = 4 * 8 * (8 * 576 + 576 * 8 + 8 * 576 + 192 * 8);
    const e = estimateMemory(base);
    expect(e.activations).toBe(30 * perLayer + fixed + lora + backward + splitK);
    expect(e.activations).toBe(818_145_712);
    expect(e.largestBuffer).toEqual({ label: 'logits', bytes: 62_914_560 });
    expect(e.total).toBe(e.baseWeights + e.lora + e.activations);
    // Activation checkpointing keeps one set of layer buffers instead of 30.
    expect(estimateMemory({ ...base, gradCheckpointing: true }).activations).toBe(818_145_712 - 29 * perLayer);
    // f16-saved activations: each layer's resid, qkv, att, resMid and gate|up at 2 bytes a value
    // instead of 4, plus f32 work buffers for them (the stream's two: N·576 each).
    const saved = 4 * 1024 * (576 + 960 + 576 + 576 + 3072);
    const work = 4 * 1024 * (960 + 576 + 576 + 3072 + 2 * 576);
    expect(estimateMemory({ ...base, saveActivations: 'f16' }).activations).toBe(818_145_712 - (30 * saved) / 2 + work);
    expect(estimateMemory({ ...base, saveActivations: 'f16', gradCheckpointing: true }).activations).toBe(818_145_712 - 29 * perLayer);
  });

  it('judges fit against the budget and names changes that fit', () => {
    const GiB = 2 ** 30;
    const limits = { maxBufferSize: 2 * GiB, budgetBytes: 4 * GiB };
    expect(judgeFit(base, limits).verdict).toBe('fits'); // ≈ 1.03 GiB of 4
    const tight = judgeFit(base, { ...limits, budgetBytes: 1.2 * GiB });
    expect(tight.verdict).toBe('tight');
    const big = judgeFit({ ...base, batchSize: 16, seqLen: 512 }, limits);
    expect(big.verdict).toBe('wont-fit');
    expect(big.reason).toMatch(/more than the 4\.00 GiB budget/);
    expect(big.advice.length).toBeGreaterThan(0);
    for (const a of big.advice) {
      // every suggestion names a total below the budget
      const m = /→ ([\d.]+) (GiB|MiB)$/.exec(a);
      expect(m, a).not.toBeNull();
      expect(Number(m![1]) * (m![2] === 'GiB' ? GiB : 2 ** 20)).toBeLessThan(0.75 * 4 * GiB);
    }
    const oneBuffer = judgeFit(base, { maxBufferSize: 58 * 2 ** 20, budgetBytes: 64 * GiB });
    expect(oneBuffer.verdict).toBe('wont-fit');
    expect(oneBuffer.reason).toMatch(/^the output logits \(one chunk\) need [\d.]+ MiB in one buffer, more than this GPU allows/);
  });

  it('names buffers in words a user knows', () => {
    expect(bufferWords('gu.0')).toBe('the MLP activations of one layer');
    expect(bufferWords('qkv.12')).toBe('the attention queries, keys and values of one layer');
    expect(bufferWords('u.model.layers.0.self_attn.q_proj')).toBe("one adapter's LoRA activations");
    expect(bufferWords('whatever')).toBe('one of the training buffers');
  });

  it('advice respects the model: sequence lengths within its maximum, cheapest change first', () => {
    const GiB = 2 ** 30;
    const small = { ...smol, maxT: 512 };
    const inp: MemoryInput = { ...base, spec: small, seqLen: 100000, batchSize: 1 };
    const seqs = adviceFamilies(inp).flat().flatMap(([, c]) => (c.seqLen === undefined ? [] : [c.seqLen]));
    expect(seqs[0]).toBe(512);
    expect(Math.max(...seqs)).toBeLessThanOrEqual(512);
    expect(adviceFamilies(inp)[0]).toEqual([]); // batch size 1: no smaller batch to offer
    const fit = judgeFit(inp, { maxBufferSize: 2 * GiB, budgetBytes: 8 * GiB });
    expect(fit.verdict).toBe('wont-fit');
    for (const a of fit.advice) {
      const t = /sequence length (\d+)/.exec(a);
      if (t) expect(Number(t[1])).toBeLessThanOrEqual(512);
      expect(a).not.toMatch(/batch size 0/);
    }
    // Ordered by cost: a smaller batch before f16-saved activations before checkpointing before a 4-bit base before a shorter sequence.
    const order = judgeFit({ ...base, batchSize: 16, seqLen: 512 }, { maxBufferSize: 2 * GiB, budgetBytes: 4 * GiB }).advice;
    const kind = (a: string) => ['batch size', 'saved activations f16', 'activation checkpointing', 'quantized base', 'sequence length', 'rank'].findIndex((k) => a.includes(k));
    const kinds = order.map(kind);
    expect(kinds).toEqual([...kinds].sort((x, y) => x - y));
    expect(new Set(kinds).size).toBe(kinds.length); // one suggestion per kind of change
    // A QA-LoRA base is offered only when its groups divide every target's input.
    const odd = adviceFamilies({ ...base, groupSize: 7 })[3].map(([w]) => w);
    expect(odd).toEqual(['quantized base: nf4']);
  });

  it('advice offers f16-saved activations after a smaller batch, before checkpointing, only while they are f32 and checkpointing is off', () => {
    const GiB = 2 ** 30;
    // 1.02 GiB with f32 activations; "fits" is ≤ 0.75 · 1.2 GiB = 921.6 MiB: half the batch (683.7 MiB),
    // f16 activations (731.1 MiB) and checkpointing (455.1 MiB) each fit.
    const lim = { maxBufferSize: 2 * GiB, budgetBytes: 1.2 * GiB };
    const fit = judgeFit(base, lim);
    expect(fit.verdict).toBe('tight');
    expect(fit.advice.slice(0, 3)).toEqual([
      'batch size 2 (raise gradient accumulation to keep the effective batch) → 683.7 MiB',
      'saved activations f16 (gradients within f16 rounding) → 731.1 MiB',
      'turn on activation checkpointing → 455.1 MiB',
    ]);
    const half = (inp: MemoryInput) => adviceFamilies(inp).flat().filter(([, c]) => c.saveActivations !== undefined);
    expect(half(base)).toEqual([['saved activations f16 (gradients within f16 rounding)', { saveActivations: 'f16' }]]);
    expect(half({ ...base, saveActivations: 'f32' })).toHaveLength(1);
    expect(half({ ...base, saveActivations: 'f16' })).toEqual([]); // already f16
    expect(half({ ...base, gradCheckpointing: true })).toEqual([]); // saves nothing under checkpointing
    expect(judgeFit({ ...base, saveActivations: 'f16' }, lim).advice.join('\n')).not.toMatch(/saved activations/);
  });

  it('when no single change fits, the cheaper combination is named: f16 activations before checkpointing', () => {
    const GiB = 2 ** 30;
    const long: MemoryInput = { ...base, batchSize: 1, seqLen: 2048 };
    // Lean settings (batch 1, T 256, nf4): 267.9 MiB with f16 activations, 198.9 MiB with checkpointing.
    const roomy = judgeFit(long, { maxBufferSize: 2 * GiB, budgetBytes: 0.4 * GiB }); // fits ≤ 307.2 MiB
    expect(roomy.advice).toEqual(['combine them: saved activations f16, batch size 1, sequence length ≤ 256 and a 4-bit base → 267.9 MiB']);
    const tight = judgeFit(long, { maxBufferSize: 2 * GiB, budgetBytes: 0.3 * GiB }); // fits ≤ 230.4 MiB
    expect(tight.advice).toEqual(['combine them: checkpointing, batch size 1, sequence length ≤ 256 and a 4-bit base → 198.9 MiB']);
    // Already checkpointing: f16 would save nothing, so it is not named.
    const ckpt = judgeFit({ ...long, gradCheckpointing: true }, { maxBufferSize: 2 * GiB, budgetBytes: 0.3 * GiB });
    expect(ckpt.advice).toEqual(['combine them: checkpointing, batch size 1, sequence length ≤ 256 and a 4-bit base → 198.9 MiB']);
    expect(judgeFit(long, { maxBufferSize: 2 * GiB, budgetBytes: 0.1 * GiB }).advice).toEqual(['choose a smaller model: even the leanest settings need more than this GPU has']);
  });
});

describe('memory estimate: the engine agrees (stories260K on the GPU)', () => {
  it('base weight bytes and training-graph buffers match what the engine allocates', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(`${SHARED}models/stories260K`));
    const inp: MemoryInput = {
      spec: m.spec, weightBytes: 4, quant: 'none', groupSize: 32, r: 4, targetModules: 'all-linear,lm_head', batchSize: 4, seqLen: 64, gradCheckpointing: false,
      tiling: { limits: ctx.device.limits, minGroups: minGroupsFor(ctx) }, // the split-K scratch follows the device's tiling
    };
    const sizes: number[] = [];
    for (const [gradCheckpointing, saveActivations] of [[false, 'f32'], [true, 'f32'], [false, 'f16'], [true, 'f16']] as const) {
      const est = estimateMemory({ ...inp, gradCheckpointing, saveActivations });
      sizes.push(est.activations);
      expect(m.weights.bytes).toBe(est.baseWeights);
      const live0 = ctx.stats.liveBytes - ctx.stats.uniformBytes;
      const lora = new LoraState(ctx, resolveTargets(m.spec, parseTargets(inp.targetModules)), { r: inp.r, loraAlpha: 8, loraDropout: 0.1, useRslora: false });
      const model = new Transformer(ctx, m.spec, m.weights, lora, { B: inp.batchSize, T: inp.seqLen, training: true, checkpointing: gradCheckpointing, saveActivations });
      new Trainer(ctx, model, lora, {
        lr: 1e-3, schedule: 'constant', warmupSteps: 0, totalSteps: 1, loraplusLrRatio: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, seed: 1,
      });
      const allocated = ctx.stats.liveBytes - ctx.stats.uniformBytes - live0;
      expect(allocated).toBe(est.lora + est.activations);
    }
    expect(sizes[2]).toBeLessThan(sizes[0]); // f16 saves memory on stories260K's 5 layers
  });

  it('quantized bases and the QA-LoRA adapter: the same bytes as the engine', async () => {
    const ctx = await testContext();
    for (const quant of ['int8', 'nf4', 'nf4-dq', 'qalora-int4', 'qalora-int2'] as const) {
      const m = await loadModel(ctx, dirSource(`${SHARED}models/stories260K`), { quant, groupSize: 32 });
      const inp: MemoryInput = {
        spec: m.spec, weightBytes: 4, quant, groupSize: 32, r: 4, targetModules: 'q_proj,v_proj,o_proj,lm_head', batchSize: 2, seqLen: 32, gradCheckpointing: false,
        tiling: { limits: ctx.device.limits, minGroups: minGroupsFor(ctx) },
      };
      const est = estimateMemory(inp);
      expect(m.weights.bytes, quant).toBe(est.baseWeights);
      // down_proj (in 172) cannot be cut in groups of 32: kept unquantized, as the estimate assumes
      if (quant.startsWith('qalora')) expect(m.weights.unquantized.map((u) => u.name)).toEqual([0, 1, 2, 3, 4].map((l) => `model.layers.${l}.mlp.down_proj`));
      const live0 = ctx.stats.liveBytes - ctx.stats.uniformBytes;
      const h = { r: inp.r, loraAlpha: 8, loraDropout: 0, useRslora: false, qaloraGroupSize: quant.startsWith('qalora') ? 32 : undefined };
      const lora = new LoraState(ctx, resolveTargets(m.spec, parseTargets(inp.targetModules)), h);
      expect(lora.total).toBe(est.trainableParams);
      const model = new Transformer(ctx, m.spec, m.weights, lora, { B: inp.batchSize, T: inp.seqLen, training: true });
      new Trainer(ctx, model, lora, {
        lr: 1e-3, schedule: 'constant', warmupSteps: 0, totalSteps: 1, loraplusLrRatio: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, seed: 1,
      });
      expect(ctx.stats.liveBytes - ctx.stats.uniformBytes - live0, quant).toBe(est.lora + est.activations);
    }
  });
});
