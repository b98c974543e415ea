// The vec4 matmul core (shaders/matmul_vec4.wgsl) at the edges of each tile it can pick, with and
// without the FIT variant, and the deterministic split-K (matmul_splitk.wgsl), against the float64
// reference.
import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { packF16, roundF16 } from '../gpu/half';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { fitsTile, matmul, matmulSplitK, matmulTileFor, splitKPlan, splitKReduce, tileLimits, tileStorageBytes, type MatmulTile } from './matmul';
import { matmulRef } from './ref/matmul';

const TILES: Record<string, MatmulTile> = {
  '128x64': { WX: 16, WY: 16, TM: 8, BK: 32 },
  '64x64': { WX: 16, WY: 8, TM: 8, BK: 32 },
  '64x32': { WX: 8, WY: 16, TM: 4, BK: 32 },
  '32x32': { WX: 8, WY: 8, TM: 4, BK: 32 },
  'skinny N 128x16': { WX: 4, WY: 32, TM: 4, BK: 32 },
  'skinny M 16x64': { WX: 16, WY: 4, TM: 4, BK: 32 },
  'K slab 16 64x64': { WX: 16, WY: 8, TM: 8, BK: 16 },
};
const TRANS = [[false, false], [false, true], [true, false], [true, true]] as const;

async function check(M: number, N: number, K: number, tA: boolean, tB: boolean, opts: { tile?: MatmulTile; f16?: boolean; bias?: boolean; beta?: number }) {
  const ctx = await testContext();
  const r = rng(M * 7919 + N * 31 + K);
  const A = randn(M * K, r);
  let B = randn(K * N, r);
  let bias = randn(N, r);
  if (opts.f16) {
    B = roundF16(B);
    bias = roundF16(bias);
  }
  const C0 = randn(M * N, r);
  const beta = opts.beta ?? 0;
  const want = Float64Array.from(C0);
  matmulRef({ M, N, K, A, B, out: want, transA: tA, transB: tB, alpha: 0.5, beta, bias: opts.bias ? bias : undefined });
  const gA = ctx.upload('A', f32(A));
  const gB = ctx.upload('B', opts.f16 ? packF16(B) : f32(B));
  const gC = ctx.upload('C', f32(C0));
  const gBias = opts.bias ? ctx.upload('bias', opts.f16 ? packF16(bias) : f32(bias)) : undefined;
  const args = {
    M, N, K, A: gA, B: gB, out: gC, transA: tA, transB: tB, alpha: 0.5, beta, bias: gBias,
    bDType: opts.f16 ? ('f16' as const) : ('f32' as const), biasDType: opts.f16 ? ('f16' as const) : ('f32' as const), tile: opts.tile,
  };
  ctx.run(new Program('t').dispatch(matmul(ctx, 'mm', args)));
  expectClose('out', await ctx.readF32(gC, 0, M * N), want, 1e-4, 1e-4);
  for (const b of [gA, gB, gC, gBias]) if (b) ctx.destroyBuffer(b);
}

describe('vec4 matmul core at tile edges vs float64 reference', () => {
  it('the tiles fit the device limits', async () => {
    const ctx = await testContext();
    for (const t of Object.values(TILES)) expect(tileStorageBytes(t)).toBeLessThanOrEqual(ctx.device.limits.maxComputeWorkgroupStorageSize);
  });
  let i = 0;
  for (const [name, t] of Object.entries(TILES)) {
    const BM = t.TM * t.WY, BN = 4 * t.WX, BK = t.BK;
    const shapes: [number, number, number][] = [[BM, BN, BK], [BM + 1, BN - 1, BK + 1], [2 * BM, 2 * BN, 2 * BK], [BM - 1, BN + 1, 3 * BK - 1]];
    for (const [M, N, K] of shapes) {
      const [tA, tB] = TRANS[i % 4];
      const f16 = i % 3 === 1, bias = i % 4 === 2, beta = i % 5 === 3 ? 1 : 0;
      const fit = fitsTile({ M, N, K, A: null!, out: null!, transA: tA, transB: tB }, t, 0);
      i++;
      it(`${name}: M=${M} N=${N} K=${K} tA=${tA} tB=${tB} f16=${f16} bias=${bias} beta=${beta}${fit ? ' (FIT)' : ''}`, () =>
        check(M, N, K, tA, tB, { tile: t, f16, bias, beta }));
    }
  }
  it('every transpose runs the FIT variant at a multiple of the tile', async () => {
    const t = TILES['64x64'];
    for (const [tA, tB] of TRANS) {
      expect(fitsTile({ M: 128, N: 64, K: 64, A: null!, out: null!, transA: tA, transB: tB }, t, 0)).toBe(true);
      await check(128, 64, 64, tA, tB, { tile: t, f16: tB, beta: 1 });
    }
  });
  it('the chooser gives narrow tiles to LoRA shapes and respects small limits', () => {
    const lim = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256 };
    expect(matmulTileFor(2048, 16, 576, lim).WX).toBe(4);
    expect(matmulTileFor(16, 576, 2048, lim).WY).toBe(4);
    expect(matmulTileFor(2048, 576, 16, lim).BK).toBe(16);
    const big = matmulTileFor(4096, 4096, 4096, lim);
    expect(tileStorageBytes(big)).toBeLessThanOrEqual(16384);
    expect(matmulTileFor(4096, 4096, 4096, { ...lim, maxComputeWorkgroupStorageSize: 32768 })).toEqual(TILES['128x64']);
    expect(matmulTileFor(4096, 4096, 4096, { ...lim, maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupStorageSize: 32768 }).WX * 8).toBeLessThanOrEqual(128);
  });
  it('auto-chosen tiles on LoRA-like non-tile shapes', async () => {
    await check(301, 16, 77, false, true, {}); // x·Aᵀ, N = r
    await check(301, 7, 50, false, false, {}); // g·B, N = r
    await check(301, 90, 16, false, true, { beta: 1 }); // u·Bᵀ, K = r
    await check(12, 90, 301, true, false, {}); // dA, M = r
  });
});

