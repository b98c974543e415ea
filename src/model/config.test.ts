import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { countModelParams, ModelConfigError, parseConfig, parseConfigText, type ModelSpec } from './config';
import { linearModules, otherWeightKeys, resolveKeyPrefix } from './modules';

const shared = (p: string): string => fileURLToPath(new URL(`../../../shared/${p}`, import.meta.url));
const loadText = (p: string): string => readFileSync(shared(p), 'utf8');
const load = (p: string): ModelSpec => parseConfigText(loadText(p), shared(p));
const json = (p: string): Record<string, unknown> => JSON.parse(loadText(p)) as Record<string, unknown>;

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('parseConfig on real Hugging Face configs', () => {
  it('SmolLM2-135M', () => {
    const s = load('configs/SmolLM2-135M.json');
    expect(s).toMatchObject({
      arch: 'llama', modelType: 'llama', C: 576, L: 30, NH: 9, NKV: 3, HS: 64, FF: 1536, V: 49152, maxT: 8192,
      normEps: 1e-5, act: 'silu', ropeTheta: 100000, ropeScaling: null, tieEmbeddings: true,
      qkvBias: false, oBias: false, mlpBias: false, bos: 0, eos: [0], slidingWindow: null, dtype: 'bfloat16',
    });
    // 134,515,008: embed 49152*576 + 30 * (q,k,v,o,gate,up,down + 2 norms) + final norm, tied head
    expect(countModelParams(s)).toBe(49152 * 576 + 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536 + 2 * 576) + 576);
    expect(countModelParams(s)).toBe(134_515_008);
  });

  it('Qwen2.5-0.5B: q/k/v bias, GQA with 2 KV heads, HS from C/NH', () => {
    const s = load('configs/Qwen2.5-0.5B.json');
    expect(s).toMatchObject({
      arch: 'llama', modelType: 'qwen2', C: 896, L: 24, NH: 14, NKV: 2, HS: 64, FF: 4864, V: 151936, maxT: 32768,
      normEps: 1e-6, ropeTheta: 1e6, tieEmbeddings: true, qkvBias: true, oBias: false, mlpBias: false,
      bos: 151643, eos: [151643], dtype: 'bfloat16',
    });
    // Qwen2.5-0.5B is published as 494,032,768 parameters (0.49B)
    expect(countModelParams(s)).toBe(494_032_768);
    const k = linearModules(s).find((m) => m.name === 'model.layers.0.self_attn.k_proj')!;
    expect(k).toMatchObject({ inF: 896, outF: 128, biasKey: 'model.layers.0.self_attn.k_proj.bias' });
    expect(linearModules(s).find((m) => m.kind === 'o_proj')!.biasKey).toBeNull();
  });

  it('Llama-3.2-1B: rope_scaling llama3, tied', () => {
    const s = load('configs/Llama-3.2-1B.json');
    expect(s).toMatchObject({
      modelType: 'llama', C: 2048, L: 16, NH: 32, NKV: 8, HS: 64, FF: 8192, V: 128256, maxT: 131072,
      ropeTheta: 500000, tieEmbeddings: true, bos: 128000, eos: [128001],
    });
    expect(s.ropeScaling).toEqual({
      factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3',
    });
    // Llama 3.2 1B: 1,235,814,400 parameters
    expect(countModelParams(s)).toBe(1_235_814_400);
  });

  it('open_llama_3b_v2: untied head, MHA, defaults', () => {
    const s = load('configs/open_llama_3b_v2.json');
    expect(s).toMatchObject({
      C: 3200, L: 26, NH: 32, NKV: 32, HS: 100, FF: 8640, V: 32000, maxT: 2048, normEps: 1e-6,
      ropeTheta: 10000, tieEmbeddings: false, dtype: 'float16', bos: 1, eos: [2],
    });
    const head = linearModules(s).at(-1)!;
    expect(head).toMatchObject({ name: 'lm_head', weightKey: 'lm_head.weight', inF: 3200, outF: 32000 });
    // 3,426,473,600: untied head counted once more
    expect(countModelParams(s)).toBe(2 * 32000 * 3200 + 26 * (4 * 3200 * 3200 + 3 * 3200 * 8640 + 2 * 3200) + 3200);
  });

  it('gpt2: C 768 L 12, n_inner null -> 4C, gelu_new, tied, 124,439,808 params', () => {
    const s = load('configs/gpt2.json');
    expect(s).toMatchObject({
      arch: 'gpt2', modelType: 'gpt2', C: 768, L: 12, NH: 12, NKV: 12, HS: 64, FF: 3072, V: 50257, maxT: 1024,
      normEps: 1e-5, act: 'gelu_tanh', tieEmbeddings: true, qkvBias: true, oBias: true, mlpBias: true,
      bos: 50256, eos: [50256], dtype: null, ropeScaling: null,
    });
    expect(countModelParams(s)).toBe(124_439_808);
    const mods = linearModules(s);
    expect(mods.slice(0, 4).map((m) => [m.name, m.kind, m.inF, m.outF, m.conv1d, m.weightKey, m.biasKey])).toEqual([
      ['transformer.h.0.attn.c_attn', 'c_attn', 768, 2304, true, 'transformer.h.0.attn.c_attn.weight', 'transformer.h.0.attn.c_attn.bias'],
      ['transformer.h.0.attn.c_proj', 'attn.c_proj', 768, 768, true, 'transformer.h.0.attn.c_proj.weight', 'transformer.h.0.attn.c_proj.bias'],
      ['transformer.h.0.mlp.c_fc', 'c_fc', 768, 3072, true, 'transformer.h.0.mlp.c_fc.weight', 'transformer.h.0.mlp.c_fc.bias'],
      ['transformer.h.0.mlp.c_proj', 'mlp.c_proj', 3072, 768, true, 'transformer.h.0.mlp.c_proj.weight', 'transformer.h.0.mlp.c_proj.bias'],
    ]);
    expect(mods).toHaveLength(12 * 4 + 1);
    expect(mods.at(-1)).toMatchObject({ name: 'lm_head', layer: -1, weightKey: 'transformer.wte.weight', conv1d: false, inF: 768, outF: 50257 });
    const o = otherWeightKeys(s);
    expect(o.embed).toBe('transformer.wte.weight');
    expect(o.posEmbed).toBe('transformer.wpe.weight');
    expect(o.layers[11]).toEqual({
      norm1: 'transformer.h.11.ln_1.weight', norm1Bias: 'transformer.h.11.ln_1.bias',
      norm2: 'transformer.h.11.ln_2.weight', norm2Bias: 'transformer.h.11.ln_2.bias',
    });
    expect([o.finalNorm, o.finalNormBias]).toEqual(['transformer.ln_f.weight', 'transformer.ln_f.bias']);
  });

  it('stories260K (local model)', () => {
    const s = load('models/stories260K/config.json');
    expect(s).toMatchObject({
      arch: 'llama', C: 64, L: 5, NH: 8, NKV: 4, HS: 8, FF: 172, V: 512, maxT: 512, normEps: 1e-5,
      ropeTheta: 10000, tieEmbeddings: true, bos: 1, eos: [2], dtype: 'float32',
    });
    const mods = linearModules(s);
    expect(mods).toHaveLength(5 * 7 + 1);
    expect(mods.slice(0, 7).map((m) => [m.name, m.inF, m.outF])).toEqual([
      ['model.layers.0.self_attn.q_proj', 64, 64],
      ['model.layers.0.self_attn.k_proj', 64, 32],
      ['model.layers.0.self_attn.v_proj', 64, 32],
      ['model.layers.0.self_attn.o_proj', 64, 64],
      ['model.layers.0.mlp.gate_proj', 64, 172],
      ['model.layers.0.mlp.up_proj', 64, 172],
      ['model.layers.0.mlp.down_proj', 172, 64],
    ]);
    expect(mods[0]).toMatchObject({ weightKey: 'model.layers.0.self_attn.q_proj.weight', biasKey: null, conv1d: false, layer: 0 });
    expect(mods.at(-1)).toMatchObject({ weightKey: 'model.embed_tokens.weight', layer: -1 });
    const o = otherWeightKeys(s);
    expect(o).toMatchObject({ embed: 'model.embed_tokens.weight', posEmbed: null, finalNorm: 'model.norm.weight', finalNormBias: null });
    expect(o.layers[4]).toEqual({
      norm1: 'model.layers.4.input_layernorm.weight', norm1Bias: null,
      norm2: 'model.layers.4.post_attention_layernorm.weight', norm2Bias: null,
    });
    // every tensor the model needs is in the checkpoint, and nothing else
    const bytes = readFileSync(shared('models/stories260K/model.safetensors'));
    const n = Number(bytes.readBigUInt64LE(0));
    const names = Object.keys(JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as object).filter((k) => k !== '__metadata__');
    const key = resolveKeyPrefix(names, s);
    const wanted = new Set<string>([o.embed, o.finalNorm, ...o.layers.flatMap((l) => [l.norm1, l.norm2])]);
    for (const m of mods) wanted.add(m.weightKey);
    expect([...wanted].map(key).sort()).toEqual([...names].sort());
    expect(countModelParams(s)).toBe(512 * 64 + 5 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172 + 128) + 64);
  });
});

