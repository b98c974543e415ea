// The f16 math path of the vec4 matmul core (shaders/matmul_vec4.wgsl HALF, ops/matmul-math.ts)
// against the float64 reference, on non-tile shapes and FIT tiles, all four transposes, f16 B, bias,
// beta, the load-time dropout (A, B with split-K, second) and the epilogue's second product and
// residual. The emulated build (half = f32) runs everywhere and proves the staging and indexing at
// f32 tolerance; the real build (half = f16) needs a device with 'shader-f16' and is skipped,
// saying so, on adapters without it (SwiftShader); there it is held to a bound derived from f16
// rounding. On a device created without the feature, asking for f16 math is an error that names it.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { packF16, roundF16 } from '../gpu/half';
import { Program } from '../gpu/program';
import { quantDefines } from './matmul-quant';
import { preprocess } from '../gpu/shaders';
import { expectClose, f32, randn, rng, testContext, testContextF16 } from '../test/gpu';
import { matmul, matmulSplitK, splitKPlan, splitKReduce, tileLimits, type MatmulArgs, type MatmulTile } from './matmul';
import { deviceHasF16, type MatmulMath } from './matmul-math';
import { dropoutKeep } from './ref/elementwise';
import { matmulRef } from './ref/matmul';

const ctx16 = await testContextF16();
const HAS_F16 = ctx16 !== null;
const SEED = 0x2468ace, SALT = 0x51ed, P = 0.25;
const masked = (x: ArrayLike<number>) => Float64Array.from(x, (v, i) => (dropoutKeep(SEED, SALT, i, P) ? v / (1 - P) : 0));

interface Case {
  name: string;
  M: number;
  N: number;
  K: number;
  tA?: boolean;
  tB?: boolean;
  tile?: MatmulTile;
  f16B?: boolean;
  bias?: boolean;
  beta?: number;
  drop?: 'A' | 'B' | 'second';
  splitK?: boolean;
  /** The epilogue's second product (inner size r) and, with `addend`, the residual. */
  second?: number;
  addend?: boolean;
}

const T64: MatmulTile = { WX: 16, WY: 8, TM: 8, BK: 32 };
const T32: MatmulTile = { WX: 8, WY: 8, TM: 4, BK: 32 };
const SKINNY_N: MatmulTile = { WX: 4, WY: 32, TM: 4, BK: 32 };
const SLAB16: MatmulTile = { WX: 16, WY: 8, TM: 8, BK: 16 };
const CASES: Case[] = [
  { name: 'FIT 64x64, bias, beta 1', M: 64, N: 128, K: 64, tile: T64, bias: true, beta: 1 },
  { name: 'FIT 32x32, transA transB, f16 B', M: 64, N: 64, K: 96, tA: true, tB: true, tile: T32, f16B: true },
  { name: 'non-FIT 32x32, transA', M: 37, N: 45, K: 51, tA: true, tile: T32, bias: true },
  { name: 'non-FIT 64x64 slab 16, transB, f16 B and bias', M: 70, N: 29, K: 41, tB: true, tile: SLAB16, f16B: true, bias: true },
  { name: 'loraA: dropout on A, skinny N', M: 70, N: 5, K: 43, tB: true, tile: SKINNY_N, drop: 'A' },
  { name: 'forward: transB + bias + second (r 5) + residual', M: 33, N: 50, K: 29, tB: true, bias: true, second: 5, addend: true },
  { name: 'dinp: beta 1 + second with dropout', M: 41, N: 27, K: 35, beta: 1, second: 6, drop: 'second' },
  { name: 'dA: transA, dropout on B, split-K', M: 5, N: 23, K: 301, tA: true, drop: 'B', splitK: true, beta: 1 },
];

