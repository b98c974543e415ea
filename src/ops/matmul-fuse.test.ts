// The matmul fusions of common/matmul_fuse.wgsl against the float64 reference on shapes that are
// not tile multiples: LoRA dropout applied while loading A (the loraA product) or B (the dA
// product, also split-K), the same bits as ops/elementwise dropout followed by the plain product;
// the second product (u·Bᵀ in the forward, mask⊙(gB·A) in the input gradient) and the residual
// addend in the epilogue, on the dense vec4 core (f32 and f16 B) and on the quantized-B kernel.
import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { packF16, roundF16 } from '../gpu/half';
import { uploadQuantized } from '../quant/gpu';
import { dequantizeRef, quantizeRef } from '../quant/reference';
import type { QuantFormat } from '../quant/formats';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { dropout } from './elementwise';
import { matmul, matmulSplitK, splitKPlan, splitKReduce, tileLimits } from './matmul';
import { dropoutKeep } from './ref/elementwise';
import { matmulRef } from './ref/matmul';

const SEED = 0x1234567, SALT = 0xdeadbe, P = 0.3;
const masked = (x: ArrayLike<number>, salt = SALT) => Float64Array.from(x, (v, i) => (dropoutKeep(SEED, salt, i, P) ? v / (1 - P) : 0));

describe('dropout generated in the matmul loads', () => {
  it('loraA: u = dropout(x)·Aᵀ, M=37 N=5 K=23, equals dropout op + matmul bit for bit', async () => {
    const ctx = await testContext();
    const [M, N, K] = [37, 5, 23];
    const r = rng(11);
    const x = randn(M * K, r), A = randn(N * K, r);
    const want = new Float64Array(M * N);
    matmulRef({ M, N, K, A: masked(x), B: A, out: want, transB: true });
    const gx = ctx.upload('x', f32(x)), gA = ctx.upload('A', f32(A)), seed = ctx.upload('seed', Uint32Array.of(SEED));
    const gu = ctx.createBuffer('u', M * N * 4), gu2 = ctx.createBuffer('u2', M * N * 4), xd = ctx.createBuffer('xd', M * K * 4);
    const drop = { operand: 'A' as const, seed, salt: SALT, p: P };
    const p = new Program('t')
      .dispatch(matmul(ctx, 'fused', { M, N, K, A: gx, B: gA, transB: true, out: gu, drop }))
      .dispatch(dropout(ctx, 'drop', { n: M * K, inp: gx, out: xd, seed, salt: SALT, p: P }))
      .dispatch(matmul(ctx, 'plain', { M, N, K, A: xd, B: gA, transB: true, out: gu2 }));
    ctx.run(p);
    const got = await ctx.readF32(gu, 0, M * N);
    expectClose('u', got, want, 1e-4, 1e-4);
    expect(Array.from(got)).toEqual(Array.from(await ctx.readF32(gu2, 0, M * N)));
  });

  for (const split of [false, true]) {
    it(`dA = s·gBᵀ·dropout(x) (mask on B)${split ? ', split-K' : ''}: M=5 N=23 K=301`, async () => {
      const ctx = await testContext();
      const [M, N, K] = [5, 23, 301];
      const r = rng(12);
      const gBv = randn(K * M, r), x = randn(K * N, r), C0 = randn(M * N, r);
      const want = Float64Array.from(C0);
      matmulRef({ M, N, K, A: gBv, B: masked(x), out: want, transA: true, alpha: 0.7, beta: 1 });
      const ga = ctx.upload('gB', f32(gBv)), gx = ctx.upload('x', f32(x)), gC = ctx.upload('C', f32(C0)), seed = ctx.upload('seed', Uint32Array.of(SEED));
      const args = { M, N, K, A: ga, transA: true, B: gx, out: gC, alpha: 0.7, beta: 1, drop: { operand: 'B' as const, seed, salt: SALT, p: P } };
      const p = new Program('t');
      if (split) {
        const plan = splitKPlan(M, N, K, tileLimits(ctx), 64);
        expect(plan.S).toBeGreaterThan(1);
        const scratch = ctx.createBuffer('scratch', plan.scratch * 4);
        p.dispatch(matmulSplitK(ctx, 'dA.part', args, plan, scratch, 0));
        p.dispatch(splitKReduce(ctx, 'dA.reduce', [{ n: M * N, S: plan.S, offP: 0, offC: 0 }], scratch, gC, 0.7, 1));
      } else {
        p.dispatch(matmul(ctx, 'dA', args));
      }
      ctx.run(p);
      expectClose('dA', await ctx.readF32(gC, 0, M * N), want, 1e-4, 1e-4);
    });
  }
});