describe('parseConfig variants', () => {
  const llama = () => json('configs/SmolLM2-135M.json');

  it('Llama attention_bias / mlp_bias, head_dim and num_key_value_heads defaults', () => {
    const s = parseConfig({ ...llama(), attention_bias: true, mlp_bias: true, head_dim: null, num_key_value_heads: undefined }, 'c.json');
    expect([s.qkvBias, s.oBias, s.mlpBias, s.HS, s.NKV]).toEqual([true, true, true, 64, 9]);
    const mods = linearModules(s);
    expect(mods.filter((m) => m.biasKey !== null)).toHaveLength(30 * 7);
    expect(mods.find((m) => m.kind === 'down_proj')!.biasKey).toBe('model.layers.0.mlp.down_proj.bias');
    const biased = parseConfig({ ...llama(), attention_bias: true, mlp_bias: true }, 'c.json');
    expect(countModelParams(biased) - countModelParams(parseConfig(llama(), 'c.json'))).toBe(30 * (576 + 192 + 192 + 576 + 1536 + 1536 + 576));
  });

  it('Mistral sliding window; Qwen2 untied; model_type inferred from architectures; eos list', () => {
    const m = parseConfig({ ...llama(), model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 4096 }, 'm.json');
    expect([m.modelType, m.slidingWindow, m.arch]).toEqual(['mistral', 4096, 'llama']);
    expect(parseConfig({ ...llama(), model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: null }, 'm.json').slidingWindow).toBeNull();
    const q = parseConfig({ ...json('configs/Qwen2.5-0.5B.json'), tie_word_embeddings: false, use_sliding_window: false, sliding_window: 4096 }, 'q.json');
    expect(q.tieEmbeddings).toBe(false);
    expect(q.slidingWindow).toBeNull();
    expect(linearModules(q).at(-1)!.weightKey).toBe('lm_head.weight');
    const noType = { ...llama(), eos_token_id: [2, 7] } as Record<string, unknown>;
    delete noType.model_type;
    const s = parseConfig(noType, 'x.json');
    expect([s.modelType, s.eos]).toEqual(['llama', [2, 7]]);
    const g = parseConfig({ ...json('configs/gpt2.json'), n_inner: 1000, activation_function: 'gelu_pytorch_tanh', torch_dtype: 'float32' }, 'g.json');
    expect([g.FF, g.act, g.dtype]).toEqual([1000, 'gelu_tanh', 'float32']);
  });

  it('resolveKeyPrefix: GPT-2 checkpoints with and without the transformer. prefix', () => {
    const s = load('configs/gpt2.json');
    const bare = resolveKeyPrefix(['wte.weight', 'wpe.weight', 'h.0.attn.c_attn.weight', 'ln_f.weight'], s);
    expect(bare('transformer.h.0.attn.c_attn.weight')).toBe('h.0.attn.c_attn.weight');
    expect(bare('transformer.wte.weight')).toBe('wte.weight');
    expect(bare('lm_head.weight')).toBe('lm_head.weight');
    const full = resolveKeyPrefix(['transformer.wte.weight', 'transformer.h.0.attn.c_attn.weight', 'lm_head.weight'], s);
    expect(full('transformer.h.0.attn.c_attn.weight')).toBe('transformer.h.0.attn.c_attn.weight');
    const llamaBare = resolveKeyPrefix(['embed_tokens.weight', 'layers.0.self_attn.q_proj.weight', 'lm_head.weight'], load('configs/open_llama_3b_v2.json'));
    expect(llamaBare('model.layers.0.self_attn.q_proj.weight')).toBe('layers.0.self_attn.q_proj.weight');
    expect(llamaBare('lm_head.weight')).toBe('lm_head.weight');
  });
});

