// Grouped products on the vec4 core (ops/matmul-grouped.ts) against the same products run as
// separate matmul / matmulSplitK dispatches (the same bits, compared as Float32Array bits) and
// against the float64 reference, on shapes that are not tile multiples (and one that fits the tile),
// in the layouts the LoRA linears use: loraA (dropout on A, a salt per group), gB (K and the offset
// into dout per group), dB (transA, M per group; split-K) and dA (transA, dropout on B; split-K).
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { matmul, matmulSplitK, splitKPlan, splitKReduce, tileLimits, type MatmulTile, type SplitKProduct } from './matmul';
import { matmulGrouped, matmulSplitKGrouped, type MatmulGroup } from './matmul-grouped';
import { dropoutKeep } from './ref/elementwise';
import { matmulRef } from './ref/matmul';

const SEED = 0x2468ace, P = 0.25;

interface Case {
  name: string;
  N: number;
  transA?: boolean;
  transB?: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  alpha: number;
  beta: number;
  dropOn?: 'A' | 'B';
  groups: Required<MatmulGroup>[];
  split?: boolean;
  tile?: MatmulTile;
}

/** Elements a buffer needs so that every group's operand fits. */
function extent(c: Case, which: 'A' | 'B' | 'C'): number {
  let n = 1;
  for (const g of c.groups) {
    if (which === 'A') n = Math.max(n, g.offA + (c.transA ? g.K * c.lda : g.M * c.lda));
    if (which === 'B') n = Math.max(n, g.offB + (c.transB ? c.N * c.ldb : g.K * c.ldb));
    if (which === 'C') n = Math.max(n, g.offC + g.M * c.ldc);
  }
  return n;
}

/** op(A) of group g as a dense [M, K] float64 matrix, masked when dropout is on A. */
function opA(c: Case, g: Required<MatmulGroup>, A: Float64Array): Float64Array {
  const out = new Float64Array(g.M * g.K);
  for (let m = 0; m < g.M; m++) {
    for (let k = 0; k < g.K; k++) {
      const v = c.transA ? A[g.offA + k * c.lda + m] : A[g.offA + m * c.lda + k];
      out[m * g.K + k] = c.dropOn === 'A' ? (dropoutKeep(SEED, g.salt, m * g.K + k, P) ? v / (1 - P) : 0) : v;
    }
  }
  return out;
}

function opB(c: Case, g: Required<MatmulGroup>, B: Float64Array): Float64Array {
  const out = new Float64Array(g.K * c.N);
  for (let k = 0; k < g.K; k++) {
    for (let n = 0; n < c.N; n++) {
      const v = c.transB ? B[g.offB + n * c.ldb + k] : B[g.offB + k * c.ldb + n];
      out[k * c.N + n] = c.dropOn === 'B' ? (dropoutKeep(SEED, g.salt, k * c.N + n, P) ? v / (1 - P) : 0) : v;
    }
  }
  return out;
}

async function run(ctx: GpuContext, c: Case): Promise<void> {
  const r = rng(c.groups.length * 100 + c.N);
  const A = randn(extent(c, 'A'), r), B = randn(extent(c, 'B'), r), C0 = randn(extent(c, 'C'), r);
  const gA = ctx.upload('A', f32(A)), gBuf = ctx.upload('B', f32(B)), seed = ctx.upload('seed', Uint32Array.of(SEED));
  const outG = ctx.upload('outG', f32(C0)), outS = ctx.upload('outS', f32(C0));
  const shared = { N: c.N, A: gA, B: gBuf, transA: c.transA, transB: c.transB, lda: c.lda, ldb: c.ldb, ldc: c.ldc, alpha: c.alpha, beta: c.beta };
  const drop = c.dropOn ? { operand: c.dropOn, seed, p: P } : undefined;
  const separate = (g: Required<MatmulGroup>, out: GPUBuffer) => ({
    ...shared, M: g.M, K: g.K, offA: g.offA, offB: g.offB, offC: g.offC, out, drop: drop && { ...drop, salt: g.salt }, tile: c.tile,
  });
  const p = new Program('t');
  if (c.split) {
    const lim = tileLimits(ctx);
    const plans = c.groups.map((g) => splitKPlan(g.M, c.N, g.K, lim, 64));
    for (const pl of plans) expect(pl.S).toBeGreaterThan(1);
    const offP: number[] = [];
    let off = 0;
    for (const pl of plans) {
      offP.push(off);
      off += pl.scratch;
    }
    const sG = ctx.createBuffer('sG', off * 4), sS = ctx.createBuffer('sS', off * 4);
    const products: SplitKProduct[] = c.groups.map((g, i) => ({ n: g.M * c.N, S: plans[i].S, offP: offP[i], offC: g.offC }));
    expect(c.ldc).toBe(c.N); // the reduce writes dense rows
    p.dispatch(matmulSplitKGrouped(ctx, 'grouped', { ...shared, out: outG, groups: c.groups, drop }, plans, sG, offP));
    p.dispatch(splitKReduce(ctx, 'reduceG', products, sG, outG, c.alpha, c.beta));
    c.groups.forEach((g, i) => p.dispatch(matmulSplitK(ctx, `sep${i}`, separate(g, outS), plans[i], sS, offP[i])));
    p.dispatch(splitKReduce(ctx, 'reduceS', products, sS, outS, c.alpha, c.beta));
  } else {
    p.dispatch(matmulGrouped(ctx, 'grouped', { ...shared, out: outG, groups: c.groups, drop, tile: c.tile }));
    c.groups.forEach((g, i) => p.dispatch(matmul(ctx, `sep${i}`, separate(g, outS))));
  }
  ctx.run(p);
  const n = extent(c, 'C');
  const got = await ctx.readF32(outG, 0, n);
  const sep = await ctx.readF32(outS, 0, n);
  expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(sep.buffer));
  const want = Float64Array.from(C0);
  for (const g of c.groups) {
    matmulRef({ M: g.M, N: c.N, K: g.K, A: opA(c, g, A), B: opB(c, g, B), out: want, ldc: c.ldc, offC: g.offC, alpha: c.alpha, beta: c.beta });
  }
  expectClose(c.name, got, want, 1e-4, 1e-4);
}

