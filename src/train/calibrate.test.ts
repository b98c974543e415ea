// measurePace on the real tiny model: a positive duration per micro-batch (printed, never compared
// with a time), the probe scaled when B × T exceeds it, nothing when stopped before the first step,
// and a setting that cannot train fails as the run would.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { loadModel } from '../model/load';
import { testContext } from '../test/gpu';
import { measurePace, PROBE_TOKENS } from './calibrate';
import type { RunConfig } from './run';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const CFG: RunConfig = {
  baseModel: 'stories260K', r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, targetModules: 'q_proj,v_proj', loraplusLrRatio: 1, lr: 1e-3, schedule: 'constant',
  warmup: 0, steps: 100, epochs: 1, batchSize: 2, gradAccum: 4, seqLen: 32, seed: 1, saveEvery: 0, maxGradNorm: 1, weightDecay: 0, quant: 'none',
};

describe('measurePace', () => {
  it('times real steps of the settings (scaled from the probe past PROBE_TOKENS), stops when asked, and refuses what cannot train', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(DIR));
    const p = await measurePace(ctx, m, CFG, () => false);
    expect(p).not.toBeNull();
    expect(Number.isFinite(p!.seconds) && p!.seconds > 0).toBe(true);
    // 2 × 32 tokens is more than the probe: scaled, unless the probe predicted a short step and the full size was timed.
    expect(CFG.batchSize * CFG.seqLen).toBeGreaterThan(PROBE_TOKENS);
    console.log(`stories260K B2 T32 r4: ${p!.seconds.toFixed(3)} s per micro-batch${p!.scaled ? ' (scaled from the probe)' : ''}`);
    expect(await measurePace(ctx, m, CFG, () => true)).toBeNull();
    await expect(measurePace(ctx, m, { ...CFG, r: 0 }, () => false)).rejects.toThrow(/rank/);
  }, 120_000);
});
