import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { expectClose, f32, randn, rng, reductionPaths, testContext } from '../test/gpu';
import { crossEntropy, lossReduce } from './crossentropy';
import { crossEntropyBackwardRef, crossEntropyForwardRef, lossReduceRef } from './ref/crossentropy';

// Each reduction case runs on the tree and on the subgroup path (GpuContext.subgroups).
const PATHS = await reductionPaths();

describe('cross-entropy reference: backward matches finite differences of scale * sum(losses)', () => {
  it('with an ignored row', () => {
    const N = 3, V = 6, scale = 0.37, eps = 1e-5;
    const r = rng(1);
    const logits = randn(N * V, r, 3);
    const targets = Int32Array.of(2, -100, 5);
    const loss = (x: Float64Array) => {
      const l = new Float64Array(N);
      crossEntropyForwardRef({ N, V, logits: x, targets, losses: l });
      return scale * l.reduce((s, v) => s + v, 0);
    };
    const num = new Float64Array(N * V);
    for (let i = 0; i < N * V; i++) {
      const xp = Float64Array.from(logits), xm = Float64Array.from(logits);
      xp[i] += eps;
      xm[i] -= eps;
      num[i] = (loss(xp) - loss(xm)) / (2 * eps);
    }
    const dlogits = new Float64Array(N * V);
    crossEntropyBackwardRef({ N, V, logits, targets, scale, dlogits });
    expectClose('dlogits', dlogits, num, 1e-8, 1e-6);
    // The analytic values are not trivially zero.
    expect(Math.max(...dlogits.map(Math.abs))).toBeGreaterThan(0.1);
  });
});

describe('cross-entropy kernel vs float64 reference', () => {
  const cases = [
    // name, N, V, logit scale, logit offset, ignored rows (every k-th, 0 = none)
    ['tiny', 1, 1, 1, 0, 0],
    ['V<256', 4, 37, 2, 0, 0],
    ['ignore rows', 7, 1000, 3, 0, 3],
    ['large offset', 3, 1000, 20, 1e4, 0],
    ['large spread', 4, 1003, 1e3, -5e3, 2],
    ['V=5000', 2, 5000, 4, 0, 0],
  ] as const;
  for (const { tag, ctx: pctx } of PATHS) for (const [name, N, V, sc, off, every] of cases) {
    for (const backward of [false, true]) {
      it.skipIf(!pctx)(`${name}: N=${N} V=${V} backward=${backward}${tag}`, async () => {
        const ctx = pctx!;
        const r = rng(N * 977 + V);
        const logits = Float64Array.from(f32(randn(N * V, r, sc).map((v) => v + off)));
        const targets = Int32Array.from({ length: N }, (_, n) => (every && n % every === 1 ? -100 : Math.floor(r() * V)));
        if (N > 1 && !(every && (N - 1) % every === 1)) targets[N - 1] = V - 1;
        const scale = 1 / 7;
        const losses = new Float64Array(N);
        crossEntropyForwardRef({ N, V, logits, targets, losses });
        const dlogits = new Float64Array(N * V);
        crossEntropyBackwardRef({ N, V, logits, targets, scale, dlogits });

        const glogits = ctx.upload('logits', f32(logits));
        const glosses = ctx.upload('losses', new Float32Array(N).fill(NaN));
        const d = crossEntropy(ctx, 'ce', {
          N, V, logits: glogits, targets: ctx.upload('targets', targets), losses: glosses, scale: ctx.upload('scale', Float32Array.of(scale)), backward,
        });
        ctx.run(new Program('t').dispatch(d));
        const gotLosses = await ctx.readF32(glosses, 0, N);
        expectClose('losses', gotLosses, losses, 1e-5, 1e-5);
        for (let n = 0; n < N; n++) if (targets[n] === -100) expect(gotLosses[n]).toBe(0);
        const gotLogits = await ctx.readF32(glogits, 0, N * V);
        if (backward) {
          expectClose('dlogits', gotLogits, dlogits, 1e-7, 1e-4);
        } else {
          expect(Array.from(gotLogits)).toEqual(Array.from(f32(logits)));
        }
      });
    }
  }

  it('is deterministic and treats any target outside [0, V) as ignored', async () => {
    const ctx = await testContext();
    const N = 4, V = 600;
    const r = rng(8);
    const logits = f32(randn(N * V, r, 5));
    const targets = Int32Array.of(3, V, -1, 599);
    const want = new Float64Array(N);
    crossEntropyForwardRef({ N, V, logits, targets, losses: want });
    const results: Float32Array[] = [];
    for (let rep = 0; rep < 2; rep++) {
      const glogits = ctx.upload('logits', logits);
      const glosses = ctx.createBuffer('losses', N * 4);
      ctx.run(new Program('t').dispatch(crossEntropy(ctx, 'ce', {
        N, V, logits: glogits, targets: ctx.upload('targets', targets), losses: glosses, scale: ctx.upload('scale', Float32Array.of(1)), backward: true,
      })));
      results.push(await ctx.readF32(glogits, 0, N * V));
      expectClose('losses', await ctx.readF32(glosses, 0, N), want, 1e-5, 1e-5);
    }
    expect(Array.from(results[0])).toEqual(Array.from(results[1]));
    for (const n of [1, 2]) expect(results[0].subarray(n * V, (n + 1) * V).every((v) => v === 0)).toBe(true);
    // Each predicted row of dlogits sums to 0 (softmax sums to 1).
    const rowSum = results[0].subarray(0, V).reduce((s, v) => s + v, 0);
    expect(Math.abs(rowSum)).toBeLessThan(1e-5);
  });
});

describe('lossReduce', () => {
  for (const { tag, ctx: pctx } of PATHS) for (const [N, accumulate] of [[1, false], [300, true], [5000, false], [70000, true]] as const) {
    it.skipIf(!pctx)(`N=${N} accumulate=${accumulate}${tag}`, async () => {
      const ctx = pctx!;
      const r = rng(N);
      const losses = Float64Array.from(f32(randn(N, r).map(Math.abs)));
      const out0 = Float64Array.from(f32(randn(6, r)));
      const outIndex = 3;
      const want = Float64Array.from(out0);
      lossReduceRef({ N, losses, out: want, outIndex, accumulate });
      const gout = ctx.upload('out', f32(out0));
      const d = lossReduce(ctx, 'sum', { N, losses: ctx.upload('losses', f32(losses)), out: gout, outIndex, accumulate });
      ctx.run(new Program('t').dispatch(d));
      const got = await ctx.readF32(gout, 0, 6);
      // Only out[outIndex] changes.
      expectClose('out', got, want, 1e-5, 1e-5);
      expect(got[outIndex]).not.toBe(Math.fround(out0[outIndex]));
    });
  }
});
