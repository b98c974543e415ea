import { describe, expect, it } from 'vitest';
import { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { loadShaderLibrary } from '../cli/node-gpu';
import { expectClose, f32, numericGrad, randn, rng, testContext } from '../test/gpu';
import { attentionBackward, attentionForward, attentionTiles, type AttentionDims } from './attention';
import { attentionBackwardRef, attentionForwardRef } from './ref/attention';

/** segStart for examples starting at the given positions (per sequence; each list starts with 0). */
function segFromStarts(T: number, starts: number[][]): Uint32Array {
  const seg = new Uint32Array(starts.length * T);
  starts.forEach((st, b) => {
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (const x of st) if (x <= t) s = x;
      seg[b * T + t] = s;
    }
  });
  return seg;
}

const keepAlive: unknown[] = [];
let defaultCtx: Promise<GpuContext> | null = null;
/** A second device created with WebGPU's default limits (16 KiB workgroup storage, 8 storage buffers). */
function defaultLimitsContext(): Promise<GpuContext> {
  defaultCtx ??= (async () => {
    const main = await testContext(); // sets up the Vulkan driver environment and the WebGPU globals
    const { create } = await import('webgpu');
    const gpu = create([]);
    keepAlive.push(gpu); // the Dawn instance must outlive its device
    const adapter = (await gpu.requestAdapter()) ?? (await gpu.requestAdapter({ forceFallbackAdapter: true }));
    if (!adapter) throw new Error('no adapter');
    const device = await adapter.requestDevice();
    return new GpuContext(device, main.adapter, loadShaderLibrary());
  })();
  return defaultCtx;
}

async function runGpu(d: AttentionDims, qkv: Float64Array, seg: Uint32Array, dout: Float64Array, ctxIn?: GpuContext) {
  const ctx = ctxIn ?? (await testContext());
  const { B, T, NH, NKV, HS } = d;
  const N = B * T;
  const QKVW = (NH + 2 * NKV) * HS;
  const nan = (n: number) => new Float32Array(n).fill(NaN);
  const gQkv = ctx.upload('qkv', f32(qkv));
  const gSeg = ctx.upload('seg', seg);
  const gOut = ctx.upload('out', nan(N * NH * HS));
  const gLse = ctx.upload('lse', nan(B * NH * T));
  const gDout = ctx.upload('dout', f32(dout));
  const gDqkv = ctx.upload('dqkv', nan(N * QKVW));
  const gD = ctx.upload('D', nan(B * NH * T));
  const p = new Program('attn');
  for (const x of attentionForward(ctx, 'fwd', d, { qkv: gQkv, segStart: gSeg, out: gOut, lse: gLse })) p.dispatch(x);
  for (const x of attentionBackward(ctx, 'bwd', d, { qkv: gQkv, segStart: gSeg, out: gOut, lse: gLse, dout: gDout, dqkv: gDqkv, D: gD })) p.dispatch(x);
  await ctx.guard('running attention', () => ctx.run(p));
  return {
    out: await ctx.readF32(gOut, 0, N * NH * HS),
    lse: await ctx.readF32(gLse, 0, B * NH * T),
    dqkv: await ctx.readF32(gDqkv, 0, N * QKVW),
    D: await ctx.readF32(gD, 0, B * NH * T),
  };
}

function rowsumD(d: AttentionDims, out: ArrayLike<number>, dout: ArrayLike<number>): Float64Array {
  const { B, T, NH, HS } = d;
  const D = new Float64Array(B * NH * T);
  for (let b = 0; b < B; b++) for (let h = 0; h < NH; h++) for (let t = 0; t < T; t++) {
    let s = 0;
    for (let e = 0; e < HS; e++) s += out[(b * T + t) * NH * HS + h * HS + e] * dout[(b * T + t) * NH * HS + h * HS + e];
    D[(b * NH + h) * T + t] = s;
  }
  return D;
}

