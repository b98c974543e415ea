// The segment variants of the f16 conversion (packF16Segments / unpackF16Segments: up to 5 f32
// tensors and one packed buffer in one dispatch) against the single-tensor kernels packF16 /
// unpackF16 (bit for bit) and against the host's f16 conversion (src/gpu/half.ts): random even
// sizes that are not multiples of the 256-thread workgroup, 1 to 5 segments placed in the packed
// buffer out of order with gaps (which must stay untouched, as must f32 elements past n).
import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { f16BitsToF32, packF16 as packF16Host } from '../gpu/half';
import { randn, rng, testContext } from '../test/gpu';
import { MAX_F16_SEGMENTS, packF16, packF16Segments, unpackF16, unpackF16Segments, type F16Segment } from './convert';

const SENTINEL = 0xdeadbeef;
const PAD = 3; // f32 elements past n in each f32 buffer

/** Random values with the cases the conversion treats specially: beyond ±65504 (clamped), f16 subnormals, zeros. */
function values(n: number, r: () => number): Float32Array {
  const x = Float32Array.from(randn(n, r));
  for (let i = 0; i < n; i++) {
    const u = r();
    if (u < 0.05) x[i] *= 1e5;
    else if (u < 0.1) x[i] *= 1e-6;
    else if (u < 0.12) x[i] = 0;
  }
  return x;
}

/** 1..5 even sizes around workgroup boundaries, and their packed word offsets: segments in reverse order with gaps. */
function layout(count: number, r: () => number): { ns: number[]; offsets: number[]; words: number } {
  const ns = Array.from({ length: count }, () => 2 * (1 + Math.floor(r() * 700)));
  const offsets = new Array<number>(count);
  let w = 1 + Math.floor(r() * 5);
  for (let k = count - 1; k >= 0; k--) {
    offsets[k] = w;
    w += ns[k] / 2 + Math.floor(r() * 4);
  }
  return { ns, offsets, words: w + 2 };
}

/** u32 words of a readback (read with explicit sizes: the allocator pads buffers to 16 bytes). */
const u32 = (b: ArrayBuffer) => new Uint32Array(b);

