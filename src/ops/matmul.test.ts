import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { f16BitsToF32, f32ToF16Bits, packF16, roundF16 } from '../gpu/half';
import { type QuantFormat } from '../quant/formats';
import { dequantizeRef, quantizeRef } from '../quant/reference';
import { uploadQuantized } from '../quant/gpu';
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

describe('matmul with a quantized B (dequantized in registers) vs dequantize-then-matmul', () => {
  const modes: QuantFormat[] = ['int8', 'nf4', 'nf4-dq', 'qalora-int4', 'qalora-int3', 'qalora-int2'];
  // [M, out, in]: in = 96 is a multiple of 32 (qalora) and not of 64 (NF4 blocks straddle rows);
  // the big shapes have enough output tiles for the 64×64 variant in the direction tested.
  const small: [number, number, number] = [37, 70, 96];
  const bigFwd: [number, number, number] = [260, 450, 64]; // out = N = 450
  const bigBwd: [number, number, number] = [260, 72, 416]; // in = N = 416
  it('the big shapes use the 64×64 tile', () => {
    expect(matmulTile(bigFwd[0], bigFwd[1])).toBe(64);
    expect(matmulTile(bigBwd[0], bigBwd[2])).toBe(64);
    expect(matmulTile(small[0], small[1])).toBe(32);
  });

  const cases: { mode: QuantFormat; shape: [number, number, number]; fwd: boolean; extras?: boolean }[] = [];
  modes.forEach((mode, i) => {
    cases.push({ mode, shape: small, fwd: true, extras: i % 2 === 0 });
    cases.push({ mode, shape: small, fwd: false, extras: i % 2 === 1 });
    cases.push({ mode, shape: i % 2 ? bigBwd : bigFwd, fwd: i % 2 === 0 });
  });

  for (const { mode, shape, fwd, extras } of cases) {
    const [M, out, inF] = shape;
    it(`${mode} ${fwd ? 'forward out = inp·Wᵀ' : 'backward dinp = dout·W'} M=${M} W=[${out},${inF}]${extras ? ' (bias/beta)' : ''}`, async () => {
      const ctx = await testContext();
      const r = rng(M + out * 7 + inF * 13 + mode.length);
      const W = Float32Array.from(randn(out * inF, r, 0.05));
      const host = quantizeRef(mode, W, out, inF, 32);
      if (mode.startsWith('qalora') && extras !== undefined) {
        // Zero points after a QA-LoRA merge are not integers: store fractional f16 values.
        const z = host.zeros!;
        for (let j = 0; j < z.length * 2; j++) {
          const bits = (z[j >> 1] >>> ((j & 1) * 16)) & 0xffff;
          const v = f16BitsToF32(bits) + (r() - 0.5) * 1.7;
          z[j >> 1] = ((z[j >> 1] & ~(0xffff << ((j & 1) * 16))) | (f32ToF16Bits(v) << ((j & 1) * 16))) >>> 0;
        }
      }
      const Wh = dequantizeRef(host);
      const qw = uploadQuantized(ctx, 'W', host);
      const N = fwd ? out : inF;
      const K = fwd ? inF : out;
      const A = randn(M * K, r);
      const C0 = randn(M * N, r);
      const bias = extras && fwd ? randn(N, r) : undefined;
      const beta = extras && !fwd ? 1 : 0;
      const want = Float64Array.from(C0);
      matmulRef({ M, N, K, A, B: Wh, out: want, transB: fwd, bias, beta });
      const gA = ctx.upload('A', f32(A));
      const gC = ctx.upload('C', f32(C0));
      const gBias = bias ? ctx.upload('bias', f32(bias)) : undefined;
      ctx.run(new Program('t').dispatch(matmul(ctx, 'mmq', { M, N, K, A: gA, bQuant: qw, out: gC, transB: fwd, bias: gBias, beta })));
      const got = await ctx.readF32(gC, 0, M * N);
      expectClose('out', got, want, 1e-4, 1e-4);
    });
  }

  it('rejects a quantized B of the wrong shape, with offsets, or with f16', async () => {
    const ctx = await testContext();
    const host = quantizeRef('nf4', new Float32Array(8 * 64).fill(0.5), 8, 64);
    const qw = uploadQuantized(ctx, 'W', host);
    const gA = ctx.upload('A', new Float32Array(64 * 4));
    const gC = ctx.upload('C', new Float32Array(64 * 4));
    expect(() => matmul(ctx, 'x', { M: 4, N: 64, K: 8, A: gA, bQuant: qw, out: gC, transB: true })).toThrow(/N = out, K = in/);
    expect(() => matmul(ctx, 'x', { M: 4, N: 8, K: 64, A: gA, bQuant: qw, out: gC, transB: true, offB: 3 })).toThrow(/whole matrices/);
    expect(() => matmul(ctx, 'x', { M: 4, N: 8, K: 64, A: gA, bQuant: qw, out: gC, transB: true, bDType: 'f16' })).toThrow(/exclusive/);
    expect(() => matmul(ctx, 'x', { M: 4, N: 64, K: 8, A: gA, bQuant: qw, out: gC })).not.toThrow();
  });
});
