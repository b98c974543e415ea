import { describe, expect, it } from 'vitest';
import { estimateLine, estimateSeconds, fmtEstimate, paceKey, paceOfRun, paceTokensPerSecond, runSteps, trainExamples, type PaceSettings } from './estimate';
import { splitExamples } from '../data/dataset';

const base: PaceSettings = { gpu: 'swiftshader', model: 'stories260K', quant: 'none', groupSize: 32, batchSize: 4, seqLen: 128, r: 8, targetModules: 'q_proj,v_proj', gradCheckpointing: false };

describe('time estimate', () => {
  it('keys the cache on every setting that changes a micro-batch, and on nothing else', () => {
    const k = paceKey(base);
    const changed: Partial<PaceSettings>[] = [{ gpu: 'other' }, { model: 'm2' }, { quant: 'nf4' }, { batchSize: 8 }, { seqLen: 256 }, { r: 16 }, { targetModules: 'all-linear' }, { gradCheckpointing: true }, { saveActivations: 'f16' }, { matmulMath: 'f16' }, { saveActivations: 'f16', matmulMath: 'f16' }, { subgroups: true }];
    const keys = changed.map((c) => paceKey({ ...base, ...c }));
    expect(new Set([k, ...keys]).size).toBe(changed.length + 1);
    // The group size matters for QA-LoRA only.
    expect(paceKey({ ...base, groupSize: 64 })).toBe(k);
    expect(paceKey({ ...base, quant: 'qalora-int4', groupSize: 64 })).not.toBe(paceKey({ ...base, quant: 'qalora-int4', groupSize: 32 }));
  });

  it('keys f16-saved activations apart, and f32 runs as before the setting existed (stored paces stay readable)', () => {
    // The key a pace of these settings was stored under before saved activations entered it.
    const stored = 'swiftshader|stories260K|none|B4|T128|r8|q_proj,v_proj|nogc';
    expect(paceKey(base)).toBe(stored); // no field: f32
    expect(paceKey({ ...base, saveActivations: 'f32' })).toBe(stored);
    expect(paceKey({ ...base, saveActivations: 'f16' })).toBe(`${stored}|a16`);
    expect(paceKey({ ...base, gradCheckpointing: true, saveActivations: 'f16' })).not.toBe(paceKey({ ...base, gradCheckpointing: true }));
  });

  it('keys f16 matmul math apart ("m16"), and f32 matmul math as before the setting existed', () => {
    const stored = 'swiftshader|stories260K|none|B4|T128|r8|q_proj,v_proj|nogc';
    expect(paceKey({ ...base, matmulMath: 'f32' })).toBe(stored);
    expect(paceKey({ ...base, matmulMath: 'f16' })).toBe(`${stored}|m16`);
    expect(paceKey({ ...base, saveActivations: 'f16', matmulMath: 'f16' })).toBe(`${stored}|a16|m16`);
  });

  it('keys subgroup reductions apart ("sg"), and runs without them as before the setting existed', () => {
    const stored = 'swiftshader|stories260K|none|B4|T128|r8|q_proj,v_proj|nogc';
    expect(paceKey({ ...base, subgroups: false })).toBe(stored);
    expect(paceKey({ ...base, subgroups: true })).toBe(`${stored}|sg`);
    expect(paceKey({ ...base, saveActivations: 'f16', matmulMath: 'f16', subgroups: true })).toBe(`${stored}|a16|m16|sg`);
  });

  it('counts the steps of a run: steps as given, epochs over what the split leaves to train', () => {
    const k = { lengthBy: 'epochs' as const, steps: 100, epochs: 3, batchSize: 4, gradAccum: 2 };
    expect(runSteps({ ...k, lengthBy: 'steps' }, null)).toBe(100);
    expect(runSteps(k, null)).toBeNull();
    expect(runSteps(k, 17)).toBe(3 * 3); // ceil(17 / 8) = 3 per epoch
    // The training examples are those splitExamples leaves.
    for (const [n, split] of [[24, 0.25], [10, 0.1], [3, 0.5], [1, 0.5], [50, 0]] as const) {
      expect(trainExamples(n, split, false), `${n} × ${split}`).toBe(splitExamples(Array.from({ length: n }, (_, i) => i), split, 42).train.length);
    }
    expect(trainExamples(24, 0.25, true)).toBe(24);
  });

  it('multiplies the pace by the micro-batches and gives tokens per second', () => {
    expect(estimateSeconds({ secondsPerMicroBatch: 0.6 }, 200, 2)).toBeCloseTo(240, 9);
    expect(paceTokensPerSecond({ secondsPerMicroBatch: 0.5 }, 4, 128)).toBe(1024);
    expect(paceOfRun(120, 40, 3)).toBe(1);
    expect(paceOfRun(NaN, 40, 1)).toBeNull();
    expect(paceOfRun(10, 0, 1)).toBeNull();
  });

  it('says durations in words, rounded as an estimate', () => {
    expect(fmtEstimate(2)).toBe('under 5 seconds');
    expect(fmtEstimate(42)).toBe('about 40 seconds');
    expect(fmtEstimate(56)).toBe('about 1 minute');
    expect(fmtEstimate(240)).toBe('about 4 minutes');
    expect(fmtEstimate(3569)).toBe('about 59 minutes');
    expect(fmtEstimate(3600)).toBe('about 1 hour');
    expect(fmtEstimate(4800)).toBe('about 1 hour 20 minutes');
    expect(fmtEstimate(3 * 86400)).toBe('about 3 days');
    expect(fmtEstimate(NaN)).toBe('—');
    expect(fmtEstimate(-1)).toBe('—');
    expect(estimateLine(240, 200)).toBe('about 4 minutes for 200 steps on this GPU');
    expect(estimateLine(3, 1)).toBe('under 5 seconds for 1 step on this GPU');
  });
});
