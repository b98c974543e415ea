// Hugging Face config.json -> ModelSpec: the model shape and the architectural switches the
// engine needs. Browser-safe (no Node APIs). Supported families: Llama (incl. TinyLlama,
// OpenLLaMA, SmolLM/SmolLM2, Llama 2/3.x), Mistral, Qwen2 and GPT-2.

import type { RopeScaling } from '../ops/rope';
import { linearModules } from './modules';

/** The computation graph: 'llama' (RMSNorm, RoPE, SwiGLU, GQA: Llama, Mistral, Qwen2) or 'gpt2' (LayerNorm, learned positions, GELU, Conv1D). */
export type Arch = 'llama' | 'gpt2';

/**
 * A model's shape and options, read from a Hugging Face config.json (see parseConfig): C hidden size,
 * L layers, NH query heads, NKV key/value heads, HS head size (head_dim, default C / NH), FF MLP width, V vocabulary
 * size, maxT positions; ids are token ids. Field meanings follow transformers' LlamaConfig / GPT2Config.
 */
export interface ModelSpec {
  arch: Arch;
  /** 'llama' | 'mistral' | 'qwen2' | 'gpt2', as in config.json. */
  modelType: string;
  C: number;
  L: number;
  NH: number;
  NKV: number;
  HS: number;
  FF: number;
  V: number;
  /** Positions the model was trained for (max_position_embeddings / n_positions), in tokens. */
  maxT: number;
  /** rms_norm_eps (Llama) or layer_norm_epsilon (GPT-2). */
  normEps: number;
  /** MLP activation: SwiGLU's silu (Llama) or GPT-2's gelu_new (tanh approximation). */
  act: 'silu' | 'gelu_tanh';
  /** Llama family only (GPT-2 has learned position embeddings; 0 / null there). */
  ropeTheta: number;
  /** config.json's rope_scaling object as given (its values are checked where used: ropeInvFreq, the GGUF export). */
  ropeScaling: RopeScaling | null;
  /** tie_word_embeddings: the output head [V, C] is the token embedding. */
  tieEmbeddings: boolean;
  /** Biases of the q/k/v projections, the output projection, the MLP linears (GPT-2: all; Qwen2: q/k/v; Llama: attention_bias, mlp_bias). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** bos_token_id and eos_token_id (one or several) of config.json, as token ids. */
  bos: number | null;
  eos: number[];
  /** Mistral; null when absent/disabled. */
  slidingWindow: number | null;
  /** torch_dtype (or the newer "dtype") of the checkpoint, e.g. 'bfloat16'. */
  dtype: string | null;
}

/**
 * A config.json that is missing, unreadable, of an unsupported architecture, or with inconsistent
 * sizes; the message names the file and the field and says what to do.
 */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

/** model_type -> architectures class names accepted for it. */
const SUPPORTED: Record<string, { arch: Arch; classes: string[] }> = {
  llama: { arch: 'llama', classes: ['LlamaForCausalLM'] },
  mistral: { arch: 'llama', classes: ['MistralForCausalLM'] },
  qwen2: { arch: 'llama', classes: ['Qwen2ForCausalLM'] },
  gpt2: { arch: 'gpt2', classes: ['GPT2LMHeadModel', 'GPT2Model'] },
};

function supportedList(): string {
  return Object.entries(SUPPORTED)
    .map(([t, s]) => `${t} (${s.classes.join(', ')})`)
    .join('; ');
}

type Json = Record<string, unknown>;

class Reader {
  constructor(
    readonly j: Json,
    readonly fileName: string,
  ) {}

  fail(problem: string, fix: string): never {
    throw new ModelConfigError(`${this.fileName}: ${problem}. ${fix}`);
  }

  has(key: string): boolean {
    return this.j[key] !== undefined && this.j[key] !== null;
  }

  /** First present key of `keys` (aliases), as a positive integer. */
  posInt(keys: string[], fallback?: number): number {
    for (const k of keys) {
      if (!this.has(k)) continue;
      const v = this.j[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
        this.fail(`"${k}" must be a positive integer, got ${JSON.stringify(v)}`, 'Fix the value in config.json');
      }
      return v;
    }
    if (fallback !== undefined) return fallback;
    return this.fail(
      `missing required field "${keys[0]}"${keys.length > 1 ? ` (or ${keys.slice(1).map((k) => `"${k}"`).join(', ')})` : ''}`,
      'Use the complete config.json of the Hugging Face model repository',
    );
  }

