// CPU-only checks of the quantized formats: mode parsing, code books, the scalar rounding rules,
// reference quantize / dequantize error bounds and edge cases, and byte accounting.
import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../gpu/half';
import { randn, rng } from '../test/gpu';
import {
  canQuantize,
  codeBits,
  parseQuantMode,
  QUANT_MODES,
  quantBytes,
  quantLayout,
  theoreticalBytesPerParam,
  type QuantFormat,
} from './formats';
import { int8Code, INV254 } from './int8';
import { DYN, dqAbsmax, NF4, NF4_MID, nf4Code } from './nf4';
import { QA_MIN_SCALE, qaScaleZero, roundDivExact } from './qalora';
import { codeAt, dequantizeRef, quantizeRef } from './reference';

const FORMATS = QUANT_MODES.filter((m) => m !== 'none') as QuantFormat[];
const fr = Math.fround;

function nf4MaxHalfGap(): number {
  let g = 0;
  for (let k = 0; k < 15; k++) g = Math.max(g, (NF4[k + 1] - NF4[k]) / 2);
  return g;
}

/** Largest reconstruction error of the dynamic code on [-1, 1]. */
function dynMaxErr(): number {
  let g = 1 - Math.abs(DYN[0]);
  for (let k = 0; k < 255; k++) g = Math.max(g, (DYN[k + 1] - DYN[k]) / 2);
  return g;
}

function randW(n: number, seed: number, scale = 0.05): Float32Array {
  return Float32Array.from(randn(n, rng(seed), scale));
}

describe('quant modes', () => {
  it('parses every mode and rejects others naming the valid ones', () => {
    for (const m of QUANT_MODES) expect(parseQuantMode(m)).toBe(m);
    expect(parseQuantMode(' NF4 ')).toBe('nf4');
    expect(() => parseQuantMode('int4')).toThrow(/valid modes: none, int8, nf4, nf4-dq, qalora-int4, qalora-int3, qalora-int2/);
  });

  it('canQuantize: qalora needs in % g == 0, everything else takes any shape', () => {
    expect(canQuantize('qalora-int4', 70, 96, 32)).toBeNull();
    const why = canQuantize('qalora-int3', 70, 100, 32);
    expect(why).toMatch(/in_features 100 is not a multiple of the group size 32/);
    expect(canQuantize('qalora-int2', 4, 64, 0)).toMatch(/group size/);
    for (const m of ['none', 'int8', 'nf4', 'nf4-dq'] as const) expect(canQuantize(m, 7, 50, 32)).toBeNull();
    expect(canQuantize('nf4', 0, 5)).toMatch(/positive/);
    expect(() => quantizeRef('qalora-int4', new Float32Array(700), 7, 100, 32)).toThrow(/not a multiple/);
  });
});

describe('code books', () => {
  it('NF4 literal values are float32 and sorted; thresholds are the f32 midpoints', () => {
    expect(NF4.length).toBe(16);
    for (let k = 0; k < 16; k++) expect(fr(NF4[k])).toBe(NF4[k]);
    for (let k = 0; k < 15; k++) {
      expect(NF4[k]).toBeLessThan(NF4[k + 1]);
      expect(NF4_MID[k]).toBe(fr((NF4[k] + NF4[k + 1]) / 2));
    }
    expect(NF4[7]).toBe(0);
    expect(NF4_MID[7]).toBe(fr(0.03979014977812767)); // bitsandbytes' dQuantizeNF4 threshold
  });

  it('dynamic map: 256 sorted values, symmetric, 0 at 127, ends ±0.99296875 and 1', () => {
    expect(DYN.length).toBe(256);
    for (let k = 0; k < 255; k++) expect(DYN[k]).toBeLessThan(DYN[k + 1]);
    expect(DYN[127]).toBe(0);
    expect(DYN[255]).toBe(1);
    for (let k = 0; k < 127; k++) expect(DYN[k]).toBe(-DYN[254 - k]);
    expect(DYN[0]).toBeCloseTo(-0.99296875, 7);
    // i = 0: linspace(0.1, 1, 2) = [0.1f, 1], one mean, scaled by 1e-6.
    expect(DYN[128]).toBe(fr(fr(1e-6) * fr(fr(fr(0.1) + 1) / 2)));
    expect(DYN[128]).toBeCloseTo(5.5e-7, 12);
    // 2^i positive values in decade [10^(i-7), 10^(i-6)): 64 in [0.1, 1), ..., 1 in [1e-7, 1e-6).
    expect(DYN.filter((v) => v >= 0.1 && v < 1).length).toBe(64);
    expect(DYN.filter((v) => v >= 0.01 && v < 0.1).length).toBe(32);
    expect(DYN.filter((v) => v > 0 && v < 1e-6).length).toBe(1);
    expect(DYN.filter((v) => v >= 1e-6 && v < 1e-5).length).toBe(2);
  });
});

