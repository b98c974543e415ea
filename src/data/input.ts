// Where dataset bytes come from, and turning them into text. Browser-safe: no Node APIs. A data
// file is a byte stream (so files of hundreds of MB are never held whole) with an optional random
// access `slice` (Parquet keeps its index at the end of the file). The browser builds one from a
// File (fileInput), Node from a path (src/cli/data-input.ts), tests from bytes (bytesInput).

import { OptionError } from '../options';

/**
 * A data file (or data option) that cannot be used: empty, not UTF-8, malformed, no usable
 * examples, a bad row when onBadRows is 'stop', a Hub dataset that cannot be listed. The message
 * names the file (and line or row where there is one) and what to do; options appear as OptionRefs,
 * worded by each host (a CLI flag, a studio knob's label).
 */
export class DatasetError extends OptionError {
  override name = 'DatasetError';
}

/**
 * A data file as a byte source the engine can read without Node or the DOM: a re-startable stream
 * of chunks (so files of hundreds of MB are never held whole), with optional random access for
 * Parquet and optional shards read as one dataset. Built by fileInput (browser), bytesInput
 * (memory), src/cli/data-input.ts (Node), hubParquetInput (Hub dataset viewer).
 */
export interface DataInput {
  /** The file name used in messages (a path or the File's name). */
  readonly name: string;
  /** Size in bytes when known. */
  readonly size?: number;
  /** The bytes, front to back, in chunks. May be called more than once. */
  stream(): AsyncIterable<Uint8Array>;
  /** Bytes [start, end), for formats that need random access (Parquet). */
  slice?(start: number, end: number): Promise<Uint8Array>;
  /**
   * Several Parquet files read one after another as one dataset (a Hub split stored as shards):
   * the Parquet reader reads each part in turn, numbering rows on across them. `stream()` is
   * then the parts' bytes back to back (enough to sniff the format).
   */
  readonly parts?: readonly DataInput[];
}

/** A browser File or Blob (File.stream() / Blob.slice()). */
export function fileInput(file: Blob, name = (file as File).name ?? 'data'): DataInput {
  return {
    name,
    size: file.size,
    stream: () => readableToIterable(file.stream() as ReadableStream<Uint8Array>),
    slice: async (start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer()),
  };
}

/** Bytes or text held in memory, streamed in chunks of `chunkSize` (tests, pasted data). */
export function bytesInput(name: string, data: Uint8Array | string, chunkSize = 1 << 16): DataInput {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return {
    name,
    size: bytes.length,
    async *stream() {
      for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, Math.min(bytes.length, i + chunkSize));
    },
    slice: async (start, end) => bytes.slice(start, end),
  };
}

