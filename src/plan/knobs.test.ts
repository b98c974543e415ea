import { describe, expect, it } from 'vitest';
import { parseTargets, resolveTargets } from '../lora/targets';
import { CATALOG, catalogSpec } from './catalog';
import { adaptKinds, defaultKnobs, KNOB_HELP, KNOB_LABEL, knobProblems, matmulMathUnavailable, subgroupsKnobUnavailable, moduleKinds, presetKinds, presetOf, targetsLabel, targetsString, toRunConfig } from './knobs';

const smol = catalogSpec(CATALOG[0]);
const gpt2 = catalogSpec(CATALOG.find((m) => m.repo === 'openai-community/gpt2')!);

describe('knobs', () => {
  it('every knob has a label and a one-line explanation', () => {
    const d = defaultKnobs(null);
    for (const k of Object.keys(d) as (keyof typeof d)[]) {
      expect(KNOB_LABEL[k], k).toBeTruthy();
      expect(KNOB_HELP[k], k).toMatch(/^[^\n]{20,160}$/);
    }
  });

  it('presets map to PEFT targets for Llama and GPT-2', () => {
    expect(targetsString(presetKinds('attention', 'llama', false), 'llama')).toBe('q_proj,v_proj');
    expect(targetsString(presetKinds('all-linear', 'llama', true), 'llama')).toBe('q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head');
    expect(targetsString(presetKinds('attention', 'gpt2', false), 'gpt2')).toBe('c_attn');
    expect(targetsString(presetKinds('all-linear', 'gpt2', false), 'gpt2')).toBe('c_attn,attn.c_proj,c_fc,mlp.c_proj');
    // GPT-2's two c_proj kinds resolve to their own modules only
    const attnProj = resolveTargets(gpt2, parseTargets(targetsString(['attn.c_proj'], 'gpt2')));
    expect(attnProj.map((m) => m.name)).toEqual(Array.from({ length: 12 }, (_, l) => `transformer.h.${l}.attn.c_proj`));
    expect(presetOf(['v_proj', 'q_proj'], 'llama')).toEqual({ preset: 'attention', withHead: false });
    expect(presetOf(['q_proj'], 'llama')).toBeNull();
    expect(moduleKinds('gpt2')).toContain('lm_head');
    expect(targetsLabel(['q_proj', 'v_proj', 'lm_head'], 'llama')).toBe('attention+lm_head');
    expect(targetsLabel(['q_proj', 'o_proj'], 'llama')).toBe('q_proj+o_proj');
  });

  it('switching architecture keeps valid kinds or falls back to attention', () => {
    expect(adaptKinds(['q_proj', 'v_proj', 'lm_head'], 'gpt2')).toEqual(['c_attn', 'lm_head']);
    expect(adaptKinds(['c_fc'], 'gpt2')).toEqual(['c_fc']);
    expect(adaptKinds(['c_attn'], 'llama')).toEqual(['q_proj', 'v_proj']);
  });

  it('defaults are valid for every curated model and scale with its size', () => {
    for (const m of CATALOG) {
      const spec = catalogSpec(m);
      const d = defaultKnobs(spec);
      expect(knobProblems(d, spec), m.repo).toEqual([]);
      expect(d.seqLen).toBeLessThanOrEqual(spec.maxT);
      expect(d.loraplusLrRatio).toBe(16);
    }
    const big = defaultKnobs(catalogSpec(CATALOG.find((m) => m.repo.includes('open_llama'))!));
    expect(big.gradCheckpointing).toBe(true);
    expect(big.batchSize).toBeLessThan(defaultKnobs(smol).batchSize);
  });

  it('reports bad values one line each and builds the RunConfig', () => {
    const k = { ...defaultKnobs(smol), r: 0, seqLen: 100_000, targetModules: [], evalSplit: 1 };
    const p = knobProblems(k, smol);
    expect(p.some((x) => /^“Rank \(r\)” must be a positive integer/.test(x))).toBe(true);
    expect(p.some((x) => /^“Target modules” needs at least one module/.test(x))).toBe(true);
    expect(p.some((x) => /^“Eval split” must be at least 0 and below 1/.test(x))).toBe(true);
    const q = knobProblems({ ...defaultKnobs(smol), quant: 'qalora-int4', groupSize: 7 }, smol);
    expect(q).toHaveLength(1);
    expect(q[0]).toMatch(/QA-LoRA group size 7 does not divide model\.layers\.0\.self_attn\.q_proj's 576 input features/);
    expect(knobProblems({ ...defaultKnobs(smol), quant: 'qalora-int4', groupSize: 64 }, smol)).toEqual([]);
    for (const line of p) expect(line).not.toMatch(/\n/);
    const cfg = toRunConfig({ ...defaultKnobs(smol), lengthBy: 'steps', steps: 30, evalEvery: 10 }, 'llama', 'HuggingFaceTB/SmolLM2-135M-Instruct');
    expect(cfg).toMatchObject({ steps: 30, saveEvery: 10, targetModules: 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj', baseModel: 'HuggingFaceTB/SmolLM2-135M-Instruct' });
    expect(toRunConfig(defaultKnobs(smol), 'llama', 'x').steps).toBeUndefined();
  });

  it('“Matmul math”: f32 by default, carried to RunConfig.matmulMath; f16 unavailable only on a GPU known to lack shader-f16', () => {
    expect(defaultKnobs(smol).matmulMath).toBe('f32');
    expect(toRunConfig(defaultKnobs(smol), 'llama', 'x').matmulMath).toBe('f32');
    expect(toRunConfig({ ...defaultKnobs(smol), matmulMath: 'f16' }, 'llama', 'x').matmulMath).toBe('f16');
    expect(knobProblems({ ...defaultKnobs(smol), matmulMath: 'f16' }, smol)).toEqual([]);
    expect(matmulMathUnavailable(true)).toBeNull();
    expect(matmulMathUnavailable(undefined)).toBeNull();
    expect(matmulMathUnavailable(false)).toBe('“Matmul math” f16 needs a GPU with the WebGPU shader-f16 feature, and this one has none: use f32.');
  });

  it('“Subgroup reductions”: off by default, carried to RunConfig.subgroups; unavailable only on a GPU known to lack subgroups', () => {
    expect(defaultKnobs(smol).subgroups).toBe(false);
    expect(toRunConfig(defaultKnobs(smol), 'llama', 'x').subgroups).toBe(false);
    expect(toRunConfig({ ...defaultKnobs(smol), subgroups: true }, 'llama', 'x').subgroups).toBe(true);
    expect(knobProblems({ ...defaultKnobs(smol), subgroups: true }, smol)).toEqual([]);
    expect(KNOB_LABEL.subgroups).toBe('Subgroup reductions');
    expect(subgroupsKnobUnavailable(true)).toBeNull();
    expect(subgroupsKnobUnavailable(undefined)).toBeNull();
    expect(subgroupsKnobUnavailable(false)).toBe('“Subgroup reductions” need a GPU with the WebGPU subgroups feature, and this one has none: leave them off.');
  });
});
