// A long run that must not leak: stories260K trained for N steps in Node with a checkpoint every k
// steps kept to `keep`, reporting the GPU context's buffer accounting (live buffers and bytes) at
// an early step and at the end, the JS heap, and the checkpoint folders. Used by `npm run soak`
// (figures printed) and by src/cli/soak.test.ts (a short run asserting no growth).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { bytesInput } from '../data/input';
import { prepareData } from '../data/dataset';
import type { GpuContext } from '../gpu/context';
import { loadModel } from '../model/load';
import { saveKeeping } from '../train/checkpoint-shelf';
import { runTraining, type RunConfig } from '../train/run';
import { FolderShelf } from './checkpoint-dir';
import { dirSource } from './fs-source';

interface SoakOptions {
  /** A model folder (stories260K). */
  model: string;
  /** The run folder: checkpoints go to OUT/checkpoint, OUT/checkpoint-prev, ... */
  out: string;
  steps: number;
  /** Checkpoint every k steps. */
  saveEvery: number;
  keep: number;
  batchSize: number;
  seqLen: number;
  /** The step whose accounting is compared with the end (after warm-up: pipelines, staging buffers). */
  probeStep: number;
  onStep?: (step: number, total: number) => void;
}

/** GPU accounting and JS memory (after a full garbage collection) at one moment. */
interface SoakSnapshot {
  step: number;
  gpu_live_buffers: number;
  gpu_live_bytes: number;
  gpu_buffers_created: number;
  js_heap_used: number;
  js_array_buffers: number;
}

interface SoakReport {
  steps: number;
  batch_size: number;
  seq_len: number;
  save_every: number;
  keep_checkpoints: number;
  at_probe: SoakSnapshot;
  at_last_step: SoakSnapshot;
  /** After the run returned (final eval and final checkpoint done; the training graph still alive). */
  after_run: SoakSnapshot;
  /** GPU live buffers and bytes, and the JS heap after a collection, right after each checkpoint save (flat after the first: nothing per save stays alive). */
  at_checkpoints: { step: number; gpu_live_buffers: number; gpu_live_bytes: number; js_heap_used: number }[];
  /** The checkpoint folders left in OUT (by name), and their total size in bytes. */
  checkpoint_folders: string[];
  checkpoint_bytes: number;
  seconds: number;
  seconds_per_step: number;
}

let gc: (() => void) | null = null;

/** A full garbage collection before a heap figure, so that growth means retained memory, not garbage. */
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

function snapshot(ctx: GpuContext, step: number): SoakSnapshot {
  collectGarbage();
  const m = process.memoryUsage();
  return {
    step, gpu_live_buffers: ctx.stats.liveBuffers, gpu_live_bytes: ctx.stats.liveBytes, gpu_buffers_created: ctx.stats.buffersCreated,
    js_heap_used: m.heapUsed, js_array_buffers: m.arrayBuffers,
  };
}

function folderBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((a, f) => a + folderBytes(join(path, f)), 0);
}

/** Short stories about a purple frog (generated; 64 rows). */
function frogData(): string {
  const rows = Array.from({ length: 64 }, (_, i) => JSON.stringify({ text: `Tom had a purple frog number ${i}. The frog ate ${i % 5} cakes and sang a song.` }));
  return rows.join('\n') + '\n';
}

/** Runs the soak and returns its figures (throws what runTraining throws). */
export async function runSoak(ctx: GpuContext, o: SoakOptions): Promise<SoakReport> {
  const loaded = await loadModel(ctx, dirSource(o.model));
  const prepared = await prepareData(bytesInput('frogs.jsonl', frogData()), loaded.tokenizer, { seqLen: o.seqLen, evalSplit: 0.1, seed: 42 });
  const cfg: RunConfig = {
    baseModel: 'stories260K', r: 4, loraAlpha: 8, loraDropout: 0.05, useRslora: false, targetModules: 'attention', loraplusLrRatio: 1,
    lr: 1e-3, schedule: 'linear', warmup: 0, steps: o.steps, epochs: 1, batchSize: o.batchSize, gradAccum: 1, seqLen: o.seqLen, seed: 42,
    saveEvery: o.saveEvery, maxGradNorm: 1, weightDecay: 0,
  };
  const shelf = new FolderShelf(join(o.out, 'checkpoint'));
  let atProbe: SoakSnapshot | null = null;
  let atLast: SoakSnapshot | null = null;
  const atCheckpoints: SoakReport['at_checkpoints'] = [];
  const t0 = performance.now();
  await runTraining(ctx, loaded, prepared.train, prepared.eval, cfg, {
    onStep: (p) => {
      if (p.step === o.probeStep) atProbe = snapshot(ctx, p.step);
      if (p.step === p.totalSteps) atLast = snapshot(ctx, p.step);
      o.onStep?.(p.step, p.totalSteps);
    },
    saveCheckpoint: async (files, step) => {
      await saveKeeping(shelf, step, files, o.keep);
      collectGarbage();
      atCheckpoints.push({ step, gpu_live_buffers: ctx.stats.liveBuffers, gpu_live_bytes: ctx.stats.liveBytes, js_heap_used: process.memoryUsage().heapUsed });
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const after = snapshot(ctx, o.steps);
  const names = readdirSync(o.out).filter((f) => f.startsWith('checkpoint')).sort();
  return {
    steps: o.steps, batch_size: o.batchSize, seq_len: o.seqLen, save_every: o.saveEvery, keep_checkpoints: o.keep,
    at_probe: atProbe ?? after, at_last_step: atLast ?? after, after_run: after, at_checkpoints: atCheckpoints,
    checkpoint_folders: names,
    checkpoint_bytes: names.reduce((a, f) => a + folderBytes(join(o.out, f)), 0),
    seconds, seconds_per_step: seconds / o.steps,
  };
}