describe('second product and residual in the epilogue', () => {
  // Forward: out = inp·Wᵀ + bias + s·u·Bᵀ + x; dense f32 / f16 W, and a FIT shape (vec4 loads).
  const shapes: [number, number, number, number, boolean][] = [[37, 70, 45, 5, false], [33, 50, 29, 4, true], [64, 64, 64, 8, false]];
  for (const [M, N, K, R, f16] of shapes) {
    it(`dense forward M=${M} out=${N} in=${K} r=${R}${f16 ? ' f16 W' : ''}: + bias + s·u·Bᵀ + residual`, async () => {
      const ctx = await testContext();
      const r = rng(M + N + K);
      const inp = randn(M * K, r), u = randn(M * R, r), Bl = randn(N * R, r), x = randn(M * N, r);
      let W = randn(N * K, r), bias = randn(N, r);
      if (f16) [W, bias] = [roundF16(W), roundF16(bias)];
      const want = new Float64Array(M * N);
      matmulRef({ M, N, K, A: inp, B: W, out: want, transB: true, bias });
      matmulRef({ M, N, K: R, A: u, B: Bl, out: want, transB: true, alpha: 0.75, beta: 1 });
      for (let i = 0; i < M * N; i++) want[i] += x[i];
      const dt = f16 ? ('f16' as const) : ('f32' as const);
      const pack = (a: Float64Array) => (f16 ? packF16(a) : f32(a));
      const g = { inp: ctx.upload('inp', f32(inp)), W: ctx.upload('W', pack(W)), bias: ctx.upload('bias', pack(bias)), u: ctx.upload('u', f32(u)), Bl: ctx.upload('Bl', f32(Bl)), x: ctx.upload('x', f32(x)) };
      const out = ctx.createBuffer('out', M * N * 4);
      ctx.run(new Program('t').dispatch(matmul(ctx, 'fwd', {
        M, N, K, A: g.inp, B: g.W, bDType: dt, transB: true, bias: g.bias, biasDType: dt, out,
        second: { A: g.u, B: g.Bl, K: R, transB: true, alpha: 0.75 }, addend: g.x,
      })));
      expectClose('out', await ctx.readF32(out, 0, M * N), want, 1e-4, 1e-4);
    });
  }

  it('dense input gradient dinp += dout·W + s·mask⊙(gB·A), M=41 in=27 out=35 r=6', async () => {
    const ctx = await testContext();
    const [M, N, K, R] = [41, 27, 35, 6];
    const r = rng(5);
    const dout = randn(M * K, r), W = randn(K * N, r), gB = randn(M * R, r), Al = randn(R * N, r), C0 = randn(M * N, r);
    const want = Float64Array.from(C0);
    matmulRef({ M, N, K, A: dout, B: W, out: want, beta: 1 });
    const lora = new Float64Array(M * N);
    matmulRef({ M, N, K: R, A: gB, B: Al, out: lora, alpha: 0.5 });
    const ml = masked(lora);
    for (let i = 0; i < M * N; i++) want[i] += ml[i];
    const g = { dout: ctx.upload('dout', f32(dout)), W: ctx.upload('W', f32(W)), gB: ctx.upload('gB', f32(gB)), Al: ctx.upload('Al', f32(Al)), C: ctx.upload('C', f32(C0)) };
    const seed = ctx.upload('seed', Uint32Array.of(SEED));
    ctx.run(new Program('t').dispatch(matmul(ctx, 'dinp', {
      M, N, K, A: g.dout, B: g.W, out: g.C, beta: 1, second: { A: g.gB, B: g.Al, K: R, alpha: 0.5 }, drop: { operand: 'second', seed, salt: SALT, p: P },
    })));
    expectClose('dinp', await ctx.readF32(g.C, 0, M * N), want, 1e-4, 1e-4);
  });

  const modes: QuantFormat[] = ['nf4', 'int8', 'qalora-int4'];
  for (const mode of modes) {
    for (const fwd of [true, false]) {
      it(`${mode} ${fwd ? 'forward + s·u·Bᵀ + residual' : 'input gradient + s·mask⊙(gB·A)'}, M=37 W=[70, 96]`, async () => {
        const ctx = await testContext();
        const [M, out, inF, R] = [37, 70, 96, 5];
        const r = rng(out + mode.length + (fwd ? 1 : 0));
        const host = quantizeRef(mode, Float32Array.from(randn(out * inF, r, 0.05)), out, inF, 32);
        const Wh = dequantizeRef(host);
        const qw = uploadQuantized(ctx, 'W', host);
        const N = fwd ? out : inF, K = fwd ? inF : out;
        const A = randn(M * K, r), a2 = randn(M * R, r), b2 = randn(N * R, r), add = randn(M * N, r), C0 = randn(M * N, r);
        const want = fwd ? new Float64Array(M * N) : Float64Array.from(C0);
        matmulRef({ M, N, K, A, B: Wh, out: want, transB: fwd, beta: fwd ? 0 : 1 });
        const lora = new Float64Array(M * N);
        matmulRef({ M, N, K: R, A: a2, B: b2, out: lora, transB: fwd, alpha: 0.6 });
        const extra = fwd ? lora : masked(lora);
        for (let i = 0; i < M * N; i++) want[i] += extra[i] + (fwd ? add[i] : 0);
        const g = { A: ctx.upload('A', f32(A)), a2: ctx.upload('a2', f32(a2)), b2: ctx.upload('b2', f32(b2)), add: ctx.upload('add', f32(add)), C: ctx.upload('C', f32(C0)) };
        const seed = ctx.upload('seed', Uint32Array.of(SEED));
        ctx.run(new Program('t').dispatch(matmul(ctx, 'q', {
          M, N, K, A: g.A, bQuant: qw, transB: fwd, out: g.C, beta: fwd ? 0 : 1,
          second: { A: g.a2, B: g.b2, K: R, transB: fwd, alpha: 0.6 },
          ...(fwd ? { addend: g.add } : { drop: { operand: 'second' as const, seed, salt: SALT, p: P } }),
        })));
        expectClose('out', await ctx.readF32(g.C, 0, M * N), want, 1e-4, 1e-4);
      });
    }
  }
});
