// The curated Hub models of the model picker. Each carries the shape fields of its config.json, so
// the memory estimate and the trainable-parameter count work before anything is downloaded (no
// request leaves the page until the user loads a model). catalog.test.ts checks the shapes
// against the real config.json files.

import { parseConfig, type ModelSpec } from '../model/config';
import type { Knobs } from './knobs';

interface CatalogModel {
  repo: string;
  label: string;
  /** One line for the picker. */
  note: string;
  /** Needs an access token (the licence is accepted on the model page). */
  gated: boolean;
  /** Approximate size of the weights download in bytes. */
  downloadBytes: number;
  /**
   * The files of the Hub repository that loading reads (weights, tokenizer, configs), as the repo
   * publishes them: catalog-hub.test.ts loads every entry from a fake Hub serving exactly this
   * layout, so the catalog lists only what loads.
   */
  files: readonly string[];
  config: Record<string, unknown>;
}

const llama = (o: Record<string, unknown>) => ({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', ...o });

/**
 * The model picker's curated Hub models, in the picker's order: each with its repo id, a label and one
 * line for the picker, whether it is gated, its download size in bytes, the files loading reads,
 * and the shape fields of its config.json (transformers' names: hidden_size, num_key_value_heads,
 * ...; GPT-2's n_embd, n_layer, ...) so memory and parameter counts need no download.
 */
export const CATALOG: readonly CatalogModel[] = [
  {
    repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', label: 'SmolLM2 135M Instruct', note: 'Smallest instruct model: fine-tunes in minutes on most GPUs.', gated: false,
    downloadBytes: 269e6,
    files: ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'],
    config: llama({
      hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64, vocab_size: 49152,
      max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
    }),
  },
  {
    repo: 'HuggingFaceTB/SmolLM2-360M-Instruct', label: 'SmolLM2 360M Instruct', note: 'Better answers than 135M, still light.', gated: false,
    downloadBytes: 724e6,
    files: ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'],
    config: llama({
      hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15, num_key_value_heads: 5, head_dim: 64, vocab_size: 49152,
      max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
    }),
  },
  {
    repo: 'Qwen/Qwen2.5-0.5B-Instruct', label: 'Qwen2.5 0.5B Instruct', note: 'Multilingual; large vocabulary (152K) makes the output head heavy.', gated: false,
    downloadBytes: 988e6,
    files: ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt'],
    config: {
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14,
      num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000, hidden_act: 'silu',
      tie_word_embeddings: true, bos_token_id: 151643, eos_token_id: 151645, torch_dtype: 'bfloat16',
    },
  },
  {
    repo: 'meta-llama/Llama-3.2-1B-Instruct', label: 'Llama 3.2 1B Instruct', note: 'Gated: accept the licence on its Hub page and give a token.', gated: true,
    downloadBytes: 2.47e9,
    files: ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'],
    config: llama({
      hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256,
      max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
      rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      tie_word_embeddings: true, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009], torch_dtype: 'bfloat16',
    }),
  },
  {
    repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', label: 'TinyLlama 1.1B Chat', note: 'Llama 2 architecture, 2K context.', gated: false,
    downloadBytes: 2.2e9,
    files: ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json'],
    config: llama({
      hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, vocab_size: 32000,
      max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
    }),
  },
  {
    repo: 'openai-community/gpt2', label: 'GPT-2 (124M)', note: 'The classic; f32 weights, 1K context, no chat template.', gated: false,
    downloadBytes: 548e6,
    files: ['config.json', 'generation_config.json', 'model.safetensors', 'pytorch_model.bin', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt'],
    config: {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, n_ctx: 1024, vocab_size: 50257,
      layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 50256, eos_token_id: 50256,
    },
  },
  {
    repo: 'openlm-research/open_llama_3b_v2', label: 'OpenLLaMA 3B v2', note: 'Largest here: use a quantized base and checkpointing on smaller GPUs.', gated: false,
    downloadBytes: 6.85e9,
    files: ['config.json', 'generation_config.json', 'pytorch_model.bin', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json'],
    config: llama({
      hidden_size: 3200, intermediate_size: 8640, num_hidden_layers: 26, num_attention_heads: 32, num_key_value_heads: 32, vocab_size: 32000,
      max_position_embeddings: 2048, rms_norm_eps: 1e-6, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float16',
    }),
  },
];

/**
 * The ModelSpec (C, L, NH, NKV, HS, FF, V, maxT, arch, ...) of a catalog entry, parsed from its
 * stored config the way a downloaded config.json is (model/config.ts parseConfig). Throws
 * ModelConfigError only if an entry were malformed (catalog.test.ts parses every one).
 */
export function catalogSpec(m: CatalogModel): ModelSpec {
  return parseConfig(m.config, `${m.repo}/config.json`);
}

/** Storage bytes per unquantized weight the engine will use ('auto' dtype): f32 checkpoints stay f32, half ones are stored f16. */
export function storageBytes(spec: ModelSpec): 2 | 4 {
  return spec.dtype === null || spec.dtype === 'float32' ? 4 : 2;
}

/**
 * The built-in demo served with the page (public/demo/, see its README): stories260K and 64 short
 * stories about a purple frog, with settings that finish a visible fine-tune in about a minute.
 */
export const DEMO: {
  base: string;
  model: string;
  modelFiles: readonly string[];
  data: string;
  knobs: Partial<Knobs>;
} = {
  /** Folder under the page's base URL. */
  base: 'demo/',
  model: 'stories260K',
  modelFiles: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
  data: 'stories.jsonl',
  knobs: {
    targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], lr: 3e-3, lengthBy: 'steps', steps: 40, batchSize: 8, seqLen: 64, evalEvery: 10, samplePrompt: 'Once upon a time', sampleTokens: 40, loraDropout: 0,
  },
};
