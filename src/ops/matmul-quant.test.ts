// A quantized B (QLoRA nf4 / nf4-dq / int8, QA-LoRA int4 / int3 / int2) on the vec4 core
// (shaders/matmul_vec4.wgsl + common/dequant.wgsl) against the float64 product with the dequantized
// matrix (dequantizeRef: ŵ exactly as the kernels compute it), at the edges of explicit tiles (FIT,
// and one off in every dimension) and on auto-tiled non-tile shapes, forward (transB) and input
// gradient, with the epilogue fusions; and against the legacy kernel (matmul.wgsl) BIT FOR BIT: both
// dequantize each element with the same f32 operations (the same include), accumulate one fma per k
// in ascending k from 0, and apply alpha, bias, beta, the second product and the addend in the
// same order, so any difference is a bug in the vec4 loads (a wrong nibble, word or scale).
import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { uploadQuantized } from '../quant/gpu';
import type { QuantFormat } from '../quant/formats';
import { dequantizeRef, quantizeRef } from '../quant/reference';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { fitsTile, matmul, type MatmulArgs, type MatmulTile } from './matmul';
import { dropoutKeep } from './ref/elementwise';
import { matmulRef } from './ref/matmul';

const MODES: QuantFormat[] = ['int8', 'nf4', 'nf4-dq', 'qalora-int4', 'qalora-int3', 'qalora-int2'];
const SEED = 0x2468ace, SALT = 0x51de, P = 0.25;
const T32: MatmulTile = { WX: 8, WY: 8, TM: 4, BK: 32 };
const T128: MatmulTile = { WX: 16, WY: 16, TM: 8, BK: 32 };

/** A QA-LoRA group size that tiles `cols`: 32 when it can, else a small divisor (not a multiple of 4 for odd cols). */
const groupFor = (cols: number) => [32, 16, 8, 6, 5, 3, 2, 1].find((d) => cols % d === 0)!;

type Fuse = 'none' | 'bias' | 'epilogue';
interface Case { M: number; N: number; K: number; tile?: MatmulTile; fuse: Fuse }

async function check(mode: QuantFormat, fwd: boolean, c: Case) {
  const ctx = await testContext();
  const { M, N, K, fuse } = c;
  const [out, inF] = fwd ? [N, K] : [K, N];
  const R = 5;
  const r = rng(M * 31 + N * 7 + K + mode.length * 1000 + (fwd ? 1 : 0));
  const host = quantizeRef(mode, Float32Array.from(randn(out * inF, r, 0.05)), out, inF, groupFor(inF));
  const Wh = dequantizeRef(host);
  const qw = uploadQuantized(ctx, 'W', host);
  const A = randn(M * K, r), C0 = randn(M * N, r), bias = randn(N, r), a2 = randn(M * R, r), b2 = randn(N * R, r), add = randn(M * N, r);
  const alpha = fuse === 'bias' ? 0.5 : 1, beta = fwd ? 0 : 1;
  const want = Float64Array.from(C0);
  matmulRef({ M, N, K, A, B: Wh, out: want, transB: fwd, alpha, beta, bias: fuse === 'bias' ? bias : undefined });
  if (fuse === 'epilogue') {
    const lora = new Float64Array(M * N);
    matmulRef({ M, N, K: R, A: a2, B: b2, out: lora, transB: fwd, alpha: 0.6 });
    for (let i = 0; i < M * N; i++) want[i] += fwd ? lora[i] + add[i] : dropoutKeep(SEED, SALT, i, P) ? lora[i] / (1 - P) : 0;
  }
  const g = { A: ctx.upload('A', f32(A)), bias: ctx.upload('bias', f32(bias)), a2: ctx.upload('a2', f32(a2)), b2: ctx.upload('b2', f32(b2)), add: ctx.upload('add', f32(add)) };
  const seed = ctx.upload('seed', Uint32Array.of(SEED));
  const run = async (kernel: 'auto' | 'legacy') => {
    const C = ctx.upload('C', f32(C0));
    const args: MatmulArgs = {
      M, N, K, A: g.A, bQuant: qw, out: C, transB: fwd, alpha, beta, kernel, tile: c.tile,
      ...(fuse === 'bias' ? { bias: g.bias } : {}),
      ...(fuse === 'epilogue' ? { second: { A: g.a2, B: g.b2, K: R, transB: fwd, alpha: 0.6 } } : {}),
      ...(fuse === 'epilogue' && fwd ? { addend: g.add } : {}),
      ...(fuse === 'epilogue' && !fwd ? { drop: { operand: 'second' as const, seed, salt: SALT, p: P } } : {}),
    };
    ctx.run(new Program('t').dispatch(matmul(ctx, `mmq.${kernel}`, args)));
    const got = await ctx.readF32(C, 0, M * N);
    ctx.destroyBuffer(C);
    return got;
  };
  const got = await run('auto');
  expectClose('out', got, want, 1e-4, 1e-4);
  const legacy = await run('legacy');
  const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
  const diff = bits(got).findIndex((v, i) => v !== bits(legacy)[i]);
  expect(diff, `first element differing from the legacy kernel: ${diff} (${got[diff]} vs ${legacy[diff]})`).toBe(-1);
  for (const b of [...Object.values(g), seed, qw.codes, qw.scales, qw.zeros, qw.extra]) if (b) ctx.destroyBuffer(b);
}

