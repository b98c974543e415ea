// Tokenized examples held compactly: what a loaded dataset keeps for training and evaluation.
//
// A dataset of 200,000 rows must not become 200,000 JS objects each holding a number[] of ids and
// a boolean[] mask (tens of bytes of headers per example, 8 bytes per element): `ExampleStore`
// keeps every example's ids in large Uint32Array chunks and its training mask in matching
// Uint8Array chunks (5 bytes per token), with per-example offsets, lengths and source lines in
// growable typed arrays (16 bytes per example). Chunks are allocated as they fill (an example never
// crosses a chunk, so views stay valid and nothing is copied as the store grows). Examples are
// handed out one at a time as views (`at`), e.g. B of them per micro-batch; `ExampleView` is a
// subset (the train or eval split) as an index list over a store.

import type { Example } from './batch';

/** A list of examples read by index: an array, or a store or view handing out one example at a time. */
export interface ExampleList {
  readonly length: number;
  at(i: number): Example | undefined;
}

/** A Uint32Array that grows (by 1.5×) as values are pushed. */
export class U32Vec {
  data: Uint32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Uint32Array(Math.max(16, capacity));
  }
  push(x: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(Math.ceil(this.data.length * 1.5));
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = x;
  }
  /** The values pushed so far (a view, valid until the next push). */
  view(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

/** One example as the store hands it out: views into its chunks (no copy). */
interface StoredExample extends Example {
  ids: Uint32Array;
  trainMask: Uint8Array;
  /** The record's line (Parquet: row) in its file; 0 for packed rows. */
  line: number;
}

/** Tokens per chunk (4 MiB of ids + 1 MiB of mask), or the longest example when that is longer. */
const CHUNK_TOKENS = 1 << 20;

/**
 * Tokenized examples in typed-array chunks. Memory: 5 bytes per token (u32 id + u8 mask), 16 bytes
 * per example (+ 4 per packed segment), and at most one partly filled chunk per `chunkTokens`.
 */
export class ExampleStore implements ExampleList {
  private idChunks: Uint32Array[] = [];
  private maskChunks: Uint8Array[] = [];
  private fill = 0; // tokens used in the last chunk
  private chunkOf = new U32Vec();
  private offset = new U32Vec();
  private len = new U32Vec();
  private lines = new U32Vec();
  /** Packed rows: segStart[i]..segStart[i+1] index `segs` (the row's example starts); absent for plain examples. */
  private segStart: U32Vec | null = null;
  private segs: U32Vec | null = null;
  /** Total tokens held. */
  tokens = 0;

  constructor(private readonly chunkTokens = CHUNK_TOKENS) {}

  get length(): number {
    return this.len.length;
  }

  /** Appends one example (ids and mask copied into the store; `segments` for a packed row). */
  add(ids: ArrayLike<number>, mask: ArrayLike<boolean | number> | undefined, line: number, segments?: ArrayLike<number>): void {
    const n = ids.length;
    let last = this.idChunks.length - 1;
    if (last < 0 || this.fill + n > this.idChunks[last].length) {
      const size = Math.max(this.chunkTokens, n);
      this.idChunks.push(new Uint32Array(size));
      this.maskChunks.push(new Uint8Array(size));
      this.fill = 0;
      last++;
    }
    const idc = this.idChunks[last];
    const mc = this.maskChunks[last];
    const o = this.fill;
    for (let i = 0; i < n; i++) {
      idc[o + i] = ids[i];
      mc[o + i] = mask === undefined || mask[i] ? 1 : 0;
    }
    this.fill += n;
    this.tokens += n;
    this.chunkOf.push(last);
    this.offset.push(o);
    this.len.push(n);
    this.lines.push(line);
    if (segments !== undefined || this.segs) {
      if (!this.segs) {
        // The first packed row: earlier rows were single examples starting at 0.
        this.segs = new U32Vec();
        this.segStart = new U32Vec();
        for (let i = 0; i < this.length - 1; i++) {
          this.segStart.push(this.segs.length);
          this.segs.push(0);
        }
      }
      this.segStart!.push(this.segs.length);
      for (const s of Array.from(segments ?? [0])) this.segs.push(s);
    }
  }

  /** Token count of example i. */
  lengthOf(i: number): number {
    return this.len.data[i];
  }

  /** Line (Parquet: row) of example i's record. */
  lineOf(i: number): number {
    return this.lines.data[i];
  }

  /** Example i as views into the store (no copy), or undefined out of range. */
  at(i: number): StoredExample | undefined {
    if (i < 0) i += this.length;
    if (!(i >= 0 && i < this.length)) return undefined;
    const c = this.chunkOf.data[i];
    const o = this.offset.data[i];
    const n = this.len.data[i];
    const ex: StoredExample = { ids: this.idChunks[c].subarray(o, o + n), trainMask: this.maskChunks[c].subarray(o, o + n), line: this.lines.data[i] };
    if (this.segs && this.segStart) {
      const a = this.segStart.data[i];
      const b = i + 1 < this.length ? this.segStart.data[i + 1] : this.segs.length;
      if (b - a > 1) ex.segments = Array.from(this.segs.data.subarray(a, b));
    }
    return ex;
  }

  /** Bytes of typed arrays the store holds (chunks allocated + per-example tables). */
  get bytes(): number {
    let b = 0;
    for (const c of this.idChunks) b += c.byteLength * 1.25;
    for (const v of [this.chunkOf, this.offset, this.len, this.lines, this.segStart, this.segs]) if (v) b += v.data.byteLength;
    return b;
  }
}

/** A subset of a store (a split), in the given order: `indices` name examples of `store`. */
export class ExampleView implements ExampleList, Iterable<StoredExample> {
  constructor(
    readonly store: ExampleStore,
    readonly indices: Uint32Array,
  ) {}

  get length(): number {
    return this.indices.length;
  }

  at(i: number): StoredExample | undefined {
    if (i < 0) i += this.length;
    return i >= 0 && i < this.length ? this.store.at(this.indices[i]) : undefined;
  }

  *[Symbol.iterator](): Iterator<StoredExample> {
    for (let i = 0; i < this.length; i++) yield this.at(i)!;
  }

  map<U>(fn: (e: StoredExample, i: number) => U): U[] {
    const out: U[] = [];
    for (let i = 0; i < this.length; i++) out.push(fn(this.at(i)!, i));
    return out;
  }
}

/** Every example of a store, in order. */
export function viewAll(store: ExampleStore): ExampleView {
  const idx = new Uint32Array(store.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return new ExampleView(store, idx);
}
