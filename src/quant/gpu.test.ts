// GPU quantization (shaders/quantize.wgsl via quantizeWeight) vs the CPU reference: identical
// codes, scales, zero points and DQ data, in one chunk and in many, with edge cases and exact ties.
import { describe, expect, it } from 'vitest';
import { randn, rng, reductionPaths, testContext } from '../test/gpu';
import { canQuantize, QUANT_MODES, quantBytes, quantLayout, type QuantFormat, type QuantizedHost } from './formats';
import { INV254 } from './int8';
import { NF4_MID } from './nf4';
import { quantizeRef } from './reference';
import { destroyQuantWeight, quantChunks, quantizeWeight, readQuantized } from './gpu';

// Each quantization case runs on the tree and on the subgroup absmax (GpuContext.subgroups).
const PATHS = await reductionPaths();

const FORMATS = QUANT_MODES.filter((m) => m !== 'none') as QuantFormat[];
const fr = Math.fround;

/** Random weights with the edge cases of every format and values exactly on rounding ties. */
function testMatrix(mode: QuantFormat, rows: number, cols: number, seed: number): Float32Array {
  const r = rng(seed);
  const W = Float32Array.from(randn(rows * cols, r, 0.05));
  const numel = rows * cols;
  if (mode === 'nf4' || mode === 'nf4-dq') {
    if (numel >= 192) W.fill(0, 64, 128); // an all-zero block
    if (numel >= 256) {
      // Block 2 (absmax 1): values exactly on the thresholds and just above.
      for (let i = 128; i < 192; i++) W[i] = 0;
      W[128] = 1;
      for (let k = 0; k < 15; k++) {
        W[129 + 2 * k] = NF4_MID[k];
        W[130 + 2 * k] = fr(NF4_MID[k] + 2 ** -20);
      }
    }
  } else if (mode === 'int8') {
    if (rows >= 3) {
      W.fill(0, cols, 2 * cols); // an all-zero row
      // Row 2 (c = 1.5): values exactly on the tie thresholds thr_k, both signs.
      const c = 1.5;
      for (let j = 0; j < cols; j++) W[2 * cols + j] = 0;
      W[2 * cols] = c;
      for (let j = 1; j < cols; j++) {
        const k = (j * 7) % 127;
        W[2 * cols + j] = fr(fr(c) * fr((2 * k + 1) * INV254)) * (j % 2 ? 1 : -1);
      }
    }
  } else {
    const g = 32;
    if (rows >= 3 && cols >= g) {
      W.fill(0, cols, cols + g); // an all-zero group
      W.fill(0.3, 2 * cols, 2 * cols + g); // a constant group
      // Row 0, group 0 spans [0, Q/16]: s = f16(fl(Q/16 · fl(1/Q))) = 1/16 for Q = 15, 7, 3, and
      // the values (k + 1/2)/16 are exact ties of round(w/s).
      const Q = 2 ** (mode === 'qalora-int4' ? 4 : mode === 'qalora-int3' ? 3 : 2) - 1;
      W[0] = 0;
      W[1] = Q / 16;
      for (let i = 2; i < g; i++) W[i] = (((i - 2) % Q) + 0.5) / 16;
    }
  }
  return W;
}

function expectSameHost(got: QuantizedHost, want: QuantizedHost): void {
  const eqWords = (name: string, a: ArrayLike<number> | null, b: ArrayLike<number> | null) => {
    if (!a || !b) {
      expect(a, name).toBe(b);
      return;
    }
    expect(a.length, `${name} length`).toBe(b.length);
    let bad = -1;
    for (let i = 0; i < b.length; i++) {
      if (!Object.is(a[i], b[i])) {
        bad = i;
        break;
      }
    }
    expect(bad >= 0 ? `${name}[${bad}]: got ${a[bad]}, want ${b[bad]}` : 'equal').toBe('equal');
  };
  eqWords('codes', got.codes, want.codes);
  eqWords('scales', got.scales, want.scales);
  eqWords('zeros', got.zeros, want.zeros);
  eqWords('extra', got.extra, want.extra);
  expect(got.groupSize).toBe(want.groupSize);
}

