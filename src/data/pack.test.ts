// Packing: rows hold several examples; positions restart per example, attention and labels never
// cross an example boundary, and on a real (tiny, random) model a packed batch's summed loss equals
// the sum of the examples' losses laid out one per row.
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource, TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { Transformer } from '../net/transformer';
import { loadWeights } from '../model/weights';
import { rng, testContext } from '../test/gpu';
import { evaluate } from '../train/trainer';
import { batches, makeBatch, type Example } from './batch';
import { packExamples } from './pack';

function randomExamples(n: number, maxLen: number, V: number, seed: number): Example[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const L = 2 + Math.floor(r() * (maxLen - 1));
    const prompt = Math.floor(r() * (L - 1)); // a masked prompt of 0..L-2 tokens
    return { ids: Array.from({ length: L }, () => Math.floor(r() * V)), trainMask: Array.from({ length: L }, (_, t) => t >= prompt) };
  });
}

/** The attention window the engine applies (shaders/attention.wgsl): query t sees keys lo..t, lo = min(segStart[t], t). */
function attends(segStart: Uint32Array, T: number, b: number, t: number, j: number): boolean {
  const lo = Math.min(segStart[b * T + t], t);
  return j >= lo && j <= t;
}

describe('packExamples', () => {
  it('every example exactly once, rows within T, best fit', () => {
    const T = 24;
    const ex = randomExamples(60, T, 50, 3);
    ex.push({ ids: Array.from({ length: 30 }, (_, i) => i), trainMask: Array(30).fill(true) }); // longer than T: cut
    const rows = packExamples(ex, T);
    const seen: string[] = [];
    for (const r of rows) {
      expect(r.ids.length).toBeLessThanOrEqual(T);
      const starts = r.segments ?? [0];
      expect(starts[0]).toBe(0);
      for (let s = 0; s < starts.length; s++) {
        const end = s + 1 < starts.length ? starts[s + 1] : r.ids.length;
        expect(end).toBeGreaterThan(starts[s]);
        seen.push(JSON.stringify([r.ids.slice(starts[s], end), (r.trainMask ?? r.ids.map(() => true)).slice(starts[s], end)]));
      }
    }
    const want = ex.map((e) => JSON.stringify([e.ids.slice(0, T), e.trainMask!.slice(0, T)]));
    expect(seen.sort()).toEqual(want.sort());
    const total = ex.reduce((a, e) => a + Math.min(T, e.ids.length), 0);
    expect(rows.length).toBeLessThan(ex.length);
    expect(rows.length).toBeLessThanOrEqual(Math.ceil(total / T) + 3); // near the bound for random lengths
    expect(packExamples(ex, T)).toEqual(rows); // deterministic
  });
});

describe('makeBatch of packed rows', () => {
  it('positions restart, segStart marks the example, no label or attention crosses a boundary', () => {
    const A = { ids: [1, 10, 11, 12, 13], trainMask: [false, false, true, true, true] };
    const B = { ids: [1, 20, 21, 22], trainMask: [true, true, true, true] };
    const C = { ids: [1, 30, 31], trainMask: [false, true, true] };
    const [row] = packExamples([A, B, C], 16);
    expect(row.segments).toEqual([0, 5, 9]);
    const T = 16;
    const b = makeBatch([row, { ids: [1, 40, 41] }], 2, T, 0);
    expect([...b.pos.slice(0, 12)]).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2]);
    expect([...b.segStart.slice(0, 12)]).toEqual([0, 0, 0, 0, 0, 5, 5, 5, 5, 9, 9, 9]);
    // Row 0 targets: A predicts 11,12,13 (10 is prompt), B all of 20..22, C 30,31; never the next example's BOS.
    expect([...b.targets.slice(0, 12)]).toEqual([-100, 11, 12, 13, -100, 20, 21, 22, -100, 30, 31, -100]);
    expect([...b.targets.slice(12, 16)]).toEqual([-100, -100, -100, -100]);
    expect([...b.targets.slice(T, T + 3)]).toEqual([40, 41, -100]);
    expect(b.predicted).toBe(3 + 3 + 2 + 2);
    // The attention mask: block-diagonal causal over the three examples.
    const seg = (t: number) => (t < 5 ? 0 : t < 9 ? 1 : 2);
    for (let t = 0; t < 12; t++) for (let j = 0; j < T; j++) expect(attends(b.segStart, T, 0, t, j)).toBe(seg(j) === seg(t) && j <= t && j < 12);
    // An unpacked row is plain causal attention from position 0.
    for (let t = 0; t < 3; t++) for (let j = 0; j < T; j++) expect(attends(b.segStart, T, 1, t, j)).toBe(j <= t);
  });

  it('a packed batch predicts the same number of tokens as the examples laid out alone', () => {
    const T = 20;
    const ex = randomExamples(30, T, 40, 9);
    const packed = packExamples(ex, T);
    const count = (list: Example[]) => [...batches(list, 4, T, 0)].reduce((a, b) => a + b.predicted, 0);
    expect(count(packed)).toBe(count(ex));
  });
});

describe('packed loss = sum of unpacked losses on a real model', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['llama (RoPE positions)', TINY_LLAMA_CONFIG],
    ['gpt2 (learned positions)', TINY_GPT2_CONFIG],
  ];
  for (const [name, config] of cases) {
    it(name, async () => {
      const ctx = await testContext();
      const { spec, source } = randomModelSource('random', config, 5, 0.3);
      const weights = await loadWeights(ctx, spec, await Checkpoint.open(source), { dtype: 'f32' });
      const B = 3;
      const T = 24;
      const model = new Transformer(ctx, spec, weights, null, { B, T, training: false });
      const ex = randomExamples(14, 11, spec.V, 21);
      const packed = packExamples(ex, T);
      expect(packed.length).toBeLessThanOrEqual(B * 2); // they do share rows
      expect(packed.some((r) => (r.segments?.length ?? 1) >= 3)).toBe(true);
      const sep = await evaluate(ctx, model, batches(ex, B, T, 0));
      const pk = await evaluate(ctx, model, batches(packed, B, T, 0));
      expect(pk.tokens).toBe(sep.tokens);
      const sumSep = sep.loss * sep.tokens;
      const sumPk = pk.loss * pk.tokens;
      expect(Math.abs(sumPk - sumSep)).toBeLessThan(1e-4 * Math.abs(sumSep));
      // The check is sharp: letting attention cross into the previous example changes the loss.
      const leaky = [...batches(packed, B, T, 0)].map((b) => ({ ...b, segStart: new Uint32Array(b.segStart.length) }));
      const lk = await evaluate(ctx, model, leaky);
      expect(Math.abs(lk.loss * lk.tokens - sumSep)).toBeGreaterThan(1e-3 * Math.abs(sumSep));
      // ... and with learned absolute positions (GPT-2) so does not restarting them. (RoPE scores depend
      // only on relative positions, so within an example's window a shift changes nothing.)
      const noRestart = [...batches(packed, B, T, 0)].map((b) => ({ ...b, pos: Uint32Array.from(b.pos, (_, i) => i % T) }));
      const nr = await evaluate(ctx, model, noRestart);
      const diff = Math.abs(nr.loss * nr.tokens - sumSep);
      if (spec.arch === 'llama') expect(diff).toBeLessThan(1e-4 * Math.abs(sumSep));
      else expect(diff).toBeGreaterThan(1e-3 * Math.abs(sumSep));
    });
  }
});
