import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfigText, type ModelSpec } from '../model/config';
import { linearModules } from '../model/modules';
import { countLoraParams, entryMatches, parseTargets, peftTargetList, resolveTargets, TargetError } from './targets';

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

const resolve = (spec: ModelSpec, s: string) => resolveTargets(spec, parseTargets(s));
const names = (spec: ModelSpec, s: string) => resolve(spec, s).map((m) => m.name);

describe('parseTargets', () => {
  it('lists, keywords and lm_head', () => {
    expect(parseTargets('q_proj,v_proj')).toEqual({ modules: ['q_proj', 'v_proj'], lmHead: false });
    expect(parseTargets(' q_proj , v_proj ,q_proj,')).toEqual({ modules: ['q_proj', 'v_proj'], lmHead: false });
    expect(parseTargets('attention')).toEqual({ modules: 'attention', lmHead: false });
    expect(parseTargets('all-linear')).toEqual({ modules: 'all-linear', lmHead: false });
    expect(parseTargets('all-linear,lm_head')).toEqual({ modules: 'all-linear', lmHead: true });
    expect(parseTargets('lm_head,attention')).toEqual({ modules: 'attention', lmHead: true });
    expect(parseTargets('lm_head')).toEqual({ modules: [], lmHead: true });
    expect(parseTargets('attn.c_proj,mlp.c_fc')).toEqual({ modules: ['attn.c_proj', 'mlp.c_fc'], lmHead: false });
  });

  it('errors: empty, keyword mixed with names, bad names', () => {
    for (const s of ['', ' ', ',', ' , ,']) {
      const e = errorOf(() => parseTargets(s));
      expect(e).toBeInstanceOf(TargetError);
      expect(e.message).toMatch(/no LoRA target modules given/);
    }
    expect(errorOf(() => parseTargets('all-linear,q_proj')).message).toMatch(/"all-linear" cannot be combined with "q_proj"/);
    expect(errorOf(() => parseTargets('attention,all-linear'))).toBeInstanceOf(TargetError);
    expect(errorOf(() => parseTargets('q proj')).message).toMatch(/invalid target module name "q proj"/);
    expect(errorOf(() => parseTargets('.q_proj'))).toBeInstanceOf(TargetError);
  });
});

