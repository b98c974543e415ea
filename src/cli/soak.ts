// npm run soak: a long training run in Node that must not leak GPU buffers nor keep more than
// --keep-checkpoints checkpoints; prints the figures as JSON (nothing is asserted by time).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuContext, num, parseCli, positiveInt, progressLine, runCli } from './common';
import { runSoak } from './soak-run';

const USAGE = `usage: npm run soak -- [--model DIR] [--steps N (1000)] [--save-every K (50)] [--keep-checkpoints N (2)]
  [--batch-size B (1)] [--seq-len T (16)] [--out DIR (a temporary folder, removed after)]
Trains stories260K for N steps with a checkpoint every K steps and prints JSON: GPU live buffers and bytes
(the context's accounting) at step 10 and at the end, the JS heap, and the checkpoint folders' size.`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, steps: { type: 'string' }, 'save-every': { type: 'string' }, 'keep-checkpoints': { type: 'string' },
      'batch-size': { type: 'string' }, 'seq-len': { type: 'string' }, out: { type: 'string' },
    } as const,
    USAGE,
  );
  const model = a.model ?? fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
  const out = a.out ?? mkdtempSync(join(tmpdir(), 'soak-'));
  const steps = num(a.steps, 'steps', 1000, positiveInt);
  const ctx = await gpuContext();
  try {
    const r = await runSoak(ctx, {
      model, out, steps,
      saveEvery: num(a['save-every'], 'save-every', 50, positiveInt),
      keep: num(a['keep-checkpoints'], 'keep-checkpoints', 2, positiveInt),
      batchSize: num(a['batch-size'], 'batch-size', 1, positiveInt),
      seqLen: num(a['seq-len'], 'seq-len', 16, positiveInt),
      probeStep: Math.min(10, steps),
      onStep: (s, n) => {
        if (s % 50 === 0 || s === n) progressLine(`step ${s}/${n}`, true);
      },
    });
    const growth = {
      gpu_live_buffers: r.at_last_step.gpu_live_buffers - r.at_probe.gpu_live_buffers,
      gpu_live_bytes: r.at_last_step.gpu_live_bytes - r.at_probe.gpu_live_bytes,
      js_heap_used: r.at_last_step.js_heap_used - r.at_probe.js_heap_used,
    };
    process.stdout.write(JSON.stringify({ device: ctx.adapter, ...r, growth_probe_to_last_step: growth }, null, 1) + '\n');
  } finally {
    if (!a.out) rmSync(out, { recursive: true, force: true });
  }
});