async function* readableToIterable(rs: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = rs.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * The input with a count of the bytes read through it (progress): bytes streamed, plus bytes of
 * `slice` reads (Parquet), capped at the size; parts (a Hub split's shards) are counted too.
 */
export function countingInput(input: DataInput): { input: DataInput; bytesRead: () => number } {
  let read = 0;
  const wrap = (d: DataInput): DataInput => ({
    name: d.name,
    size: d.size,
    async *stream() {
      for await (const c of d.stream()) {
        read += c.length;
        yield c;
      }
    },
    ...(d.slice
      ? {
          slice: async (start: number, end: number) => {
            const b = await d.slice!(start, end);
            read += b.length;
            return b;
          },
        }
      : {}),
    ...(d.parts ? { parts: d.parts.map(wrap) } : {}),
  });
  return { input: wrap(input), bytesRead: () => (input.size !== undefined ? Math.min(read, input.size) : read) };
}

/** First `n` bytes of the input (format sniffing). */
export async function peekBytes(input: DataInput, n: number): Promise<Uint8Array> {
  if (input.slice) return input.slice(0, input.size !== undefined ? Math.min(n, input.size) : n);
  const parts: Uint8Array[] = [];
  let got = 0;
  for await (const c of input.stream()) {
    parts.push(c);
    got += c.length;
    if (got >= n) break;
  }
  return concatBytes(parts).subarray(0, n);
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The whole input (only for formats that cannot be streamed and inputs without `slice`). */
export async function readAllBytes(input: DataInput): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of input.stream()) parts.push(c.slice());
  return concatBytes(parts);
}

/** Names the encoding when the bytes start with a byte-order mark other than UTF-8's. */
function foreignBom(b: Uint8Array): string | null {
  if (b[0] === 0x00 && b[1] === 0x00 && b[2] === 0xfe && b[3] === 0xff) return 'UTF-32 (big-endian)';
  if (b[0] === 0xff && b[1] === 0xfe && b[2] === 0x00 && b[3] === 0x00) return 'UTF-32 (little-endian)';
  if (b[0] === 0xff && b[1] === 0xfe) return 'UTF-16 (little-endian)';
  if (b[0] === 0xfe && b[1] === 0xff) return 'UTF-16 (big-endian)';
  return null;
}

/** Index of the first byte that starts an invalid or overlong UTF-8 sequence, or -1. A sequence cut at the end is not an error. */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  for (let i = 0; i < n; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) (len = 2), (min = 0x80);
    else if (c >= 0xe0 && c <= 0xef) (len = 3), (min = 0x800);
    else if (c >= 0xf0 && c <= 0xf4) (len = 4), (min = 0x10000);
    else return i;
    if (i + len > n) {
      for (let k = i + 1; k < n; k++) if ((b[k] & 0xc0) !== 0x80) return i;
      return -1;
    }
    let cp = c & (0xff >> (len + 1));
    for (let k = 1; k < len; k++) {
      const d = b[i + k];
      if ((d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return -1;
}

function countNewlines(b: Uint8Array, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (b[i] === 0x0a) n++;
  return n;
}

const NOT_UTF8 = 'is not UTF-8 text';

/**
 * The input as UTF-8 text in chunks (no BOM). Other encodings get a clear message: a UTF-16/32
 * byte-order mark is named, and an invalid byte is reported with its line number.
 */
export async function* textChunks(input: DataInput): AsyncIterable<string> {
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let head: Uint8Array | null = new Uint8Array(0); // bytes held until the BOM check (4 bytes) is possible
  let lines = 0;
  let carry: Uint8Array | null = null; // an incomplete sequence at a chunk end, for the line count on error
  const decode = function* (chunk: Uint8Array, stream: boolean): Generator<string> {
    let s: string;
    try {
      s = dec.decode(chunk, { stream });
    } catch {
      const all: Uint8Array = carry ? concatBytes([carry, chunk]) : chunk;
      const bad = firstInvalidUtf8(all);
      const line = lines + 1 + countNewlines(all, bad < 0 ? all.length : bad);
      const what = bad < 0 ? 'it ends inside a multi-byte character' : `invalid byte 0x${all[bad].toString(16).padStart(2, '0')}`;
      throw new DatasetError(`${input.name}:${line}: the file ${NOT_UTF8} (${what}); it may be Latin-1/Windows-1252 or binary. Re-save it as UTF-8.`);
    }
    // Keep the bytes of a sequence cut at the chunk end (at most 3) for a later error message.
    let k = chunk.length;
    while (k > 0 && chunk.length - k < 3 && (chunk[k - 1] & 0xc0) === 0x80) k--;
    carry = k > 0 && chunk[k - 1] >= 0xc0 ? chunk.slice(k - 1) : null;
    lines += countNewlines(chunk, carry ? chunk.length - carry.length : chunk.length);
    if (s) yield s;
  };
  const checkBom = (b: Uint8Array) => {
    const enc = foreignBom(b);
    if (enc) throw new DatasetError(`${input.name}: the file is ${enc} text; only UTF-8 is supported. Re-save it as UTF-8 (in most editors: Save with encoding → UTF-8).`);
    const packed = b[0] === 0x1f && b[1] === 0x8b ? 'gzip-compressed' : b[0] === 0x50 && b[1] === 0x4b && b[2] === 3 && b[3] === 4 ? 'a zip archive' : null;
    if (packed) throw new DatasetError(`${input.name}: the file is ${packed}; extract the data file from it first.`);
  };
  for await (const chunk of input.stream()) {
    if (head) {
      head = concatBytes([head, chunk]);
      if (head.length < 4) continue;
      checkBom(head);
      const h = head;
      head = null;
      yield* decode(h, true);
      continue;
    }
    yield* decode(chunk, true);
  }
  if (head) {
    checkBom(head);
    yield* decode(head, true);
  }
  yield* decode(new Uint8Array(0), false);
}

/** Counts the bytes a reader holds at once (the streaming test checks it stays small). */
export interface BufferMeter {
  /** Largest number of characters held in the reader's own buffers at one time. */
  maxBuffered: number;
}

/** Lines of the text (without the line break; "\r\n" handled), numbered from 1. */
export async function* textLines(input: DataInput, meter?: BufferMeter): AsyncIterable<{ line: number; text: string }> {
  let partial = '';
  let line = 0;
  for await (const s of textChunks(input)) {
    let start = 0;
    const buf = partial + s;
    if (meter && buf.length > meter.maxBuffered) meter.maxBuffered = buf.length;
    for (;;) {
      const nl = buf.indexOf('\n', start);
      if (nl < 0) break;
      line++;
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield { line, text: buf.slice(start, end) };
      start = nl + 1;
    }
    partial = buf.slice(start);
  }
  if (partial.length) {
    line++;
    yield { line, text: partial.endsWith('\r') ? partial.slice(0, -1) : partial };
  }
}
