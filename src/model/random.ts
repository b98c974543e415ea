// Random checkpoints in Hugging Face layout, for tests (gradient checks on Llama- and GPT-2-shaped
// models) and for the benchmark (a model shaped like a real one without downloading it).
import { parseConfig, type ModelSpec } from './config';
import { linearModules, otherWeightKeys } from './modules';
import { serializeSafetensors, type TensorToWrite } from './safetensors-writer';
import { memorySource, type ModelSource } from './source';
import { mulberry32 } from '../util/random';

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
}

/** Builds config.json + model.safetensors with N(0, std²) weights (norm weights around 1). */
export function randomCheckpointFiles(config: Record<string, unknown>, seed = 1, std = 0.08): { spec: ModelSpec; files: Map<string, Uint8Array | string> } {
  const spec = parseConfig(config, 'random/config.json');
  const rand = mulberry32(seed);
  const tensors: TensorToWrite[] = [];
  const seen = new Set<string>();
  const add = (name: string, shape: number[], kind: 'w' | 'norm' | 'bias') => {
    if (seen.has(name)) return;
    seen.add(name);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = kind === 'norm' ? 1 + 0.1 * gaussian(rand) : kind === 'bias' ? 0.02 * gaussian(rand) : std * gaussian(rand);
    tensors.push({ name, dtype: 'F32', shape, data });
  };
  const o = otherWeightKeys(spec);
  add(o.embed, [spec.V, spec.C], 'w');
  if (o.posEmbed) add(o.posEmbed, [spec.maxT, spec.C], 'w');
  for (const l of o.layers) {
    add(l.norm1, [spec.C], 'norm');
    add(l.norm2, [spec.C], 'norm');
    if (l.norm1Bias) add(l.norm1Bias, [spec.C], 'bias');
    if (l.norm2Bias) add(l.norm2Bias, [spec.C], 'bias');
  }
  add(o.finalNorm, [spec.C], 'norm');
  if (o.finalNormBias) add(o.finalNormBias, [spec.C], 'bias');
  for (const m of linearModules(spec)) {
    add(m.weightKey, m.conv1d ? [m.inF, m.outF] : [m.outF, m.inF], 'w');
    if (m.biasKey) add(m.biasKey, [m.outF], 'bias');
  }
  return {
    spec,
    files: new Map<string, Uint8Array | string>([
      ['config.json', JSON.stringify(config)],
      ['model.safetensors', serializeSafetensors(tensors)],
    ]),
  };
}

/**
 * A model folder in memory (config.json + model.safetensors, F32) with seeded Gaussian weights: matrices
 * and embeddings N(0, std²), norm weights 1 + N(0, 0.1²), biases N(0, 0.02²); for tests and the
 * benchmark. Throws ModelConfigError for an invalid config.
 */
export function randomModelSource(name: string, config: Record<string, unknown>, seed = 1, std = 0.08): { spec: ModelSpec; source: ModelSource } {
  const { spec, files } = randomCheckpointFiles(config, seed, std);
  return { spec, source: memorySource(name, files) };
}

/** Small configs in the shape of real families (tests, benchmark). */
export const TINY_LLAMA_CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 32, intermediate_size: 44, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 61, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
};

/** GPT-2 counterpart of TINY_LLAMA_CONFIG (config.json fields of transformers' GPT2Config). */
export const TINY_GPT2_CONFIG = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64, n_inner: null,
  vocab_size: 53, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 0, eos_token_id: 0,
};