describe('scalar rounding rules', () => {
  it('nf4: nearest code, ties to the lower code, all-zero block → 7', () => {
    const r = rng(1);
    for (let t = 0; t < 2000; t++) {
      const absmax = fr(0.01 + r());
      const w = fr((2 * r() - 1) * absmax);
      const q = nf4Code(w, absmax);
      const x = w / absmax;
      let best = Infinity;
      for (let k = 0; k < 16; k++) best = Math.min(best, Math.abs(x - NF4[k]));
      // Nearest up to the f32 rounding of the thresholds.
      expect(Math.abs(x - NF4[q])).toBeLessThanOrEqual(best + 1e-6);
    }
    for (let k = 0; k < 15; k++) {
      const thr = NF4_MID[k]; // absmax = 1: the threshold itself
      expect(nf4Code(thr, 1)).toBe(k); // a tie goes to the lower code
      expect(nf4Code(fr(thr + Math.abs(thr) * 2 ** -22 + 2 ** -40), 1)).toBe(k + 1);
    }
    expect(nf4Code(0, 0)).toBe(7);
    expect(nf4Code(1, 1)).toBe(15);
    expect(nf4Code(-1, 1)).toBe(0);
  });

  it('int8: round(127 w / c), ties to even, symmetric', () => {
    const r = rng(2);
    for (let t = 0; t < 2000; t++) {
      const c = fr(0.01 + r());
      const w = fr((2 * r() - 1) * c);
      const x = (127 * w) / c;
      const q = int8Code(w, c);
      expect(Math.abs(x - q)).toBeLessThanOrEqual(0.5 + 1e-5);
      if (Math.abs(Math.abs(x - Math.trunc(x)) - 0.5) > 1e-4) expect(q).toBe(Math.round(x));
    }
    // Exact ties at the thresholds thr_k = fl(c·fl((2k+1)·fl(1/254))): the even neighbour.
    const c = 1.7;
    for (const k of [0, 1, 2, 57, 126]) {
      const thr = fr(fr(c) * fr((2 * k + 1) * INV254));
      const even = k % 2 === 0 ? k : k + 1;
      expect(int8Code(thr, fr(c))).toBe(even);
      expect(int8Code(-thr, fr(c))).toBe(-even);
    }
    expect(int8Code(fr(c), fr(c))).toBe(127);
    expect(int8Code(-fr(c), fr(c))).toBe(-127);
    expect(int8Code(0.3, 0)).toBe(0);
  });

  it('roundDivExact: exact round(x/s) with ties to even for f16 scales', () => {
    const r = rng(3);
    for (let t = 0; t < 3000; t++) {
      const s = f16BitsToF32(f32ToF16Bits(1e-3 + r() * 0.1));
      const k0 = Math.floor(r() * 33) - 16;
      // Exact midpoints and random points.
      const x = t % 3 === 0 ? (k0 + 0.5) * s : fr((k0 + r()) * s);
      const k = roundDivExact(x, s);
      expect(Math.abs(x - k * s)).toBeLessThanOrEqual(0.5 * s);
      if (x === (k0 + 0.5) * s) expect(k).toBe(k0 % 2 === 0 ? k0 : k0 + 1);
    }
  });
});

/** Test matrices with edge cases mixed in. */
function edgeMatrix(mode: QuantFormat, rows: number, cols: number, seed: number): Float32Array {
  const W = randW(rows * cols, seed);
  // nf4: an all-zero block (elements 64..127); int8 / qalora: an all-zero row 1, and a constant
  // group (0.3) at the start of row 2.
  if (mode === 'nf4' || mode === 'nf4-dq') {
    if (rows * cols >= 192) W.fill(0, 64, 128);
  } else if (rows >= 3) {
    W.fill(0, 1 * cols, 2 * cols);
    W.fill(0.3, 2 * cols, 2 * cols + Math.min(cols, 32));
  }
  return W;
}

