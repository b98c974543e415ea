// Row-wise concatenation of quantized matrices (quant/concat.ts): every view reads back exactly the
// host quantization of its own matrix (the codes are moved, never requantized), one matmul over the
// concatenation equals the float64 product with the dequantized matrices stacked, a view alone
// runs as its own matrix (offB = its offset), the memory the group takes equals the parts' bytes,
// and the formats or shapes that cannot concatenate are left untouched.
import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { matmul } from '../ops/matmul';
import { matmulRef } from '../ops/ref/matmul';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { concatQuantWeights } from './concat';
import { rowBlocksConcatenate, type QuantFormat, type QuantizedHost } from './formats';
import { readQuantized, uploadQuantized } from './gpu';
import { dequantizeRef, quantizeRef } from './reference';
import type { QuantWeight } from './weight';

const COLS = 96;
const ROWS = [40, 24, 16];

/** Host quantizations of three matrices [ROWS[j], COLS]; zerosF32: QA-LoRA zero points as f32 (a merged QA-LoRA model). */
function hosts(mode: QuantFormat, seed: number, zerosF32 = false): QuantizedHost[] {
  const r = rng(seed);
  return ROWS.map((rows) => {
    const h = quantizeRef(mode, Float32Array.from(randn(rows * COLS, r, 0.05)), rows, COLS, 32);
    if (zerosF32 && h.zeros) h.zeros = Float32Array.from({ length: rows * (COLS / 32) }, () => Math.round(r() * 15) - 0.25);
    return h;
  });
}

describe('concatenated quantized matrices', () => {
  const cases: [QuantFormat, boolean][] = [['int8', false], ['nf4', false], ['qalora-int4', false], ['qalora-int3', false], ['qalora-int2', false], ['qalora-int4', true]];
  for (const [mode, zerosF32] of cases) {
    it(`${mode}${zerosF32 ? ' (f32 zero points)' : ''}: views read back their own codes; one product over all equals the stacked reference`, async () => {
      const ctx = await testContext();
      const hs = hosts(mode, 7 + mode.length, zerosF32);
      const parts = hs.map((h, j) => uploadQuantized(ctx, `W${j}`, h));
      const live0 = ctx.stats.liveBytes;
      const views = concatQuantWeights(ctx, 'W', parts, 1 << 30)!;
      expect(views).not.toBeNull();
      expect(ctx.stats.liveBytes).toBe(live0); // the group's buffers take what the parts took
      expect(views.map((v) => v.offset)).toEqual([0, ROWS[0] * COLS, (ROWS[0] + ROWS[1]) * COLS]);
      expect(new Set(views.map((v) => v.codes)).size).toBe(1);
      for (let j = 0; j < views.length; j++) {
        const back = await readQuantized(ctx, views[j]);
        expect(back.codes, `codes ${j}`).toEqual(hs[j].codes);
        expect(back.scales, `scales ${j}`).toEqual(hs[j].scales);
        expect(back.zeros, `zeros ${j}`).toEqual(hs[j].zeros);
      }
      // Forward over the whole group (N = Σ rows), the input gradient (K = Σ rows), and one view alone.
      const NT = ROWS.reduce((a, b) => a + b, 0), M = 13;
      const Wd = new Float64Array(NT * COLS);
      let o = 0;
      for (const h of hs) {
        Wd.set(dequantizeRef(h), o);
        o += h.rows * COLS;
      }
      const whole: QuantWeight = { ...views[0], shape: [NT, COLS] };
      const r = rng(5);
      const x = randn(M * COLS, r), dy = randn(M * NT, r);
      const gx = ctx.upload('x', f32(x)), gdy = ctx.upload('dy', f32(dy));
      const fwd = ctx.createBuffer('fwd', M * NT * 4), dinp = ctx.createBuffer('dinp', M * COLS * 4), one = ctx.createBuffer('one', M * ROWS[1] * 4);
      ctx.run(new Program('t')
        .dispatch(matmul(ctx, 'fwd', { M, N: NT, K: COLS, A: gx, bQuant: whole, offB: 0, transB: true, out: fwd }))
        .dispatch(matmul(ctx, 'dinp', { M, N: COLS, K: NT, A: gdy, bQuant: whole, offB: 0, out: dinp }))
        .dispatch(matmul(ctx, 'one', { M, N: ROWS[1], K: COLS, A: gx, bQuant: views[1], offB: views[1].offset, transB: true, out: one })));
      const want = new Float64Array(M * NT), wantD = new Float64Array(M * COLS), wantOne = new Float64Array(M * ROWS[1]);
      matmulRef({ M, N: NT, K: COLS, A: x, B: Wd, out: want, transB: true });
      matmulRef({ M, N: COLS, K: NT, A: dy, B: Wd, out: wantD });
      matmulRef({ M, N: ROWS[1], K: COLS, A: x, B: Wd.subarray(ROWS[0] * COLS, (ROWS[0] + ROWS[1]) * COLS), out: wantOne, transB: true });
      expectClose('fwd', await ctx.readF32(fwd, 0, M * NT), want, 1e-4, 1e-4);
      expectClose('dinp', await ctx.readF32(dinp, 0, M * COLS), wantD, 1e-4, 1e-4);
      expectClose('one view', await ctx.readF32(one, 0, M * ROWS[1]), wantOne, 1e-4, 1e-4);
      expect(() => matmul(ctx, 'bad', { M, N: ROWS[1], K: COLS, A: gx, bQuant: views[1], transB: true, out: one })).toThrow(/offB = the weight's offset/);
    });
  }

  it('leaves nf4-dq, layouts with padding, mixed formats and oversized groups alone', async () => {
    const ctx = await testContext();
    const up = (mode: QuantFormat, rows: number, cols: number) => uploadQuantized(ctx, mode, quantizeRef(mode, Float32Array.from(randn(rows * cols, rng(rows), 0.05)), rows, cols, 32));
    expect(rowBlocksConcatenate('nf4-dq', 64, 64)).toBe(false);
    expect(rowBlocksConcatenate('nf4', 3, 20)).toBe(false); // 60 elements: a partial 64-block
    expect(rowBlocksConcatenate('qalora-int4', 1, 32, 32)).toBe(false); // one f16 scale: half a word
    expect(rowBlocksConcatenate('qalora-int3', 1, 8, 4)).toBe(false); // 24 bits: not a whole word
    expect(rowBlocksConcatenate('qalora-int3', 2, 32, 32)).toBe(true); // 192 bits, two scales
    const tries: QuantWeight[][] = [
      [up('nf4-dq', 64, 64), up('nf4-dq', 64, 64)],
      [up('nf4', 3, 20), up('nf4', 3, 20)],
      [up('nf4', 64, 64), up('int8', 64, 64)],
      [up('int8', 64, 64)],
    ];
    for (const parts of tries) {
      const before = parts.map((q) => q.codes);
      expect(concatQuantWeights(ctx, 'x', parts, 1 << 30)).toBeNull();
      expect(parts.map((q) => q.codes)).toEqual(before);
    }
    expect(concatQuantWeights(ctx, 'big', [up('int8', 64, 64), up('int8', 64, 64)], 4096)).toBeNull();
  });
});
