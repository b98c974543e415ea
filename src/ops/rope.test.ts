import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { expectClose, f32, numericGrad, randn, rng, testContext } from '../test/gpu';
import { rope, ropeInvFreq } from './rope';
import { ropeBackwardRef, ropeForwardRef, type RopeRefArgs } from './ref/rope';

describe('ropeInvFreq', () => {
  it('default: theta^(-2i/HS)', () => {
    const f = ropeInvFreq(8, 10000);
    expect(Array.from(f)).toEqual(Array.from(Float32Array.from([1, 0.1, 0.01, 0.001])));
    expect(Array.from(ropeInvFreq(8, 10000, { rope_type: 'default' }))).toEqual(Array.from(f));
    expect(Array.from(ropeInvFreq(8, 10000, null))).toEqual(Array.from(f));
  });

  it('linear divides by factor (legacy "type" key too)', () => {
    const base = ropeInvFreq(16, 500000);
    const lin = ropeInvFreq(16, 500000, { type: 'linear', factor: 4 });
    for (let i = 0; i < 8; i++) expect(Math.abs(lin[i] * 4 - base[i]) / base[i]).toBeLessThan(1e-6);
    expect(Array.from(ropeInvFreq(16, 500000, { rope_type: 'linear', factor: 4 }))).toEqual(Array.from(lin));
  });

  it('llama3 matches the published wavelength-banded formula', () => {
    const HS = 64, theta = 500000, factor = 32, low = 1, high = 4, orig = 8192;
    const got = ropeInvFreq(HS, theta, { rope_type: 'llama3', factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: orig });
    let nLow = 0, nHigh = 0, nMid = 0;
    for (let i = 0; i < HS / 2; i++) {
      const f = Math.pow(theta, -(2 * i) / HS);
      const wavelen = (2 * Math.PI) / f;
      let want: number;
      if (wavelen > orig / low) {
        want = f / factor;
        nLow++;
      } else if (wavelen < orig / high) {
        want = f;
        nHigh++;
      } else {
        const smooth = (orig / wavelen - low) / (high - low);
        want = (1 - smooth) * (f / factor) + smooth * f;
        nMid++;
      }
      expect(Math.abs(got[i] - want) / want).toBeLessThan(1e-6);
    }
    // The chosen parameters exercise all three bands.
    expect(nLow).toBeGreaterThan(0);
    expect(nHigh).toBeGreaterThan(0);
    expect(nMid).toBeGreaterThan(0);
  });

  it('rejects unsupported types and odd head sizes', () => {
    expect(() => ropeInvFreq(8, 10000, { rope_type: 'yarn', factor: 2 })).toThrow(
      "rope_scaling type 'yarn' is not supported (supported: default, linear, llama3)",
    );
    expect(() => ropeInvFreq(8, 10000, { type: 'dynamic', factor: 2 })).toThrow("rope_scaling type 'dynamic' is not supported");
    expect(() => ropeInvFreq(7, 10000)).toThrow();
  });
});

