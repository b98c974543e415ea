import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../model/config';
import { expandExperiment, parseExperiment, runFields, variedKeys } from './spec';
import { qloraStudyPreset, runTrainableParams } from './preset';
import { reportCsv, reportMarkdown, type ReportRun } from './report';

const shared = (p: string): string => fileURLToPath(new URL(`../../../shared/${p}`, import.meta.url));

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('parseExperiment', () => {
  it('accepts PEFT names, a target_modules list, and keeps axis order', () => {
    const s = parseExperiment(JSON.stringify({ name: 'x', base: { lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], steps: 2 }, axes: { r: [2, 4] }, prompts: ['Hi'] }), 'exp.json');
    expect(s.base).toEqual({ lora_alpha: 16, target_modules: 'q_proj,v_proj', steps: 2 });
    expect(runFields(s.base)).toEqual({ loraAlpha: 16, targetModules: 'q_proj,v_proj', steps: 2 });
  });

  it('errors are one line naming the file and the key', () => {
    const bad = (o: object) => errorOf(() => parseExperiment(o, 'exp.json'));
    expect(bad({ name: 'x', base: {}, axes: { r: [8, 0] }, prompts: [] })).toBe('exp.json: axes.r[1] must be a positive integer (got 0).');
    expect(bad({ name: 'x', base: { rank: 8 }, prompts: [] })).toMatch(/^exp\.json: base: unknown key "rank"; use one of r, lora_alpha/);
    expect(bad({ name: 'x', base: {}, axes: { seqLen: [8] }, prompts: [] })).toMatch(/^exp\.json: axes\.seqLen cannot vary/);
    expect(bad({ name: 'x', base: { quant: 'nf5' }, prompts: [] })).toMatch(/^exp\.json: base\.quant is invalid: /);
    expect(bad({ name: 'x', base: { target_modules: 'attention,q_proj' }, prompts: [] })).toMatch(/^exp\.json: base\.target_modules is invalid: /);
    expect(bad({ base: {}, prompts: [] })).toBe('exp.json: name must be a non-empty string.');
    expect(bad({ name: 'x', base: {}, prompts: 'Hi' })).toMatch(/^exp\.json: prompts must be a list/);
    expect(bad({ name: 'x', base: {}, runs: [{ seqLen: 8 }], prompts: [] })).toMatch(/^exp\.json: runs\[0\]\.seqLen shapes the data/);
    for (const m of [bad({ name: 'x', base: {}, axes: { r: [8, 0] }, prompts: [] })]) expect(m).not.toContain('\n');
    expect(errorOf(() => parseExperiment('{', 'exp.json'))).toMatch(/^exp\.json: not valid JSON/);
  });

  it('saved activations: a key of base and an axis, f32 or f16; a bad value names the key and the allowed values', () => {
    const bad = (o: object) => errorOf(() => parseExperiment(o, 'exp.json'));
    const s = parseExperiment({ name: 'x', base: { r: 8 }, axes: { saveActivations: ['f32', 'f16'] }, prompts: [] }, 'exp.json');
    expect(s.axes).toEqual({ saveActivations: ['f32', 'f16'] });
    expect(runFields({ saveActivations: 'f16' })).toEqual({ saveActivations: 'f16' });
    expect(parseExperiment({ name: 'x', base: { saveActivations: 'f16' }, prompts: [] }).base).toEqual({ saveActivations: 'f16' });
    expect(bad({ name: 'x', base: {}, axes: { saveActivations: ['f32', 'bf16'] }, prompts: [] })).toBe('exp.json: axes.saveActivations[1] must be one of f32, f16 (got "bf16").');
    expect(bad({ name: 'x', base: { saveActivations: true }, prompts: [] })).toBe('exp.json: base.saveActivations must be one of f32, f16 (got true).');
  });

  it('matmul math: a key of base and an axis, f32 or f16; a bad value names the key and the allowed values', () => {
    const bad = (o: object) => errorOf(() => parseExperiment(o, 'exp.json'));
    expect(parseExperiment({ name: 'x', base: {}, axes: { matmulMath: ['f32', 'f16'] }, prompts: [] }).axes).toEqual({ matmulMath: ['f32', 'f16'] });
    expect(runFields({ matmulMath: 'f16' })).toEqual({ matmulMath: 'f16' });
    expect(bad({ name: 'x', base: {}, axes: { matmulMath: ['f32', 'bf16'] }, prompts: [] })).toBe('exp.json: axes.matmulMath[1] must be one of f32, f16 (got "bf16").');
    expect(bad({ name: 'x', base: { matmulMath: 16 }, prompts: [] })).toBe('exp.json: base.matmulMath must be one of f32, f16 (got 16).');
  });

  it('heldOutPrompts: a count of held-out rows to answer, which needs rows held out', () => {
    const bad = (o: object) => errorOf(() => parseExperiment(o, 'exp.json'));
    expect(parseExperiment({ name: 'x', base: {}, axes: { r: [4, 8] }, prompts: [], heldOutPrompts: 3 }).heldOutPrompts).toBe(3);
    expect(parseExperiment({ name: 'x', base: {}, axes: { r: [4, 8] }, prompts: [] }).heldOutPrompts).toBeUndefined();
    for (const v of [-1, 1.5, '3', true]) {
      expect(bad({ name: 'x', base: {}, prompts: [], heldOutPrompts: v })).toBe(
        `exp.json: heldOutPrompts must be a non-negative integer, the number of evaluation prompts drawn from the held-out rows (got ${JSON.stringify(v)}).`,
      );
    }
    expect(bad({ name: 'x', base: { evalSplit: 0 }, prompts: [], heldOutPrompts: 2 })).toMatch(/^exp\.json: heldOutPrompts draws from the held-out rows, but base\.evalSplit is 0/);
    expect(parseExperiment({ name: 'x', base: { evalSplit: 0, evalFile: 'e.jsonl' }, prompts: [], heldOutPrompts: 2 }).heldOutPrompts).toBe(2);
    expect(parseExperiment({ name: 'x', base: { evalSplit: 0 }, prompts: [], heldOutPrompts: 0 }).heldOutPrompts).toBe(0);
  });
});

