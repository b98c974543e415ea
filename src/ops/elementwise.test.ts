import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { accumulate, add, dropout } from './elementwise';
import { accumulateRef, addRef, dropoutKeep, dropoutRef } from './ref/elementwise';

describe('add / accumulate kernels vs float64 reference', () => {
  for (const n of [1, 255, 257, 10001]) {
    it(`add n=${n}`, async () => {
      const ctx = await testContext();
      const r = rng(n);
      const x = Float64Array.from(f32(randn(n, r))), y = Float64Array.from(f32(randn(n, r)));
      const want = new Float64Array(n);
      addRef({ n, a: x, b: y, out: want });
      const gout = ctx.upload('out', f32(randn(n + 5, r)));
      ctx.run(new Program('t').dispatch(add(ctx, 'add', { n, a: ctx.upload('a', f32(x)), b: ctx.upload('b', f32(y)), out: gout })));
      const got = await ctx.readF32(gout, 0, n + 5);
      expectClose('out', got.subarray(0, n), want, 1e-6, 1e-6);
    });

    for (const scale of [undefined, -0.37]) {
      it(`accumulate n=${n} scale=${scale}`, async () => {
        const ctx = await testContext();
        const r = rng(n + 17);
        const x = Float64Array.from(f32(randn(n, r)));
        const out0 = Float64Array.from(f32(randn(n + 3, r)));
        const want = Float64Array.from(out0);
        accumulateRef({ n, inp: x, out: want, scale });
        const gout = ctx.upload('out', f32(out0));
        ctx.run(new Program('t').dispatch(accumulate(ctx, 'acc', { n, inp: ctx.upload('inp', f32(x)), out: gout, scale })));
        // Elements past n are untouched.
        expectClose('out', await ctx.readF32(gout, 0, n + 3), want, 1e-6, 1e-6);
      });
    }
  }

  it('covers more than 65535 workgroups (2-D grid, linear id rebuilt from num_workgroups)', async () => {
    const ctx = await testContext();
    const n = 65536 * 256 + 300;
    const r = rng(99);
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = i;
      y[i] = r();
    }
    const gout = ctx.createBuffer('out', n * 4);
    const d = add(ctx, 'add', { n, a: ctx.upload('a', x), b: ctx.upload('b', y), out: gout });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    ctx.run(new Program('t').dispatch(d));
    const got = await ctx.readF32(gout, 0, n);
    let bad = -1;
    for (let i = 0; i < n; i++) {
      if (got[i] !== Math.fround(x[i] + y[i])) {
        bad = i;
        break;
      }
    }
    expect(bad).toBe(-1);
  });
});

describe('dropout', () => {
  async function runDropout(n: number, p: number, seed: number, salt: number, x: Float32Array) {
    const ctx = await testContext();
    const gseed = ctx.upload('seed', Uint32Array.of(seed));
    const gout = ctx.upload('out', new Float32Array(n).fill(123));
    ctx.run(new Program('t').dispatch(dropout(ctx, 'drop', { n, inp: ctx.upload('inp', x), out: gout, seed: gseed, salt, p })));
    return ctx.readF32(gout, 0, n);
  }

  for (const [n, p, seed, salt] of [
    [1, 0.5, 1, 0],
    [300, 0.1, 12345, 7],
    [4099, 0.5, 0xdeadbeef, 3],
    [20000, 0.9, 42, 0xffffffff],
  ] as const) {
    it(`mask matches the TypeScript hash bit for bit: n=${n} p=${p}`, async () => {
      const x = f32(randn(n, rng(n)).map((v) => (v === 0 ? 1 : v)));
      const got = await runDropout(n, p, seed, salt, x);
      const want = new Float64Array(n);
      dropoutRef({ n, inp: x, out: want, seed, salt, p });
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const keep = dropoutKeep(seed, salt, i, p);
        if (keep) kept++;
        expect(got[i] !== 0).toBe(keep);
      }
      expectClose('out', got, want, 1e-6, 1e-6);
      if (n >= 4000) {
        // Kept fraction within 5 standard deviations of 1-p.
        const sd = Math.sqrt(p * (1 - p) / n);
        expect(Math.abs(kept / n - (1 - p))).toBeLessThan(5 * sd);
      }
    });
  }

  it('p = 0 is an exact copy', async () => {
    const n = 1000;
    const x = f32(randn(n, rng(1), 1e3));
    const got = await runDropout(n, 0, 77, 5, x);
    expect(Array.from(got)).toEqual(Array.from(x));
  });

  it('the same seed/salt gives the same mask on other data; another seed or salt a different, independent mask', async () => {
    const n = 8192, p = 0.5;
    const ones = new Float32Array(n).fill(1);
    const grad = f32(randn(n, rng(2)).map((v) => (v === 0 ? 1 : v)));
    const a = await runDropout(n, p, 9, 1, ones);
    const b = await runDropout(n, p, 9, 1, grad);
    const c = await runDropout(n, p, 10, 1, ones);
    const d = await runDropout(n, p, 9, 2, ones);
    let sameC = 0, sameD = 0;
    for (let i = 0; i < n; i++) {
      expect(a[i] !== 0).toBe(b[i] !== 0);
      if ((a[i] !== 0) === (c[i] !== 0)) sameC++;
      if ((a[i] !== 0) === (d[i] !== 0)) sameD++;
    }
    // Independent masks agree on about half the elements (p^2 + (1-p)^2 = 0.5), sd = 0.0055.
    expect(Math.abs(sameC / n - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(sameD / n - 0.5)).toBeLessThan(0.03);
  });

  it('the trainer can rewrite the seed buffer between submissions of the same Program', async () => {
    const ctx = await testContext();
    const n = 500, p = 0.3, salt = 11;
    const x = f32(randn(n, rng(3)).map((v) => (v === 0 ? 1 : v)));
    const gseed = ctx.upload('seed', Uint32Array.of(1));
    const gout = ctx.createBuffer('out', n * 4);
    const prog = new Program('t').dispatch(dropout(ctx, 'drop', { n, inp: ctx.upload('inp', x), out: gout, seed: gseed, salt, p }));
    for (const seed of [1, 2]) {
      ctx.write(gseed, Uint32Array.of(seed));
      ctx.run(prog);
      const got = await ctx.readF32(gout, 0, n);
      for (let i = 0; i < n; i++) expect(got[i] !== 0).toBe(dropoutKeep(seed, salt, i, p));
    }
  });

  it('rejects p outside [0, 1)', async () => {
    const ctx = await testContext();
    const buf = ctx.createBuffer('x', 16);
    expect(() => dropout(ctx, 'drop', { n: 4, inp: buf, out: buf, seed: buf, salt: 0, p: 1 })).toThrow();
  });
});