describe('attention kernels vs float64 reference', () => {
  const cases: { d: AttentionDims; starts?: number[][]; name?: string }[] = [
    { d: { B: 2, T: 7, NH: 4, NKV: 2, HS: 8 } },
    { d: { B: 1, T: 33, NH: 3, NKV: 1, HS: 12 } },
    // A 2 KiB budget forces small tiles, so T=33 spans many query and key tiles.
    { d: { B: 1, T: 33, NH: 3, NKV: 1, HS: 12, wgMemBytes: 2048 } },
    { d: { B: 2, T: 70, NH: 2, NKV: 2, HS: 64, wgMemBytes: 16384 } },
    { d: { B: 2, T: 70, NH: 2, NKV: 2, HS: 64, wgMemBytes: 32768 } },
    { d: { B: 3, T: 1, NH: 2, NKV: 1, HS: 16 } },
    { d: { B: 2, T: 19, NH: 6, NKV: 3, HS: 10, wgMemBytes: 1024 }, starts: [[0, 4, 5, 13], [0, 18]], name: 'packed, tiny tiles' },
  ];
  for (const { d, starts, name } of cases) {
    it(`${name ?? ''} B=${d.B} T=${d.T} NH=${d.NH} NKV=${d.NKV} HS=${d.HS} budget=${d.wgMemBytes ?? 'device'}${d.scale ? ` scale=${d.scale}` : ''}`, async () => {
      const { B, T, NH, NKV, HS } = d;
      const N = B * T;
      const r = rng(B * 1000 + T * 10 + HS);
      const qkv = randn(N * (NH + 2 * NKV) * HS, r);
      const dout = randn(N * NH * HS, r);
      const seg = starts ? segFromStarts(T, starts) : new Uint32Array(N);
      const want = attentionForwardRef(d, qkv, seg);
      const wantD = attentionBackwardRef(d, qkv, seg, dout);
      const got = await runGpu(d, qkv, seg, dout);
      expectClose('out', got.out, want.out, 2e-5, 1e-4);
      expectClose('lse', got.lse, want.lse, 2e-5, 1e-5);
      expectClose('D', got.D, rowsumD(d, want.out, dout), 1e-4, 1e-4);
      expectClose('dqkv', got.dqkv, wantD, 1e-4, 1e-3);
    });
  }

  for (const d of [
    { B: 1, T: 21, NH: 4, NKV: 1, HS: 128, scale: 0.05 },
    { B: 1, T: 11, NH: 2, NKV: 2, HS: 256 },
  ]) {
    it(`on a device with the WebGPU default limits: HS=${d.HS} T=${d.T}`, async () => {
      const ctx = await defaultLimitsContext();
      expect(ctx.device.limits.maxComputeWorkgroupStorageSize).toBe(16384);
      const { B, T, NH, NKV, HS } = d;
      const r = rng(HS + T);
      const qkv = randn(B * T * (NH + 2 * NKV) * HS, r);
      const dout = randn(B * T * NH * HS, r);
      const seg = new Uint32Array(B * T);
      const got = await runGpu(d, qkv, seg, dout, ctx);
      const want = attentionForwardRef(d, qkv, seg);
      expectClose('out', got.out, want.out, 2e-5, 1e-4);
      expectClose('lse', got.lse, want.lse, 2e-5, 1e-5);
      expectClose('dqkv', got.dqkv, attentionBackwardRef(d, qkv, seg, dout), 1e-4, 1e-3);
    });
  }

  it('tile choice fits the 16 KiB default limit up to HS=256 and shrinks for bigger heads', () => {
    const bytes = (HS: number) => {
      const t = attentionTiles(HS, 16384);
      const P = HS + 1;
      return [
        4 * ((t.fwd.BQ + t.fwd.BK) * P + t.fwd.BQ * t.fwd.BK),
        4 * (2 * (t.dq.BQ + t.dq.BK) * P + t.dq.BQ * t.dq.BK),
        4 * (2 * (t.dkv.BQ + t.dkv.BK) * P + 2 * t.dkv.BQ * t.dkv.BK),
      ];
    };
    for (const HS of [8, 12, 64, 96, 128, 256]) for (const b of bytes(HS)) expect(b).toBeLessThanOrEqual(16384);
    expect(attentionTiles(256, 16384).fwd.BQ).toBeLessThan(attentionTiles(64, 16384).fwd.BQ);
  });

  it('packed examples (segStart) equal running each example on its own', async () => {
    const d = { B: 2, T: 45, NH: 4, NKV: 2, HS: 16, wgMemBytes: 4096 };
    const { B, T, NH, NKV, HS } = d;
    const QKVW = (NH + 2 * NKV) * HS;
    const OW = NH * HS;
    const starts = [[0, 20], [0, 7, 30]];
    const r = rng(4242);
    const qkv = randn(B * T * QKVW, r);
    const dout = randn(B * T * OW, r);
    const seg = segFromStarts(T, starts);
    const got = await runGpu(d, qkv, seg, dout);
    const refSeg = attentionForwardRef(d, qkv, seg);
    const refSegD = attentionBackwardRef(d, qkv, seg, dout);

    // Assemble the answer from independent per-example runs (B=1, plain causal mask).
    const out = new Float64Array(B * T * OW);
    const lse = new Float64Array(B * NH * T);
    const dqkv = new Float64Array(B * T * QKVW);
    for (let b = 0; b < B; b++) {
      const bounds = [...starts[b], T];
      for (let e = 0; e + 1 < bounds.length; e++) {
        const s = bounds[e], len = bounds[e + 1] - s;
        const de = { B: 1, T: len, NH, NKV, HS };
        const q = qkv.slice((b * T + s) * QKVW, (b * T + s + len) * QKVW);
        const g = dout.slice((b * T + s) * OW, (b * T + s + len) * OW);
        const f = attentionForwardRef(de, q, new Uint32Array(len));
        const bw = attentionBackwardRef(de, q, new Uint32Array(len), g);
        out.set(f.out, (b * T + s) * OW);
        dqkv.set(bw, (b * T + s) * QKVW);
        for (let h = 0; h < NH; h++) lse.set(f.lse.subarray(h * len, (h + 1) * len), (b * NH + h) * T + s);
      }
    }
    // The reference's mask agrees with the separate runs...
    expectClose('ref out', refSeg.out, out, 1e-12, 1e-9);
    expectClose('ref lse', refSeg.lse, lse, 1e-12, 1e-9);
    expectClose('ref dqkv', refSegD, dqkv, 1e-12, 1e-9);
    // ...and so does the GPU.
    expectClose('out', got.out, out, 2e-5, 1e-4);
    expectClose('lse', got.lse, lse, 2e-5, 1e-5);
    expectClose('dqkv', got.dqkv, dqkv, 1e-4, 1e-3);
    // Packing matters: the plain causal result differs.
    const plain = attentionForwardRef(d, qkv, new Uint32Array(B * T));
    let diff = 0;
    for (let i = 0; i < out.length; i++) diff = Math.max(diff, Math.abs(plain.out[i] - out[i]));
    expect(diff).toBeGreaterThan(0.1);
  });

  it('is deterministic (bitwise identical across runs)', async () => {
    const d = { B: 1, T: 30, NH: 2, NKV: 1, HS: 12, wgMemBytes: 2048 };
    const r = rng(77);
    const qkv = randn(30 * 4 * 12, r);
    const dout = randn(30 * 2 * 12, r);
    const seg = new Uint32Array(30);
    const a = await runGpu(d, qkv, seg, dout);
    const b = await runGpu(d, qkv, seg, dout);
    expect(Array.from(a.out)).toEqual(Array.from(b.out));
    expect(Array.from(a.dqkv)).toEqual(Array.from(b.dqkv));
  });
});

describe('attention reference backward vs finite differences', () => {
  it('matches central differences of sum(out * w)', () => {
    const d = { B: 2, T: 5, NH: 4, NKV: 2, HS: 3, scale: 0.7 };
    const { B, T, NH, NKV, HS } = d;
    const r = rng(11);
    const qkv = randn(B * T * (NH + 2 * NKV) * HS, r);
    const w = randn(B * T * NH * HS, r);
    const seg = segFromStarts(T, [[0], [0, 2]]);
    const g = attentionBackwardRef(d, qkv, seg, w);
    const fd = numericGrad((x) => attentionForwardRef(d, x, seg).out, qkv, w);
    let maxAbs = 0;
    for (let i = 0; i < qkv.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(fd[i]));
      expect(Math.abs(fd[i] - g[i])).toBeLessThan(1e-7 + 1e-6 * Math.abs(fd[i]));
    }
    expect(maxAbs).toBeGreaterThan(0.1);
  });
});
