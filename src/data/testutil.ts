// Test helper (tests only): writes small Parquet files — flat columns of strings (optionally
// nullable) and int64, PLAIN encoding, data page v1, one page per column chunk, several row
// groups — enough to exercise the Parquet reader without a Parquet library that writes.

type ParquetColumn = { name: string; type: 'string'; values: (string | null)[] } | { name: string; type: 'int64'; values: bigint[] };

/** Appends `items` to `out` one by one (a spread of a large page would overflow the call stack). */
function append(out: number[], ...parts: ArrayLike<number>[]): void {
  for (const part of parts) for (let i = 0; i < part.length; i++) out.push(part[i]);
}

class Thrift {
  bytes: number[] = [];
  private last: number[] = [0];
  varint(n: number | bigint) {
    let v = BigInt(n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (v > 0n);
  }
  zigzag(n: number | bigint) {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }
  field(id: number, type: number) {
    const delta = id - this.last[this.last.length - 1];
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number) {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number | bigint) {
    this.field(id, 6);
    this.zigzag(v);
  }
  str(id: number, s: string) {
    this.field(id, 8);
    const b = new TextEncoder().encode(s);
    this.varint(b.length);
    this.bytes.push(...b);
  }
  struct(id: number, body: () => void) {
    this.field(id, 12);
    this.begin(body);
  }
  begin(body: () => void) {
    this.last.push(0);
    body();
    this.bytes.push(0);
    this.last.pop();
  }
  list(id: number, elemType: number, items: (() => void)[]) {
    this.field(id, 9);
    if (items.length < 15) this.bytes.push((items.length << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(items.length);
    }
    for (const it of items) it();
  }
}

/** One RLE run per stretch of equal definition levels (bit width 1), length-prefixed (data page v1). */
function defLevels(present: boolean[]): number[] {
  const runs: number[] = [];
  for (let i = 0; i < present.length; ) {
    let j = i;
    while (j < present.length && present[j] === present[i]) j++;
    const t = new Thrift();
    t.varint((j - i) << 1);
    runs.push(...t.bytes, present[i] ? 1 : 0);
    i = j;
  }
  const len = runs.length;
  return [len & 255, (len >> 8) & 255, (len >> 16) & 255, (len >>> 24) & 255, ...runs];
}

function plain(col: ParquetColumn, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const v = col.values[i];
    if (v === null) continue;
    if (col.type === 'int64') {
      const dv = new DataView(new ArrayBuffer(8));
      dv.setBigInt64(0, v as bigint, true);
      out.push(...new Uint8Array(dv.buffer));
    } else {
      const b = new TextEncoder().encode(v as string);
      out.push(b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255, (b.length >>> 24) & 255, ...b);
    }
  }
  return out;
}

/** A Parquet file with the given columns, split into row groups of `rowGroupSize` rows. `codec` 0 = uncompressed (6 = ZSTD, for the unsupported-codec test: the data is not actually compressed). */
export function writeParquet(columns: ParquetColumn[], rowGroupSize = 1000, codec = 0): Uint8Array<ArrayBuffer> {
  const n = columns[0].values.length;
  const file: number[] = [0x50, 0x41, 0x52, 0x31];
  const nullable = columns.map((c) => c.type === 'string' && c.values.some((v) => v === null));
  const groups: { offset: number; size: number; rows: number; chunks: { offset: number; size: number; values: number }[] }[] = [];
  for (let start = 0; start < n; start += rowGroupSize) {
    const end = Math.min(n, start + rowGroupSize);
    const g = { offset: file.length, size: 0, rows: end - start, chunks: [] as { offset: number; size: number; values: number }[] };
    columns.forEach((col, ci) => {
      const body = [...(nullable[ci] ? defLevels(col.values.slice(start, end).map((v) => v !== null)) : []), ...plain(col, start, end)];
      const h = new Thrift();
      h.begin(() => {
        h.i32(1, 0); // DATA_PAGE
        h.i32(2, body.length);
        h.i32(3, body.length);
        h.struct(5, () => {
          h.i32(1, end - start);
          h.i32(2, 0); // PLAIN
          h.i32(3, 3); // RLE
          h.i32(4, 3);
        });
      });
      const offset = file.length;
      append(file, h.bytes, body);
      g.chunks.push({ offset, size: h.bytes.length + body.length, values: end - start });
    });
    g.size = file.length - g.offset;
    groups.push(g);
  }
  const m = new Thrift();
  m.begin(() => {
    m.i32(1, 1);
    m.list(2, 12, [
      () => m.begin(() => {
        m.str(4, 'schema');
        m.i32(5, columns.length);
      }),
      ...columns.map((c, ci) => () => m.begin(() => {
        m.i32(1, c.type === 'int64' ? 2 : 6);
        m.i32(3, nullable[ci] ? 1 : 0);
        m.str(4, c.name);
        if (c.type === 'string') m.i32(6, 0); // UTF8
      })),
    ]);
    m.i64(3, n);
    m.list(4, 12, groups.map((g) => () => m.begin(() => {
      m.list(1, 12, g.chunks.map((ch, ci) => () => m.begin(() => {
        m.i64(2, ch.offset);
        m.struct(3, () => {
          m.i32(1, columns[ci].type === 'int64' ? 2 : 6);
          m.list(2, 5, [() => m.zigzag(0), () => m.zigzag(3)]);
          m.list(3, 8, [() => {
            const b = new TextEncoder().encode(columns[ci].name);
            m.varint(b.length);
            m.bytes.push(...b);
          }]);
          m.i32(4, codec);
          m.i64(5, ch.values);
          m.i64(6, ch.size);
          m.i64(7, ch.size);
          m.i64(9, ch.offset);
        });
      })));
      m.i64(2, g.size);
      m.i64(3, g.rows);
    })));
  });
  const len = m.bytes.length;
  append(file, m.bytes);
  file.push(len & 255, (len >> 8) & 255, (len >> 16) & 255, (len >>> 24) & 255, 0x50, 0x41, 0x52, 0x31);
  return Uint8Array.from(file);
}

/** A file of a fake Hub dataset's Parquet export. */
export interface FakeHubFile {
  config: string;
  split: string;
  name: string;
  bytes: Uint8Array;
}

/**
 * A fake Hub for one dataset (tests only): the dataset viewer's /parquet listing of `files` (or
 * `answer` instead), and each file at its refs/convert/parquet resolve URL, honouring Range
 * (or answering `fileStatus`). Every request is recorded with its Range and Authorization.
 */
export function fakeHubFetch(dataset: string, files: FakeHubFile[], opts: { answer?: { status: number; body: unknown }; fileStatus?: number } = {}) {
  const res = `https://huggingface.co/datasets/${dataset}/resolve/refs%2Fconvert%2Fparquet`;
  const listing = {
    parquet_files: files.map((f) => ({ dataset, config: f.config, split: f.split, url: `${res}/${f.config}/${f.split}/${f.name}`, filename: f.name, size: f.bytes.length })),
    pending: [], failed: [], partial: false,
  };
  const answer = opts.answer ?? { status: 200, body: listing };
  const requests: { url: string; range: string | null; auth: string | null }[] = [];
  const fake = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const h = new Headers(init?.headers);
    requests.push({ url, range: h.get('range'), auth: h.get('authorization') });
    if (url.startsWith('https://datasets-server.huggingface.co/parquet?')) {
      if (new URL(url).searchParams.get('dataset') !== dataset) return new Response('{"error":"wrong dataset"}', { status: 404 });
      return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
    }
    const f = files.find((x) => url === `${res}/${x.config}/${x.split}/${x.name}`);
    if (!f) return new Response('not found', { status: 404 });
    if (opts.fileStatus && opts.fileStatus !== 200) return new Response('denied', { status: opts.fileStatus });
    const m = /^bytes=(\d+)-(\d+)$/.exec(h.get('range') ?? '');
    if (!m) return new Response(f.bytes.slice(), { status: 200, headers: { 'content-length': String(f.bytes.length) } });
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), f.bytes.length - 1)];
    return new Response(f.bytes.slice(a, b + 1), { status: 206, headers: { 'content-range': `bytes ${a}-${b}/${f.bytes.length}`, 'content-length': String(b - a + 1) } });
  };
  return { fetch: fake as typeof fetch, requests };
}
