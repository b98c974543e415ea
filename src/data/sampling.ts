// Seeded choices over the examples, identical in the CLI and the studio: which rows are kept when
// maxSamples cuts the data ('first' or a seeded reservoir), and the train/eval split.

import { hash32, mulberry32 } from '../util/random';
import { permutation } from './batch';

/**
 * The seeded train/eval split of n examples by fraction, as indexes: a permutation seeded with
 * (seed, 0xe7a1); its first round(n × evalSplit) entries (at least one, at most n − 1) are the
 * eval set, the rest the train set, both in permutation order. None held out when n < 2 or
 * evalSplit ≤ 0.
 */
export function splitIndices(n: number, evalSplit: number, seed: number): { train: Uint32Array; eval: Uint32Array } {
  if (!(evalSplit > 0) || n < 2) return { train: Uint32Array.from({ length: n }, (_, i) => i), eval: new Uint32Array(0) };
  const order = Uint32Array.from(permutation(n, mulberry32(hash32(seed, 0xe7a1))));
  const nEval = Math.min(n - 1, Math.max(1, Math.round(n * evalSplit)));
  return { eval: order.subarray(0, nEval), train: order.subarray(nEval) };
}

/** Seeded train/eval split by fraction (at least one eval example; none when fewer than 2 examples). See splitIndices. */
export function splitExamples<E>(examples: E[], evalSplit: number, seed: number): { train: E[]; eval: E[] } {
  if (!(evalSplit > 0) || examples.length < 2) return { train: examples, eval: [] };
  const s = splitIndices(examples.length, evalSplit, seed);
  return { eval: Array.from(s.eval, (i) => examples[i]), train: Array.from(s.train, (i) => examples[i]) };
}

/**
 * Picks at most `max` of the items offered one by one: 'first' keeps the first `max` (`full` tells
 * the reader to stop), 'random' a seeded reservoir (Algorithm R over a mulberry32 stream seeded
 * with (seed, 0x5a3e)), returned in offer order by `key` (the line). It holds at most `max` items.
 */
export class Sampler<T> {
  /** Items offered (good rows seen). */
  offered = 0;
  private reservoir: T[] = [];
  private readonly rand: () => number;

  constructor(
    readonly max: number,
    readonly mode: 'first' | 'random',
    seed: number,
  ) {
    this.rand = mulberry32(hash32(seed, 0x5a3e));
  }

  /** 'random' only: offers an item to the reservoir. */
  offer(item: T): void {
    this.offered++;
    if (this.reservoir.length < this.max) this.reservoir.push(item);
    else {
      const j = Math.floor(this.rand() * this.offered);
      if (j < this.max) this.reservoir[j] = item;
    }
  }

  /** The kept items sorted by `key` (file order), emptying the reservoir. */
  take(key: (t: T) => number): T[] {
    const r = this.reservoir.sort((a, b) => key(a) - key(b));
    this.reservoir = [];
    return r;
  }
}
