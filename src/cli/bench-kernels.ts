// Kernel-level benchmarks for `npm run bench`: our matmul against tfjs-backend-webgpu's matmul on
// the same GPUDevice in the same process (ratio ours/tfjs), the quantized-B matmul on the vec4 core
// against the legacy kernel, and --profile (time per kernel family of the training step).
import { type Dispatch, type GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { matmul, matmulSplitK, minGroupsFor, splitKPlan, splitKReduce, tileLimits, type MatmulArgs } from '../ops/matmul';
import { mulberry32 } from '../util/random';
import type { QuantFormat } from '../quant/formats';
import { uploadQuantized } from '../quant/gpu';
import { quantizeRef } from '../quant/reference';

interface MatmulCase {
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

type Tf = typeof import('@tensorflow/tfjs-core');

/**
 * tfjs-core with tfjs-backend-webgpu running on our device. The backend's registration asks
 * `navigator.gpu` for its own adapter; in Node there is no `navigator` (Node 20), so the check is
 * satisfied with the `webgpu` package's GPU object and the backend is re-registered with a factory
 * that hands it our GPUDevice (`new WebGPUBackend(device)`).
 */
async function tfjsOnDevice(ctx: GpuContext): Promise<{ tf: Tf; flush: () => void }> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  g.navigator!.gpu ??= {};
  const tf = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(ctx.device), 100);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs-backend-webgpu did not initialise on this device');
  // Submits what tfjs has recorded (it batches dispatches and submits every few ops on its own).
  const be = tf.backend() as unknown as { endComputePassEncoder(): void; submitQueue(): void; commandEncoder: GPUCommandEncoder | null };
  return {
    tf,
    flush: () => {
      be.endComputePassEncoder();
      if (be.commandEncoder) be.submitQueue();
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timeIt(ctx: GpuContext, fn: () => void): Promise<number> {
  await ctx.device.queue.onSubmittedWorkDone();
  const t0 = performance.now();
  fn();
  await ctx.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / 1000;
}

/** Our program for one case: one dispatch, or split-K + reduce when the plan splits K. */
function ourProgram(ctx: GpuContext, c: MatmulCase, A: GPUBuffer, B: GPUBuffer, C: GPUBuffer, reps: number, legacy: boolean): { p: Program; scratch: GPUBuffer | null } {
  const args: MatmulArgs = { M: c.M, N: c.N, K: c.K, A, B, out: C, transA: c.transA, transB: c.transB, kernel: legacy ? 'legacy' : 'auto' };
  const plan = splitKPlan(c.M, c.N, c.K, tileLimits(ctx), minGroupsFor(ctx));
  const p = new Program(`bench.${c.name}`);
  let scratch: GPUBuffer | null = null;
  let ds: Dispatch[];
  if (!legacy && plan.S > 1 && (c.M <= 32 || c.N <= 32)) {
    scratch = ctx.createBuffer('bench.scratch', plan.scratch * 4);
    ds = [matmulSplitK(ctx, 'bench.mm.split', args, plan, scratch, 0), splitKReduce(ctx, 'bench.mm.reduce', [{ n: c.M * c.N, S: plan.S, offP: 0, offC: 0 }], scratch, C)];
  } else {
    ds = [matmul(ctx, 'bench.mm', args)];
  }
  for (let i = 0; i < reps; i++) for (const d of ds) p.dispatch(d);
  return { p, scratch };
}

/**
 * Each case run by ours, the previous kernel (legacy) and tfjs, alternating contenders in each of
 * `runs` rounds of `reps` back-to-back products; GFLOP/s from the median round.
 */
export async function compareMatmuls(ctx: GpuContext, cases: MatmulCase[], reps: number, runs: number) {
  const { tf, flush } = await tfjsOnDevice(ctx);
  const rows = [];
  for (const c of cases) {
    const rand = mulberry32(c.M * 7 + c.N * 3 + c.K);
    const a = Float32Array.from({ length: c.M * c.K }, () => rand() - 0.5);
    const b = Float32Array.from({ length: c.K * c.N }, () => rand() - 0.5);
    const A = ctx.upload('bench.A', a);
    const B = ctx.upload('bench.B', b);
    const C = ctx.createBuffer('bench.C', c.M * c.N * 4);
    const ours = ourProgram(ctx, c, A, B, C, reps, false);
    const legacy = ourProgram(ctx, c, A, B, C, reps, true);
    const ta = tf.tensor2d(a, c.transA ? [c.K, c.M] : [c.M, c.K]);
    const tb = tf.tensor2d(b, c.transB ? [c.N, c.K] : [c.K, c.N]);
    const tfRun = () => {
      for (let i = 0; i < reps; i++) tf.matMul(ta, tb, c.transA, c.transB).dispose();
      flush();
    };
    const t = { ours: [] as number[], legacy: [] as number[], tfjs: [] as number[] };
    // Warm-up (pipelines of all three) and a cross-check of the results against tfjs's.
    ctx.run(legacy.p);
    ctx.run(ours.p);
    const got = await ctx.readF32(C, 0, c.M * c.N);
    const tc = tf.matMul(ta, tb, c.transA, c.transB);
    const want = (await tc.data()) as Float32Array;
    tc.dispose();
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
    tfRun();
    for (let r = 0; r < runs; r++) {
      const order = r % 2 ? (['tfjs', 'ours', 'legacy'] as const) : (['ours', 'legacy', 'tfjs'] as const);
      for (const who of order) {
        t[who].push(await timeIt(ctx, () => (who === 'tfjs' ? tfRun() : ctx.run(who === 'ours' ? ours.p : legacy.p))));
      }
    }
    const gf = (s: number) => (2 * c.M * c.N * c.K * reps) / s / 1e9;
    const row = {
      name: c.name, M: c.M, N: c.N, K: c.K, trans: `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'}`,
      gflops_ours: gf(median(t.ours)), gflops_legacy: gf(median(t.legacy)), gflops_tfjs: gf(median(t.tfjs)),
      ratio_ours_tfjs: median(t.tfjs) / median(t.ours), ratio_legacy_tfjs: median(t.tfjs) / median(t.legacy),
      dispatches_ours: ours.p.dispatchCount / reps, max_abs_diff_vs_tfjs: diff,
    };
    rows.push(row);
    process.stderr.write(`matmul ${row.name} ${row.trans} ${c.M}x${c.N}x${c.K}: ours ${row.gflops_ours.toFixed(2)} legacy ${row.gflops_legacy.toFixed(2)} tfjs ${row.gflops_tfjs.toFixed(2)} GFLOP/s\n`);
    ta.dispose();
    tb.dispose();
    for (const buf of [A, B, C, ours.scratch, legacy.scratch]) if (buf) ctx.destroyBuffer(buf);
  }
  return rows;
}

export function matmulCases(soft: boolean, C: number, Ntok: number, r: number): MatmulCase[] {
  const cases: MatmulCase[] = [];
  const cube = soft ? [256, 512] : [256, 512, 1024, 2048, 4096];
  for (const n of cube) {
    for (const [tA, tB] of [[false, false], [false, true], [true, false]] as const) {
      if (soft && tA) continue; // TN at 256³/512³ on a software adapter only adds minutes
      cases.push({ name: `${n}^3`, M: n, N: n, K: n, transA: tA, transB: tB });
    }
  }
  // The LoRA products of one SmolLM2-135M module (x [Ntok, C], A [r, C], B [C, r], g [Ntok, C]).
  cases.push({ name: 'lora x·Aᵀ', M: Ntok, N: r, K: C, transA: false, transB: true });
  cases.push({ name: 'lora u·Bᵀ', M: Ntok, N: C, K: r, transA: false, transB: true });
  cases.push({ name: 'lora dA = gBᵀ·x', M: r, N: C, K: Ntok, transA: true, transB: false });
  cases.push({ name: 'lora dB = gᵀ·u', M: C, N: r, K: Ntok, transA: true, transB: false });
  return cases;
}

/** A quantized frozen product: W [out, in] in `mode`, forward (out = x·Wᵀ, M rows) or input gradient (dinp = dout·W). */
interface QuantMatmulCase {
  name: string;
  mode: QuantFormat;
  M: number;
  out: number;
  inF: number;
  fwd: boolean;
}

/** NF4 and QA-LoRA INT4 (group 32) at 512³ and SmolLM2-135M's MLP shapes (C, FF; `rows` tokens). */
export function quantMatmulCases(C: number, FF: number, rows: number): QuantMatmulCase[] {
  const cases: QuantMatmulCase[] = [];
  for (const mode of ['nf4', 'qalora-int4'] as const) {
    cases.push({ name: '512^3 forward', mode, M: 512, out: 512, inF: 512, fwd: true });
    cases.push({ name: 'mlp up forward', mode, M: rows, out: FF, inF: C, fwd: true });
    cases.push({ name: 'mlp down dinp', mode, M: rows, out: C, inF: FF, fwd: false });
  }
  return cases;
}

/**
 * Each quantized case on the vec4 core and on the legacy kernel (the same quantized buffers),
 * alternating in each of `runs` rounds of `reps` back-to-back products; GFLOP/s from the median
 * round, ratio = legacy time / vec4 time, and the largest difference between the two results.
 */
export async function compareQuantMatmuls(ctx: GpuContext, cases: QuantMatmulCase[], reps: number, runs: number) {
  const rows = [];
  for (const c of cases) {
    const rand = mulberry32(c.M * 7 + c.out * 3 + c.inF);
    const [N, K] = c.fwd ? [c.out, c.inF] : [c.inF, c.out];
    const w = Float32Array.from({ length: c.out * c.inF }, () => (rand() - 0.5) * 0.1);
    const qw = uploadQuantized(ctx, 'bench.W', quantizeRef(c.mode, w, c.out, c.inF, 32));
    const A = ctx.upload('bench.A', Float32Array.from({ length: c.M * K }, () => rand() - 0.5));
    const outs = { vec4: ctx.createBuffer('bench.C', c.M * N * 4), legacy: ctx.createBuffer('bench.C', c.M * N * 4) };
    const prog = (who: 'vec4' | 'legacy') => {
      const p = new Program(`bench.q.${who}`);
      const d = matmul(ctx, 'bench.mmq', { M: c.M, N, K, A, bQuant: qw, out: outs[who], transB: c.fwd, kernel: who === 'vec4' ? 'auto' : 'legacy' });
      for (let i = 0; i < reps; i++) p.dispatch(d);
      return p;
    };
    const ps = { vec4: prog('vec4'), legacy: prog('legacy') };
    ctx.run(ps.legacy, ps.vec4); // warm-up (pipelines) and the cross-check
    const [gv, gl] = [await ctx.readF32(outs.vec4, 0, c.M * N), await ctx.readF32(outs.legacy, 0, c.M * N)];
    let diff = 0;
    for (let i = 0; i < gv.length; i++) diff = Math.max(diff, Math.abs(gv[i] - gl[i]));
    const t = { vec4: [] as number[], legacy: [] as number[] };
    for (let r = 0; r < runs; r++) {
      for (const who of r % 2 ? (['legacy', 'vec4'] as const) : (['vec4', 'legacy'] as const)) t[who].push(await timeIt(ctx, () => ctx.run(ps[who])));
    }
    const gf = (s: number) => (2 * c.M * N * K * reps) / s / 1e9;
    const row = {
      name: c.name, mode: c.mode, M: c.M, N, K, W: [c.out, c.inF],
      gflops_vec4: gf(median(t.vec4)), gflops_legacy: gf(median(t.legacy)), ratio_vec4_legacy: median(t.legacy) / median(t.vec4),
      max_abs_diff_vs_legacy: diff,
    };
    rows.push(row);
    process.stderr.write(`quant matmul ${c.mode} ${c.name} ${c.M}x${N}x${K}: vec4 ${row.gflops_vec4.toFixed(2)} legacy ${row.gflops_legacy.toFixed(2)} GFLOP/s (×${row.ratio_vec4_legacy.toFixed(2)})\n`);
    for (const b of [A, outs.vec4, outs.legacy, qw.codes, qw.scales, qw.zeros, qw.extra]) if (b) ctx.destroyBuffer(b);
  }
  return rows;
}

const LORA_LABEL = /\.(loraA|loraB|gB|dB|dA|dx\.lora|lora\.reduce)$/;

/** Kernel family of a dispatch: the LoRA products apart from the dense (frozen-weight) matmuls. */
function kernelFamily(d: Dispatch): string {
  if (LORA_LABEL.test(d.label)) return 'lora-matmul';
  const s = d.kernel.spec.shader;
  return s.startsWith('matmul') ? 'matmul' : s.startsWith('attention_') ? 'attention' : s;
}

/**
 * Time per kernel family of `program`: each family's dispatches (same pipelines and bind groups, no
 * new GPU objects) run as one program, timed with onSubmittedWorkDone (median of `runs`); the whole
 * program is timed the same way. Families run out of order compute garbage but take the same time.
 */
export async function profileFamilies(ctx: GpuContext, program: Program, runs: number) {
  if (ctx.device.features.has('timestamp-query')) return profileTimestamps(ctx, program, runs);
  const fam = new Map<string, Program>();
  for (const s of program.steps) {
    if (s.kind !== 'dispatch') continue;
    const f = kernelFamily(s.d);
    if (!fam.has(f)) fam.set(f, new Program(`profile.${f}`));
    fam.get(f)!.dispatch(s.d);
  }
  const time = async (p: Program) => {
    ctx.run(p);
    const ts: number[] = [];
    for (let i = 0; i < runs; i++) ts.push(await timeIt(ctx, () => ctx.run(p)));
    return median(ts) * 1000;
  };
  const whole = await time(program);
  const families: Record<string, { ms: number; dispatches: number; share: number }> = {};
  let sum = 0;
  for (const [f, p] of fam) {
    const ms = await time(p);
    sum += ms;
    families[f] = { ms, dispatches: p.dispatchCount, share: 0 };
  }
  for (const f of Object.values(families)) f.share = f.ms / sum;
  return { method: 'per-family programs timed with onSubmittedWorkDone (median)', step_ms: whole, sum_of_families_ms: sum, families };
}

/**
 * Time per kernel family from timestamp queries: every dispatch of `program` in its own compute pass
 * with begin/end timestamps (clears and copies as recorded), summed per family, median over runs.
 * The query set and buffers are created once here (profiling only, not a training step).
 */
async function profileTimestamps(ctx: GpuContext, program: Program, runs: number) {
  const ds = program.steps.flatMap((s) => (s.kind === 'dispatch' ? [s.d] : []));
  const n = ds.length * 2;
  const qs = ctx.device.createQuerySet({ type: 'timestamp', count: n });
  const resolve = ctx.createBuffer('profile.resolve', n * 8, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
  const per: Record<string, number[]> = {};
  const steps: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const enc = ctx.device.createCommandEncoder();
    let q = 0;
    for (const s of program.steps) {
      if (s.kind === 'dispatch') {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
        pass.setPipeline(s.d.kernel.pipeline);
        pass.setBindGroup(0, s.d.bindGroup);
        pass.dispatchWorkgroups(...s.d.workgroups);
        pass.end();
        q += 2;
      } else if (s.kind === 'clear') enc.clearBuffer(s.buffer, s.offset, s.size);
      else enc.copyBufferToBuffer(s.src, s.srcOffset, s.dst, s.dstOffset, s.size);
    }
    enc.resolveQuerySet(qs, 0, n, resolve, 0);
    const read = ctx.readLater(enc, resolve, 0, n * 8);
    ctx.submit(enc);
    const t = new BigUint64Array(await read());
    if (r === 0) continue; // warm-up
    const fam: Record<string, number> = {};
    ds.forEach((d, i) => {
      const f = kernelFamily(d);
      fam[f] = (fam[f] ?? 0) + Number(t[2 * i + 1] - t[2 * i]) / 1e6;
    });
    for (const [f, ms] of Object.entries(fam)) (per[f] ??= []).push(ms);
    steps.push(Object.values(fam).reduce((a, b) => a + b, 0));
  }
  qs.destroy();
  ctx.destroyBuffer(resolve);
  const families: Record<string, { ms: number; dispatches: number; share: number }> = {};
  let sum = 0;
  for (const [f, xs] of Object.entries(per)) {
    families[f] = { ms: median(xs), dispatches: ds.filter((d) => kernelFamily(d) === f).length, share: 0 };
    sum += families[f].ms;
  }
  for (const f of Object.values(families)) f.share = f.ms / sum;
  return { method: 'timestamp queries around each dispatch (median)', step_ms: median(steps), sum_of_families_ms: sum, families };
}