describe('expandExperiment', () => {
  it('cartesian product, first axis outermost, named after the varied values', () => {
    const runs = expandExperiment(parseExperiment({ name: 'x', base: { lr: 1e-3 }, axes: { r: [8, 16], quant: ['nf4', 'int8'] }, prompts: [] }));
    expect(runs.map((r) => r.name)).toEqual(['r8-nf4', 'r8-int8', 'r16-nf4', 'r16-int8']);
    expect(runs[1].settings).toEqual({ lr: 1e-3, r: 8, quant: 'int8' });
    expect(runs[1].varied).toEqual({ r: 8, quant: 'int8' });
    expect(variedKeys(runs)).toEqual(['r', 'quant']);
  });

  it('an f32 / f16 saved-activations axis: runs named actf32 / actf16, crossed with the others', () => {
    const runs = expandExperiment(parseExperiment({ name: 'x', base: { steps: 2 }, axes: { r: [8, 16], saveActivations: ['f32', 'f16'] }, prompts: [] }));
    expect(runs.map((r) => r.name)).toEqual(['r8-actf32', 'r8-actf16', 'r16-actf32', 'r16-actf16']);
    expect(runFields(runs[1].settings)).toEqual({ steps: 2, r: 8, saveActivations: 'f16' });
    expect(variedKeys(runs)).toEqual(['r', 'saveActivations']);
  });

  it('an f32 / f16 matmul-math axis: runs named mmf32 / mmf16', () => {
    const runs = expandExperiment(parseExperiment({ name: 'x', base: { steps: 2 }, axes: { matmulMath: ['f32', 'f16'] }, prompts: [] }));
    expect(runs.map((r) => r.name)).toEqual(['mmf32', 'mmf16']);
    expect(runFields(runs[1].settings)).toEqual({ steps: 2, matmulMath: 'f16' });
    expect(variedKeys(runs)).toEqual(['matmulMath']);
  });

  it('a subgroup-reductions axis: runs named no-sg / sg; a value other than true / false names the key', () => {
    const runs = expandExperiment(parseExperiment({ name: 'x', base: { steps: 2 }, axes: { subgroups: [false, true] }, prompts: [] }));
    expect(runs.map((r) => r.name)).toEqual(['no-sg', 'sg']);
    expect(runFields(runs[1].settings)).toEqual({ steps: 2, subgroups: true });
    expect(variedKeys(runs)).toEqual(['subgroups']);
    expect(() => parseExperiment({ name: 'x', base: { subgroups: 'on' }, prompts: [] })).toThrow(/base\.subgroups must be/);
  });

  it('one run is "run1" ("base" names the base model answers); duplicate settings are an error', () => {
    expect(expandExperiment(parseExperiment({ name: 'x', base: { r: 4 }, prompts: [] })).map((r) => r.name)).toEqual(['run1']); // not 'base': the base model's answers are named so
    expect(errorOf(() => expandExperiment(parseExperiment({ name: 'x', base: {}, axes: { r: [4, 4] }, prompts: [] })))).toBe(
      'x: runs 1 and 2 have the same settings; remove the duplicate value from axes or runs.',
    );
  });
});

describe('qloraStudyPreset', () => {
  it('expands to the study\'s four configurations with its trainable-parameter counts on OpenLLaMA 3B v2', () => {
    const spec = parseConfig(JSON.parse(readFileSync(shared('configs/open_llama_3b_v2.json'), 'utf8')), 'open_llama_3b_v2.json');
    const exp = qloraStudyPreset({ r: 64, lora_alpha: 16, lr: 2e-4 }, ['Describe a lamp.']);
    const runs = expandExperiment(parseExperiment(exp));
    expect(runs.map((r) => r.name)).toEqual(['r8-q_proj+v_proj-nf4', 'r16-q_proj+v_proj-nf4', 'r8-all-linear+lm_head-nf4', 'r8-all-linear+lm_head-int8']);
    expect(runs.map((r) => runTrainableParams(spec, r))).toEqual([2_662_400, 5_324_800, 12_994_560, 12_994_560]);
    expect(runs.every((r) => r.settings.lora_alpha === 16 && r.settings.lr === 2e-4)).toBe(true);
  });
});

