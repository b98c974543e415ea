import { describe, expect, it } from 'vitest';
import { GpuError } from '../gpu/context';
import { Program } from '../gpu/program';
import { expectClose, f32, randn, rng, reductionPaths, testContext } from '../test/gpu';
import { adamw, gradNorm, gradNormPartialSize } from './optimizer';
import { adamwRef, gradNormRef, type AdamwRefArgs, type AdamwRefState } from './ref/optimizer';

// Each reduction case runs on the tree and on the subgroup path (GpuContext.subgroups).
const PATHS = await reductionPaths();

const fr = Math.fround;

/** |got - want| <= rtol * scale[i] for every element. */
function expectScaled(name: string, got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, rtol = 1e-5): void {
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= rtol * scale[i] + 1e-30)) {
      throw new Error(`${name}: [${i}] got ${got[i]}, want ${want[i]} (error ${(err / scale[i]).toExponential(2)} of the term scale ${scale[i]})`);
    }
  }
}

/**
 * The float64 reference, plus per element the magnitude of the terms that were summed into params
 * and m. Those sums cancel (random-sign gradients, updates of either sign), and f32 rounding error
 * scales with the terms, not with a result near zero, so "relative 1e-5" is measured against them.
 * v sums only positive terms: its scale is itself.
 */
class RefRun {
  readonly pScale: Float64Array;
  readonly mScale: Float64Array;
  constructor(readonly state: AdamwRefState) {
    this.pScale = state.params.map(Math.abs);
    this.mScale = state.m.map(Math.abs);
  }
  step(a: AdamwRefArgs): void {
    const { params, grads, v } = this.state;
    const before = Float64Array.from(params);
    adamwRef(this.state, a);
    const clip = a.maxNorm > 0 ? Math.min(1, a.maxNorm / (a.stats[a.normIndex] + 1e-6)) : 1;
    const lr = a.step[0] * a.lrMul;
    const bc1 = 1 - a.beta1 ** a.step[1];
    const bc2 = 1 - a.beta2 ** a.step[1];
    for (let i = a.offset; i < a.offset + a.n; i++) {
      this.mScale[i] = a.beta1 * this.mScale[i] + (1 - a.beta1) * Math.abs(grads[i] * clip);
      const update = (lr * this.mScale[i]) / bc1 / (Math.sqrt(v[i] / bc2) + a.eps);
      this.pScale[i] += lr * a.weightDecay * Math.abs(before[i]) + update;
    }
  }
  check(gp: ArrayLike<number>, gm: ArrayLike<number>, gv: ArrayLike<number>): void {
    expectScaled('params', gp, this.state.params, this.pScale);
    expectScaled('m', gm, this.state.m, this.mScale);
    expectScaled('v', gv, this.state.v, this.state.v.map(Math.abs));
  }
}

describe('gradNorm kernel vs float64 reference', () => {
  for (const { tag, ctx: pctx } of PATHS) for (const n of [1, 255, 256, 257, 1025, 100_003, 3_000_000]) {
    it.skipIf(!pctx)(`n=${n}${tag}`, async () => {
      const ctx = pctx!;
      const r = rng(n);
      const g = f32(randn(n, r, 1e-3));
      // A few large entries so a dropped element or a lost partial shows.
      g[0] = 0.5;
      g[n - 1] = -0.25;
      const want = gradNormRef(g);
      const numPartials = gradNormPartialSize(n);
      const grads = ctx.upload('grads', g);
      const partial = ctx.createBuffer('partial', numPartials * 4);
      const stats0 = f32([7, 8, 9, 10]);
      const stats = ctx.upload('stats', stats0);
      const p = new Program('norm');
      for (const d of gradNorm(ctx, 'norm', { n, grads, partial, stats, outIndex: 2 })) p.dispatch(d);
      ctx.run(p);
      const got = await ctx.readF32(stats, 0, 4);
      expectClose('norm', [got[2]], [want], 0, 1e-5);
      expect([got[0], got[1], got[3]]).toEqual([7, 8, 10]);
      // Deterministic: a second run gives the same bits.
      ctx.run(p);
      const again = await ctx.readF32(stats, 0, 4);
      expect(again[2]).toBe(got[2]);
      ctx.destroyBuffer(grads);
    });
  }

  it('sizes the partial scratch and rejects one too small', async () => {
    expect(gradNormPartialSize(0)).toBe(1);
    expect(gradNormPartialSize(1)).toBe(1);
    expect(gradNormPartialSize(1024)).toBe(1);
    expect(gradNormPartialSize(1025)).toBe(2);
    expect(gradNormPartialSize(50_000_000)).toBe(1024);
    const ctx = await testContext();
    const n = 100_000;
    const grads = ctx.createBuffer('grads', n * 4);
    const partial = ctx.createBuffer('partial', 16);
    const stats = ctx.createBuffer('stats', 16);
    expect(() => gradNorm(ctx, 'norm', { n, grads, partial, stats, outIndex: 0 })).toThrow(GpuError);
  });
});