describe('resolveTargets and countLoraParams', () => {
  it('OpenLLaMA-3b-v2 reference counts (PEFT print_trainable_parameters)', () => {
    const s = load('configs/open_llama_3b_v2.json');
    expect(countLoraParams(resolve(s, 'q_proj,v_proj'), 8)).toBe(2_662_400);
    expect(countLoraParams(resolve(s, 'q_proj,v_proj'), 16)).toBe(5_324_800);
    expect(countLoraParams(resolve(s, 'attention'), 16)).toBe(5_324_800);
    expect(countLoraParams(resolve(s, 'all-linear,lm_head'), 8)).toBe(12_994_560);
    expect(countLoraParams(resolve(s, 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head'), 8)).toBe(12_994_560);
    expect(countLoraParams(resolve(s, 'all-linear'), 8)).toBe(12_994_560 - 8 * (3200 + 32000));
  });

  it('GQA shapes (SmolLM2: k/v out = NKV*HS)', () => {
    const s = load('configs/SmolLM2-135M.json');
    const mods = resolve(s, 'k_proj');
    expect(mods).toHaveLength(30);
    expect(mods.every((m) => m.inF === 576 && m.outF === 192)).toBe(true);
    expect(countLoraParams(mods, 4)).toBe(30 * 4 * (576 + 192));
  });

  it('keyword and list semantics, model order, lm_head only with lmHead', () => {
    const s = load('models/stories260K/config.json');
    const all = linearModules(s);
    expect(names(s, 'all-linear')).toEqual(all.filter((m) => m.name !== 'lm_head').map((m) => m.name));
    expect(names(s, 'all-linear,lm_head')).toEqual(all.map((m) => m.name));
    expect(names(s, 'v_proj,q_proj')).toEqual(names(s, 'attention'));
    expect(names(s, 'attention').slice(0, 4)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
    expect(names(s, 'lm_head')).toEqual(['lm_head']);
    expect(names(s, 'mlp.down_proj,layers.2.self_attn.o_proj')).toEqual([
      'model.layers.0.mlp.down_proj',
      'model.layers.1.mlp.down_proj',
      'model.layers.2.self_attn.o_proj',
      'model.layers.2.mlp.down_proj',
      'model.layers.3.mlp.down_proj',
      'model.layers.4.mlp.down_proj',
    ]);
    expect(names(s, 'model.layers.0.self_attn.q_proj')).toEqual(['model.layers.0.self_attn.q_proj']);
    // suffix matching is on whole segments: "proj" is not a suffix match of "q_proj"
    expect(entryMatches('model.layers.0.self_attn.q_proj', 'proj')).toBe(false);
    expect(entryMatches('model.layers.0.self_attn.q_proj', 'self_attn.q_proj')).toBe(true);
    const g = load('configs/gpt2.json');
    expect(names(g, 'attention').slice(0, 2)).toEqual(['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn']);
    expect(resolve(g, 'c_proj')).toHaveLength(24);
    expect(resolve(g, 'attn.c_proj').map((m) => m.kind)).toEqual(new Array(12).fill('attn.c_proj'));
  });

  it('an entry matching nothing names the entry and lists the available modules', () => {
    const s = load('configs/SmolLM2-135M.json');
    const e = errorOf(() => resolve(s, 'q_proj,qproj,c_attn'));
    expect(e).toBeInstanceOf(TargetError);
    expect(e.message).toMatch(/"qproj", "c_attn" match no module of this llama model/);
    expect(e.message).toContain('q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head');
    const g = errorOf(() => resolve(load('configs/gpt2.json'), 'q_proj'));
    expect(g.message).toMatch(/"q_proj" matches no module of this gpt2 model/);
    expect(g.message).toContain('c_attn, attn.c_proj, c_fc, mlp.c_proj, c_proj');
    expect(errorOf(() => resolveTargets(s, { modules: [], lmHead: false })).message).toMatch(/no LoRA target modules selected/);
    expect(errorOf(() => resolve(s, 'layers.99.self_attn.q_proj'))).toBeInstanceOf(TargetError);
  });
});

describe('peftTargetList', () => {
  it('short names for the usual cases', () => {
    const s = load('configs/SmolLM2-135M.json');
    expect(peftTargetList(s, resolve(s, 'attention'))).toEqual(['q_proj', 'v_proj']);
    expect(peftTargetList(s, resolve(s, 'all-linear'))).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    expect(peftTargetList(s, resolve(s, 'all-linear,lm_head'))).toContain('lm_head');
    const g = load('configs/gpt2.json');
    expect(peftTargetList(g, resolve(g, 'all-linear'))).toEqual(['c_attn', 'c_proj', 'c_fc']);
    expect(peftTargetList(g, resolve(g, 'c_attn,c_proj'))).toEqual(['c_attn', 'c_proj']);
  });

  it('GPT-2 c_proj ambiguity: never targets the untrained c_proj', () => {
    const g = load('configs/gpt2.json');
    const attnOnly = resolve(g, 'c_attn,attn.c_proj');
    const list = peftTargetList(g, attnOnly);
    expect(list).not.toContain('c_proj');
    expect(list).toEqual(['c_attn', 'attn.c_proj']);
    // PEFT's matching applied to the exported list selects exactly the trained modules
    const all = linearModules(g);
    const selected = all.filter((m) => list.some((e) => entryMatches(m.name, e))).map((m) => m.name);
    expect(selected).toEqual(attnOnly.map((m) => m.name));
    const mlpOnly = resolve(g, 'mlp.c_proj');
    expect(peftTargetList(g, mlpOnly)).toEqual(['mlp.c_proj']);
  });

  it('a subset of layers exports full module names', () => {
    const s = load('models/stories260K/config.json');
    const mods = resolve(s, 'layers.1.self_attn.q_proj,layers.3.self_attn.q_proj');
    expect(peftTargetList(s, mods)).toEqual(['model.layers.1.self_attn.q_proj', 'model.layers.3.self_attn.q_proj']);
    expect(errorOf(() => peftTargetList(s, [{ ...mods[0], name: 'model.layers.9.self_attn.q_proj' }]))).toBeInstanceOf(TargetError);
  });
});
