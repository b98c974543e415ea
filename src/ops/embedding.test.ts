import { describe, it } from 'vitest';
import { Program } from '../gpu/program';
import { packF16, roundF16 } from '../gpu/half';
import { expectClose, f32, randn, rng, testContext } from '../test/gpu';
import { embeddingForward } from './embedding';
import { embeddingForwardRef } from './ref/embedding';

describe('embedding kernel vs float64 reference', () => {
  const cases = [
    // N, C, V, maxPos, f16, with positions
    [1, 1, 1, 0, false, false],
    [7, 37, 50, 0, false, false],
    [9, 33, 101, 16, true, false],
    [20, 300, 64, 32, false, true],
    [5, 77, 1000, 8, true, true],
  ] as const;
  for (const [N, C, V, maxPos, f16, withPos] of cases) {
    it(`N=${N} C=${C} V=${V} f16=${f16} pos=${withPos}`, async () => {
      const ctx = await testContext();
      const r = rng(N * 31 + C * 7 + V);
      let wte = randn(V * C, r);
      let wpe = randn(Math.max(1, maxPos) * C, r);
      if (f16) {
        wte = roundF16(wte);
        wpe = roundF16(wpe);
      }
      const tokens = Uint32Array.from({ length: N }, () => Math.floor(r() * V));
      tokens[N - 1] = V - 1; // the last row of the table
      const pos = Uint32Array.from({ length: N }, (_, n) => n % Math.max(1, maxPos));
      const want = new Float64Array(N * C);
      embeddingForwardRef({ N, C, tokens, wte, out: want, pos: withPos ? pos : undefined, wpe: withPos ? wpe : undefined });

      const pack = (x: Float64Array) => (f16 ? packF16(x) : f32(x));
      const gout = ctx.upload('out', f32(randn(N * C, r)));
      const d = embeddingForward(ctx, 'emb', {
        N, C, tokens: ctx.upload('tokens', tokens), wte: ctx.upload('wte', pack(wte)), wDType: f16 ? 'f16' : 'f32', out: gout,
        pos: withPos ? ctx.upload('pos', pos) : undefined, wpe: withPos ? ctx.upload('wpe', pack(wpe)) : undefined,
      });
      ctx.run(new Program('t').dispatch(d));
      // Table values are copied (and summed) exactly in f32.
      expectClose('out', await ctx.readF32(gout, 0, N * C), want, 1e-6, 1e-6);
    });
  }
});
