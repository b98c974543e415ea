import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../gpu/half';
import { parseConfigText, type ModelSpec } from '../model/config';
import type { LinearModule } from '../model/modules';
import { serializeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { adapterConfig, AdapterError, adapterTensorKey, exportAdapter, importAdapter, loraScaling, type AdapterTensors, type LoraHyper } from './peft';
import { parseTargets, resolveTargets } from './targets';

const shared = (p: string): string => fileURLToPath(new URL(`../../../shared/${p}`, import.meta.url));
const load = (p: string): ModelSpec => parseConfigText(readFileSync(shared(p), 'utf8'), shared(p));

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

/** Deterministic pseudo-random weights (mulberry32). */
function randomWeights(mods: LinearModule[], r: number, seed: number): Map<string, AdapterTensors> {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  const w = new Map<string, AdapterTensors>();
  for (const m of mods) {
    w.set(m.name, { A: Float32Array.from({ length: r * m.inF }, next), B: Float32Array.from({ length: m.outF * r }, next) });
  }
  return w;
}

/** Raw safetensors header (JSON) for checking what actually lands in the file. */
function rawHeader(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as ReturnType<typeof rawHeader>;
}

const SPEC_KEYS = [
  'peft_type', 'task_type', 'base_model_name_or_path', 'revision', 'inference_mode', 'r', 'lora_alpha', 'lora_dropout',
  'target_modules', 'fan_in_fan_out', 'bias', 'modules_to_save', 'init_lora_weights', 'layers_to_transform',
  'layers_pattern', 'rank_pattern', 'alpha_pattern', 'auto_mapping',
];

const h8: LoraHyper = { r: 8, loraAlpha: 16, loraDropout: 0.05, useRslora: false };

describe('scaling and keys', () => {
  it('loraScaling', () => {
    expect(loraScaling({ r: 16, loraAlpha: 32, loraDropout: 0, useRslora: false })).toBe(2);
    expect(loraScaling({ r: 16, loraAlpha: 32, loraDropout: 0, useRslora: true })).toBe(8);
    expect(loraScaling({ r: 8, loraAlpha: 8, loraDropout: 0, useRslora: true })).toBeCloseTo(8 / Math.sqrt(8), 15);
  });
  it('adapterTensorKey', () => {
    expect(adapterTensorKey('model.layers.0.self_attn.q_proj', 'A')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(adapterTensorKey('transformer.h.11.attn.c_attn', 'B')).toBe('base_model.model.transformer.h.11.attn.c_attn.lora_B.weight');
    expect(adapterTensorKey('lm_head', 'A')).toBe('base_model.model.lm_head.lora_A.weight');
  });
});

describe('adapterConfig', () => {
  it('exact key set of the spec, values, explicit target list', () => {
    const s = load('configs/SmolLM2-135M.json');
    const mods = resolveTargets(s, parseTargets('all-linear'));
    const cfg = adapterConfig(s, { r: 16, loraAlpha: 32, loraDropout: 0.05, useRslora: false }, mods, 'HuggingFaceTB/SmolLM2-135M');
    expect(Object.keys(cfg)).toEqual(SPEC_KEYS);
    // the spec's example config, verbatim
    expect(cfg).toEqual({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M',
      revision: null, inference_mode: true, r: 16, lora_alpha: 32, lora_dropout: 0.05,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      fan_in_fan_out: false, bias: 'none', modules_to_save: null, init_lora_weights: true,
      layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {}, auto_mapping: null,
    });
  });
  it('use_rslora only when used; GPT-2 fan_in_fan_out; invalid hyperparameters', () => {
    const g = load('configs/gpt2.json');
    const mods = resolveTargets(g, parseTargets('attention'));
    const cfg = adapterConfig(g, { ...h8, useRslora: true }, mods, 'openai-community/gpt2');
    expect(Object.keys(cfg)).toEqual([...SPEC_KEYS, 'use_rslora']);
    expect(cfg.use_rslora).toBe(true);
    expect(cfg.fan_in_fan_out).toBe(true);
    expect(cfg.target_modules).toEqual(['c_attn']);
    expect(adapterConfig(g, h8, resolveTargets(g, parseTargets('lm_head')), 'gpt2').fan_in_fan_out).toBe(false);
    expect(errorOf(() => adapterConfig(g, { ...h8, r: 0 }, mods, 'gpt2'))).toBeInstanceOf(AdapterError);
    expect(errorOf(() => adapterConfig(g, { ...h8, loraDropout: 1 }, mods, 'gpt2'))).toBeInstanceOf(AdapterError);
  });
});

describe('exportAdapter', () => {
  it('llama: exact keys, shapes, F32, __metadata__ format pt, config JSON', () => {
    const s = load('models/stories260K/config.json');
    const mods = resolveTargets(s, parseTargets('q_proj,k_proj,lm_head'));
    const w = randomWeights(mods, 8, 1);
    const { configJson, safetensors } = exportAdapter(s, h8, mods, w, 'stories260K');
    const hdr = rawHeader(safetensors);
    expect(hdr.__metadata__).toEqual({ format: 'pt' });
    const keys = Object.keys(hdr).filter((k) => k !== '__metadata__').sort();
    expect(keys).toHaveLength(2 * (5 * 2 + 1));
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(keys).toContain('base_model.model.model.layers.4.self_attn.k_proj.lora_B.weight');
    expect(keys).toContain('base_model.model.lm_head.lora_B.weight');
    expect(hdr['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']).toMatchObject({ dtype: 'F32', shape: [8, 64] });
    expect(hdr['base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight']).toMatchObject({ dtype: 'F32', shape: [32, 8] });
    expect(hdr['base_model.model.lm_head.lora_A.weight']).toMatchObject({ dtype: 'F32', shape: [8, 64] });
    expect(hdr['base_model.model.lm_head.lora_B.weight']).toMatchObject({ dtype: 'F32', shape: [512, 8] });
    const cfg = JSON.parse(configJson) as Record<string, unknown>;
    expect(Object.keys(cfg)).toEqual(SPEC_KEYS);
    expect(cfg.target_modules).toEqual(['q_proj', 'k_proj', 'lm_head']);
    expect(cfg.base_model_name_or_path).toBe('stories260K');
    // the data bytes are the exact f32 values (little-endian) at the header's offsets
    const ent = hdr['base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight'] as { data_offsets: [number, number] };
    const start = safetensors.length - Math.max(...keys.map((k) => (hdr[k] as { data_offsets: [number, number] }).data_offsets[1]));
    const bytes = safetensors.slice(start + ent.data_offsets[0], start + ent.data_offsets[1]);
    expect(new Float32Array(bytes.buffer)).toEqual(w.get('model.layers.2.self_attn.q_proj')!.B);
  });

  it('gpt2: keys, shapes [r,in]/[out,r] for Conv1D too', () => {
    const g = load('configs/gpt2.json');
    const mods = resolveTargets(g, parseTargets('c_attn')).filter((m) => m.layer < 2);
    const { safetensors, configJson } = exportAdapter(g, { ...h8, r: 2 }, mods, randomWeights(mods, 2, 2), 'openai-community/gpt2');
    const hdr = rawHeader(safetensors);
    expect(Object.keys(hdr).filter((k) => k !== '__metadata__').sort()).toEqual([
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    expect(hdr['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight']).toMatchObject({ dtype: 'F32', shape: [2, 768] });
    expect(hdr['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight']).toMatchObject({ dtype: 'F32', shape: [2304, 2] });
    const cfg = JSON.parse(configJson) as Record<string, unknown>;
    expect(cfg.fan_in_fan_out).toBe(true);
    // only layers 0 and 1 trained: the list must not make PEFT wrap c_attn of layers 2..11
    expect(cfg.target_modules).toEqual(['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn']);
  });

  it('errors: missing weights, wrong lengths', () => {
    const s = load('models/stories260K/config.json');
    const mods = resolveTargets(s, parseTargets('q_proj'));
    const w = randomWeights(mods, 8, 3);
    w.delete('model.layers.3.self_attn.q_proj');
    expect(errorOf(() => exportAdapter(s, h8, mods, w, 'x')).message).toMatch(/no LoRA weights for module "model.layers.3.self_attn.q_proj"/);
    const w2 = randomWeights(mods, 8, 3);
    w2.get('model.layers.1.self_attn.q_proj')!.A = new Float32Array(7);
    expect(errorOf(() => exportAdapter(s, h8, mods, w2, 'x'))).toBeInstanceOf(AdapterError);
    const w3 = randomWeights(mods, 8, 3);
    w3.get('model.layers.1.self_attn.q_proj')!.B = new Float32Array(8 * 63);
    expect(errorOf(() => exportAdapter(s, h8, mods, w3, 'x')).message).toMatch(/lora_B/);
  });
});

describe('importAdapter', () => {
  it('export -> import round trip (llama and gpt2), bit exact', () => {
    for (const [p, t, h] of [
      ['models/stories260K/config.json', 'all-linear,lm_head', { r: 4, loraAlpha: 8, loraDropout: 0.1, useRslora: true }],
      ['configs/gpt2.json', 'c_attn,attn.c_proj', { r: 1, loraAlpha: 3, loraDropout: 0, useRslora: false }],
    ] as const) {
      const s = load(p);
      let mods = resolveTargets(s, parseTargets(t));
      if (s.arch === 'gpt2') mods = mods.filter((m) => m.layer === 1 || m.layer === 7);
      const w = randomWeights(mods, h.r, 4);
      const ex = exportAdapter(s, h, mods, w, 'base/model');
      const im = importAdapter(s, ex.configJson, ex.safetensors, 'adapter');
      expect(im.h).toEqual(h);
      expect(im.baseModel).toBe('base/model');
      expect(im.modules).toEqual(mods);
      expect([...im.weights.keys()]).toEqual(mods.map((m) => m.name));
      for (const m of mods) {
        expect(im.weights.get(m.name)!.A).toEqual(w.get(m.name)!.A);
        expect(im.weights.get(m.name)!.B).toEqual(w.get(m.name)!.B);
      }
    }
  });

  it('PEFT-style files: ".default" keys, F16 and BF16, extra config keys, no base model', () => {
    const s = load('models/stories260K/config.json');
    const mods = resolveTargets(s, parseTargets('v_proj')).slice(0, 2);
    const w = randomWeights(mods, 2, 5);
    const tensors: TensorToWrite[] = [];
    for (const [i, m] of mods.entries()) {
      const dtype = i === 0 ? 'F16' : 'BF16';
      tensors.push({ name: `base_model.model.${m.name}.lora_A.default.weight`, dtype, shape: [2, m.inF], data: w.get(m.name)!.A });
      tensors.push({ name: `base_model.model.${m.name}.lora_B.weight`, dtype, shape: [m.outF, 2], data: w.get(m.name)!.B });
    }
    const cfg = JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, use_dora: false, megatron_config: null, target_modules: ['v_proj'] });
    const im = importAdapter(s, cfg, serializeSafetensors(tensors), 'peft-adapter');
    expect(im.h).toEqual({ r: 2, loraAlpha: 4, loraDropout: 0, useRslora: false });
    expect(im.baseModel).toBeNull();
    expect(im.modules.map((m) => m.name)).toEqual(['model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.v_proj']);
    const a0 = w.get(mods[0].name)!.A.map((v) => f16BitsToF32(f32ToF16Bits(v)));
    const b1 = w.get(mods[1].name)!.B.map((v) => bf16BitsToF32(f32ToBf16Bits(v)));
    expect(im.weights.get(mods[0].name)!.A).toEqual(a0);
    expect(im.weights.get(mods[1].name)!.B).toEqual(b1);
    expect(a0).not.toEqual(w.get(mods[0].name)!.A); // the rounding really happened
  });

  describe('errors', () => {
    const s = load('models/stories260K/config.json');
    const mods = resolveTargets(s, parseTargets('q_proj'));
    const good = exportAdapter(s, h8, mods, randomWeights(mods, 8, 6), 'b');
    const build = (tensors: TensorToWrite[]) => serializeSafetensors(tensors);
    const A = (name: string, r = 8, inF = 64): TensorToWrite => ({ name, dtype: 'F32', shape: [r, inF], data: new Float32Array(r * inF) });

    it('config: bad JSON, not LORA, bad r/alpha, unsupported features', () => {
      const e = errorOf(() => importAdapter(s, '{"r": 8,', good.safetensors, '/a/adapter'));
      expect(e).toBeInstanceOf(AdapterError);
      expect(e.message).toMatch(/\/a\/adapter \(adapter_config\.json\): not valid JSON/);
      const cfg = JSON.parse(good.configJson) as Record<string, unknown>;
      const with_ = (o: Record<string, unknown>) => JSON.stringify({ ...cfg, ...o });
      expect(errorOf(() => importAdapter(s, with_({ peft_type: 'IA3' }), good.safetensors, 'x')).message).toMatch(/peft_type is "IA3"/);
      expect(errorOf(() => importAdapter(s, with_({ r: 0 }), good.safetensors, 'x')).message).toMatch(/"r" must be a positive integer/);
      expect(errorOf(() => importAdapter(s, with_({ lora_alpha: 'x' }), good.safetensors, 'x')).message).toMatch(/lora_alpha/);
      // Each unsupported PEFT option is its own one-line message naming the option and the way out.
      const one = (o: Record<string, unknown>) => {
        const m = errorOf(() => importAdapter(s, with_(o), good.safetensors, 'x')).message;
        expect(m.split('\n')).toHaveLength(1);
        expect(m.startsWith('x (adapter_config.json): ')).toBe(true);
        return m;
      };
      expect(one({ use_dora: true })).toMatch(/"use_dora": true \(DoRA\) is not supported: .*retrain with use_dora=False$/);
      expect(one({ rank_pattern: { q_proj: 4 } })).toMatch(/"rank_pattern" gives "q_proj" their own rank, .*retrain without rank_pattern$/);
      expect(one({ alpha_pattern: { 'layers.0.self_attn.q_proj': 32 } })).toMatch(/"alpha_pattern" gives "layers\.0\.self_attn\.q_proj" their own alpha, .*retrain without alpha_pattern$/);
      expect(one({ modules_to_save: ['embed_tokens', 'lm_head'] })).toMatch(/"modules_to_save" lists "embed_tokens", "lm_head", .*retrain without modules_to_save/);
      expect(one({ bias: 'lora_only' })).toMatch(/"bias": "lora_only" trains bias vectors, .*retrain with bias="none"$/);
      expect(one({ bias: 'all' })).toMatch(/"bias": "all"/);
      // Options that only matter when PEFT creates the adapter, or that the tensor keys already say, load.
      for (const o of [{ init_lora_weights: 'pissa' }, { init_lora_weights: 'gaussian' }, { layers_to_transform: [0, 1], layers_pattern: 'layers' }, { use_dora: false, bias: 'none', modules_to_save: [] }]) {
        expect(importAdapter(s, with_(o), good.safetensors, 'x').modules).toHaveLength(mods.length);
      }
      // Target names of another architecture: named, with this model's modules and the adapter's base.
      expect(one({ target_modules: ['query_key_value', 'dense'], base_model_name_or_path: 'EleutherAI/pythia-70m' })).toBe(
        'x (adapter_config.json): target_modules "query_key_value", "dense" match no module of this llama model, whose modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head: load the adapter onto the base it was trained for (it was trained on EleutherAI/pythia-70m)',
      );
      // r in the config disagrees with the tensors
      expect(errorOf(() => importAdapter(s, with_({ r: 4 }), good.safetensors, 'x')).message).toMatch(
        /tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" has shape \[8, 64\], expected \[4, 64\]/,
      );
    });

    it('tensors: unknown keys listed, missing half, wrong shape, bad dtype, bad file', () => {
      const st = build([
        A('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'),
        { ...A('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', 64, 8) },
        A('base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight'),
        A('base_model.model.layers.0.self_attn.q_proj.lora_A.weight'),
        A('model.layers.0.self_attn.q_proj.lora_A.weight'),
      ]);
      const e = errorOf(() => importAdapter(s, good.configJson, st, 'ad'));
      expect(e).toBeInstanceOf(AdapterError);
      expect(e.message).toMatch(/ad: 3 tensor key\(s\) do not map to a LoRA module of this llama model/);
      expect(e.message).toContain('"base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight"');
      expect(e.message).toContain('"base_model.model.layers.0.self_attn.q_proj.lora_A.weight"');
      expect(e.message).toContain('"model.layers.0.self_attn.q_proj.lora_A.weight"');
      const half = build([A('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')]);
      expect(errorOf(() => importAdapter(s, good.configJson, half, 'ad')).message).toMatch(/has lora_A but no lora_B/);
      const badShape = build([
        A('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'),
        A('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight', 64, 8),
      ]);
      expect(errorOf(() => importAdapter(s, good.configJson, badShape, 'ad')).message).toMatch(/k_proj\.lora_B\.weight" has shape \[64, 8\], expected \[32, 8\]/);
      expect(errorOf(() => importAdapter(s, good.configJson, build([]), 'ad')).message).toMatch(/holds no LoRA tensors/);
      const dup = build([
        A('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'),
        A('base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight'),
      ]);
      expect(errorOf(() => importAdapter(s, good.configJson, dup, 'ad')).message).toMatch(/both lora_A/);
      // an I32 tensor under a valid key
      const i32 = good.safetensors.slice();
      const n = Number(new DataView(i32.buffer).getBigUint64(0, true));
      const text = new TextDecoder().decode(i32.subarray(8, 8 + n)).replace('"F32"', '"I32"');
      i32.set(new TextEncoder().encode(text), 8);
      expect(errorOf(() => importAdapter(s, good.configJson, i32, 'ad')).message).toMatch(/dtype I32/);
      const trunc = errorOf(() => importAdapter(s, good.configJson, good.safetensors.subarray(0, 100), 'ad'));
      expect(trunc).toBeInstanceOf(AdapterError);
      // adapter of another model (gpt2 keys on a llama model)
      const g = load('configs/gpt2.json');
      const gm = resolveTargets(g, parseTargets('c_attn')).slice(0, 1);
      const ga = exportAdapter(g, h8, gm, randomWeights(gm, 8, 1), 'gpt2');
      expect(errorOf(() => importAdapter(s, ga.configJson, ga.safetensors, 'ad')).message).toMatch(/target_modules "transformer\.h\.0\.attn\.c_attn" match no module of this llama model/);
      // matching names but tensors of another model: the keys are listed
      const gcfg = JSON.stringify({ ...JSON.parse(ga.configJson), target_modules: ['q_proj'] });
      expect(errorOf(() => importAdapter(s, gcfg, ga.safetensors, 'ad')).message).toMatch(/"base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight".*load the adapter onto the base it was trained for \(gpt2\)$/);
      // LoRA on the embeddings (PEFT's lora_embedding_A/B) is named as such
      const embKey = 'base_model.model.model.embed_tokens.lora_embedding_A';
      expect(errorOf(() => importAdapter(s, good.configJson, build([{ name: embKey, dtype: 'F32', shape: [8, 512], data: new Float32Array(8 * 512) }]), 'ad')).message).toMatch(/"base_model\.model\.model\.embed_tokens\.lora_embedding_A" is a LoRA on an embedding/);
    });
  });
});
