import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { packF16, roundF16 } from '../gpu/half';
import { expectClose, f32, numericGrad, randn, rng, reductionPaths, testContext } from '../test/gpu';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from './norm';
import { layernormBackwardRef, layernormForwardRef, rmsnormBackwardRef, rmsnormForwardRef } from './ref/norm';

// Each reduction case runs on the tree and on the subgroup path (GpuContext.subgroups).
const PATHS = await reductionPaths();

describe('norm references: backward matches finite differences of forward', () => {
  const N = 3, C = 7, eps = 1e-5;
  const r = rng(11);
  const x = randn(N * C, r, 2);
  const w = randn(C, r);
  const bias = randn(C, r);
  const dout = randn(N * C, r);

  it('rmsnorm', () => {
    const fwd = (xx: Float64Array) => {
      const out = new Float64Array(N * C);
      rmsnormForwardRef({ N, C, eps, inp: xx, weight: w, out, rstd: new Float64Array(N) });
      return out;
    };
    const rstd = new Float64Array(N);
    rmsnormForwardRef({ N, C, eps, inp: x, weight: w, out: new Float64Array(N * C), rstd });
    const dinp = new Float64Array(N * C);
    rmsnormBackwardRef({ N, C, inp: x, weight: w, rstd, dout, dinp, accumulate: false });
    expectClose('dinp', dinp, numericGrad(fwd, x, dout), 1e-7, 1e-6);
  });

  it('layernorm', () => {
    const fwd = (xx: Float64Array) => {
      const out = new Float64Array(N * C);
      layernormForwardRef({ N, C, eps, inp: xx, weight: w, bias, out, mean: new Float64Array(N), rstd: new Float64Array(N) });
      return out;
    };
    const mean = new Float64Array(N), rstd = new Float64Array(N);
    layernormForwardRef({ N, C, eps, inp: x, weight: w, bias, out: new Float64Array(N * C), mean, rstd });
    const dinp = new Float64Array(N * C);
    layernormBackwardRef({ N, C, inp: x, weight: w, mean, rstd, dout, dinp, accumulate: false });
    expectClose('dinp', dinp, numericGrad(fwd, x, dout), 1e-7, 1e-6);
  });
});

