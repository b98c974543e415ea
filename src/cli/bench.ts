// npm run bench -- [--model DIR | --preset tiny|smollm2-135m] [...]  → one JSON object on stdout.
// Measures training, eval and generation (KV cache) throughput of the current adapter path,
// matmul GFLOP/s against tfjs-backend-webgpu on the same device (bench-kernels.ts), the work recorded per training step, GPU objects created per step
// after warm-up (must be 0), bytes read back per step, and memory.
import type { GpuContext } from '../gpu/context';
import { batches, makeBatch, type Example } from '../data/batch';
import { LoraState } from '../lora/state';

import { countLoraParams, parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { countModelParams, type ModelSpec } from '../model/config';
import { readSpec } from '../model/load';
import { randomModelSource, TINY_LLAMA_CONFIG } from '../model/random';
import { generateTokens, Generator, sampleToken } from '../net/generate';
import { KvCache } from '../net/kvcache';
import { Transformer } from '../net/transformer';
import { loadWeights } from '../model/weights';
import { setDefaultMatmulKernel } from '../ops/matmul';
import { dispatchesPerLayer } from './bench-dispatch';
import { compareMatmuls, compareQuantMatmuls, matmulCases, profileFamilies, quantMatmulCases } from './bench-kernels';
import { isQalora, parseQuantMode, QUANT_MODES, theoreticalBytesPerParam } from '../quant/formats';
import { destroyQuantWeight, quantizeWeight } from '../quant/gpu';
import { linearModules } from '../model/modules';
import { parseConfig } from '../model/config';
import { evaluate, Trainer } from '../train/trainer';
import { gpuContext, num, openModelSource, parseCli, positiveInt, runCli, UsageError } from './common';
import { mulberry32 } from '../util/random';
import { estimateMemory } from '../plan/memory';
import { checkMatmulMath, parseActivations, parseMatmulMath } from './train-run';

const USAGE = `usage: npm run bench -- [--model DIR|ORG/NAME | --preset tiny|stories|smollm2-135m] [--batch-size N] [--seq-len N]
  [--steps N] [--lora-r N] [--target-modules LIST] (older names: --rank, --targets) [--dtype f32|f16] [--quant MODE] [--group-size G]
  [--profile] [--only train|matmul|matmul-quant|dispatch] [--runs N] [--matmul vec4|legacy] [--activations f32|f16] [--matmul-math f32|f16] [--subgroups]
--profile adds the training step's time per kernel family; --only runs one section (matmul: the
matmul rows against tfjs, and the quantized rows; matmul-quant: the quantized-B rows only, NF4 and QA-LoRA INT4
on the vec4 core against the legacy kernel, ratio = legacy time / vec4 time; dispatch: SmolLM2-135M's dispatches per layer only, under --activations); --runs: rounds per matmul row (median, default 5); --matmul legacy
builds the model on the previous 4×4 matmul kernel without split-K (before/after comparisons);
--activations f16 stores the activations kept for the backward as f16 (half their memory);
--matmul-math f16 builds the training model's dense matmuls with f16 products and f32 sums (needs a GPU with shader-f16);
--subgroups does the row reductions (norms, cross-entropy, gradient norm) with subgroup operations (needs a GPU with the
subgroups feature; config.subgroups in the JSON).
memory_smollm2_mib: the memory estimate (plan/memory.ts, the engine's buffer table) of SmolLM2-135M
training, B 4, T 512, r 16, all-linear, f16 weights, no checkpointing, per --activations setting.
Defaults adapt to the adapter: a small model on a software adapter (SwiftShader), SmolLM2-135M-shaped on a real GPU.`;

const PRESETS: Record<string, Record<string, unknown>> = {
  tiny: TINY_LLAMA_CONFIG,
  stories: {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5,
    num_attention_heads: 8, num_key_value_heads: 4, head_dim: 8, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5,
    rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
  },
  'smollm2-135m': {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
    num_attention_heads: 9, num_key_value_heads: 3, vocab_size: 49152, max_position_embeddings: 8192, rms_norm_eps: 1e-5,
    rope_theta: 100000, hidden_act: 'silu', tie_word_embeddings: true, bos_token_id: 0, eos_token_id: 0,
  },
};

/**
 * MiB of GPU memory SmolLM2-135M training needs (B 4, T 512, r 16, all-linear, f16 base weights,
 * no checkpointing), per saved-activation setting: the estimate, which sums the very buffer table
 * the Transformer allocates (memory.test.ts checks the two agree on stories260K).
 */
function smollm2Memory(): Record<string, { total: number; activations: number }> {
  const spec = parseConfig(PRESETS['smollm2-135m'], 'smollm2-135m');
  const MiB = 2 ** 20;
  const out: Record<string, { total: number; activations: number }> = {};
  for (const saveActivations of ['f32', 'f16'] as const) {
    const e = estimateMemory({
      spec, weightBytes: 2, quant: 'none', groupSize: 32, r: 16, targetModules: 'all-linear', batchSize: 4, seqLen: 512, gradCheckpointing: false, saveActivations,
    });
    out[saveActivations] = { total: Math.round(e.total / MiB), activations: Math.round(e.activations / MiB) };
  }
  return out;
}

/**
 * Base-weight bytes on the GPU per format for a SmolLM2-135M-shaped model: every decoder linear of
 * one layer (all 30 layers have the same shapes) is quantized on the GPU and its buffers counted.
 */
async function quantMemory(ctx: GpuContext, groupSize: number) {
  const spec = parseConfig(PRESETS['smollm2-135m'], 'smollm2-135m');
  const shapes = linearModules(spec).filter((m) => m.layer === 0);
  const rand = mulberry32(3);
  const data = shapes.map((m) => Float32Array.from({ length: m.outF * m.inF }, () => (rand() - 0.5) * 0.1));
  const out: Record<string, unknown> = { model: 'SmolLM2-135M shape (30 layers × 7 linears)', group_size: groupSize };
  for (const mode of QUANT_MODES) {
    if (mode === 'none') continue;
    let bytes = 0;
    let params = 0;
    for (let i = 0; i < shapes.length; i++) {
      const m = shapes[i];
      const w = await quantizeWeight(ctx, m.name, mode, data[i], m.outF, m.inF, groupSize);
      bytes += w.bytes;
      params += m.outF * m.inF;
      destroyQuantWeight(ctx, w);
    }
    const theory = shapes.reduce((a, m) => a + theoreticalBytesPerParam(mode, m.inF, groupSize) * m.outF * m.inF, 0) / params;
    out[mode] = {
      base_weight_bytes: bytes * spec.L, params: params * spec.L, bytes_per_param: bytes / params, theoretical_bytes_per_param: theory,
      ratio_to_theory: bytes / params / theory,
    };
  }
  return out;
}

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, preset: { type: 'string' }, 'batch-size': { type: 'string' }, 'seq-len': { type: 'string' },
      steps: { type: 'string' }, 'lora-r': { type: 'string' }, 'target-modules': { type: 'string' }, rank: { type: 'string' }, targets: { type: 'string' }, dtype: { type: 'string' },
      quant: { type: 'string' }, 'group-size': { type: 'string' }, profile: { type: 'boolean' }, only: { type: 'string' },
      runs: { type: 'string' }, matmul: { type: 'string' }, activations: { type: 'string' }, 'matmul-math': { type: 'string' }, subgroups: { type: 'boolean' },
    } as const,
    USAGE,
  );
  const matmulMath = parseMatmulMath(a['matmul-math'], undefined);
  const ctx = await gpuContext(!!a.profile, matmulMath === 'f16', a.subgroups ?? false);
  checkMatmulMath(ctx, matmulMath);
  const soft = ctx.adapter.isSoftware;
  const runs = num(a.runs, 'runs', 5, positiveInt);
  if (a.matmul !== undefined && a.matmul !== 'vec4' && a.matmul !== 'legacy') throw new UsageError('--matmul must be vec4 or legacy');
  setDefaultMatmulKernel(a.matmul === 'legacy' ? 'legacy' : 'auto');
  if (a.only !== undefined && !['train', 'matmul', 'matmul-quant', 'dispatch'].includes(a.only)) throw new UsageError('--only must be train, matmul, matmul-quant or dispatch');
  const saveActivations = parseActivations(a.activations, undefined);
  // Dispatches per decoder layer of a SmolLM2-135M training step (B 4, T 512, r 16, all-linear, LoRA dropout 0.05, --activations).
  const perLayer = async () => ({
    model: `SmolLM2-135M shape, B 4, T 512, r 16, all-linear, LoRA dropout 0.05, saved activations ${saveActivations ?? 'f32'}`,
    dispatches_per_layer: await dispatchesPerLayer(ctx, PRESETS['smollm2-135m'], { B: 4, T: 512, r: 16, targetModules: 'all-linear', loraDropout: 0.05, saveActivations }),
  });
  if (a.only === 'dispatch') {
    process.stdout.write(JSON.stringify({ device: ctx.adapter, smollm2: await perLayer() }, null, 1) + '\n');
    return;
  }
  // SmolLM2-135M's LoRA shapes: B 4, T 512, C 576, r 16.
  const matmulRows = async () => compareMatmuls(ctx, matmulCases(soft, 576, 4 * 512, 16), soft ? 2 : 10, runs);
  // Quantized B (NF4, QA-LoRA INT4): vec4 core vs legacy kernel, SmolLM2-135M's MLP (C 576, FF 1536).
  const quantRows = async () => compareQuantMatmuls(ctx, quantMatmulCases(576, 1536, soft ? 512 : 4 * 512), soft ? 2 : 10, runs);
  if (a.only === 'matmul') {
    process.stdout.write(JSON.stringify({ device: ctx.adapter, matmul: await matmulRows(), matmul_quant: await quantRows() }, null, 1) + '\n');
    return;
  }
  if (a.only === 'matmul-quant') {
    process.stdout.write(JSON.stringify({ device: ctx.adapter, matmul_quant: await quantRows() }, null, 1) + '\n');
    return;
  }
  let spec: ModelSpec;
  let ckpt: Checkpoint;
  let modelName: string;
  if (a.model) {
    const src = openModelSource(a.model);
    spec = await readSpec(src);
    ckpt = await Checkpoint.open(src);
    modelName = a.model;
  } else {
    const preset = a.preset ?? (soft ? 'stories' : 'smollm2-135m');
    const cfg = PRESETS[preset];
    if (!cfg) throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
    const r = randomModelSource(`random:${preset}`, cfg, 1, 0.02);
    spec = r.spec;
    ckpt = await Checkpoint.open(r.source);
    modelName = `random:${preset}`;
  }
  const dtype = (a.dtype ?? (soft ? 'f32' : 'f16')) as 'f32' | 'f16';
  const B = num(a['batch-size'], 'batch-size', soft ? 2 : 8, positiveInt);
  const T = Math.min(spec.maxT, num(a['seq-len'], 'seq-len', soft ? 64 : 512, positiveInt));
  const steps = num(a.steps, 'steps', soft ? 4 : 20, positiveInt);
  const rank = a['lora-r'] === undefined && a.rank !== undefined ? num(a.rank, 'rank', 8, positiveInt) : num(a['lora-r'], 'lora-r', 8, positiveInt);
  const targets = a['target-modules'] ?? a.targets ?? 'all-linear';

  const quant = parseQuantMode(a.quant ?? 'none');
  const groupSize = num(a['group-size'], 'group-size', 32, positiveInt);
  const weights = await loadWeights(ctx, spec, ckpt, { dtype, quant, groupSize });
  const modules = resolveTargets(spec, parseTargets(targets));
  const qalora = isQalora(quant) ? groupSize : undefined;
  const lora = new LoraState(ctx, modules, { r: rank, loraAlpha: 2 * rank, loraDropout: 0.05, useRslora: false, qaloraGroupSize: qalora });
  lora.initialize(1);
  const model = new Transformer(ctx, spec, weights, lora, { B, T, training: true, saveActivations, matmulMath });
  const trainer = new Trainer(ctx, model, lora, {
    lr: 1e-4, schedule: 'constant', warmupSteps: 0, totalSteps: steps + 2, loraplusLrRatio: 16, weightDecay: 0, beta1: 0.9, beta2: 0.999,
    eps: 1e-8, maxGradNorm: 1, seed: 1,
  });
  const rand = mulberry32(7);
  const examples: Example[] = Array.from({ length: B }, () => ({ ids: Array.from({ length: T }, () => Math.floor(rand() * spec.V)) }));
  const batch = makeBatch(examples, B, T, 0);

  // Warm-up: two steps (pipelines compiled, staging buffers for the one-step-late readback pooled).
  await trainer.trainStep([batch]);
  await trainer.trainStep([batch]);
  await trainer.flush();
  const created0 = ctx.stats.buffersCreated;
  const read0 = ctx.stats.bytesReadBack;
  const sub0 = ctx.stats.submissions;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await trainer.trainStep([batch]);
  await trainer.flush();
  await ctx.device.queue.onSubmittedWorkDone();
  const trainS = (performance.now() - t0) / 1000;
  const work = trainer.workPerStep(1);
  const train = {
    tokens_per_second: (B * T * steps) / trainS,
    step_ms: (trainS * 1000) / steps,
    dispatches_per_step: work.dispatches,
    submissions_per_step: (ctx.stats.submissions - sub0) / steps,
    buffers_created_per_step_after_first: (ctx.stats.buffersCreated - created0) / steps,
    bytes_read_back_per_step: (ctx.stats.bytesReadBack - read0) / steps,
    peak_gpu_bytes: ctx.stats.peakBytes,
    smollm2: await perLayer(),
  };
  const profile = a.profile ? await profileFamilies(ctx, model.trainProgram!, runs) : undefined;
  if (a.only === 'train') {
    const config = { batch_size: B, seq_len: T, rank, targets, trainable_params: countLoraParams(modules, rank), steps, matmul: a.matmul ?? 'vec4', activations: saveActivations, matmul_math: matmulMath, subgroups: ctx.subgroups };
    const out = { device: ctx.adapter, model: { name: modelName, layers: spec.L, hidden: spec.C }, config, train, profile, memory_smollm2_mib: smollm2Memory() };
    process.stdout.write(JSON.stringify(out, null, 1) + '\n');
    return;
  }

  const evalBatches = Array.from(batches(Array.from({ length: B * 2 }, (_, i) => examples[i % B]), B, T, 0));
  await evaluate(ctx, model, evalBatches.slice(0, 1));
  const e0 = performance.now();
  const ev = await evaluate(ctx, model, evalBatches);
  const evalS = (performance.now() - e0) / 1000;

  // Generation with the KV cache: prefill of a prompt, then decode steps (greedy), against one
  // forward over the whole window (what each token would cost without the cache).
  const genT = Math.min(spec.maxT, soft ? 64 : 512);
  const gen = new Generator(ctx, spec, weights, lora, { T: genT });
  const promptLen = Math.min(16, genT - 1);
  const newTokens = Math.min(soft ? 16 : 64, genT - promptLen);
  const promptIds = Array.from(examples[0].ids.slice(0, promptLen));
  for await (const _ of generateTokens(ctx, gen, promptIds, { maxNewTokens: 3 })) void _; // warm-up (pipelines)
  const g0 = performance.now();
  let logits = await gen.prefillLogits(promptIds);
  const prefillMs = performance.now() - g0;
  const gCreated = ctx.stats.buffersCreated;
  const gRead = ctx.stats.bytesReadBack;
  const d0 = performance.now();
  for (let i = 0; i < newTokens; i++) logits = await gen.stepLogits(sampleToken(logits, 0, 1, () => 0), promptLen + i);
  const decodeS = (performance.now() - d0) / 1000;
  const w0 = performance.now();
  ctx.run(gen.prefill.hiddenProgram);
  await ctx.device.queue.onSubmittedWorkDone();
  const windowMs = performance.now() - w0;
  const generate = {
    context: genT, prompt_tokens: promptLen, new_tokens: newTokens,
    prefill_ms: prefillMs,
    decode_ms_per_token: (decodeS * 1000) / newTokens,
    decode_tokens_per_second: newTokens / decodeS,
    window_forward_ms: windowMs, // one forward over the whole window: the per-token cost without a cache
    buffers_created_per_token: (ctx.stats.buffersCreated - gCreated) / newTokens,
    bytes_read_back_per_token: (ctx.stats.bytesReadBack - gRead) / newTokens,
    kv_cache_bytes: KvCache.bytes(spec, genT),
  };

  const mm = await matmulRows();
  const mmq = await quantRows();

  const result = {
    device: ctx.adapter,
    model: { name: modelName, type: spec.modelType, params: countModelParams(spec), weights_dtype: dtype, layers: spec.L, hidden: spec.C },
    config: { batch_size: B, seq_len: T, rank, targets, trainable_params: countLoraParams(modules, rank), lora_plus_ratio: 16, steps, activations: saveActivations, matmul_math: matmulMath, subgroups: ctx.subgroups },
    train,
    profile,
    eval: { tokens_per_second: (B * T * evalBatches.length) / evalS, loss: ev.loss },
    generate,
    matmul: mm,
    matmul_quant: mmq,
    memory: {
      peak_gpu_bytes: ctx.stats.peakBytes, base_weight_bytes: weights.bytes, quant, group_size: groupSize,
      quantized_params: weights.quantParams, quantized_bytes: weights.quantBytes,
      bytes_per_quantized_param: weights.quantParams ? weights.quantBytes / weights.quantParams : null,
    },
    quant_memory: await quantMemory(ctx, groupSize),
    memory_smollm2_mib: smollm2Memory(),
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
});
