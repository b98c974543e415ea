import { describe, it } from 'vitest';
import { Program } from '../gpu/program';
import { expectClose, f32, numericGrad, randn, rng, testContext } from '../test/gpu';
import { geluBackward, geluForward, swigluBackward, swigluForward } from './activation';
import { geluBackwardRef, geluForwardRef, swigluBackwardRef, swigluForwardRef } from './ref/activation';

/** Random values with a few large-magnitude ones (where naive tanh/sigmoid overflow). */
function inputs(n: number, r: () => number): Float64Array {
  const x = randn(n, r, 2);
  const big = [-100, 100, -30, 30, -9, 9];
  for (let i = 0; i < Math.min(n, big.length); i++) x[Math.floor((i * n) / big.length)] = big[i];
  return Float64Array.from(f32(x));
}

describe('activation references: backward matches finite differences of forward', () => {
  it('swiglu', () => {
    const N = 3, FF = 5;
    const r = rng(3);
    const gu = randn(N * 2 * FF, r, 2);
    const dh = randn(N * FF, r);
    const fwd = (x: Float64Array) => {
      const h = new Float64Array(N * FF);
      swigluForwardRef({ N, FF, gu: x, h });
      return h;
    };
    const dgu = new Float64Array(N * 2 * FF);
    swigluBackwardRef({ N, FF, gu, dh, dgu });
    expectClose('dgu', dgu, numericGrad(fwd, gu, dh), 1e-7, 1e-6);
  });

  it('gelu', () => {
    const n = 40;
    const r = rng(4);
    const x = randn(n, r, 3);
    const dout = randn(n, r);
    const fwd = (xx: Float64Array) => {
      const out = new Float64Array(n);
      geluForwardRef({ n, inp: xx, out });
      return out;
    };
    const dinp = new Float64Array(n);
    geluBackwardRef({ n, inp: x, dout, dinp });
    expectClose('dinp', dinp, numericGrad(fwd, x, dout), 1e-7, 1e-6);
  });
});

describe('activation kernels vs float64 reference', () => {
  const swigluCases = [
    [1, 1],
    [3, 37],
    [7, 300],
    [2, 1000],
  ] as const;
  for (const [N, FF] of swigluCases) {
    it(`swiglu N=${N} FF=${FF}`, async () => {
      const ctx = await testContext();
      const r = rng(N * 1009 + FF);
      const gu = inputs(N * 2 * FF, r);
      const dh = randn(N * FF, r);
      const h = new Float64Array(N * FF);
      swigluForwardRef({ N, FF, gu, h });
      const dgu = new Float64Array(N * 2 * FF);
      swigluBackwardRef({ N, FF, gu, dh, dgu });

      const ggu = ctx.upload('gu', f32(gu));
      const gh = ctx.upload('h', f32(randn(N * FF, r)));
      const gdh = ctx.upload('dh', f32(dh));
      const gdgu = ctx.upload('dgu', f32(randn(N * 2 * FF, r)));
      ctx.run(
        new Program('t')
          .dispatch(swigluForward(ctx, 'fwd', { N, FF, gu: ggu, h: gh }))
          .dispatch(swigluBackward(ctx, 'bwd', { N, FF, gu: ggu, dh: gdh, dgu: gdgu })),
      );
      expectClose('h', await ctx.readF32(gh, 0, N * FF), h, 1e-5, 1e-5);
      expectClose('dgu', await ctx.readF32(gdgu, 0, N * 2 * FF), dgu, 1e-5, 1e-5);
    });
  }

  for (const n of [1, 255, 257, 5000]) {
    it(`gelu n=${n}`, async () => {
      const ctx = await testContext();
      const r = rng(n);
      const x = inputs(n, r);
      const dout = randn(n, r);
      const out = new Float64Array(n);
      geluForwardRef({ n, inp: x, out });
      const dinp = new Float64Array(n);
      geluBackwardRef({ n, inp: x, dout, dinp });

      const gx = ctx.upload('inp', f32(x));
      const gout = ctx.upload('out', f32(randn(n, r)));
      const gdout = ctx.upload('dout', f32(dout));
      const gdinp = ctx.upload('dinp', f32(randn(n, r)));
      ctx.run(
        new Program('t')
          .dispatch(geluForward(ctx, 'fwd', { n, inp: gx, out: gout }))
          .dispatch(geluBackward(ctx, 'bwd', { n, inp: gx, dout: gdout, dinp: gdinp })),
      );
      expectClose('out', await ctx.readF32(gout, 0, n), out, 1e-5, 1e-5);
      expectClose('dinp', await ctx.readF32(gdinp, 0, n), dinp, 1e-5, 1e-5);
    });
  }
});
