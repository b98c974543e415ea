// Turning tokenized examples into fixed-shape (B, T) batches for the engine.
import type { Batch } from '../net/transformer';
import type { ExampleList } from './examples';

/** Token ids of an example: a JS array, or a view into an ExampleStore's chunk. */
type TokenIds = number[] | Uint32Array;

/** A tokenized training example: ids and, per id, whether predicting it counts toward the loss. */
export interface Example {
  ids: TokenIds;
  /** Optional mask over ids (true / 1 = this token is a training target). Default: all tokens. */
  trainMask?: boolean[] | Uint8Array;
  /**
   * A packed row (see packExamples): the offsets in `ids` where each packed example starts,
   * ascending, the first 0. Positions restart at 0 at each start, attention stays inside each
   * example, and no token predicts the first token of the next example. Absent: one example.
   */
  segments?: number[];
}

/**
 * Lays out up to B examples as rows of T tokens (padded with `padId`). targets[t] is the id at
 * t+1 when that token is a training target, else -100, so padding and the last token predict nothing.
 * A packed example's pieces each get positions from 0 and segStart = the piece's start in the row.
 */
export function makeBatch(examples: Example[], B: number, T: number, padId: number): Batch {
  const N = B * T;
  const tokens = new Uint32Array(N).fill(padId);
  const targets = new Int32Array(N).fill(-100);
  const pos = new Uint32Array(N);
  const segStart = new Uint32Array(N);
  let predicted = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) pos[b * T + t] = t;
    const ex = examples[b];
    if (!ex) continue;
    const len = Math.min(ex.ids.length, T);
    for (let t = 0; t < len; t++) tokens[b * T + t] = ex.ids[t];
    const starts = ex.segments ?? [0];
    for (let s = 0; s < starts.length; s++) {
      const a = starts[s];
      const e = Math.min(s + 1 < starts.length ? starts[s + 1] : len, len);
      for (let t = a; t < e; t++) {
        pos[b * T + t] = t - a;
        segStart[b * T + t] = a;
      }
      for (let t = a; t + 1 < e; t++) {
        if (ex.trainMask && !ex.trainMask[t + 1]) continue;
        targets[b * T + t] = ex.ids[t + 1];
        predicted++;
      }
    }
  }
  return { tokens, targets, pos, segStart, predicted };
}

/**
 * Splits examples into consecutive (B, T) batches in order (makeBatch each; the last one padded
 * with empty rows, whose targets are all -100). Used for the eval loss, where order does not matter.
 */
export function* batches(examples: ExampleList, B: number, T: number, padId: number): Generator<Batch> {
  for (let i = 0; i < examples.length; i += B) {
    const group: Example[] = [];
    for (let j = i; j < Math.min(examples.length, i + B); j++) group.push(examples.at(j)!);
    yield makeBatch(group, B, T, padId);
  }
}

/**
 * A permutation of 0..n-1 by the Fisher–Yates shuffle (Durstenfeld's in-place form) driven by
 * `rand` (uniform [0, 1), e.g. util/random mulberry32), so the same seed gives the same order.
 */
export function permutation(n: number, rand: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}