interface AdamCase {
  name: string;
  L: number; // buffer length
  offset: number;
  n: number;
  weightDecay: number;
  maxNorm: number;
  norm: number; // what stats[normIndex] holds each step
  t0: number; // first step count
  steps: number;
  /** Start from nonzero moments (as after t0-1 earlier steps). */
  warmState?: boolean;
}

const hyper = { beta1: fr(0.9), beta2: fr(0.999), eps: fr(1e-8) };

describe('adamw kernel vs float64 reference', () => {
  const cases: AdamCase[] = [
    { name: 'whole buffer, no clipping, no decay', L: 700, offset: 0, n: 700, weightDecay: 0, maxNorm: 0, norm: 1e-4, t0: 1, steps: 5 },
    { name: 'middle range, clipping active, decay', L: 1500, offset: 300, n: 777, weightDecay: 0.1, maxNorm: 1, norm: 4, t0: 1, steps: 5 },
    { name: 'middle range, clipping inactive (norm < max), decay', L: 1000, offset: 129, n: 513, weightDecay: 0.01, maxNorm: 10, norm: 3, t0: 1, steps: 5 },
    { name: 'tiny range at the end, clipping active, no decay', L: 300, offset: 297, n: 3, weightDecay: 0, maxNorm: 0.5, norm: 2, t0: 1, steps: 5 },
    // More than 4096 workgroups' worth of elements: exercises the grid-stride loop.
    { name: 'large range (grid-stride), clipping active, decay', L: 1_100_003, offset: 7, n: 1_100_000, weightDecay: 0.1, maxNorm: 1, norm: 2, t0: 1, steps: 2 },
    { name: 'late steps (t=1000..1003) from warm moments, clipping active', L: 600, offset: 50, n: 500, weightDecay: 0.05, maxNorm: 0.25, norm: 0.5, t0: 1000, steps: 4, warmState: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const ctx = await testContext();
      const r = rng(c.L * 31 + c.offset);
      const p0 = f32(randn(c.L, r, 0.05));
      const m0 = c.warmState ? f32(randn(c.L, r, 1e-3)) : new Float32Array(c.L);
      const v0 = c.warmState ? f32(randn(c.L, r, 1e-3).map((x) => x * x + 1e-8)) : new Float32Array(c.L);
      const state = { params: Float64Array.from(p0), grads: new Float64Array(c.L), m: Float64Array.from(m0), v: Float64Array.from(v0) };
      const ref = new RefRun(state);
      const normIndex = 1;
      const params = ctx.upload('params', p0);
      const grads = ctx.createBuffer('grads', c.L * 4);
      const m = ctx.upload('m', m0);
      const v = ctx.upload('v', v0);
      const step = ctx.createBuffer('step', 8);
      const stats = ctx.createBuffer('stats', 16);
      // Built once, run every step, as the trainer does.
      const args = { n: c.n, offset: c.offset, normIndex, lrMul: 1, ...hyper, weightDecay: fr(c.weightDecay), maxNorm: fr(c.maxNorm) };
      const prog = new Program('opt').dispatch(adamw(ctx, 'adamw', { ...args, params, grads, m, v, step, stats }));
      for (let s = 0; s < c.steps; s++) {
        const t = c.t0 + s;
        const g = f32(randn(c.L, r, 1e-3));
        // stats[normIndex] is the norm; the other slots hold values that would clip hard if read.
        const st = f32([1e-3, c.norm, 1e-3, 1e-3]);
        const sp = f32([0.01 * (1 + s) / c.steps, t]);
        ctx.write(grads, g);
        ctx.write(stats, st);
        ctx.write(step, sp);
        ctx.run(prog);
        state.grads = Float64Array.from(g);
        ref.step({ ...args, step: sp, stats: st });
      }
      const [gp, gm, gv] = await Promise.all([ctx.readF32(params, 0, c.L), ctx.readF32(m, 0, c.L), ctx.readF32(v, 0, c.L)]);
      ref.check(gp, gm, gv);
      // Outside [offset, offset+n) nothing moved, bit for bit.
      for (let i = 0; i < c.L; i++) {
        if (i >= c.offset && i < c.offset + c.n) continue;
        if (gp[i] !== p0[i] || gm[i] !== m0[i] || gv[i] !== v0[i]) throw new Error(`element ${i} outside the range changed`);
      }
      // The update did happen, and each case clips exactly when its name says so.
      const clip = c.maxNorm > 0 ? Math.min(1, c.maxNorm / (c.norm + 1e-6)) : 1;
      expect(gp[c.offset]).not.toBe(p0[c.offset]);
      expect(clip < 1).toBe(c.name.includes('clipping active'));
    });
  }

  it('LoRA+ groups: gradNorm then AdamW on two ranges (lr and 16x lr), clipping on the GPU norm', async () => {
    const ctx = await testContext();
    const r = rng(99);
    const L = 2000, split = 1237;
    const p0 = f32(randn(L, r, 0.05));
    const state = { params: Float64Array.from(p0), grads: new Float64Array(L), m: new Float64Array(L), v: new Float64Array(L) };
    const ref = new RefRun(state);
    const params = ctx.upload('params', p0);
    const grads = ctx.createBuffer('grads', L * 4);
    const m = ctx.createBuffer('m', L * 4);
    const v = ctx.createBuffer('v', L * 4);
    const step = ctx.createBuffer('step', 8);
    const stats = ctx.createBuffer('stats', 16);
    const partial = ctx.createBuffer('partial', gradNormPartialSize(L) * 4);
    const common = { ...hyper, weightDecay: fr(0.01), maxNorm: fr(0.02), normIndex: 3 };
    const groups = [
      { n: split, offset: 0, lrMul: 1 },
      { n: L - split, offset: split, lrMul: 16 },
    ];
    const prog = new Program('opt');
    for (const d of gradNorm(ctx, 'norm', { n: L, grads, partial, stats, outIndex: 3 })) prog.dispatch(d);
    for (const gr of groups) prog.dispatch(adamw(ctx, 'adamw', { ...common, ...gr, params, grads, m, v, step, stats }));
    let clippedSteps = 0;
    for (let t = 1; t <= 5; t++) {
      // Alternate the gradient scale so the clip is active on some steps and not on others.
      const g = f32(randn(L, r, t % 2 ? 1e-3 : 1e-4));
      const sp = f32([fr(2e-3), t]);
      ctx.write(grads, g);
      ctx.write(step, sp);
      ctx.run(prog);
      state.grads = Float64Array.from(g);
      const norm = gradNormRef(g);
      if (norm > common.maxNorm) clippedSteps++;
      const st = [0, 0, 0, norm];
      for (const gr of groups) ref.step({ ...common, ...gr, step: sp, stats: st });
      const gotNorm = (await ctx.readF32(stats, 12, 1))[0];
      expectClose('norm', [gotNorm], [norm], 0, 1e-5);
    }
    expect(clippedSteps).toBeGreaterThan(0);
    expect(clippedSteps).toBeLessThan(5);
    const [gp, gm, gv] = await Promise.all([ctx.readF32(params, 0, L), ctx.readF32(m, 0, L), ctx.readF32(v, 0, L)]);
    ref.check(gp, gm, gv);
  });
});
