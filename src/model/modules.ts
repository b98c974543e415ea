// Module naming: every Linear (or GPT-2 Conv1D) of the *ForCausalLM model, in model order, with
// the checkpoint tensor names, plus the names of the non-linear weights (embeddings, norms).
// Names are the canonical Hugging Face ones ('model.layers.L...' / 'transformer.h.L...');
// resolveKeyPrefix adapts them to checkpoints saved without the outer prefix.

import type { Arch, ModelSpec } from './config';

/** A linear module's kind: its PEFT / transformers module name suffix (Llama: modeling_llama.py; GPT-2: modeling_gpt2.py; lm_head). */
export type ModuleKind =
  | 'q_proj'
  | 'k_proj'
  | 'v_proj'
  | 'o_proj'
  | 'gate_proj'
  | 'up_proj'
  | 'down_proj'
  | 'c_attn'
  | 'attn.c_proj'
  | 'c_fc'
  | 'mlp.c_proj'
  | 'lm_head';

/** One linear of the model with PEFT's module name and the Linear sizes inF (in_features) and outF (out_features). */
export interface LinearModule {
  /** Full module path as PEFT sees it, e.g. 'model.layers.3.self_attn.q_proj', 'transformer.h.0.attn.c_attn', 'lm_head'. */
  name: string;
  kind: ModuleKind;
  /** -1 for lm_head. */
  layer: number;
  /** Linear semantics: weight [outF, inF]. */
  inF: number;
  outF: number;
  /** Tensor name in the checkpoint (tied lm_head -> the embedding tensor). */
  weightKey: string;
  biasKey: string | null;
  /** GPT-2 Conv1D stores its weight [inF, outF]. */
  conv1d: boolean;
}

/**
 * What a decoder block of each architecture is made of: the one place the transformer (net/) and
 * the buffer table read the Llama/GPT-2 differences from. Llama: RMSNorm, RoPE, q/k/v/o, SwiGLU
 * over gate|up; GPT-2: LayerNorm (with bias), learned position embeddings, fused c_attn, GELU.
 * Linear biases and a tied head are per checkpoint (ModelSpec qkvBias/oBias/mlpBias,
 * tieEmbeddings), not per architecture.
 */
export interface ArchLayout {
  /** 'rms': RMSNorm (weight only); 'layer': LayerNorm (weight and bias, keeps the mean). */
  norm: 'rms' | 'layer';
  /** 'rope': rotary embeddings on q and k; 'learned': a position-embedding table added at the input. */
  position: 'rope' | 'learned';
  /** 'swiglu': silu(gate)·up over the mlpIn outputs side by side; 'gelu': tanh-GELU of the one mlpIn output. */
  mlp: 'swiglu' | 'gelu';
  /** The modules that write the attention's packed [N, (NH + 2·NKV)·HS] q|k|v rows, left to right. */
  qkv: ModuleKind[];
  /** The attention's output projection. */
  o: ModuleKind;
  /** The MLP's input projections, written side by side into one [N, Σ outF] buffer. */
  mlpIn: ModuleKind[];
  /** The MLP's output projection. */
  down: ModuleKind;
}

/** The decoder block of each architecture (see ArchLayout): transformers' modeling_llama.py and modeling_gpt2.py. */
export const ARCH_LAYOUT: Record<Arch, ArchLayout> = {
  llama: { norm: 'rms', position: 'rope', mlp: 'swiglu', qkv: ['q_proj', 'k_proj', 'v_proj'], o: 'o_proj', mlpIn: ['gate_proj', 'up_proj'], down: 'down_proj' },
  gpt2: { norm: 'layer', position: 'learned', mlp: 'gelu', qkv: ['c_attn'], o: 'attn.c_proj', mlpIn: ['c_fc'], down: 'mlp.c_proj' },
};

/** Module kinds of one transformer block, in model order. */
export function layerKinds(spec: ModelSpec): ModuleKind[] {
  const a = ARCH_LAYOUT[spec.arch];
  return [...a.qkv, a.o, ...a.mlpIn, a.down];
}

function embedKey(spec: ModelSpec): string {
  return spec.arch === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
}

