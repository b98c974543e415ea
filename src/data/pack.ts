// Packing: several short examples share one row of T tokens. Each keeps its own positions (from
// 0) and attention window (Example.segments → Batch.pos / Batch.segStart in makeBatch), so a
// packed row computes exactly the losses of its examples laid out alone — with fewer pad tokens.

import type { Example } from './batch';

/** Smallest set bit ≥ from in a bitset, or -1. */
function nextSet(bits: Uint32Array, from: number, n: number): number {
  for (let i = from; i < n; ) {
    const w = bits[i >>> 5] >>> (i & 31);
    if (w !== 0) {
      const j = i + (31 - Math.clz32(w & -w));
      return j < n ? j : -1;
    }
    i = (i | 31) + 1;
  }
  return -1;
}

/**
 * Packs examples into rows of at most T tokens, best fit in the given order (each example goes to
 * the open row with the least room that still holds it; examples longer than T are cut to T).
 * Deterministic; every example appears exactly once.
 */
export function packExamples(examples: Example[], T: number): Example[] {
  const rows: number[][] = []; // example indexes per row
  const free: number[] = [];
  // Rows by free room: a stack of row indexes per room value, and a bitset of non-empty stacks.
  const byRoom: number[][] = Array.from({ length: T + 1 }, () => []);
  const bits = new Uint32Array((T >>> 5) + 1);
  const setBit = (r: number, on: boolean) => {
    if (on) bits[r >>> 5] |= 1 << (r & 31);
    else bits[r >>> 5] &= ~(1 << (r & 31));
  };
  examples.forEach((ex, i) => {
    const L = Math.min(ex.ids.length, T);
    let room = L === 0 ? -1 : nextSet(bits, L, T + 1);
    let row: number;
    if (room >= 0) {
      row = byRoom[room].pop()!;
      if (byRoom[room].length === 0) setBit(room, false);
      rows[row].push(i);
    } else {
      row = rows.length;
      rows.push([i]);
      room = T;
      free.push(T);
    }
    const left = room - L;
    free[row] = left;
    if (left > 0) {
      byRoom[left].push(row);
      setBit(left, true);
    }
  });
  return rows.map((idx) => {
    if (idx.length === 1) {
      const e = examples[idx[0]];
      return e.ids.length > T ? { ids: e.ids.slice(0, T), trainMask: e.trainMask?.slice(0, T) } : { ids: e.ids, trainMask: e.trainMask };
    }
    const ids: number[] = [];
    const trainMask: boolean[] = [];
    const segments: number[] = [];
    for (const i of idx) {
      const e = examples[i];
      const L = Math.min(e.ids.length, T);
      segments.push(ids.length);
      for (let t = 0; t < L; t++) {
        ids.push(e.ids[t]);
        trainMask.push(e.trainMask ? e.trainMask[t] : true);
      }
    }
    return { ids, trainMask, segments };
  });
}