describe('reference quantize / dequantize', () => {
  const shapes: [number, number][] = [
    [7, 50], // numel 350: partial last NF4 block (350 % 64 = 30), no qalora (50 % 32)
    [70, 96],
    [5, 64],
    [3, 160],
  ];
  for (const mode of FORMATS) {
    for (const [rows, cols] of shapes) {
      const g = 32;
      if (canQuantize(mode, rows, cols, g)) continue;
      it(`${mode} ${rows}x${cols}: layout, error bound, edge cases`, () => {
        const W = edgeMatrix(mode, rows, cols, rows * 100 + cols);
        const q = quantizeRef(mode, W, rows, cols, g);
        const l = quantLayout(mode, rows, cols, g);
        expect(q.codes.byteLength).toBe(l.codes);
        expect(q.scales.byteLength).toBe(l.scales);
        expect(q.zeros?.byteLength ?? 0).toBe(l.zeros);
        expect(q.extra?.byteLength ?? 0).toBe(l.extra);
        const numel = rows * cols;
        expect(q.codes.length).toBe(Math.ceil((numel * codeBits(mode)) / 32));
        const Wh = dequantizeRef(q);
        expect(Wh.length).toBe(numel);
        if (mode === 'nf4' || mode === 'nf4-dq') {
          const gap = nf4MaxHalfGap();
          const nb = Math.ceil(numel / 64);
          const exact = new Float32Array(nb);
          for (let i = 0; i < numel; i++) exact[i >> 6] = Math.max(exact[i >> 6], Math.abs(W[i]));
          const used = mode === 'nf4' ? (q.scales as Float32Array) : dqAbsmax(q.scales as Uint32Array, q.extra!, nb);
          if (mode === 'nf4') expect(Array.from(used)).toEqual(Array.from(exact));
          else {
            // Second level: |absmax' − absmax| ≤ absmax2 · (max error of the dynamic code).
            for (let b = 0; b < nb; b++) {
              const a2 = q.extra![257 + Math.floor(b / 256)];
              expect(Math.abs(used[b] - exact[b])).toBeLessThanOrEqual(a2 * dynMaxErr() * (1 + 1e-5) + 1e-7);
            }
            expect(q.extra![256]).toBe(fr(exact.reduce((a, b) => a + b, 0) / nb));
          }
          for (let i = 0; i < numel; i++) {
            const b = i >> 6;
            const bound = exact[b] * gap + Math.abs(used[b] - exact[b]) + exact[b] * 2 ** -20;
            expect(Math.abs(W[i] - Wh[i])).toBeLessThanOrEqual(bound);
          }
          // The all-zero block: code 7, exact zeros.
          if (numel >= 192) for (let i = 64; i < 128; i++) expect(codeAt(q, i)).toBe(7);
          if (numel >= 192 && mode === 'nf4') expect(Wh.slice(64, 128).every((v) => v === 0)).toBe(true);
          // Partial last block: its absmax covers only the existing elements; padding nibbles are 0.
          if (numel % 8) {
            const last = q.codes[q.codes.length - 1];
            for (let i = numel; i < q.codes.length * 8; i++) {
              expect((last >>> (((i >> 1) & 3) * 8 + (i & 1 ? 0 : 4))) & 15).toBe(0);
            }
          }
        } else if (mode === 'int8') {
          const sc = q.scales as Float32Array;
          for (let o = 0; o < rows; o++) {
            let c = 0;
            for (let j = 0; j < cols; j++) c = Math.max(c, Math.abs(W[o * cols + j]));
            expect(sc[o]).toBe(c);
            for (let j = 0; j < cols; j++) {
              const i = o * cols + j;
              expect(Math.abs(W[i] - Wh[i])).toBeLessThanOrEqual(c / 254 + c * 2 ** -20);
            }
          }
          // The all-zero row: scale 0, codes 0, exact zeros.
          expect(sc[1]).toBe(0);
          for (let j = 0; j < cols; j++) expect(Wh[cols + j]).toBe(0);
        } else {
          const N = codeBits(mode);
          const Q = 2 ** N - 1;
          for (let j = 0; j < numel / g; j++) {
            const { s, z } = qaScaleZero(q, j);
            expect(s).toBeGreaterThanOrEqual(QA_MIN_SCALE);
            expect(Number.isInteger(z) && z >= 0 && z <= Q).toBe(true);
            for (let i = j * g; i < (j + 1) * g; i++) {
              expect(codeAt(q, i)).toBeLessThanOrEqual(Q);
              expect(Math.abs(W[i] - Wh[i])).toBeLessThanOrEqual(s * (0.5 + Q / 1024) + 1e-9);
            }
          }
          // All-zero group: the scale guard 2^-14, zero point 0, exact zeros.
          const jz = cols / g; // first group of row 1
          expect(qaScaleZero(q, jz)).toEqual({ s: QA_MIN_SCALE, z: 0 });
          for (let i = cols; i < cols + g; i++) expect(Wh[i]).toBe(0);
          // Constant group 0.3: zero is in the range, so s = f16(0.3/Q), z = 0, q = Q.
          const jc = (2 * cols) / g;
          expect(qaScaleZero(q, jc).z).toBe(0);
          expect(codeAt(q, 2 * cols)).toBe(Q);
          expect(Math.abs(Wh[2 * cols] - fr(0.3))).toBeLessThanOrEqual(qaScaleZero(q, jc).s / 2);
        }
      });
    }
  }

  it('qalora: exact half-step ties round to even codes', () => {
    // Group [0, 15/16] with values (k + 1/2)/16: s = 1/16 exactly, z = 0, round((k + 1/2)) → even.
    const g = 32;
    const W = new Float32Array(g);
    W[0] = 0;
    W[1] = 15 / 16;
    for (let i = 2; i < g; i++) W[i] = (((i - 2) % 15) + 0.5) / 16;
    const q = quantizeRef('qalora-int4', W, 1, g, g);
    expect(qaScaleZero(q, 0)).toEqual({ s: 1 / 16, z: 0 });
    for (let i = 2; i < g; i++) {
      const k = (i - 2) % 15;
      expect(codeAt(q, i)).toBe(k % 2 === 0 ? k : k + 1);
    }
  });
});