describe('GPU quantization equals the CPU reference', () => {
  const shapes: [number, number][] = [
    [7, 50], // partial last NF4 block; int8 rows not a multiple of 4 elements
    [70, 96],
    [9, 160],
    [33, 64],
  ];
  for (const { tag, ctx: pctx } of PATHS) for (const mode of FORMATS) {
    for (const [rows, cols] of shapes) {
      if (canQuantize(mode, rows, cols, 32)) continue;
      it.skipIf(!pctx)(`${mode} ${rows}x${cols}${tag}`, async () => {
        const ctx = pctx!;
        const W = testMatrix(mode, rows, cols, rows * 1000 + cols);
        const want = quantizeRef(mode, W, rows, cols, 32);
        const qw = await quantizeWeight(ctx, `w.${mode}`, mode, W, rows, cols, 32);
        expect(qw.shape).toEqual([rows, cols]);
        expect(qw.bytes).toBe(quantBytes(mode, rows, cols, 32));
        expect(qw.bytes).toBe([qw.codes, qw.scales, qw.zeros, qw.extra].reduce((a, b) => a + (b ? b.size : 0), 0));
        expectSameHost(await readQuantized(ctx, qw), want);
        destroyQuantWeight(ctx, qw);
      });
    }
  }

  for (const mode of FORMATS) {
    it(`${mode}: many small chunks give the same result as one`, async () => {
      const ctx = await testContext();
      const rows = 45;
      const cols = 96;
      const W = testMatrix(mode, rows, cols, 77);
      const want = quantizeRef(mode, W, rows, cols, 32);
      const chunkBytes = 1024 * 4; // 1024 elements: several NF4 chunks; 32 rows (row-wise modes)
      expect(quantChunks(mode, rows, cols, 32, chunkBytes / 4).length).toBeGreaterThan(1);
      const qw = await quantizeWeight(ctx, `c.${mode}`, mode, W, rows, cols, 32, { chunkBytes });
      expectSameHost(await readQuantized(ctx, qw), want);
      destroyQuantWeight(ctx, qw);
    });
  }

  it('chunks are word-aligned: int3 rows of odd length, nf4 multiples of 64', () => {
    const c3 = quantChunks('qalora-int3', 100, 32 * 3, 32, 5000);
    for (const ch of c3) expect((ch.e0 * 3) % 32).toBe(0);
    expect(c3.reduce((a, ch) => a + ch.n, 0)).toBe(100 * 96);
    const c8 = quantChunks('int8', 50, 7, 32, 100);
    for (const ch of c8) expect(ch.e0 % 4).toBe(0);
    const c4 = quantChunks('nf4', 10, 77, 64, 300);
    for (const ch of c4) expect(ch.e0 % 64).toBe(0);
    expect(c4.reduce((a, ch) => a + ch.n, 0)).toBe(770);
    expect(() => quantChunks('int8', 2, 100000, 32, 1000)).toThrow(/staging/);
  });

  it('rejects matrices canQuantize rejects, with its reason', async () => {
    const ctx = await testContext();
    await expect(quantizeWeight(ctx, 'bad', 'qalora-int4', new Float32Array(7 * 100), 7, 100, 32)).rejects.toThrow(
      /bad: .*not a multiple of the group size 32/,
    );
  });

  it('is deterministic', async () => {
    const ctx = await testContext();
    const W = testMatrix('qalora-int3', 20, 64, 5);
    const a = await quantizeWeight(ctx, 'd1', 'qalora-int3', W, 20, 64, 32);
    const b = await quantizeWeight(ctx, 'd2', 'qalora-int3', W, 20, 64, 32);
    expectSameHost(await readQuantized(ctx, a), await readQuantized(ctx, b));
  });

  it('reuses one staging buffer: GPU buffer count grows only by each weight\'s own buffers', async () => {
    const ctx = await testContext();
    for (const mode of FORMATS) {
      const rows = 40;
      const cols = 64;
      const W = testMatrix(mode, rows, cols, 11);
      // Own buffers: codes + scales (+ zeros) (+ extra); nf4-dq also creates its temporary absmax.
      const l = quantLayout(mode, rows, cols, 32);
      const own = 2 + (l.zeros ? 1 : 0) + (l.extra ? 1 : 0) + (mode === 'nf4-dq' ? 1 : 0);
      await quantizeWeight(ctx, `s0.${mode}`, mode, W, rows, cols, 32); // first use may create shared state
      for (let t = 1; t <= 3; t++) {
        const before = ctx.stats.buffersCreated;
        const live = ctx.stats.liveBytes;
        const qw = await quantizeWeight(ctx, `s${t}.${mode}`, mode, W, rows, cols, 32);
        expect(ctx.stats.buffersCreated - before).toBe(own);
        expect(ctx.stats.liveBytes - live).toBe(qw.bytes); // temporaries are freed
      }
    }
  });
});