const grp = (M: number, K: number, offA: number, offB: number, offC: number, salt = 0): Required<MatmulGroup> => ({ M, K, offA, offB, offC, salt });

// rows = 37 tokens, r = 5, in = 23, outs 11 | 7 | 7 (a q|k|v group in miniature).
const rows = 37, R = 5, IN = 23, OUTS = [11, 7, 7];
const outOff = [0, 11, 18];
const CASES: Case[] = [
  {
    name: 'loraA: u_j = dropout_j(x)·A_jᵀ', N: R, transB: true, lda: IN, ldb: IN, ldc: R, alpha: 1, beta: 0, dropOn: 'A',
    groups: [0, 1, 2].map((j) => grp(rows, IN, 0, j * (R * IN + 3), j * rows * R, 0x51 + j)),
  },
  {
    name: 'gB: g_j = dout[:, off_j]·B_j', N: R, lda: 25, ldb: R, ldc: R, alpha: 1, beta: 0,
    groups: [0, 1, 2].map((j) => grp(rows, OUTS[j], outOff[j], 7 + j * OUTS[j] * R, j * rows * R)),
  },
  {
    name: 'dB: dB_j += s·dout[:, off_j]ᵀ·u_j', N: R, transA: true, lda: 25, ldb: R, ldc: R, alpha: 0.7, beta: 1,
    groups: [0, 1, 2].map((j) => grp(OUTS[j], rows, outOff[j], j * rows * R, 3 + j * 90)),
  },
  {
    name: 'dA: dA_j += s·g_jᵀ·dropout_j(x)', N: IN, transA: true, lda: R, ldb: IN, ldc: IN, alpha: 0.7, beta: 1, dropOn: 'B',
    groups: [0, 1].map((j) => grp(R, rows, j * rows * R, 0, j * R * IN, 0x77 + j)),
  },
  {
    name: 'FIT: tile multiples, vec4 loads', N: 16, transB: true, lda: 64, ldb: 64, ldc: 16, alpha: 1, beta: 0, dropOn: 'A',
    groups: [grp(64, 64, 0, 0, 0, 9), grp(32, 32, 0, 64 * 16, 64 * 16, 10)], tile: { WX: 4, WY: 8, TM: 4, BK: 16 },
  },
];
// Split-K: K = 600 tokens, M per group differs (dB) and the mask on B (dA).
const LONG = 600;
const SPLIT: Case[] = [
  {
    name: 'dB split-K', N: R, transA: true, lda: 25, ldb: R, ldc: R, alpha: 0.7, beta: 1, split: true,
    groups: [0, 1, 2].map((j) => grp(OUTS[j] * (3 - j), LONG, outOff[j], j * LONG * R, [0, 33 * R, 47 * R][j])),
  },
  {
    name: 'dA split-K, dropout on B', N: IN, transA: true, lda: R, ldb: IN, ldc: IN, alpha: 0.5, beta: 1, dropOn: 'B', split: true,
    groups: [0, 1, 2].map((j) => grp(R, LONG, j * LONG * R, 0, j * R * IN, 0x99 + j)),
  },
];

describe('grouped matmul: the same bits as separate dispatches', () => {
  for (const c of [...CASES, ...SPLIT]) {
    it(c.name, async () => {
      await run(await testContext(), c);
    });
  }
  it('rejects 5 groups and a split plan of one chunk', async () => {
    const ctx = await testContext();
    const b = ctx.createBuffer('b', 64);
    const args = { N: 4, A: b, B: b, out: b, lda: 4, ldb: 4, ldc: 4 };
    expect(() => matmulGrouped(ctx, 'g', { ...args, groups: Array.from({ length: 5 }, () => grp(1, 1, 0, 0, 0)) })).toThrow(/1 to 4 groups/);
    const plan = splitKPlan(4, 4, 4, tileLimits(ctx), 64);
    expect(() => matmulSplitKGrouped(ctx, 'g', { ...args, groups: [grp(4, 4, 0, 0, 0)] }, [plan], b, [0])).toThrow(/one chunk/);
  });
});