describe('deterministic split-K vs float64 reference', () => {
  const cases = [
    // M, N, K, transA, transB
    [16, 70, 1000, true, false],
    [70, 16, 777, true, false],
    [37, 45, 555, false, false],
    [33, 20, 300, false, true],
  ] as const;
  for (const [M, N, K, tA, tB] of cases) {
    it(`M=${M} N=${N} K=${K} tA=${tA} tB=${tB}: matches the reference, same bits twice`, async () => {
      const ctx = await testContext();
      const plan = splitKPlan(M, N, K, tileLimits(ctx), 1 << 20);
      expect(plan.S).toBeGreaterThan(1);
      const r = rng(M + N + K);
      const A = randn(M * K, r), B = randn(K * N, r), C0 = randn(M * N + 5, r);
      const want = Float64Array.from(C0);
      matmulRef({ M, N, K, A, B, out: want, transA: tA, transB: tB, alpha: 0.25, beta: 1, offC: 5 });
      const gA = ctx.upload('A', f32(A)), gB = ctx.upload('B', f32(B));
      const scratch = ctx.createBuffer('scratch', (plan.scratch + 3) * 4);
      const run = async () => {
        const gC = ctx.upload('C', f32(C0));
        const args = { M, N, K, A: gA, B: gB, out: gC, transA: tA, transB: tB };
        ctx.run(new Program('t')
          .dispatch(matmulSplitK(ctx, 'split', args, plan, scratch, 3))
          .dispatch(splitKReduce(ctx, 'reduce', [{ n: M * N, S: plan.S, offP: 3, offC: 5 }], scratch, gC, 0.25, 1)));
        return ctx.readF32(gC, 0, C0.length);
      };
      const a = await run(), b = await run();
      expectClose('out', a, want, 1e-4, 1e-4);
      expect(Array.from(b)).toEqual(Array.from(a));
    });
  }
  it('one reduce serves two products (dA and dB of a module)', async () => {
    const ctx = await testContext();
    const r = rng(5);
    const [p1, p2] = [splitKPlan(8, 40, 500, tileLimits(ctx), 1 << 20), splitKPlan(40, 8, 500, tileLimits(ctx), 1 << 20)];
    const g = randn(500 * 40, r), u = randn(500 * 8, r), x = randn(500 * 40, r), gb = randn(500 * 8, r);
    const grads0 = randn(800, r);
    const want = Float64Array.from(grads0);
    matmulRef({ M: 8, N: 40, K: 500, A: gb, B: x, out: want, transA: true, alpha: 2, beta: 1, offC: 10 });
    matmulRef({ M: 40, N: 8, K: 500, A: g, B: u, out: want, transA: true, alpha: 2, beta: 1, offC: 400 });
    const [gG, gU, gX, gGB] = [g, u, x, gb].map((v, i) => ctx.upload(`in${i}`, f32(v)));
    const gGrads = ctx.upload('grads', f32(grads0));
    const scratch = ctx.createBuffer('scratch', (p1.scratch + p2.scratch) * 4);
    ctx.run(new Program('t')
      .dispatch(matmulSplitK(ctx, 'dA', { M: 8, N: 40, K: 500, A: gGB, B: gX, out: gGrads, transA: true }, p1, scratch, 0))
      .dispatch(matmulSplitK(ctx, 'dB', { M: 40, N: 8, K: 500, A: gG, B: gU, out: gGrads, transA: true }, p2, scratch, p1.scratch))
      .dispatch(splitKReduce(ctx, 'reduce', [{ n: 320, S: p1.S, offP: 0, offC: 10 }, { n: 320, S: p2.S, offP: p1.scratch, offC: 400 }], scratch, gGrads, 2, 1)));
    expectClose('grads', await ctx.readF32(gGrads, 0, 800), want, 1e-4, 1e-4);
  });
});