  posNum(key: string, fallback: number): number {
    if (!this.has(key)) return fallback;
    const v = this.j[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      this.fail(`"${key}" must be a positive number, got ${JSON.stringify(v)}`, 'Fix the value in config.json');
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const v = this.j[key];
    if (typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(v)}`, 'Fix the value in config.json');
    return v;
  }

  str(key: string, fallback: string): string {
    if (!this.has(key)) return fallback;
    const v = this.j[key];
    if (typeof v !== 'string') this.fail(`"${key}" must be a string, got ${JSON.stringify(v)}`, 'Fix the value in config.json');
    return v;
  }

  tokenId(key: string): number | null {
    if (!this.has(key)) return null;
    const v = this.j[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      this.fail(`"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`, 'Fix the value in config.json');
    }
    return v;
  }

  tokenIds(key: string): number[] {
    if (!this.has(key)) return [];
    const v = this.j[key];
    const arr = Array.isArray(v) ? v : [v];
    for (const x of arr) {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) {
        this.fail(`"${key}" must be a token id or a list of token ids, got ${JSON.stringify(v)}`, 'Fix the value in config.json');
      }
    }
    return arr as number[];
  }
}

function resolveModelType(r: Reader): string {
  const archs = r.j.architectures;
  let classes: string[] = [];
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.some((a) => typeof a !== 'string')) {
      r.fail(`"architectures" must be a list of class names, got ${JSON.stringify(archs)}`, 'Fix the value in config.json');
    }
    classes = archs as string[];
  }
  let modelType: string;
  if (r.has('model_type')) {
    const t = r.j.model_type;
    if (typeof t !== 'string') r.fail(`"model_type" must be a string, got ${JSON.stringify(t)}`, 'Fix the value in config.json');
    modelType = t;
  } else {
    const found = Object.entries(SUPPORTED).find(([, s]) => classes.some((c) => s.classes.includes(c)));
    if (!found) {
      r.fail(
        `no "model_type" and no supported "architectures" entry (${classes.length ? classes.join(', ') : 'none'})`,
        `Supported: ${supportedList()}`,
      );
    }
    modelType = found[0];
  }
  const sup = SUPPORTED[modelType];
  if (!Object.prototype.hasOwnProperty.call(SUPPORTED, modelType) || !sup) {
    r.fail(`unsupported model_type "${modelType}"`, `Supported model types: ${supportedList()}`);
  }
  if (classes.length > 0 && !classes.some((c) => sup.classes.includes(c))) {
    r.fail(
      `unsupported architectures ${JSON.stringify(classes)} for model_type "${modelType}" (only causal-LM checkpoints are supported)`,
      `Supported: ${supportedList()}`,
    );
  }
  return modelType;
}

/** Validates a parsed config.json and derives the model spec. `fileName` is used in error messages. */
export function parseConfig(json: unknown, fileName: string): ModelSpec {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelConfigError(
      `${fileName}: expected a JSON object (a Hugging Face config.json), got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}. Select the model's config.json`,
    );
  }
  const r = new Reader(json as Json, fileName);
  const modelType = resolveModelType(r);
  const arch = SUPPORTED[modelType].arch;
  const dtypeKey = r.has('torch_dtype') ? 'torch_dtype' : 'dtype';
  const dtype = r.has(dtypeKey) ? r.str(dtypeKey, '') : null;
  const bos = r.tokenId('bos_token_id');
  const eos = r.tokenIds('eos_token_id');
  const spec = arch === 'gpt2' ? parseGpt2(r, modelType) : parseLlama(r, modelType);
  return { ...spec, bos, eos, dtype };
}

type SpecCore = Omit<ModelSpec, 'bos' | 'eos' | 'dtype'>;

