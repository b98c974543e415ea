import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { groupPool, groupUnpool } from './pool';
import { groupPoolRef, groupUnpoolRef } from './ref/pool';

describe('group pooling (QA-LoRA adapter input)', () => {
  for (const [N, C, g] of [[1, 32, 32], [7, 96, 32], [33, 60, 4], [300, 256, 64]] as const) {
    it(`pool and unpool N=${N} C=${C} g=${g}`, async () => {
      const ctx = await testContext();
      const r = rng(N * C + g);
      const inp = randn(N * C, r);
      const dout = randn((N * C) / g, r);
      const d0 = randn(N * C, r);
      const gi = ctx.upload('inp', f32(inp));
      const go = ctx.createBuffer('out', (N * C * 4) / g);
      const gd = ctx.upload('dout', f32(dout));
      const gdi = ctx.upload('dinp', f32(d0));
      const gdi2 = ctx.upload('dinp2', f32(d0));
      ctx.run(new Program('t')
        .dispatch(groupPool(ctx, 'pool', { N, C, g, inp: gi, out: go }))
        .dispatch(groupUnpool(ctx, 'unpool', { N, C, g, dout: gd, dinp: gdi, scale: 1 / g, accumulate: true }))
        .dispatch(groupUnpool(ctx, 'unpool2', { N, C, g, dout: gd, dinp: gdi2, scale: 0.5, accumulate: false })));
      expectClose('pool', await ctx.readF32(go, 0, (N * C) / g), groupPoolRef(N, C, g, inp), 1e-5, 1e-5);
      const want = Float64Array.from(d0);
      groupUnpoolRef(N, C, g, dout, want, 1 / g, true);
      expectClose('unpool+=', await ctx.readF32(gdi, 0, N * C), want, 1e-5, 1e-5);
      const want2 = new Float64Array(N * C);
      groupUnpoolRef(N, C, g, dout, want2, 0.5, false);
      expectClose('unpool=', await ctx.readF32(gdi2, 0, N * C), want2, 1e-6, 1e-6);
    });
  }

  it('unpool with scale 1/g is the adjoint of pool: <pool(x), y> = <x, unpool(y)>', () => {
    const r = rng(5);
    const N = 3, C = 12, g = 4;
    const x = randn(N * C, r), y = randn((N * C) / g, r);
    const px = groupPoolRef(N, C, g, x);
    const uy = new Float64Array(N * C);
    groupUnpoolRef(N, C, g, y, uy, 1 / g, false);
    const lhs = px.reduce((a, v, i) => a + v * y[i], 0);
    const rhs = x.reduce((a, v, i) => a + v * uy[i], 0);
    expect(lhs).toBeCloseTo(rhs, 10);
  });

  it('rejects C not divisible by g', async () => {
    const ctx = await testContext();
    const b = ctx.createBuffer('x', 64);
    expect(() => groupPool(ctx, 'p', { N: 1, C: 10, g: 4, inp: b, out: b })).toThrow(/multiple of the group size/);
  });
});