describe('norm kernels vs float64 reference', () => {
  const cases = [
    // N, C, f16 weights, accumulate
    [1, 1, false, false],
    [5, 37, false, false],
    [4, 300, true, true],
    [3, 256, false, true],
    [2, 2049, true, false],
    [2, 8192, false, false],
  ] as const;

  for (const { tag, ctx: pctx } of PATHS) for (const [N, C, f16, accumulate] of cases) {
    it.skipIf(!pctx)(`rmsnorm N=${N} C=${C} f16=${f16} accumulate=${accumulate}${tag}`, async () => {
      const ctx = pctx!;
      const r = rng(N * 7919 + C);
      const eps = 1e-6;
      const x = randn(N * C, r, 3);
      const dout = randn(N * C, r);
      const dinp0 = randn(N * C, r);
      let w = randn(C, r);
      if (f16) w = roundF16(w);

      const out = new Float64Array(N * C), rstd = new Float64Array(N);
      rmsnormForwardRef({ N, C, eps, inp: x, weight: w, out, rstd });
      const dinp = Float64Array.from(dinp0);
      rmsnormBackwardRef({ N, C, inp: x, weight: w, rstd, dout, dinp, accumulate });

      const gx = ctx.upload('inp', f32(x));
      const gw = ctx.upload('weight', f16 ? packF16(w) : f32(w));
      const gout = ctx.createBuffer('out', N * C * 4);
      const grstd = ctx.createBuffer('rstd', N * 4);
      const gdout = ctx.upload('dout', f32(dout));
      const gdinp = ctx.upload('dinp', f32(dinp0));
      const wDType = f16 ? 'f16' : 'f32';
      ctx.run(
        new Program('t')
          .dispatch(rmsnormForward(ctx, 'fwd', { N, C, eps, inp: gx, weight: gw, wDType, out: gout, rstd: grstd }))
          .dispatch(rmsnormBackward(ctx, 'bwd', { N, C, inp: gx, weight: gw, wDType, rstd: grstd, dout: gdout, dinp: gdinp, accumulate })),
      );
      expectClose('out', await ctx.readF32(gout, 0, N * C), out, 1e-5, 1e-4);
      expectClose('rstd', await ctx.readF32(grstd, 0, N), rstd, 1e-6, 1e-5);
      expectClose('dinp', await ctx.readF32(gdinp, 0, N * C), dinp, 1e-5, 1e-4);
    });

    it.skipIf(!pctx)(`layernorm N=${N} C=${C} f16=${f16} accumulate=${accumulate}${tag}`, async () => {
      const ctx = pctx!;
      const r = rng(N * 104729 + C);
      const eps = 1e-5;
      // A large common offset checks the two-pass variance.
      const x = randn(N * C, r, 2).map((v) => v + 50);
      const dout = randn(N * C, r);
      const dinp0 = randn(N * C, r);
      let w = randn(C, r);
      let bias = randn(C, r);
      if (f16) {
        w = roundF16(w);
        bias = roundF16(bias);
      }
      const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
      const xf = Float64Array.from(f32(x));
      layernormForwardRef({ N, C, eps, inp: xf, weight: w, bias, out, mean, rstd });
      const dinp = Float64Array.from(dinp0);
      layernormBackwardRef({ N, C, inp: xf, weight: w, mean, rstd, dout, dinp, accumulate });

      const gx = ctx.upload('inp', f32(x));
      const gw = ctx.upload('weight', f16 ? packF16(w) : f32(w));
      const gb = ctx.upload('bias', f16 ? packF16(bias) : f32(bias));
      const gout = ctx.createBuffer('out', N * C * 4);
      const gmean = ctx.createBuffer('mean', N * 4);
      const grstd = ctx.createBuffer('rstd', N * 4);
      const gdout = ctx.upload('dout', f32(dout));
      const gdinp = ctx.upload('dinp', f32(dinp0));
      const wDType = f16 ? 'f16' : 'f32';
      ctx.run(
        new Program('t')
          .dispatch(layernormForward(ctx, 'fwd', { N, C, eps, inp: gx, weight: gw, bias: gb, wDType, out: gout, mean: gmean, rstd: grstd }))
          .dispatch(
            layernormBackward(ctx, 'bwd', { N, C, inp: gx, weight: gw, wDType, mean: gmean, rstd: grstd, dout: gdout, dinp: gdinp, accumulate }),
          ),
      );
      expectClose('out', await ctx.readF32(gout, 0, N * C), out, 1e-4, 1e-4);
      expectClose('mean', await ctx.readF32(gmean, 0, N), mean, 1e-5, 1e-6);
      expectClose('rstd', await ctx.readF32(grstd, 0, N), rstd, 1e-6, 1e-4);
      expectClose('dinp', await ctx.readF32(gdinp, 0, N * C), dinp, 1e-4, 1e-3);
    });
  }

  it('handles more than 65535 rows (2-D grid; padding workgroups return before the barriers)', async () => {
    const ctx = await testContext();
    const N = 65537, C = 3, eps = 1e-6;
    const r = rng(5);
    const x = randn(N * C, r);
    const w = randn(C, r);
    const out = new Float64Array(N * C), rstd = new Float64Array(N);
    rmsnormForwardRef({ N, C, eps, inp: x, weight: w, out, rstd });
    const gx = ctx.upload('inp', f32(x));
    const gw = ctx.upload('weight', f32(w));
    const gout = ctx.createBuffer('out', N * C * 4);
    const grstd = ctx.createBuffer('rstd', N * 4);
    const d = rmsnormForward(ctx, 'fwd', { N, C, eps, inp: gx, weight: gw, out: gout, rstd: grstd });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    ctx.run(new Program('t').dispatch(d));
    expectClose('out', await ctx.readF32(gout, 0, N * C), out, 1e-5, 1e-4);
    expectClose('rstd', await ctx.readF32(grstd, 0, N), rstd, 1e-6, 1e-5);
  });
});
