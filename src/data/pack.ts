// Packing: several short examples share one row of T tokens. Each keeps its own positions (from
// 0) and attention window (Example.segments → Batch.pos / Batch.segStart in makeBatch), so a
// packed row computes exactly the losses of its examples laid out alone — with fewer pad tokens.

import type { Example } from './batch';
import { ExampleStore, type ExampleList } from './examples';

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
 * The packing plan: for `n` examples of lengths `lengthOf(i)`, the example indexes of each row of
 * at most T tokens, best fit in the given order (each example goes to the open row with the least
 * room that still holds it; an example longer than T is cut to T). Deterministic; every example
 * appears exactly once.
 */
function packPlan(n: number, lengthOf: (i: number) => number, T: number): number[][] {
  const rows: number[][] = []; // example indexes per row
  // Rows by free room: a stack of row indexes per room value, and a bitset of non-empty stacks.
  const byRoom: number[][] = Array.from({ length: T + 1 }, () => []);
  const bits = new Uint32Array((T >>> 5) + 1);
  const setBit = (r: number, on: boolean) => {
    if (on) bits[r >>> 5] |= 1 << (r & 31);
    else bits[r >>> 5] &= ~(1 << (r & 31));
  };
  for (let i = 0; i < n; i++) {
    const L = Math.min(lengthOf(i), T);
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
    }
    const left = room - L;
    if (left > 0) {
      byRoom[left].push(row);
      setBit(left, true);
    }
  }
  return rows;
}

/** An example held as JS arrays (packing such examples gives such rows). */
export interface ArrayExample extends Example {
  ids: number[];
  trainMask?: boolean[];
}

/**
 * Packs examples into rows of at most T tokens (see packPlan), as JS arrays: a row of one example
 * is that example (cut to T), a row of several holds copies of their ids and masks with `segments`.
 */
export function packExamples(examples: ArrayExample[], T: number): ArrayExample[];
export function packExamples(examples: ExampleList, T: number): Example[];
export function packExamples(examples: ExampleList, T: number): Example[] {
  const at = (i: number) => examples.at(i)!;
  return packPlan(examples.length, (i) => at(i).ids.length, T).map((idx) => {
    if (idx.length === 1) {
      const e = at(idx[0]);
      return e.ids.length > T ? { ids: e.ids.slice(0, T), trainMask: e.trainMask?.slice(0, T) } : { ids: e.ids, trainMask: e.trainMask };
    }
    const ids: number[] = [];
    const trainMask: boolean[] = [];
    const segments: number[] = [];
    for (const i of idx) {
      const e = at(i);
      const L = Math.min(e.ids.length, T);
      segments.push(ids.length);
      for (let t = 0; t < L; t++) {
        ids.push(e.ids[t]);
        trainMask.push(e.trainMask ? !!e.trainMask[t] : true);
      }
    }
    return { ids, trainMask, segments };
  });
}

/**
 * The same rows as packExamples, written into a new ExampleStore (what the studio and the CLI
 * train on: 5 bytes per token, no per-row JS arrays).
 */
export function packStore(examples: ExampleList, T: number): ExampleStore {
  const at = (i: number) => examples.at(i)!;
  const out = new ExampleStore(Math.max(T, 1 << 18));
  const ids = new Uint32Array(T);
  const mask = new Uint8Array(T);
  for (const idx of packPlan(examples.length, (i) => at(i).ids.length, T)) {
    const segments: number[] = [];
    let n = 0;
    for (const i of idx) {
      const e = at(i);
      const L = Math.min(e.ids.length, T);
      segments.push(n);
      for (let t = 0; t < L; t++) {
        ids[n + t] = e.ids[t];
        mask[n + t] = e.trainMask ? (e.trainMask[t] ? 1 : 0) : 1;
      }
      n += L;
    }
    out.add(ids.subarray(0, n), mask.subarray(0, n), idx.length === 1 ? (at(idx[0]) as { line?: number }).line ?? 0 : 0, idx.length > 1 ? segments : undefined);
  }
  return out;
}
