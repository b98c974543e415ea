import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { expectClose, f32, randn, rng, reductionPaths, testContext } from '../test/gpu';
import { attentionDecode, kvWrite, type KvDims } from './kvcache';
import { attentionForwardRef } from './ref/attention';
import { attentionDecodeRef, kvWriteRef } from './ref/kvcache';

// Each reduction case runs on the tree and on the subgroup path (GpuContext.subgroups).
const PATHS = await reductionPaths();

describe('KV cache kernels vs float64 reference', () => {
  it('kv_write puts each row at its position and leaves the rest of the cache alone', async () => {
    const ctx = await testContext();
    const d: KvDims = { NH: 6, NKV: 2, HS: 12, Tc: 37 };
    const N = 7;
    const QKVW = (d.NH + 2 * d.NKV) * d.HS;
    const r = rng(5);
    const qkv = randn(N * QKVW, r);
    const pos = Uint32Array.from([0, 5, 36, 37, 100, 12, 1]); // 37 and 100 are past the capacity: skipped
    const kc = randn(d.NKV * d.Tc * d.HS, r);
    const vc = randn(d.NKV * d.Tc * d.HS, r);
    const gKc = ctx.upload('kc', f32(kc));
    const gVc = ctx.upload('vc', f32(vc));
    const p = new Program('kv').dispatch(kvWrite(ctx, 'kv', d, { N, qkv: ctx.upload('qkv', f32(qkv)), pos: ctx.upload('pos', pos), kc: gKc, vc: gVc }));
    await ctx.run(p);
    const wantK = Float64Array.from(f32(kc));
    const wantV = Float64Array.from(f32(vc));
    kvWriteRef(d, N, f32(qkv), pos, wantK, wantV);
    expect(Array.from(await ctx.readF32(gKc, 0, kc.length))).toEqual(Array.from(f32(wantK)));
    expect(Array.from(await ctx.readF32(gVc, 0, vc.length))).toEqual(Array.from(f32(wantV)));
  });

  const cases: { d: KvDims; ps: number[] }[] = [
    { d: { NH: 6, NKV: 2, HS: 12, Tc: 300 }, ps: [0, 1, 127, 128, 200, 299, 500] }, // several tiles of 128; 500 clamps to the capacity
    { d: { NH: 4, NKV: 4, HS: 64, Tc: 70 }, ps: [0, 69] },
    { d: { NH: 2, NKV: 1, HS: 200, Tc: 131, scale: 0.03 }, ps: [3, 130] }, // two output elements per thread
  ];
  for (const { tag, ctx: pctx } of PATHS) for (const { d, ps } of cases) {
    it.skipIf(!pctx)(`decode NH=${d.NH} NKV=${d.NKV} HS=${d.HS} Tc=${d.Tc} at positions ${ps.join(', ')}${tag}`, async () => {
      const ctx = pctx!;
      const QKVW = (d.NH + 2 * d.NKV) * d.HS;
      const r = rng(d.HS * 7 + d.Tc);
      const kc = randn(d.NKV * d.Tc * d.HS, r);
      const vc = randn(d.NKV * d.Tc * d.HS, r);
      const gKc = ctx.upload('kc', f32(kc));
      const gVc = ctx.upload('vc', f32(vc));
      const gQkv = ctx.createBuffer('qkv', QKVW * 4);
      const gPos = ctx.createBuffer('pos', 4);
      const gOut = ctx.upload('out', new Float32Array(d.NH * d.HS).fill(NaN));
      const p = new Program('decode').dispatch(attentionDecode(ctx, 'decode', d, { qkv: gQkv, pos: gPos, kc: gKc, vc: gVc, out: gOut }));
      for (const at of ps) {
        const qkv = randn(QKVW, r, 2);
        ctx.write(gQkv, f32(qkv));
        ctx.write(gPos, Uint32Array.of(at));
        await ctx.run(p);
        expectClose(`out at ${at}`, await ctx.readF32(gOut, 0, d.NH * d.HS), attentionDecodeRef(d, qkv, at, kc, vc), 2e-5, 1e-4);
      }
    });
  }

  it('writing every row of a sequence, then decoding row t, gives row t of causal attention', async () => {
    const ctx = await testContext();
    const T = 29;
    const d: KvDims = { NH: 4, NKV: 2, HS: 16, Tc: 32 };
    const QKVW = (d.NH + 2 * d.NKV) * d.HS;
    const qkv = randn(T * QKVW, rng(9));
    const gQkv = ctx.upload('qkv', f32(qkv));
    const gKc = ctx.createBuffer('kc', d.NKV * d.Tc * d.HS * 4);
    const gVc = ctx.createBuffer('vc', d.NKV * d.Tc * d.HS * 4);
    const pos = Uint32Array.from({ length: T }, (_, i) => i);
    await ctx.run(new Program('kv').dispatch(kvWrite(ctx, 'kv', d, { N: T, qkv: gQkv, pos: ctx.upload('pos', pos), kc: gKc, vc: gVc })));
    const want = attentionForwardRef({ B: 1, T, NH: d.NH, NKV: d.NKV, HS: d.HS }, qkv, new Uint32Array(T)).out;
    const gRow = ctx.createBuffer('row', QKVW * 4);
    const gPos = ctx.createBuffer('pos1', 4);
    const gOut = ctx.createBuffer('out', d.NH * d.HS * 4);
    const p = new Program('decode').dispatch(attentionDecode(ctx, 'decode', d, { qkv: gRow, pos: gPos, kc: gKc, vc: gVc, out: gOut }));
    for (const t of [0, 1, 15, 28]) {
      ctx.write(gRow, f32(qkv.subarray(t * QKVW, (t + 1) * QKVW)));
      ctx.write(gPos, Uint32Array.of(t));
      await ctx.run(p);
      expectClose(`row ${t}`, await ctx.readF32(gOut, 0, d.NH * d.HS), want.subarray(t * d.NH * d.HS, (t + 1) * d.NH * d.HS), 2e-5, 1e-4);
    }
  });
});