describe('rope kernel vs float64 reference', () => {
  const cases = [
    // N, nHeads, HS, ldx, offX, maxPos
    [1, 1, 2, 2, 0, 1],
    [5, 3, 8, 40, 0, 50],
    [7, 2, 12, 61, 24, 300],
    [33, 4, 64, 4 * 64 + 2 * 2 * 64 + 5, 4 * 64, 2000],
    [130, 1, 128, 300, 17, 1000],
  ] as const;
  for (const [N, nHeads, HS, ldx, offX, maxPos] of cases) {
    it(`N=${N} nHeads=${nHeads} HS=${HS} ldx=${ldx} offX=${offX}`, async () => {
      const ctx = await testContext();
      const r = rng(N * 131 + HS * 7 + offX);
      const x0 = randn(N * ldx, r);
      const pos = Uint32Array.from({ length: N }, () => Math.floor(r() * (maxPos + 1)));
      const invFreq = ropeInvFreq(HS, 10000);
      const mk = (x: Float64Array): RopeRefArgs => ({ x, pos, invFreq, N, nHeads, HS, ldx, offX });
      const wantF = Float64Array.from(x0);
      ropeForwardRef(mk(wantF));
      const wantB = Float64Array.from(x0);
      ropeBackwardRef(mk(wantB));
      // The rotation must actually change the rotated region (else the test could not fail).
      let moved = 0;
      for (let i = 0; i < x0.length; i++) moved = Math.max(moved, Math.abs(wantF[i] - x0[i]));
      if (maxPos > 1) expect(moved).toBeGreaterThan(0.1);

      const gPos = ctx.upload('pos', pos);
      const gF = ctx.upload('inv', invFreq);
      const gX = ctx.upload('x', f32(x0));
      const gY = ctx.upload('y', f32(x0));
      const gZ = ctx.upload('z', f32(x0));
      const a = { pos: gPos, invFreq: gF, N, nHeads, HS, ldx, offX };
      ctx.run(
        new Program('t')
          .dispatch(rope(ctx, 'fwd', { ...a, x: gX }))
          .dispatch(rope(ctx, 'bwd', { ...a, x: gY, inverse: true }))
          .dispatch(rope(ctx, 'fwd2', { ...a, x: gZ }))
          .dispatch(rope(ctx, 'inv2', { ...a, x: gZ, inverse: true })),
      );
      // f32 angle (as transformers computes it) costs up to ~pos·6e-8 rad against the f64 reference.
      const atol = 1e-5 + maxPos * 2.5e-7;
      const gotF = await ctx.readF32(gX, 0, x0.length);
      expectClose('forward', gotF, wantF, atol, 1e-5);
      const gotB = await ctx.readF32(gY, 0, x0.length);
      expectClose('inverse', gotB, wantB, atol, 1e-5);
      const gotId = await ctx.readF32(gZ, 0, x0.length);
      expectClose('inverse(forward(x))', gotId, f32(x0), 1e-5, 1e-5);
      // Columns outside the rotated region are untouched, bit for bit.
      const x0f = f32(x0);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < ldx; c++) {
          if (c >= offX && c < offX + nHeads * HS) continue;
          const i = n * ldx + c;
          if (gotF[i] !== x0f[i] || gotB[i] !== x0f[i]) throw new Error(`column ${c} of row ${n} changed`);
        }
      }
    });
  }

  it('large positions (long context, llama3 scaling): cos/sin accurate to ~1e-6', async () => {
    const ctx = await testContext();
    const r = rng(99);
    const N = 9, nHeads = 2, HS = 64, ldx = 128, offX = 0;
    const x0 = randn(N * ldx, r);
    const pos = Uint32Array.from([0, 1, 8191, 8192, 20000, 65535, 98304, 99991, 77777]);
    const invFreq = ropeInvFreq(HS, 500000, { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
    const want = Float64Array.from(x0);
    // Reference with the f32-rounded angle (what the GPU and transformers compute), so only the
    // range reduction and cos/sin accuracy are under test here.
    const a = { N, nHeads, HS, ldx, offX, invFreq: Array.from(invFreq), pos: Array.from(pos) };
    for (let n = 0; n < N; n++) for (let h = 0; h < nHeads; h++) for (let i = 0; i < HS / 2; i++) {
      const ang = Math.fround(pos[n] * invFreq[i]);
      const b = n * ldx + offX + h * HS;
      const x0v = want[b + i], x1v = want[b + i + HS / 2];
      want[b + i] = x0v * Math.cos(ang) - x1v * Math.sin(ang);
      want[b + i + HS / 2] = x1v * Math.cos(ang) + x0v * Math.sin(ang);
    }
    const gX = ctx.upload('x', f32(x0));
    ctx.run(new Program('t').dispatch(rope(ctx, 'fwd', { ...a, x: gX, pos: ctx.upload('pos', pos), invFreq: ctx.upload('f', invFreq) })));
    expectClose('forward', await ctx.readF32(gX, 0, x0.length), want, 5e-5, 1e-4);
  });
});

describe('rope reference backward vs finite differences', () => {
  it('matches central differences of sum(forward(x) * w)', () => {
    const r = rng(5);
    const N = 3, nHeads = 2, HS = 6, ldx = 15, offX = 2;
    const x = randn(N * ldx, r);
    const w = randn(N * ldx, r);
    const pos = [0, 3, 17];
    const invFreq = Array.from(ropeInvFreq(HS, 10000));
    const forward = (xx: Float64Array) => {
      const y = Float64Array.from(xx);
      ropeForwardRef({ x: y, pos, invFreq, N, nHeads, HS, ldx, offX });
      return y;
    };
    const g = Float64Array.from(w);
    ropeBackwardRef({ x: g, pos, invFreq, N, nHeads, HS, ldx, offX });
    const fd = numericGrad(forward, x, w);
    for (let i = 0; i < x.length; i++) expect(Math.abs(fd[i] - g[i])).toBeLessThan(1e-7 + 1e-6 * Math.abs(fd[i]));
  });
});
