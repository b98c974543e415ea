// The soak in small: 30 steps of stories260K (B 1, T 8) with a checkpoint every 4 steps kept to 2.
// The GPU context's live buffers and bytes after step 5 equal those at the last step (nothing
// allocated per step or per checkpoint stays alive), and exactly two checkpoint folders remain.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { runSoak } from './soak-run';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'soak-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('soak (short)', () => {
  it('30 steps with checkpoints: no GPU buffer or byte growth after step 5, exactly keep = 2 checkpoints', async () => {
    const ctx = await testContext();
    const r = await runSoak(ctx, { model: STORIES, out, steps: 30, saveEvery: 4, keep: 2, batchSize: 1, seqLen: 8, probeStep: 5 });
    console.log(`soak: ${JSON.stringify({ at_probe: r.at_probe, at_last_step: r.at_last_step, after_run: r.after_run, checkpoints: r.checkpoint_folders, checkpoint_bytes: r.checkpoint_bytes })}`);
    expect(r.at_probe.step).toBe(5);
    expect(r.at_last_step.step).toBe(30);
    expect(r.at_last_step.gpu_live_buffers).toBe(r.at_probe.gpu_live_buffers);
    expect(r.at_last_step.gpu_live_bytes).toBe(r.at_probe.gpu_live_bytes);
    expect(r.after_run.gpu_live_buffers).toBe(r.at_probe.gpu_live_buffers);
    expect(r.after_run.gpu_live_bytes).toBe(r.at_probe.gpu_live_bytes);
    expect(r.at_checkpoints.map((c) => c.step)).toEqual([4, 8, 12, 16, 20, 24, 28, 30]);
    for (const c of r.at_checkpoints) expect([c.gpu_live_buffers, c.gpu_live_bytes]).toEqual([r.at_probe.gpu_live_buffers, r.at_probe.gpu_live_bytes]);
    expect(r.checkpoint_folders).toEqual(['checkpoint', 'checkpoint-prev']);
    expect(r.checkpoint_bytes).toBeGreaterThan(0);
  }, 600_000);
});