/** Runs one case with `math` on `ctx`; returns the GPU result, the float64 reference and Σ|terms| per output. */
async function runCase(ctx: GpuContext, c: Case, math: MatmulMath) {
  const { M, N, K } = c;
  const r = rng(M * 131 + N * 17 + K);
  // Inputs rounded to f16 so the real build's staging rounds only the dropout-scaled values.
  const A = roundF16(randn(M * K, r)), B = roundF16(randn(K * N, r));
  const bias = roundF16(randn(N, r)), C0 = randn(M * N, r);
  const R = c.second ?? 0;
  const a2 = randn(M * R, r), b2 = randn(N * R, r), add = randn(M * N, r);
  const beta = c.beta ?? 0, alpha = 0.5;
  const ref = (abs: boolean) => {
    const f = (x: Float64Array) => (abs ? x.map(Math.abs) : x);
    const mA = c.drop === 'A' ? masked(A) : A, mB = c.drop === 'B' ? masked(B) : B;
    const out = abs ? new Float64Array(M * N) : Float64Array.from(C0);
    matmulRef({ M, N, K, A: f(mA), B: f(mB), out, transA: c.tA, transB: c.tB, alpha, beta: abs ? 0 : beta, bias: c.bias && !abs ? bias : undefined });
    if (R && !abs) {
      const lora = new Float64Array(M * N);
      matmulRef({ M, N, K: R, A: a2, B: b2, out: lora, transB: c.tB, alpha: 0.75 });
      const l = c.drop === 'second' ? masked(lora) : lora;
      for (let i = 0; i < M * N; i++) out[i] += l[i] + (c.addend ? add[i] : 0);
    }
    return out;
  };
  const g = {
    A: ctx.upload('A', f32(A)), B: ctx.upload('B', c.f16B ? packF16(B) : f32(B)), C: ctx.upload('C', f32(C0)), bias: ctx.upload('bias', f32(bias)),
    a2: ctx.upload('a2', f32(a2.length ? a2 : [0])), b2: ctx.upload('b2', f32(b2.length ? b2 : [0])), add: ctx.upload('add', f32(add)), seed: ctx.upload('seed', Uint32Array.of(SEED)),
  };
  const args: MatmulArgs = {
    M, N, K, A: g.A, B: g.B, out: g.C, transA: c.tA, transB: c.tB, bDType: c.f16B ? 'f16' : 'f32', alpha, beta, tile: c.tile, math,
    bias: c.bias ? g.bias : undefined,
    drop: c.drop ? { operand: c.drop, seed: g.seed, salt: SALT, p: P } : undefined,
    second: R ? { A: g.a2, B: g.b2, K: R, transB: c.tB, alpha: 0.75 } : undefined,
    addend: c.addend ? g.add : undefined,
  };
  const p = new Program('t');
  if (c.splitK) {
    const plan = splitKPlan(M, N, K, tileLimits(ctx), 64);
    expect(plan.S).toBeGreaterThan(1);
    const scratch = ctx.createBuffer('scratch', plan.scratch * 4);
    p.dispatch(matmulSplitK(ctx, 'part', args, plan, scratch, 0));
    p.dispatch(splitKReduce(ctx, 'reduce', [{ n: M * N, S: plan.S, offP: 0, offC: 0 }], scratch, g.C, alpha, beta));
  } else {
    p.dispatch(matmul(ctx, 'mm', args));
  }
  ctx.run(p);
  const got = await ctx.readF32(g.C, 0, M * N);
  for (const b of Object.values(g)) ctx.destroyBuffer(b);
  return { got, want: ref(false), absTerms: ref(true) };
}

describe('f16 matmul math, emulated build (half = f32) vs float64: staging and indexing', () => {
  for (const c of CASES) {
    it(`${c.name}: M=${c.M} N=${c.N} K=${c.K}`, async () => {
      const ctx = await testContext();
      const { got, want } = await runCase(ctx, c, 'f16-emulated');
      expectClose('out', got, want, 1e-4, 1e-4);
    });
  }

  it('the real build enables f16 before any declaration and makes half f16; the emulation does not', async () => {
    const ctx = await testContext();
    const defs = {
      TRANS_A: false, TRANS_B: false, B_F16: false, HAS_BIAS: false, BIAS_F16: false, FIT: false, SPLITK: false, WX: 8, WY: 8, TM: 4, BK: 32,
      AS_LEN: 288, BS_LEN: 288, GROUPED: false, ...quantDefines(undefined, false), HAS_SEED: false, DROP_A: false, DROP_B: false, DROP2: false, SECOND: false, TRANS_B2: false, ADDEND: false, FUSE: false, SEG2: false, SEG2_N: false,
    };
    const code = (half: boolean, f16: boolean) =>
      preprocess(ctx.shaders, 'matmul_vec4', { ...defs, HALF: half, HALF_F16: f16 }).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('//'));
    const real = code(true, true);
    expect(real.slice(0, 3)).toEqual(['enable f16;', 'alias half = f16;', 'alias hv = vec4<half>;']);
    expect(real.filter((l) => l.startsWith('acc[i] +='))).toHaveLength(1); // the half dot, added in f32
    const emu = code(true, false);
    expect(emu.slice(0, 2)).toEqual(['alias half = f32;', 'alias hv = vec4<half>;']);
    expect(emu.join('\n')).toBe(real.slice(1).join('\n').replace('alias half = f16;', 'alias half = f32;'));
    expect(code(false, false).filter((l) => l.startsWith('acc[i] +='))).toHaveLength(0); // f32: the fma chain
  });
});

describe('f16 matmul math on a device with shader-f16', () => {
  for (const c of CASES) {
    it.skipIf(!HAS_F16)(`${c.name}: within f16 rounding of float64 (skipped where the adapter has no shader-f16)`, async () => {
      const { got, want, absTerms } = await runCase(ctx16!, c, 'f16');
      // Each 4-term dot is 4 f16 roundings (≤ 4·2^-11 of its Σ|a·b|), plus 2^-11 per dropout-scaled
      // operand rounded when staged; the f32 accumulation and epilogue add ~1e-6.
      const u = 2 ** -11;
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const bound = 6 * u * absTerms[i] + 1e-4 * (1 + Math.abs(want[i]));
        worst = Math.max(worst, Math.abs(got[i] - want[i]) / bound);
      }
      expect(worst).toBeLessThanOrEqual(1);
      // and it is f16 math, not f32: somewhere the error is above f32 rounding
      expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeGreaterThan(1e-4);
    });
  }
});

describe('f16 matmul math without the feature', () => {
  it("asking for math 'f16' on a device created without shader-f16 throws, naming the feature", async () => {
    const ctx = await testContext(); // never created with the feature, whatever the adapter has
    expect(deviceHasF16(ctx)).toBe(false);
    const A = ctx.upload('A', new Float32Array(16)), B = ctx.upload('B', new Float32Array(16)), C = ctx.createBuffer('C', 64);
    expect(() => matmul(ctx, 'mm', { M: 4, N: 4, K: 4, A, B, out: C, math: 'f16' })).toThrow(/mm: .*'shader-f16'/);
  });
});
