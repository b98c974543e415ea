// The studio's experiment bookkeeping: knobs ↔ the CLI's spec settings, typed axes, the exported
// spec of a reviewed plan, estimates, and the report rows of run records.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expandExperiment, parseExperiment, qloraStudyPreset } from '../experiment';
import { hasReferences, reportCsv, reportMarkdown, reportTable } from '../experiment/report';
import { comparisonOf } from './comparison';
import type { ExperimentRecord } from './experiment-db';
import { parseConfigText } from '../model/config';
import { defaultKnobs, presetKinds } from '../plan/knobs';
import { estimateMemory } from '../plan/memory';
import { answerRequest, axisSettings, heldOutUnavailable, knobsFromSettings, measuredRate, parseAxisText, reportRunOf, runEstimate, runSteps, settingsFromKnobs, specOfPlan, totalEstimate, variedAcross } from './experimentlogic';
import { emptyMetrics, RUN_SCHEMA } from './runlogic';
import type { RunRecord } from './types';

const MODEL = new URL('../../../shared/models/stories260K/config.json', import.meta.url);
const spec = parseConfigText(readFileSync(MODEL, 'utf8'), 'stories260K/config.json');

function record(over: Partial<RunRecord['config']>, extra: Partial<RunRecord> = {}): RunRecord {
  const knobs = defaultKnobs(spec);
  return {
    schema: RUN_SCHEMA, id: `run-${Math.random()}`, name: 'x', createdAt: 1, updatedAt: 1, status: 'done',
    model: { name: 'stories260K', source: { kind: 'files', name: 'stories260K' }, modelType: 'llama', params: 260_000 }, knobs,
    config: { baseModel: 'm', r: 8, loraAlpha: 16, loraDropout: 0, useRslora: false, targetModules: 'q_proj,v_proj', loraplusLrRatio: 16, lr: 1e-3, schedule: 'linear', warmup: 0, epochs: 1, batchSize: 2, gradAccum: 1, seqLen: 32, seed: 1, saveEvery: 0, maxGradNorm: 1, weightDecay: 0, gradCheckpointing: false, quant: 'none', ...over },
    dataset: { name: 'd', examples: 10, options: {} as RunRecord['dataset']['options'] }, trainableParams: 4480, totalSteps: 4,
    metrics: { ...emptyMetrics(), train: [{ step: 4, loss: 1, lr: 0, gradNorm: 1 }], tokensPerSecond: 40, elapsedSeconds: 7, evalLossBefore: 2, evalLossAfter: 1, peakBytes: 3e6 },
    checkpointStep: 4, elapsedBefore: 0, error: null, ...extra,
  };
}