function parseLlama(r: Reader, modelType: string): SpecCore {
  const C = r.posInt(['hidden_size']);
  const FF = r.posInt(['intermediate_size']);
  const L = r.posInt(['num_hidden_layers']);
  const NH = r.posInt(['num_attention_heads']);
  const NKV = r.posInt(['num_key_value_heads'], NH);
  const V = r.posInt(['vocab_size']);
  const maxT = r.posInt(['max_position_embeddings']);
  if (NH % NKV !== 0) {
    r.fail(
      `num_attention_heads (${NH}) is not divisible by num_key_value_heads (${NKV})`,
      'Grouped-query attention needs a whole number of query heads per key/value head; check both values',
    );
  }
  if (!r.has('head_dim') && C % NH !== 0) {
    r.fail(`hidden_size (${C}) is not divisible by num_attention_heads (${NH}) and no "head_dim" is given`, 'Add the model\'s "head_dim" to config.json');
  }
  const HS = r.posInt(['head_dim'], C / NH);
  const act = r.str('hidden_act', 'silu');
  if (act !== 'silu' && act !== 'swish') {
    r.fail(`hidden_act "${act}" is not supported for ${modelType}`, 'Only "silu" (SwiGLU MLP) is supported for the Llama family');
  }
  const normEps = r.posNum('rms_norm_eps', 1e-6);
  const ropeTheta = r.posNum('rope_theta', 10000);
  let ropeScaling: RopeScaling | null = null;
  if (r.has('rope_scaling')) {
    const rs = r.j.rope_scaling;
    if (typeof rs !== 'object' || Array.isArray(rs)) {
      r.fail(`"rope_scaling" must be an object or null, got ${JSON.stringify(rs)}`, 'Fix the value in config.json');
    }
    ropeScaling = rs as Record<string, unknown>;
  }
  const tieEmbeddings = r.bool('tie_word_embeddings', false);
  let qkvBias = false;
  let oBias = false;
  let mlpBias = false;
  let slidingWindow: number | null = null;
  if (modelType === 'llama') {
    qkvBias = oBias = r.bool('attention_bias', false);
    mlpBias = r.bool('mlp_bias', false);
  } else if (modelType === 'qwen2') {
    qkvBias = true;
    if (r.bool('use_sliding_window', false)) {
      const sw = r.posInt(['sliding_window'], maxT);
      if (sw < maxT) {
        r.fail(
          `use_sliding_window with sliding_window ${sw} < max_position_embeddings ${maxT} is not supported for qwen2`,
          'Set "use_sliding_window": false (Qwen2/2.5 checkpoints are trained without it)',
        );
      }
    }
  } else if (modelType === 'mistral') {
    slidingWindow = r.has('sliding_window') ? r.posInt(['sliding_window']) : null;
  }
  return {
    arch: 'llama',
    modelType,
    C,
    L,
    NH,
    NKV,
    HS,
    FF,
    V,
    maxT,
    normEps,
    act: 'silu',
    ropeTheta,
    ropeScaling,
    tieEmbeddings,
    qkvBias,
    oBias,
    mlpBias,
    slidingWindow,
  };
}

function parseGpt2(r: Reader, modelType: string): SpecCore {
  const C = r.posInt(['n_embd', 'hidden_size']);
  const L = r.posInt(['n_layer', 'num_hidden_layers']);
  const NH = r.posInt(['n_head', 'num_attention_heads']);
  const V = r.posInt(['vocab_size']);
  const maxT = r.posInt(['n_positions', 'n_ctx', 'max_position_embeddings']);
  if (C % NH !== 0) r.fail(`n_embd (${C}) is not divisible by n_head (${NH})`, 'Check both values');
  const FF = r.posInt(['n_inner'], 4 * C);
  const act = r.str('activation_function', 'gelu_new');
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    r.fail(`activation_function "${act}" is not supported for gpt2`, 'Supported: "gelu_new", "gelu_pytorch_tanh" (tanh-approximated GELU)');
  }
  if (r.bool('scale_attn_by_inverse_layer_idx', false)) {
    r.fail('"scale_attn_by_inverse_layer_idx": true is not supported', 'Only standard GPT-2 attention scaling is supported');
  }
  if (!r.bool('scale_attn_weights', true)) {
    r.fail('"scale_attn_weights": false is not supported', 'Only standard GPT-2 attention scaling (1/sqrt(head size)) is supported');
  }
  return {
    arch: 'gpt2',
    modelType,
    C,
    L,
    NH,
    NKV: NH,
    HS: C / NH,
    FF,
    V,
    maxT,
    normEps: r.posNum('layer_norm_epsilon', 1e-5),
    act: 'gelu_tanh',
    ropeTheta: 0,
    ropeScaling: null,
    tieEmbeddings: r.bool('tie_word_embeddings', true),
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    slidingWindow: null,
  };
}

/** Parses config.json text; JSON syntax errors become a ModelConfigError naming the file and position. */
export function parseConfigText(text: string, fileName: string): ModelSpec {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /position (\d+)/.exec(msg);
    const pos = m ? Number(m[1]) : text.length;
    let line = 1;
    let col = 1;
    for (let i = 0; i < pos && i < text.length; i++) {
      if (text[i] === '\n') {
        line++;
        col = 1;
      } else col++;
    }
    throw new ModelConfigError(
      `${fileName}: invalid JSON at line ${line}, column ${col} (position ${pos}): ${msg}. Fix the syntax or re-download the model's config.json`,
    );
  }
  return parseConfig(json, fileName);
}

/** Parameter count of the whole model (embeddings, all projections, norms, biases, untied head once). */
export function countModelParams(spec: ModelSpec): number {
  const { C, L, V } = spec;
  let n = V * C; // token embedding
  if (spec.arch === 'gpt2') n += spec.maxT * C; // learned positions
  for (const m of linearModules(spec)) {
    if (m.kind === 'lm_head' && spec.tieEmbeddings) continue;
    n += m.inF * m.outF + (m.biasKey ? m.outF : 0);
  }
  const normSize = spec.arch === 'gpt2' ? 2 * C : C; // LayerNorm has weight and bias
  n += (2 * L + 1) * normSize;
  return n;
}