describe('quantized B on the vec4 core vs float64 (dequantized W) and bit for bit vs the legacy kernel', () => {
  // At the edges of the 32×32 (BK 32) and 128×64 tiles, FIT and one off in every dimension, and
  // non-tile shapes with the tile the chooser picks. in = K (forward) or N (input gradient).
  const cases: Case[] = [
    { M: 32, N: 64, K: 64, tile: T32, fuse: 'none' },
    { M: 33, N: 31, K: 65, tile: T32, fuse: 'bias' },
    { M: 128, N: 64, K: 32, tile: T128, fuse: 'epilogue' },
    { M: 37, N: 70, K: 96, fuse: 'epilogue' },
  ];
  it('the edge shapes run FIT and bounds-checked variants as intended', () => {
    const fit = (c: Case) => fitsTile({ M: c.M, N: c.N, K: c.K, A: null!, out: null!, transB: true }, c.tile!, 0);
    expect(cases.filter((c) => c.tile).map(fit)).toEqual([true, false, true]);
  });
  it('odd in-features give a QA-LoRA group that is not a multiple of 4 (the per-element scale path)', () => {
    expect(groupFor(65) % 4).not.toBe(0);
    expect(groupFor(31) % 4).not.toBe(0);
  });
  let i = 0;
  for (const mode of MODES) {
    for (const fwd of [true, false]) {
      for (const c of cases) {
        // The epilogue and bias cases for every mode and direction; the plain ones alternate.
        if (c.fuse === 'none' && i++ % 2 === 1) continue;
        const what = fwd ? 'forward out = inp·Wᵀ' : 'input gradient dinp = dout·W';
        it(`${mode} ${what} M=${c.M} N=${c.N} K=${c.K}${c.tile ? ` tile ${c.tile.TM * c.tile.WY}x${4 * c.tile.WX}` : ''} ${c.fuse}`, () => check(mode, fwd, c));
      }
    }
  }

  it('the quantized weight stays quantized: the product allocates no dequantized copy', async () => {
    const ctx = await testContext();
    const [M, out, inF] = [64, 256, 512];
    const r = rng(5);
    const qw = uploadQuantized(ctx, 'W', quantizeRef('nf4', Float32Array.from(randn(out * inF, r, 0.05)), out, inF));
    const gA = ctx.upload('A', f32(randn(M * inF, r)));
    const gC = ctx.createBuffer('C', M * out * 4);
    const before = ctx.stats.liveBytes;
    ctx.run(new Program('t').dispatch(matmul(ctx, 'mmq', { M, N: out, K: inF, A: gA, bQuant: qw, out: gC, transB: true })));
    await ctx.readF32(gC, 0, 4);
    // An f16 copy of W would be out·in·2 = 256 KiB; the uniform arena may grow by a little.
    expect(ctx.stats.liveBytes - before).toBeLessThan(out * inF * 2);
    for (const b of [gA, gC, qw.codes, qw.scales]) ctx.destroyBuffer(b);
  });
});