describe('experiment settings from the knobs', () => {
  it('round-trips the knobs through the spec settings the CLI reads', () => {
    const k = { ...defaultKnobs(spec), r: 4, loraAlpha: 8, lengthBy: 'steps' as const, steps: 7, quant: 'nf4' as const, targetModules: presetKinds('all-linear', 'llama', true), saveActivations: 'f16' as const, matmulMath: 'f16' as const, subgroups: true };
    const s = settingsFromKnobs(k, 'llama');
    expect(parseExperiment({ name: 'x', base: s, prompts: [] }).base).toEqual(s); // valid spec settings
    expect(s).toMatchObject({ r: 4, lora_alpha: 8, steps: 7, quant: 'nf4', saveActivations: 'f16', matmulMath: 'f16', subgroups: true, target_modules: 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head' });
    expect(s.epochs).toBeUndefined();
    const back = knobsFromSettings(defaultKnobs(spec), s, spec);
    expect(back.ignored).toEqual([]);
    expect(back.knobs).toEqual({ ...k, targetModules: k.targetModules });
  });

  it('resolves target keywords to the knob\'s module kinds and reports the keys the knobs do not hold', () => {
    const { knobs, ignored } = knobsFromSettings(defaultKnobs(spec), { target_modules: 'attention,lm_head', r: 16, dataFormat: 'alpaca', epochs: 2 }, spec);
    expect(knobs.targetModules).toEqual(['q_proj', 'v_proj', 'lm_head']);
    expect(knobs.r).toBe(16);
    expect(knobs.lengthBy).toBe('epochs');
    expect(ignored).toEqual(['dataFormat']);
  });

  it('reads typed axis values by the axis type; the spec check names what does not read', () => {
    expect(parseAxisText('r', ' 4  8 16 ')).toEqual([4, 8, 16]);
    expect(parseAxisText('lr', '1e-4 3e-4')).toEqual([1e-4, 3e-4]);
    expect(parseAxisText('use_rslora', 'true false')).toEqual([true, false]);
    expect(parseAxisText('target_modules', 'q_proj,v_proj all-linear,lm_head')).toEqual(['q_proj,v_proj', 'all-linear,lm_head']);
    expect(parseAxisText('saveActivations', 'f32 f16')).toEqual(['f32', 'f16']);
    expect(parseAxisText('matmulMath', 'f32 f16')).toEqual(['f32', 'f16']);
    expect(parseAxisText('subgroups', 'false true on')).toEqual([false, true, true]);
    expect(() => parseExperiment({ name: 'x', base: {}, axes: { saveActivations: parseAxisText('saveActivations', 'f32 16') }, prompts: [] })).toThrow('experiment: axes.saveActivations[1] must be one of f32, f16 (got "16").');
    expect(() => parseExperiment({ name: 'x', base: {}, axes: { r: parseAxisText('r', '4 eight') }, prompts: [] })).toThrow('experiment: axes.r[1] must be a positive integer (got "eight").');
  });
});

describe('the exported spec of a reviewed plan', () => {
  const exp = parseExperiment({ name: 'grid', base: { lora_alpha: 16, steps: 4 }, axes: { r: [2, 4], quant: ['none', 'nf4'] }, prompts: ['Hi'] });
  const expanded = expandExperiment(exp);

  it('keeps the axes while the plan is the expansion, in order', () => {
    expect(specOfPlan(exp, expanded, expanded)).toBe(exp);
  });

  it('writes a pruned, reordered plan as explicit runs that expand to the same runs in the same order', () => {
    const plan = [expanded[3], expanded[0], expanded[2]];
    const out = specOfPlan(exp, expanded, plan);
    expect(out.axes).toBeUndefined();
    const again = expandExperiment(parseExperiment(JSON.parse(JSON.stringify(out))));
    expect(again.map((r) => r.name)).toEqual(plan.map((r) => r.name));
    expect(again.map((r) => r.settings)).toEqual(plan.map((r) => r.settings));
  });

  it('the QLoRA study preset expands to its four runs over the current settings', () => {
    const s = settingsFromKnobs(defaultKnobs(spec), 'llama');
    const runs = expandExperiment(parseExperiment(qloraStudyPreset(s, [], 'study')));
    expect(runs.map((r) => [r.settings.r, r.settings.target_modules, r.settings.quant])).toEqual([
      [8, 'q_proj,v_proj', 'nf4'], [16, 'q_proj,v_proj', 'nf4'], [8, 'all-linear,lm_head', 'nf4'], [8, 'all-linear,lm_head', 'int8'],
    ]);
    expect(runs[0].settings.lr).toBe(s.lr);
  });
});

describe('estimates', () => {
  it('memory is the studio estimate of the run\'s knobs; tokens = steps × B × accum × T; time only with a rate', () => {
    const k = { ...defaultKnobs(spec), lengthBy: 'steps' as const, steps: 10, batchSize: 2, gradAccum: 3, seqLen: 32 };
    const e = runEstimate(k, spec, 4, 100, null);
    const want = estimateMemory({ spec, weightBytes: 4, quant: k.quant, groupSize: k.groupSize, r: k.r, targetModules: 'q_proj,v_proj', batchSize: 2, seqLen: 32, gradCheckpointing: false });
    expect(e.memoryBytes).toBe(want.total);
    expect(e.tokens).toBe(10 * 2 * 3 * 32);
    expect(e.seconds).toBeNull();
    expect(runEstimate(k, spec, 4, 100, 64).seconds).toBe(1920 / 64);
    expect(runSteps({ ...k, lengthBy: 'epochs', epochs: 2 }, 13)).toBe(2 * Math.ceil(13 / 6));
    const t = totalEstimate([{ ...e, seconds: 3 }, { ...e, memoryBytes: e.memoryBytes + 5, seconds: 4 }]);
    expect(t).toEqual({ memoryBytes: e.memoryBytes + 5, tokens: 2 * e.tokens, seconds: 7 });
    expect(totalEstimate([e, { ...e, seconds: 4 }]).seconds).toBeNull();
  });

  it('the measured rate is the newest finished run on the model, the experiment\'s own first', () => {
    const a = record({}, { updatedAt: 5, metrics: { ...record({}).metrics, tokensPerSecond: 10 } });
    const b = record({}, { updatedAt: 9, metrics: { ...record({}).metrics, tokensPerSecond: 20 } });
    const c = record({}, { updatedAt: 1, experiment: { id: 'e1', index: 0 }, metrics: { ...record({}).metrics, tokensPerSecond: 30 } });
    expect(measuredRate([a, b], 'stories260K')).toBe(20);
    expect(measuredRate([a, b, c], 'stories260K', 'e1')).toBe(30);
    expect(measuredRate([a, b], 'other')).toBeNull();
  });
});

describe('report rows of run records', () => {
  it('a selection varies the axis keys that differ; the table marks them and carries the measured figures', () => {
    const runs = [record({ r: 2 }), record({ r: 8, quant: 'nf4' })];
    const varied = variedAcross(runs);
    expect(varied).toEqual([{ r: 2, quant: 'none' }, { r: 8, quant: 'nf4' }]);
    expect(axisSettings(runs[0]).target_modules).toBe('q_proj,v_proj');
    const t = reportTable({ name: 'x', runs: runs.map((r, i) => reportRunOf(r, varied[i], `run${i}`, 'f32')), prompts: [], answers: [] });
    const col = (h: string) => t.columns.findIndex((c) => c.header === h);
    expect(t.columns.filter((c) => c.varied).map((c) => c.header)).toEqual(['r', 'base bits']);
    expect(t.rows.map((r) => [r[col('run')], r[col('r')], r[col('base bits')], r[col('steps')], r[col('eval loss after')], r[col('peak GPU MB')]])).toEqual([
      ['run0', 2, 32, 4, 1, 3], ['run1', 8, 4, 4, 1, 3],
    ]);
    expect(t.rows[0][col('trainable %')]).toBe(Number(((100 * 4480) / 260_000).toFixed(4)));
    expect(col('saved activations')).toBe(-1); // shown only when it varies
  });

  it('a selection that differs in saved activations varies them (a record without the field is f32)', () => {
    const runs = [record({}), record({ saveActivations: 'f16' })];
    const varied = variedAcross(runs);
    expect(varied).toEqual([{ saveActivations: 'f32' }, { saveActivations: 'f16' }]);
    expect(variedAcross([record({}), record({ matmulMath: 'f16' })])).toEqual([{ matmulMath: 'f32' }, { matmulMath: 'f16' }]);
    const t = reportTable({ name: 'x', runs: runs.map((r, i) => reportRunOf(r, varied[i], `run${i}`)), prompts: [], answers: [] });
    const col = t.columns.findIndex((c) => c.header === 'saved activations');
    expect(t.columns[col].varied).toBe(true);
    expect(t.rows.map((r) => r[col])).toEqual(['f32', 'f16']);
  });
});

describe('held-out prompts in the studio', () => {
  it('a held-out prompt is asked as its ids; typed prompts as text', () => {
    const fmt = { shape: 'alpaca' as const, chatTemplate: 'auto' };
    expect(answerRequest({ text: 'Q', ids: [1, 5, 9] }, 'base', { maxNewTokens: 8 }, fmt)).toEqual({
      prompt: 'Q', promptIds: [1, 5, 9], adapter: 'base', maxNewTokens: 8, temperature: 0, topP: 1, seed: 0, format: fmt,
    });
    expect(answerRequest('Hi', 'base', {}, undefined).promptIds).toBeUndefined();
  });

  it('are drawn only from data with a prompt and rows held out', () => {
    expect(heldOutUnavailable('alpaca', false, 0.1, false)).toBeNull();
    expect(heldOutUnavailable('messages', false, 0, true)).toBeNull();
    expect(heldOutUnavailable('text', false, 0.1, false)).toMatch(/plain text/);
    expect(heldOutUnavailable('alpaca', true, 0.1, false)).toMatch(/Train on the prompt too/);
    expect(heldOutUnavailable('alpaca', false, 0, false)).toMatch(/Eval split is 0/);
  });

  it('an experiment\'s comparison: typed then held-out prompts, the reference answers in their column of the grid and the downloads', () => {
    const exp = parseExperiment({ name: 'held', base: {}, axes: { r: [2, 4] }, prompts: ['Hi'], heldOutPrompts: 1 });
    const plan = expandExperiment(exp);
    const x: ExperimentRecord = {
      schema: 1, id: 'e1', name: 'held', createdAt: 1, updatedAt: 1, spec: exp, plan, baseKnobs: defaultKnobs(spec), current: 2, status: 'done',
      heldOut: [{ line: 7, ids: [1, 30, 40], text: 'Tell about Sue.', reference: 'Sue had a red ball.' }],
      baseAnswers: { none: ['b-hi', 'b-sue'] }, runAnswers: { 0: ['r2-hi', 'r2-sue'], 1: ['r4-hi', 'r4-sue'] }, error: null,
    };
    const runs = plan.map((p, i) => record({ r: p.settings.r as number }, { experiment: { id: 'e1', index: i } }));
    const c = comparisonOf({ comparing: 'e1', experiments: [x], runs, compare: [], selectionAnswers: null, loaded: null })!;
    expect(c.report.prompts).toEqual(['Hi', 'Tell about Sue.']);
    expect(c.report.references).toEqual([null, { line: 7, text: 'Sue had a red ball.' }]);
    expect(hasReferences(c.report)).toBe(true);
    const md = reportMarkdown(c.report);
    expect(md).toContain('| prompt | reference | base | r2 | r4 |');
    expect(md).toContain('| Hi | - | b-hi | r2-hi | r4-hi |');
    expect(md).toContain('| (held out, line 7) Tell about Sue. | Sue had a red ball. | b-sue | r2-sue | r4-sue |');
    const csv = reportCsv(c.report).trim().split('\n');
    expect(csv[0]).toMatch(/,answer_1,answer_2,reference_2$/);
    expect(csv[2]).toMatch(/^r4,.*,r4-hi,r4-sue,Sue had a red ball\.$/);
    // An experiment without held-out prompts has no reference column.
    const plain = comparisonOf({ comparing: 'e1', experiments: [{ ...x, heldOut: undefined, baseAnswers: { none: ['b-hi'] }, runAnswers: {} }], runs, compare: [], selectionAnswers: null, loaded: null })!;
    expect(plain.report.references).toBeUndefined();
    expect(reportMarkdown(plain.report)).toContain('| prompt | base |');
  });
});
