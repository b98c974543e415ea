import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/context';
import { packF16, roundF16 } from '../gpu/half';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { matmul, matmulTile } from './matmul';
import { matmulRef } from './ref/matmul';

describe('matmul kernel vs float64 reference', () => {
  const cases = [
    // M, N, K, transA, transB, f16 B, bias, beta
    [1, 1, 1, false, false, false, false, 0],
    [37, 53, 29, false, true, false, true, 0],
    [64, 64, 16, false, false, false, false, 0],
    [70, 130, 67, true, false, false, false, 1],
    [65, 3, 100, false, true, true, true, 0],
    [9, 77, 33, true, true, false, false, 0.5],
    [128, 8, 72, false, false, true, false, 1],
    [5, 200, 300, false, true, true, false, 0],
    // Enough output tiles for the 64×64 variant (the cases above use 32×32).
    [257, 450, 19, false, true, false, true, 0],
    [300, 390, 33, true, false, true, false, 1],
  ] as const;
  it('both tile variants are exercised', () => {
    expect(cases.map(([M, N]) => matmulTile(M, N))).toContain(64);
    expect(cases.map(([M, N]) => matmulTile(M, N))).toContain(32);
  });
  for (const [M, N, K, transA, transB, f16, withBias, beta] of cases) {
    it(`M=${M} N=${N} K=${K} tA=${transA} tB=${transB} f16=${f16} bias=${withBias} beta=${beta}`, async () => {
      const ctx = await testContext();
      const r = rng(M * 1000 + N * 10 + K);
      const A = randn(M * K, r);
      let B = randn(K * N, r);
      const C0 = randn(M * N, r);
      let bias = randn(N, r);
      if (f16) {
        B = roundF16(B);
        bias = roundF16(bias);
      }
      const alpha = 0.75;
      const want = Float64Array.from(C0);
      matmulRef({ M, N, K, A, B, out: want, transA, transB, alpha, beta, bias: withBias ? bias : undefined });

      const gA = ctx.upload('A', f32(A));
      const gB = ctx.upload('B', f16 ? packF16(B) : f32(B));
      const gC = ctx.upload('C', f32(C0));
      const gBias = withBias ? ctx.upload('bias', f16 ? packF16(bias) : f32(bias)) : undefined;
      const p = new Program('t').dispatch(
        matmul(ctx, 'mm', {
          M, N, K, A: gA, B: gB, out: gC, transA, transB, alpha, beta,
          bDType: f16 ? 'f16' : 'f32', bias: gBias, biasDType: f16 ? 'f16' : 'f32',
        }),
      );
      ctx.run(p);
      const got = await ctx.readF32(gC, 0, M * N);
      expectClose('out', got, want, 1e-4, 1e-4);
    });
  }

  it('respects strides and element offsets (column slices of a wider buffer)', async () => {
    const ctx = await testContext();
    const r = rng(7);
    const M = 19, N = 10, K = 13, lda = 20, ldc = 31, offA = 3, offC = 5;
    const A = randn(offA + M * lda, r);
    const B = randn(N * K, r);
    const C0 = randn(offC + M * ldc, r);
    const want = Float64Array.from(C0);
    matmulRef({ M, N, K, A, B, out: want, transB: true, lda, ldc, offA, offC });
    const gA = ctx.upload('A', f32(A));
    const gB = ctx.upload('B', f32(B));
    const gC = ctx.upload('C', f32(C0));
    ctx.run(new Program('t').dispatch(matmul(ctx, 'mm', { M, N, K, A: gA, B: gB, out: gC, transB: true, lda, ldc, offA, offC })));
    const got = await ctx.readF32(gC, 0, C0.length);
    expectClose('out', got, want, 1e-4, 1e-4);
    // Elements outside the slice are untouched.
    expect(got[0]).toBeCloseTo(C0[0], 5);
  });
});