/** Every linear module of the model in model order (per layer, then lm_head). */
export function linearModules(spec: ModelSpec): LinearModule[] {
  const { C, NH, NKV, HS, FF } = spec;
  const out: LinearModule[] = [];
  for (let l = 0; l < spec.L; l++) {
    if (spec.arch === 'gpt2') {
      const p = `transformer.h.${l}`;
      const mk = (kind: ModuleKind, path: string, inF: number, outF: number): LinearModule => ({
        name: `${p}.${path}`,
        kind,
        layer: l,
        inF,
        outF,
        weightKey: `${p}.${path}.weight`,
        biasKey: `${p}.${path}.bias`,
        conv1d: true,
      });
      out.push(mk('c_attn', 'attn.c_attn', C, 3 * C));
      out.push(mk('attn.c_proj', 'attn.c_proj', C, C));
      out.push(mk('c_fc', 'mlp.c_fc', C, FF));
      out.push(mk('mlp.c_proj', 'mlp.c_proj', FF, C));
    } else {
      const p = `model.layers.${l}`;
      const mk = (kind: ModuleKind, block: string, inF: number, outF: number, bias: boolean): LinearModule => ({
        name: `${p}.${block}.${kind}`,
        kind,
        layer: l,
        inF,
        outF,
        weightKey: `${p}.${block}.${kind}.weight`,
        biasKey: bias ? `${p}.${block}.${kind}.bias` : null,
        conv1d: false,
      });
      out.push(mk('q_proj', 'self_attn', C, NH * HS, spec.qkvBias));
      out.push(mk('k_proj', 'self_attn', C, NKV * HS, spec.qkvBias));
      out.push(mk('v_proj', 'self_attn', C, NKV * HS, spec.qkvBias));
      out.push(mk('o_proj', 'self_attn', NH * HS, C, spec.oBias));
      out.push(mk('gate_proj', 'mlp', C, FF, spec.mlpBias));
      out.push(mk('up_proj', 'mlp', C, FF, spec.mlpBias));
      out.push(mk('down_proj', 'mlp', FF, C, spec.mlpBias));
    }
  }
  out.push({
    name: 'lm_head',
    kind: 'lm_head',
    layer: -1,
    inF: C,
    outF: spec.V,
    weightKey: spec.tieEmbeddings ? embedKey(spec) : 'lm_head.weight',
    biasKey: null,
    conv1d: false,
  });
  return out;
}

/** Checkpoint tensor names of the non-linear weights: embeddings, position embeddings, norms (per layer and final). */
export function otherWeightKeys(spec: ModelSpec): {
  embed: string;
  posEmbed: string | null;
  layers: { norm1: string; norm1Bias: string | null; norm2: string; norm2Bias: string | null }[];
  finalNorm: string;
  finalNormBias: string | null;
} {
  const layers: { norm1: string; norm1Bias: string | null; norm2: string; norm2Bias: string | null }[] = [];
  if (spec.arch === 'gpt2') {
    for (let l = 0; l < spec.L; l++) {
      const p = `transformer.h.${l}`;
      layers.push({ norm1: `${p}.ln_1.weight`, norm1Bias: `${p}.ln_1.bias`, norm2: `${p}.ln_2.weight`, norm2Bias: `${p}.ln_2.bias` });
    }
    return {
      embed: embedKey(spec),
      posEmbed: 'transformer.wpe.weight',
      layers,
      finalNorm: 'transformer.ln_f.weight',
      finalNormBias: 'transformer.ln_f.bias',
    };
  }
  for (let l = 0; l < spec.L; l++) {
    const p = `model.layers.${l}`;
    layers.push({ norm1: `${p}.input_layernorm.weight`, norm1Bias: null, norm2: `${p}.post_attention_layernorm.weight`, norm2Bias: null });
  }
  return { embed: embedKey(spec), posEmbed: null, layers, finalNorm: 'model.norm.weight', finalNormBias: null };
}

/**
 * Maps canonical tensor names to the naming a checkpoint uses. GPT-2 checkpoints store either
 * 'transformer.h.0...' (GPT2LMHeadModel) or 'h.0...' (GPT2Model save, e.g. openai-community/gpt2);
 * a Llama-family checkpoint saved from the bare *Model has 'layers.0...' instead of 'model.layers.0...'.
 * Keys outside the prefix (lm_head.weight) are never changed.
 */
export function resolveKeyPrefix(names: string[], spec: ModelSpec): (key: string) => string {
  const prefix = spec.arch === 'gpt2' ? 'transformer.' : 'model.';
  const set = new Set(names);
  const canonical = embedKey(spec);
  const stripped = canonical.slice(prefix.length);
  let strip = false;
  if (!set.has(canonical)) {
    if (set.has(stripped)) strip = true;
    else {
      // No embedding tensor found (caller reports the missing tensors); decide by the majority naming.
      const withPrefix = names.filter((n) => n.startsWith(prefix)).length;
      const bare = names.filter((n) => n.startsWith(spec.arch === 'gpt2' ? 'h.' : 'layers.')).length;
      strip = bare > withPrefix;
    }
  }
  if (!strip) return (key) => key;
  return (key) => (key.startsWith(prefix) ? key.slice(prefix.length) : key);
}
