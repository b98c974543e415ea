import { describe, expect, it } from 'vitest';
import { defaultKnobs } from '../plan/knobs';
import { DEFAULT_DATASET_OPTIONS } from '../worker/protocol';
import { canResume, closedRun, defaultRunName, lastStep, emptyMetrics, finalEvalLoss, overlay, readRecord, rewindTo, RUN_SCHEMA, settleStale, withEval, withEvalBefore, withSample, withStatus, withStep } from './runlogic';
import type { RunRecord } from './types';

function run(over: Partial<RunRecord> = {}): RunRecord {
  return {
    schema: RUN_SCHEMA, id: 'r1', name: 'one', createdAt: 1, updatedAt: 1, status: 'running', model: { name: 'm', source: { kind: 'files', name: 'm' }, modelType: 'llama', params: 10 },
    knobs: defaultKnobs(null), config: { baseModel: 'm', r: 8, loraAlpha: 16, loraDropout: 0, useRslora: false, targetModules: 'q_proj', loraplusLrRatio: 16, lr: 1e-3, schedule: 'linear', warmup: 0, epochs: 1, batchSize: 2, gradAccum: 1, seqLen: 32, seed: 1, saveEvery: 2, maxGradNorm: 1, weightDecay: 0 },
    dataset: { name: 'd.jsonl', examples: 4, options: { ...DEFAULT_DATASET_OPTIONS } }, trainableParams: 100, totalSteps: null, metrics: emptyMetrics(),
    checkpointStep: null, elapsedBefore: 0, error: null, ...over,
  };
}

const step = (s: number, loss: number, elapsed = s) => ({ step: s, loss, lr: 1e-3, gradNorm: 1, tokens: 64, totalSteps: 6, tokensPerSecond: 50, elapsedSeconds: elapsed, etaSeconds: 6 - s });

describe('run bookkeeping', () => {
  it('folds steps, evals and samples into the record', () => {
    let r = run();
    for (let s = 1; s <= 4; s++) r = withStep(r, step(s, 3 - s / 2));
    r = withEvalBefore(r, 3.2);
    r = withEvalBefore(r, 9); // only the first counts
    r = withEval(r, 2, 2.5);
    r = withEval(r, 4, 2.0);
    r = withSample(r, 2, 'hello');
    expect(r.totalSteps).toBe(6);
    expect(r.metrics.train.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(r.metrics.eval).toEqual([{ step: 0, loss: 3.2 }, { step: 2, loss: 2.5 }, { step: 4, loss: 2.0 }]);
    expect(r.metrics.evalLossBefore).toBe(3.2);
    expect(finalEvalLoss(r)).toBe(2.0);
    expect(r.metrics.samples).toEqual([{ step: 2, text: 'hello' }]);
    // a repeated step (after a resume) replaces the later history
    r = withStep(r, step(3, 1.0));
    expect(r.metrics.train.map((p) => p.step)).toEqual([1, 2, 3]);
  });

  it('rewinds to a checkpoint before resuming, carrying the elapsed time', () => {
    let r = run({ checkpointStep: 2 });
    for (let s = 1; s <= 5; s++) r = withStep(r, step(s, 1, s * 10));
    r = withEval(withEval(r, 2, 1.5), 4, 1.2);
    r = withSample(withSample(r, 2, 'a'), 4, 'b');
    const w = rewindTo(r, 2);
    expect(w.metrics.train.map((p) => p.step)).toEqual([1, 2]);
    expect(w.metrics.eval.map((p) => p.step)).toEqual([2]);
    expect(w.metrics.samples.map((p) => p.text)).toEqual(['a']);
    expect(w.elapsedBefore).toBeCloseTo(20, 6); // 2 of 5 steps of 50 s
    expect(withStep(w, step(3, 1, 4)).metrics.elapsedSeconds).toBeCloseTo(24, 6);
  });

  it('interrupted runs are settled and resumable only with a checkpoint before the end', () => {
    expect(settleStale(run({ status: 'running' })).status).toBe('interrupted');
    expect(settleStale(run({ status: 'paused' })).status).toBe('interrupted');
    expect(settleStale(run({ status: 'done' })).status).toBe('done');
    expect(canResume(run({ status: 'interrupted', checkpointStep: 2, totalSteps: 6 }))).toBe(true);
    expect(canResume(run({ status: 'interrupted', checkpointStep: null, totalSteps: 6 }))).toBe(false);
    expect(canResume(run({ status: 'stopped', checkpointStep: 6, totalSteps: 6 }))).toBe(false);
    expect(canResume(run({ status: 'done', checkpointStep: 2, totalSteps: 6 }))).toBe(false);
    expect(withStatus(run(), 'failed', 'boom')).toMatchObject({ status: 'failed', error: 'boom' });
  });

  it('names runs uniquely and overlays curves on one step axis', () => {
    expect(defaultRunName('hf://HuggingFaceTB/SmolLM2-135M', 16, 'attention', new Set())).toBe('SmolLM2-135M r16 attention');
    expect(defaultRunName('m', 8, 'all', new Set(['m r8 all', 'm r8 all (2)']))).toBe('m r8 all (3)');
    const a = withStep(withStep(run({ id: 'a' }), step(1, 3)), step(2, 2));
    const b = withStep(run({ id: 'b' }), step(2, 5));
    expect(overlay([a, b], 'train')).toEqual([{ step: 1, a: 3 }, { step: 2, a: 2, b: 5 }]);
  });

  it('reads records of this version and of before the schema field; leaves newer and foreign entries alone', () => {
    const cur = run({ status: 'done' });
    expect(readRecord(cur)).toEqual({ record: cur });
    const { schema: _, ...old } = cur;
    expect(readRecord(old)).toEqual({ record: { ...old, schema: RUN_SCHEMA } });
    const newer = readRecord({ ...cur, schema: RUN_SCHEMA + 1, name: 'future' });
    expect('skipped' in newer && newer.skipped).toMatch(/run "future" was saved by a newer version of the studio .*kept unchanged/);
    expect(readRecord({ hello: 1 })).toEqual({ skipped: 'an entry that is not a run record' });
    expect(readRecord(null)).toEqual({ skipped: 'an entry that is not a run record' });
    expect('skipped' in readRecord({ ...cur, schema: 0 })).toBe(true);
  });

  it('finds the run a closed page left: the newest interrupted one that can resume, not one lost to the GPU', () => {
    const left = (id: string, createdAt: number, over: Partial<RunRecord> = {}) =>
      settleStale(run({ id, createdAt, status: 'running', checkpointStep: 3, totalSteps: 12, ...over }));
    const older = left('a', 1);
    const newer = left('b', 5);
    const lost = { ...left('c', 9), error: 'GPU device lost: gone' };
    const noCheckpoint = left('d', 8, { checkpointStep: null });
    const finished = run({ id: 'e', createdAt: 10, status: 'done', checkpointStep: 12, totalSteps: 12 });
    expect(closedRun([older, newer, lost, noCheckpoint, finished])?.id).toBe('b');
    expect(closedRun([lost, finished])).toBeNull();
    let r = newer;
    for (let s = 1; s <= 5; s++) r = withStep(r, step(s, 1));
    expect(lastStep(r)).toBe(5);
    expect(lastStep(newer)).toBe(3);
  });
});