describe('f16 conversion of several segments in one dispatch', () => {
  for (let count = 1; count <= MAX_F16_SEGMENTS; count++) {
    it(`pack, ${count} segment(s): bit-identical to packF16 per segment, host f16 within rounding, gaps untouched`, async () => {
      const ctx = await testContext();
      const r = rng(100 + count);
      const { ns, offsets, words } = layout(count, r);
      const xs = ns.map((n) => values(n, r));
      const f32s = xs.map((x, k) => ctx.upload(`x${k}`, x));
      const packed = ctx.upload('packed', new Uint32Array(words).fill(SENTINEL));
      const segs: F16Segment[] = ns.map((n, k) => ({ n, f32: f32s[k], offset: offsets[k] }));
      const singles = ns.map((n, k) => ctx.upload(`single${k}`, new Uint32Array(n / 2).fill(SENTINEL)));
      const p = new Program('t').dispatch(packF16Segments(ctx, 'packSegs', { segs, out: packed }));
      ns.forEach((n, k) => p.dispatch(packF16(ctx, `pack${k}`, { n, inp: f32s[k], out: singles[k] })));
      ctx.run(p);
      const got = u32(await ctx.read(packed, 0, 4 * words));
      const covered = new Uint8Array(words);
      for (let k = 0; k < count; k++) {
        const want = u32(await ctx.read(singles[k], 0, 2 * ns[k]));
        const part = got.subarray(offsets[k], offsets[k] + ns[k] / 2);
        expect(Array.from(part), `segment ${k}`).toEqual(Array.from(want));
        covered.fill(1, offsets[k], offsets[k] + ns[k] / 2);
        // The host's round-to-nearest: the same value within one f16 step (the GPU may flush subnormals).
        for (let i = 0; i < ns[k]; i++) {
          const h = (part[i >> 1] >>> (16 * (i & 1))) & 0xffff;
          const x = Math.max(-65504, Math.min(65504, xs[k][i]));
          const tol = Math.max(Math.abs(x) * 2 ** -10, 2 ** -14);
          if (Math.abs(f16BitsToF32(h) - x) > tol) expect.fail(`segment ${k} element ${i}: f16 ${f16BitsToF32(h)} for ${x}`);
        }
      }
      for (let w = 0; w < words; w++) if (!covered[w] && got[w] !== SENTINEL) expect.fail(`gap word ${w} written`);
    });

    it(`unpack, ${count} segment(s): bit-identical to unpackF16 per segment and exact to the host, elements past n untouched`, async () => {
      const ctx = await testContext();
      const r = rng(200 + count);
      const { ns, offsets, words } = layout(count, r);
      const host = new Uint32Array(words).fill(SENTINEL);
      ns.forEach((n, k) => host.set(packF16Host(values(n, r)), offsets[k]));
      const packed = ctx.upload('packed', host);
      const outs = ns.map((n, k) => ctx.upload(`out${k}`, new Uint32Array(n + PAD).fill(SENTINEL)));
      const singleIn = ns.map((n, k) => ctx.upload(`in${k}`, host.slice(offsets[k], offsets[k] + n / 2)));
      const singles = ns.map((n, k) => ctx.upload(`single${k}`, new Uint32Array(n + PAD).fill(SENTINEL)));
      const segs: F16Segment[] = ns.map((n, k) => ({ n, f32: outs[k], offset: offsets[k] }));
      const p = new Program('t').dispatch(unpackF16Segments(ctx, 'unpackSegs', { inp: packed, segs }));
      ns.forEach((n, k) => p.dispatch(unpackF16(ctx, `unpack${k}`, { n, inp: singleIn[k], out: singles[k] })));
      ctx.run(p);
      for (let k = 0; k < count; k++) {
        const got = u32(await ctx.read(outs[k], 0, 4 * (ns[k] + PAD)));
        expect(Array.from(got), `segment ${k}`).toEqual(Array.from(u32(await ctx.read(singles[k], 0, 4 * (ns[k] + PAD)))));
        expect(Array.from(got.subarray(ns[k])), `segment ${k} past n`).toEqual(new Array(PAD).fill(SENTINEL));
        const f = new Float32Array(got.buffer);
        for (let i = 0; i < ns[k]; i++) {
          const want = f16BitsToF32((host[offsets[k] + (i >> 1)] >>> (16 * (i & 1))) & 0xffff);
          // Exact, except that a GPU may flush f16 subnormals (below 2^-14) to zero.
          if (f[i] !== want && !(Math.abs(want) < 2 ** -14 && f[i] === 0)) expect.fail(`segment ${k} element ${i}: ${f[i]} for ${want}`);
        }
      }
    });
  }

  it('throws for 0 or 6 segments, an odd n, a fractional offset, overlapping packed ranges', async () => {
    const ctx = await testContext();
    const b = ctx.createBuffer('b', 64);
    const seg = (n: number, offset: number): F16Segment => ({ n, f32: b, offset });
    expect(() => packF16Segments(ctx, 'p', { segs: [], out: b })).toThrow(/1 to 5 f16 segments, got 0/);
    expect(() => unpackF16Segments(ctx, 'p', { inp: b, segs: Array.from({ length: MAX_F16_SEGMENTS + 1 }, (_, k) => seg(2, 2 * k)) })).toThrow(/got 6/);
    expect(() => packF16Segments(ctx, 'p', { segs: [seg(4, 0), seg(3, 2)], out: b })).toThrow(/even element count, got 3/);
    expect(() => packF16Segments(ctx, 'p', { segs: [seg(4, 0.5)], out: b })).toThrow(/not a word index/);
    expect(() => unpackF16Segments(ctx, 'p', { inp: b, segs: [seg(4, 1), seg(4, 0)] })).toThrow(/overlap/);
    expect(() => unpackF16Segments(ctx, 'p', { inp: b, segs: [seg(4, 2), seg(4, 0)] })).not.toThrow();
  });
});