describe('byte accounting', () => {
  // SmolLM2-135M: hidden 576, intermediate 1536, 30 layers, 9 heads, 3 kv heads (head size 64).
  const layer: [number, number][] = [
    [576, 576], // q
    [192, 576], // k
    [192, 576], // v
    [576, 576], // o
    [1536, 576], // gate
    [1536, 576], // up
    [576, 1536], // down
  ];
  const mats = Array.from({ length: 30 }, () => layer).flat();
  const params = mats.reduce((a, [r, c]) => a + r * c, 0);
  const perParam = (mode: QuantFormat, g = 32) => mats.reduce((a, [r, c]) => a + quantBytes(mode, r, c, g), 0) / params;
  const within = (got: number, want: number) => expect(Math.abs(got / want - 1)).toBeLessThanOrEqual(0.02);

  it('bytes/param of the SmolLM2-135M linear set are within 2% of the theoretical sizes', () => {
    within(perParam('nf4'), 0.5625);
    within(perParam('nf4-dq'), 0.516);
    const int8Theory = mats.reduce((a, [r, c]) => a + r * c * (1 + 4 / c), 0) / params;
    within(perParam('int8'), int8Theory);
    within(perParam('int8'), 1);
    within(perParam('qalora-int4'), 0.625);
    within(perParam('qalora-int3'), 0.5);
    within(perParam('qalora-int2'), 0.375);
    expect(theoreticalBytesPerParam('nf4', 576)).toBe(0.5625);
    expect(theoreticalBytesPerParam('nf4-dq', 576) * 8).toBeCloseTo(4.127, 3);
    expect(theoreticalBytesPerParam('qalora-int4', 576, 32)).toBe(0.625);
    expect(theoreticalBytesPerParam('int8', 576)).toBe(1 + 4 / 576);
  });

  it('quantBytes is the padded sum of the layout buffers', () => {
    const l = quantLayout('nf4-dq', 70, 96);
    const pad = (b: number) => Math.max(16, Math.ceil(b / 16) * 16);
    expect(quantBytes('nf4-dq', 70, 96)).toBe(pad(l.codes) + pad(l.scales) + pad(l.extra));
    expect(l.extra).toBe((256 + 1 + 1) * 4);
    const lq = quantLayout('qalora-int3', 5, 64, 32);
    expect(lq.codes).toBe(Math.ceil((5 * 64 * 3) / 32) * 4);
    expect(lq.scales).toBe(lq.zeros);
    expect(lq.scales).toBe(Math.ceil(10 / 2) * 4);
  });
});
