// Hugging Face checkpoint → llama.cpp GGUF: tensor names, layouts and architecture metadata as
// llama.cpp's convert_hf_to_gguf.py writes them (gguf-py/gguf/constants.py MODEL_TENSOR names and
// Keys.LLM / Keys.Attention / Keys.Rope keys) for the families this engine trains: Llama (and
// Mistral, written as llama), Qwen2 and GPT-2. No Node or DOM APIs here.
//
// Layouts: a PyTorch [out, in] matrix is written row-major with GGUF dims [in, out] (ne[0] first).
// GPT-2's Conv1D [in, out] weights are transposed first (GPT2Model.modify_tensors). Llama's q_proj
// and k_proj rows (and biases) are permuted per head (LlamaModel.permute): HF keeps the two rotary
// halves of a head apart, llama.cpp's rope (non-NeoX) wants them interleaved. Qwen2 runs NeoX rope
// in llama.cpp and is not permuted.

import type { ModelSpec } from '../model/config';
import type { GgufMetadata } from './gguf';
import { GgmlType } from './ggml-quant';

/** The general.architecture values this export writes (llama.cpp's LLM_ARCH names; Mistral is written as llama). */
type GgufArch = 'llama' | 'qwen2' | 'gpt2';

/** general.architecture for a model: llama, mistral → llama; qwen2; gpt2. */
function ggufArch(spec: ModelSpec): GgufArch {
  if (spec.arch === 'gpt2') return 'gpt2';
  return spec.modelType === 'qwen2' ? 'qwen2' : 'llama';
}

/** How a tensor's values change on the way into the GGUF file. */
export type GgufOp = 'none' | 'transpose' | 'permute-q' | 'permute-k';

/** A Hugging Face tensor's GGUF name (llama.cpp's tensor names, as convert_hf_to_gguf.py maps them) and the change it needs on the way. */
interface GgufName {
  name: string;
  op: GgufOp;
}

const LLAMA_BLOCK: Record<string, string> = {
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm',
  post_attention_layernorm: 'ffn_norm',
};

const GPT2_BLOCK: Record<string, string> = {
  ln_1: 'attn_norm',
  'attn.c_attn': 'attn_qkv',
  'attn.c_proj': 'attn_output',
  ln_2: 'ffn_norm',
  'mlp.c_fc': 'ffn_up',
  'mlp.c_proj': 'ffn_down',
};

/**
 * The GGUF name and transform of a checkpoint tensor (either naming: with or without the outer
 * 'model.' / 'transformer.' prefix), or null for tensors convert_hf_to_gguf.py drops (rotary
 * inv_freq buffers, GPT-2's attn.bias / attn.masked_bias masks). Throws for a tensor it cannot place.
 */
export function ggufTensorName(hfName: string, spec: ModelSpec): GgufName | null {
  const gpt2 = spec.arch === 'gpt2';
  if (hfName === 'lm_head.weight') return { name: 'output.weight', op: 'none' };
  const n = hfName.replace(gpt2 ? /^transformer\./ : /^model\./, '');
  if (gpt2) {
    if (n === 'wte.weight') return { name: 'token_embd.weight', op: 'none' };
    if (n === 'wpe.weight') return { name: 'position_embd.weight', op: 'none' };
    if (n === 'ln_f.weight' || n === 'ln_f.bias') return { name: `output_norm.${n.slice(5)}`, op: 'none' };
    const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
    if (/^h\.\d+\.attn\.(masked_)?bias$/.test(n)) return null;
    if (m && GPT2_BLOCK[m[2]]) {
      const conv = m[3] === 'weight' && m[2] !== 'ln_1' && m[2] !== 'ln_2';
      return { name: `blk.${m[1]}.${GPT2_BLOCK[m[2]]}.${m[3]}`, op: conv ? 'transpose' : 'none' };
    }
  } else {
    if (n === 'embed_tokens.weight') return { name: 'token_embd.weight', op: 'none' };
    if (n === 'norm.weight') return { name: 'output_norm.weight', op: 'none' };
    if (/rotary_emb\.inv_freq$/.test(n)) return null;
    const m = /^layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
    if (m && LLAMA_BLOCK[m[2]]) {
      const permute = ggufArch(spec) === 'llama' ? (m[2] === 'self_attn.q_proj' ? 'permute-q' : m[2] === 'self_attn.k_proj' ? 'permute-k' : 'none') : 'none';
      return { name: `blk.${m[1]}.${LLAMA_BLOCK[m[2]]}.${m[3]}`, op: permute };
    }
  }
  throw new Error(`${hfName}: no llama.cpp GGUF tensor corresponds to this ${spec.modelType} checkpoint tensor; only the tensors of a plain ${spec.modelType} causal LM can be exported`);
}

/** Heads whose rows a permute-q / permute-k op interleaves (convert_hf_to_gguf: n_head, or n_head_kv for k). */
export function permuteHeads(op: GgufOp, spec: ModelSpec): number {
  return op === 'permute-q' ? spec.NH : spec.NKV;
}

/**
 * LlamaModel.permute on rows: `w.reshape(nHead, 2, rows/nHead/2, cols).swapaxes(1, 2)`. Row
 * h·HS + 2i + j of the result is row h·HS + j·HS/2 + i of `w` ([rows, cols] row-major; cols = 1
 * for a bias). `inverse` undoes it.
 * Throws Error when rows do not split into nHead heads of an even size.
 */