describe('report', () => {
  const run = (name: string, r: number, after: number): ReportRun => ({
    name, varied: { r },
    metrics: {
      config: { r, loraAlpha: 16, targetModules: 'attention', quant: 'nf4', loraplusLrRatio: 1, lr: 2e-4 }, trainable_params: 100 * r, model_params: 1e6,
      steps: 2, wall_seconds: 1.25, tokens_per_second: 99.6, peak_gpu_bytes: 2.5e6, eval_loss_before: 2, eval_loss_after: after,
    },
  });
  const rep = { name: 'x', runs: [run('r2', 2, 1), run('r4', 4, 0.5)], prompts: ['Hi | there'], answers: [{ name: 'base', answers: ['a\nb'] }, { name: 'r2', answers: ['say "x", y'] }, { name: 'r4', answers: ['z'] }] };

  it('Markdown: the varied column marked, the answers grid escaped', () => {
    const md = reportMarkdown(rep);
    expect(md).toContain('| run | **r** (varied) | alpha | targets | base bits |');
    expect(md).toContain('| r4 | 4 | 16 | attention | 4 | 1 | 0.0002 | 400 | 0.04 | 2 | 1.3 | 100 | 2.5 | 2 | 0.5 | 1.649 |');
    expect(md).toContain('| prompt | base | r2 | r4 |');
    expect(md).toContain('| Hi \\| there | a<br>b | say "x", y | z |');
    expect(md).not.toContain('reference');
  });

  it('a held-out prompt: its line and the reference answer in a column of the grid, reference_i in the CSV', () => {
    const held = {
      ...rep, prompts: ['Hi | there', 'Tell a story.'], references: [null, { line: 12, text: 'Once, a cat.' }],
      answers: [{ name: 'base', answers: ['a', 'b'] }, { name: 'r2', answers: ['c', 'd'] }, { name: 'r4', answers: ['e', 'f'] }],
    };
    const md = reportMarkdown(held);
    expect(md).toContain('| prompt | reference | base | r2 | r4 |');
    expect(md).toContain('| Hi \\| there | - | a | c | e |');
    expect(md).toContain('| (held out, line 12) Tell a story. | Once, a cat. | b | d | f |');
    const lines = reportCsv(held).trim().split('\n');
    expect(lines[0]).toMatch(/,perplexity,answer_1,answer_2,reference_2$/);
    expect(lines[1]).toMatch(/,c,d,"Once, a cat\."$/);
    expect(lines[2]).toMatch(/,e,f,"Once, a cat\."$/);
  });

  it('CSV: one row per run, fields quoted where needed', () => {
    const lines = reportCsv(rep).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('run,r,lora_alpha,target_modules,base_bits,loraplus_lr_ratio,lr,trainable_params,trainable_percent,steps,wall_seconds,tokens_per_second,peak_gpu_mb,eval_loss_before,eval_loss_after,perplexity,answer_1');
    expect(lines[1]).toMatch(/^r2,2,16,attention,4,1,0\.0002,200,0\.02,2,1\.3,100,2\.5,2,1,2\.718,"say ""x"", y"$/);
  });

  it('a saved-activations column only when it varies; metrics without the field read f32', () => {
    const [a, b] = rep.runs;
    const act = {
      ...rep, runs: [{ ...a, name: 'actf32', varied: { saveActivations: 'f32' } }, { ...b, name: 'actf16', varied: { saveActivations: 'f16' }, metrics: { ...b.metrics, config: { ...b.metrics.config, saveActivations: 'f16' } } }],
      answers: [],
    };
    expect(reportMarkdown(act)).toContain('| lr | **saved activations** (varied) | trainable params |');
    const lines = reportCsv(act).trim().split('\n');
    expect(lines[0]).toContain(',lr,save_activations,trainable_params,');
    expect(lines[1]).toMatch(/^actf32,2,16,attention,4,1,0\.0002,f32,/);
    expect(lines[2]).toMatch(/^actf16,4,16,attention,4,1,0\.0002,f16,/);
    expect(reportCsv(rep)).not.toContain('save_activations');
  });

  it('a matmul-math column only when it varies; metrics without the field read f32', () => {
    const [a, b] = rep.runs;
    const mm = {
      ...rep, runs: [{ ...a, name: 'mmf32', varied: { matmulMath: 'f32' } }, { ...b, name: 'mmf16', varied: { matmulMath: 'f16' }, metrics: { ...b.metrics, config: { ...b.metrics.config, matmulMath: 'f16' } } }],
      answers: [],
    };
    expect(reportMarkdown(mm)).toContain('| lr | **matmul math** (varied) | trainable params |');
    const lines = reportCsv(mm).trim().split('\n');
    expect(lines[0]).toContain(',lr,matmul_math,trainable_params,');
    expect(lines[1]).toMatch(/^mmf32,2,16,attention,4,1,0\.0002,f32,/);
    expect(lines[2]).toMatch(/^mmf16,4,16,attention,4,1,0\.0002,f16,/);
    expect(reportCsv(rep)).not.toContain('matmul_math');
  });
});
