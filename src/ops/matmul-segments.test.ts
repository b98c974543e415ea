// The segmented second product of common/matmul_fuse.wgsl (SEG2) against the float64 reference, on
// shapes that are not tile multiples and on a FIT shape: one frozen product over the concatenated
// rows of several weights (q|k|v) with each module's LoRA B product added to its own columns only
// (mode 'N', a module without LoRA gets none), and its input gradient with every module's
// mask⊙(gB·A) added, each under its own dropout salt (mode 'K'). Segments live in the uniform, so
// the offsets are arbitrary element offsets into one u / gB buffer and the adapter's flat params.
import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { packF16, roundF16 } from '../gpu/half';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { matmul, MATMUL_MAX_SEGMENTS, type MatmulSegment } from './matmul';
import { dropoutKeep } from './ref/elementwise';
import { matmulRef } from './ref/matmul';

const SEED = 0x2468ace, P = 0.25;
const masked = (x: ArrayLike<number>, salt: number) => Float64Array.from(x, (v, i) => (dropoutKeep(SEED, salt, i, P) ? v / (1 - P) : 0));

/** Module widths (outF), and which of them carry an adapter. */
interface Case {
  M: number;
  K: number;
  R: number;
  outs: number[];
  lora: boolean[];
  f16: boolean;
}

const CASES: Case[] = [
  { M: 37, K: 45, R: 5, outs: [24, 9, 13], lora: [true, true, true], f16: false },
  { M: 29, K: 38, R: 4, outs: [18, 6, 6], lora: [true, false, true], f16: true },
  { M: 64, K: 64, R: 8, outs: [64, 32, 32], lora: [true, true, true], f16: false },
  { M: 33, K: 50, R: 3, outs: [40, 40], lora: [false, true], f16: false },
];

describe('segmented second product (one product over concatenated weights)', () => {
  for (const c of CASES) {
    const NT = c.outs.reduce((a, b) => a + b, 0);
    const tag = `M=${c.M} in=${c.K} outs=[${c.outs}] r=${c.R} lora=[${c.lora.map(Number)}]${c.f16 ? ' f16 W' : ''}`;

    it(`forward ${tag}: columns of module j get s·u_j·B_jᵀ`, async () => {
      const ctx = await testContext();
      const { M, K, R, outs } = c;
      const r = rng(M + K + NT);
      const inp = randn(M * K, r);
      let W = randn(NT * K, r), bias = randn(NT, r);
      if (c.f16) [W, bias] = [roundF16(W), roundF16(bias)];
      // u blocks [M, R] at j·M·R + 7 (an unaligned base); B_j [out_j, R] in one flat params buffer at odd offsets.
      const u = randn(7 + outs.length * M * R, r);
      const params = randn(3 + NT * R + 5 * outs.length, r);
      const want = new Float64Array(M * NT);
      matmulRef({ M, N: NT, K, A: inp, B: W, out: want, transB: true, bias });
      const list: MatmulSegment[] = [];
      let start = 0, offB = 3;
      outs.forEach((o, j) => {
        const offA = 7 + j * M * R;
        if (c.lora[j]) {
          list.push({ K: R, offA, offB, start, end: start + o });
          const part = new Float64Array(M * o);
          matmulRef({ M, N: o, K: R, A: u.subarray(offA, offA + M * R), B: params.subarray(offB, offB + o * R), out: part, transB: true, alpha: 0.75 });
          for (let m = 0; m < M; m++) for (let n = 0; n < o; n++) want[m * NT + start + n] += part[m * o + n];
        }
        start += o;
        offB += o * R + 5;
      });
      const dt = c.f16 ? ('f16' as const) : ('f32' as const);
      const pack = (a: Float64Array) => (c.f16 ? packF16(a) : f32(a));
      const g = { inp: ctx.upload('inp', f32(inp)), W: ctx.upload('W', pack(W)), bias: ctx.upload('bias', pack(bias)), u: ctx.upload('u', f32(u)), params: ctx.upload('params', f32(params)) };
      const out = ctx.createBuffer('out', M * NT * 4);
      ctx.run(new Program('t').dispatch(matmul(ctx, 'fwd', {
        M, N: NT, K, A: g.inp, B: g.W, bDType: dt, transB: true, bias: g.bias, biasDType: dt, out,
        second: { A: g.u, B: g.params, K: 0, transB: true, alpha: 0.75, lda: R, ldb: R, segments: { mode: 'N', list } },
      })));
      expectClose('out', await ctx.readF32(out, 0, M * NT), want, 1e-4, 1e-4);
    });

    it(`input gradient ${tag}: dinp += dout·W + Σ_j s·mask_j⊙(gB_j·A_j)`, async () => {
      const ctx = await testContext();
      const { M, K: inF, R, outs } = c;
      const r = rng(3 * M + inF + NT);
      const dout = randn(M * NT, r), C0 = randn(M * inF, r);
      let W = randn(NT * inF, r);
      if (c.f16) W = roundF16(W);
      const gB = randn(outs.length * M * R, r);
      const params = randn(2 + outs.length * (R * inF + 3), r);
      const want = Float64Array.from(C0);
      matmulRef({ M, N: inF, K: NT, A: dout, B: W, out: want, beta: 1 });
      const list: MatmulSegment[] = [];
      outs.forEach((_, j) => {
        if (!c.lora[j]) return;
        const offA = j * M * R, offB = 2 + j * (R * inF + 3), salt = 0x1000 + 77 * j;
        list.push({ K: R, offA, offB, salt });
        const part = new Float64Array(M * inF);
        matmulRef({ M, N: inF, K: R, A: gB.subarray(offA, offA + M * R), B: params.subarray(offB, offB + R * inF), out: part, alpha: 0.5 });
        const mp = masked(part, salt);
        for (let i = 0; i < M * inF; i++) want[i] += mp[i];
      });
      const g = { dout: ctx.upload('dout', f32(dout)), W: ctx.upload('W', c.f16 ? packF16(W) : f32(W)), gB: ctx.upload('gB', f32(gB)), params: ctx.upload('params', f32(params)), C: ctx.upload('C', f32(C0)) };
      const seed = ctx.upload('seed', Uint32Array.of(SEED));
      ctx.run(new Program('t').dispatch(matmul(ctx, 'dinp', {
        M, N: inF, K: NT, A: g.dout, B: g.W, bDType: c.f16 ? 'f16' : 'f32', out: g.C, beta: 1,
        second: { A: g.gB, B: g.params, K: 0, alpha: 0.5, lda: R, ldb: inF, segments: { mode: 'K', list } },
        drop: { operand: 'second', seed, salt: list[0].salt!, p: P },
      })));
      expectClose('dinp', await ctx.readF32(g.C, 0, M * inF), want, 1e-4, 1e-4);
    });
  }

  it('refuses more segments than the uniform holds, and column segments without transB', async () => {
    const ctx = await testContext();
    const b = ctx.createBuffer('b', 1024);
    const seg = { K: 1, offA: 0, offB: 0, start: 0, end: 1 };
    const args = (mode: 'N' | 'K', n: number, transB: boolean) => ({
      M: 2, N: 2, K: 2, A: b, B: b, out: b, transB: true, second: { A: b, B: b, K: 0, transB, segments: { mode, list: Array.from({ length: n }, () => seg) } },
    });
    expect(() => matmul(ctx, 'many', args('K', MATMUL_MAX_SEGMENTS + 1, false))).toThrow(/1 to 4 segments/);
    expect(() => matmul(ctx, 'noT', args('N', 1, false))).toThrow(/transposed/);
  });
});