export function permuteRows(w: Float32Array, rows: number, cols: number, nHead: number, inverse = false): Float32Array {
  const hs = rows / nHead;
  if (!Number.isInteger(hs) || hs % 2 !== 0 || w.length !== rows * cols) {
    throw new Error(`permuteRows: ${rows} rows cannot be split into ${nHead} heads of an even size (values: ${w.length}, cols: ${cols})`);
  }
  const out = new Float32Array(w.length);
  const half = hs / 2;
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const gg = h * hs + 2 * i + j;
        const hf = h * hs + j * half + i;
        const [dst, src] = inverse ? [hf, gg] : [gg, hf];
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows] row-major. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** LlamaFileType (gguf-py constants.py) for general.file_type. */
function ggufFileType(t: GgmlType): number {
  return t === GgmlType.F32 ? 0 : t === GgmlType.F16 ? 1 : t === GgmlType.Q4_0 ? 2 : 7; // MOSTLY_Q8_0 = 7
}

/**
 * general.* and <arch>.* hyperparameters as convert_hf_to_gguf.py sets them (TextModel /
 * LlamaModel / Qwen2Model / GPT2Model set_gguf_parameters). Rope scaling: "linear" is written as
 * <arch>.rope.scaling.type/factor; "llama3" needs the rope_freqs.weight tensor (llama3RopeFactors);
 * any other kind is refused with the fix.
 */
export function archMetadata(spec: ModelSpec, fileType: GgmlType, name: string, type: 'model' | 'adapter' = 'model'): GgufMetadata {
  const a = ggufArch(spec);
  const md: GgufMetadata = new Map();
  md.set('general.architecture', { type: 'string', value: a });
  md.set('general.type', { type: 'string', value: type });
  md.set('general.name', { type: 'string', value: name });
  md.set(`${a}.context_length`, { type: 'u32', value: spec.maxT });
  md.set(`${a}.embedding_length`, { type: 'u32', value: spec.C });
  md.set(`${a}.feed_forward_length`, { type: 'u32', value: spec.FF });
  md.set(`${a}.block_count`, { type: 'u32', value: spec.L });
  md.set(`${a}.attention.head_count`, { type: 'u32', value: spec.NH });
  if (a === 'gpt2') {
    md.set(`${a}.attention.layer_norm_epsilon`, { type: 'f32', value: spec.normEps });
  } else {
    md.set(`${a}.attention.head_count_kv`, { type: 'u32', value: spec.NKV });
    md.set(`${a}.rope.freq_base`, { type: 'f32', value: spec.ropeTheta });
    md.set(`${a}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: spec.normEps });
    md.set(`${a}.vocab_size`, { type: 'u32', value: spec.V });
    md.set(`${a}.rope.dimension_count`, { type: 'u32', value: spec.HS });
    if (spec.HS * spec.NH !== spec.C) {
      md.set(`${a}.attention.key_length`, { type: 'u32', value: spec.HS });
      md.set(`${a}.attention.value_length`, { type: 'u32', value: spec.HS });
    }
    const rs = spec.ropeScaling;
    const kind = rs ? String(rs.rope_type ?? rs.type ?? '') : '';
    if (kind === 'linear') {
      md.set(`${a}.rope.scaling.type`, { type: 'string', value: 'linear' });
      md.set(`${a}.rope.scaling.factor`, { type: 'f32', value: Number(rs!.factor) });
    } else if (rs && kind !== 'llama3' && kind !== 'default') {
      throw new Error(`config.json: rope_scaling of type "${kind}" is not exported to GGUF here (linear and llama3 are); convert this model with llama.cpp's convert_hf_to_gguf.py after merging (npm run merge)`);
    }
  }
  md.set('general.file_type', { type: 'u32', value: ggufFileType(fileType) });
  md.set('general.quantization_version', { type: 'u32', value: 2 }); // GGML_QUANT_VERSION
  return md;
}

/**
 * Llama 3.x rope scaling as the rope_freqs.weight tensor (f32 [HS/2]) convert_hf_to_gguf.py
 * LlamaModel.generate_extra_tensors writes: factor 1 for short wavelengths, `factor` for long
 * ones, smoothly between. Null when the model has no llama3 rope scaling.
 */
export function llama3RopeFactors(spec: ModelSpec): Float32Array | null {
  const rs = spec.ropeScaling;
  if (!rs || String(rs.rope_type ?? rs.type) !== 'llama3' || spec.arch !== 'llama') return null;
  const factor = Number(rs.factor ?? 8);
  const lowF = Number(rs.low_freq_factor ?? 1);
  const highF = Number(rs.high_freq_factor ?? 4);
  const oldCtx = Number(rs.original_max_position_embeddings ?? 8192);
  const lowWl = oldCtx / lowF;
  const highWl = oldCtx / highF;
  const out = new Float32Array(spec.HS / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = 1 / Math.pow(spec.ropeTheta, (2 * i) / spec.HS);
    const wl = (2 * Math.PI) / freq;
    if (wl < highWl) out[i] = 1;
    else if (wl > lowWl) out[i] = factor;
    else {
      const smooth = (oldCtx / wl - lowF) / (highF - lowF);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}