describe('config errors', () => {
  const llama = () => json('configs/SmolLM2-135M.json');

  it('unsupported model_type lists the supported ones', () => {
    const e = errorOf(() => parseConfig({ ...llama(), model_type: 'falcon', architectures: ['FalconForCausalLM'] }, '/m/config.json'));
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e.message).toContain('/m/config.json');
    expect(e.message).toContain('"falcon"');
    for (const t of ['llama', 'mistral', 'qwen2', 'gpt2']) expect(e.message).toContain(t);
  });

  it('unsupported architectures (not a causal LM, or mismatched)', () => {
    const e = errorOf(() => parseConfig({ ...llama(), architectures: ['LlamaForSequenceClassification'] }, 'a.json'));
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e.message).toMatch(/LlamaForSequenceClassification.*LlamaForCausalLM/);
    const noType = { ...llama(), architectures: ['BertModel'] } as Record<string, unknown>;
    delete noType.model_type;
    expect(errorOf(() => parseConfig(noType, 'b.json')).message).toMatch(/b\.json: no "model_type".*BertModel.*Supported/);
  });

  it('missing required field', () => {
    const j = llama();
    delete j.intermediate_size;
    const e = errorOf(() => parseConfig(j, '/x/config.json'));
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e.message).toMatch(/^\/x\/config\.json: missing required field "intermediate_size"/);
    const g = json('configs/gpt2.json');
    delete g.n_embd;
    expect(errorOf(() => parseConfig(g, 'g.json')).message).toMatch(/missing required field "n_embd"/);
  });

  it('non-positive / non-integer sizes and bad types', () => {
    expect(errorOf(() => parseConfig({ ...llama(), hidden_size: 0 }, 'c.json')).message).toMatch(/"hidden_size" must be a positive integer, got 0/);
    expect(errorOf(() => parseConfig({ ...llama(), num_hidden_layers: 2.5 }, 'c.json')).message).toMatch(/num_hidden_layers/);
    expect(errorOf(() => parseConfig({ ...llama(), vocab_size: '5' }, 'c.json')).message).toMatch(/vocab_size/);
    expect(errorOf(() => parseConfig({ ...llama(), rms_norm_eps: -1 }, 'c.json')).message).toMatch(/rms_norm_eps/);
    expect(errorOf(() => parseConfig({ ...llama(), tie_word_embeddings: 'yes' }, 'c.json')).message).toMatch(/tie_word_embeddings/);
    expect(errorOf(() => parseConfig([1, 2], 'c.json'))).toBeInstanceOf(ModelConfigError);
    expect(errorOf(() => parseConfig(null, 'c.json')).message).toMatch(/c\.json: expected a JSON object/);
  });

  it('NH not divisible by NKV; C not divisible by NH without head_dim', () => {
    const e = errorOf(() => parseConfig({ ...llama(), num_key_value_heads: 4 }, 'c.json'));
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e.message).toMatch(/num_attention_heads \(9\) is not divisible by num_key_value_heads \(4\)/);
    expect(errorOf(() => parseConfig({ ...llama(), head_dim: undefined, num_attention_heads: 7, num_key_value_heads: 7 }, 'c.json')).message).toMatch(
      /hidden_size \(576\) is not divisible by num_attention_heads \(7\)/,
    );
  });

  it('hidden_act other than silu (llama family); GPT-2 activation and attention scaling', () => {
    expect(errorOf(() => parseConfig({ ...llama(), hidden_act: 'gelu' }, 'c.json')).message).toMatch(/hidden_act "gelu" is not supported/);
    expect(errorOf(() => parseConfig({ ...json('configs/gpt2.json'), activation_function: 'relu' }, 'g.json')).message).toMatch(
      /activation_function "relu"/,
    );
    expect(errorOf(() => parseConfig({ ...json('configs/gpt2.json'), scale_attn_by_inverse_layer_idx: true }, 'g.json'))).toBeInstanceOf(ModelConfigError);
    expect(
      errorOf(() => parseConfig({ ...json('configs/Qwen2.5-0.5B.json'), use_sliding_window: true, sliding_window: 4096 }, 'q.json')).message,
    ).toMatch(/use_sliding_window/);
  });

  it('bad JSON names the file, line and column', () => {
    const text = '{\n  "model_type": "llama",\n  "hidden_size": 64,\n}\n';
    const e = errorOf(() => parseConfigText(text, '/models/x/config.json'));
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e.message).toMatch(/^\/models\/x\/config\.json: invalid JSON at line 4, column 1 \(position 48\)/);
    const e2 = errorOf(() => parseConfigText('{"a": ', 'c.json'));
    expect(e2.message).toMatch(/c\.json: invalid JSON at line 1, column 7/);
  });
});
