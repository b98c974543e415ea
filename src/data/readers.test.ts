// File formats, encodings and streaming: every reader on files the test writes, record by record
// with the line each came from, malformed records reported (not dropped), file-level problems as
// one clear message, and large files read with bounded memory.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFileInput } from '../cli/data-input';
import { bytesInput, DatasetError, fileInput, firstInvalidUtf8, textChunks, type BufferMeter, type DataInput } from './input';
import { detectFileFormat, readRecords, type FileFormat, type RawRecord } from './readers';
import { writeParquet } from './testutil';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'data-readers-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function all(input: DataInput, format?: FileFormat, meter?: BufferMeter): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const r of readRecords(input, format ?? (await detectFileFormat(input)), { meter })) out.push(r);
  return out;
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return (e as Error).message;
  }
  throw new Error('expected a DatasetError');
}

// Chunk sizes that split lines, quotes and multi-byte characters at every possible place.
const CHUNKS = [1, 3, 7, 1 << 16];

describe('format detection', () => {
  const cases: [string, string | Uint8Array, FileFormat][] = [
    ['a.jsonl', '{"text":"x"}\n', 'jsonl'],
    ['a.ndjson', '{"text":"x"}\n', 'jsonl'],
    ['a.json', '[{"text":"x"}]', 'json'],
    ['a.json', '{"text":"x"}\n{"text":"y"}\n', 'jsonl'], // JSON Lines named .json
    ['a.json', '{\n  "data": [{"text": "x"}]\n}', 'json'], // pretty-printed holder
    ['data', '{"rows": [{"text": "x"}]}', 'json'], // one-line holder
    ['data', '{"text": "x"}', 'jsonl'], // one record on one line
    ['data', '  [1, 2]', 'json'],
    ['a.csv', 'a,b\n1,2\n', 'csv'],
    ['a.tsv', 'a\tb\n1\t2\n', 'tsv'],
    ['a.txt', '{"text": "x"}\n', 'text'], // the name wins: a .txt file is text
    ['notes', 'hello\nworld\n', 'text'],
    ['blob.bin', writeParquet([{ name: 'text', type: 'string', values: ['x'] }]), 'parquet'], // by magic bytes
  ];
  for (const [name, data, want] of cases) {
    it(`${name}: ${JSON.stringify(typeof data === 'string' ? data.slice(0, 24) : 'PAR1…')} → ${want}`, async () => {
      expect(await detectFileFormat(bytesInput(name, data))).toBe(want);
    });
  }
});

describe('JSON Lines', () => {
  it('one record per line with its line number; blank lines, CRLF and a BOM are handled at any chunking', async () => {
    const text = '\ufeff{"text":"a"}\r\n\r\n{"text":"é€😀"}\n   \n{"text":"c"}';
    for (const c of CHUNKS) {
      const r = await all(bytesInput('x.jsonl', text, c), 'jsonl');
      expect(r).toEqual([
        { line: 1, value: { text: 'a' } },
        { line: 3, value: { text: 'é€😀' } },
        { line: 5, value: { text: 'c' } },
      ]);
    }
  });
  it('a malformed line is reported with its line number and the rest is still read', async () => {
    const r = await all(bytesInput('x.jsonl', '{"text":"a"}\n{"text": "b",}\n{"text":"c"}\n'), 'jsonl');
    expect(r.map((x) => x.line)).toEqual([1, 2, 3]);
    expect(r[1].error).toMatch(/^not valid JSON \(.+\)/);
    expect(r[2].value).toEqual({ text: 'c' });
  });
});

describe('JSON', () => {
  const pretty = JSON.stringify(
    [{ instruction: 'a [x] {y}', output: 'quote " and \\ and ]' }, { instruction: 'b', output: 'c', extra: { nested: [1, 2, { z: ']' }] } }, 'plain string', 42],
    null,
    2,
  );
  it('a top-level array, element by element with the line where each starts', async () => {
    for (const c of CHUNKS) {
      const r = await all(bytesInput('x.json', pretty, c), 'json');
      expect(r.map((x) => x.value)).toEqual(JSON.parse(pretty));
      const lines = pretty.split('\n');
      for (const x of r) expect(lines[x.line - 1].trim().length).toBeGreaterThan(0);
      expect(r[0].line).toBe(2);
      expect(r[1].line).toBe(lines.findIndex((l) => l.includes('"b"')));
    }
  });
  it('an object holding the records array: the first array-valued key is read and named', async () => {
    const text = '{"version": "1.0", "meta": {"a": [1]}, "data": [{"text": "x"}, {"text": "y"}], "other": [{"text": "z"}]}';
    let key: string | null | undefined;
    let ignored: string[] = [];
    const out: RawRecord[] = [];
    for await (const r of readRecords(bytesInput('x.json', text, 5), 'json', { onJsonKey: (k, i) => ((key = k), (ignored = i)) })) out.push(r);
    expect(out.map((r) => r.value)).toEqual([{ text: 'x' }, { text: 'y' }]);
    expect(key).toBe('data');
    expect(ignored).toEqual(['other']);
  });
  it('a malformed element is reported with its line; an empty slot too', async () => {
    const r = await all(bytesInput('x.json', '[\n {"text": "a"},\n {"text": "b" "c"},\n ,\n {"text": "d"}\n]'), 'json');
    expect(r[0]).toEqual({ line: 2, value: { text: 'a' } });
    expect(r[1].line).toBe(3);
    expect(r[1].error).toMatch(/not valid JSON/);
    expect(r[2]).toEqual({ line: 4, error: 'empty element (two commas in a row)' });
    expect(r[3]).toEqual({ line: 5, value: { text: 'd' } });
  });
  it('file-level problems: truncated, no records array, two values, not an array', async () => {
    expect(await failure(all(bytesInput('t.json', '[{"text": "a"},\n{"text": "b'), 'json'))).toMatch(/t\.json:2: the JSON ends before its array is closed; the file may be truncated/);
    expect(await failure(all(bytesInput('o.json', '{"name": "x", "size": 3}'), 'json'))).toMatch(/o\.json: the JSON object holds no array of records \(keys: name, size\)/);
    expect(await failure(all(bytesInput('two.json', '[1]\n[2]'), 'json'))).toMatch(/two\.json:2: more than one JSON value.*name it \.jsonl/);
    expect(await failure(all(bytesInput('n.json', '42'), 'json'))).toMatch(/n\.json:1: expected a JSON array of records/);
  });
});

describe('CSV and TSV (papaparse)', () => {
  const csv =
    'instruction,input,output\r\n' +
    '"Say ""hi""",,Hi!\r\n' +
    '"Two\r\nlines",x,"and, a comma"\r\n' +
    '\r\n' +
    'short,row\r\n' +
    'last,y,"multi\nline\nvalue"\r\n' +
    'after,z,w';
  it('quoted fields, "" escapes, embedded newlines, blank lines; each row with the line it starts on', async () => {
    for (const c of CHUNKS) {
      const r = await all(bytesInput('x.csv', csv, c), 'csv');
      expect(r).toEqual([
        { line: 2, value: { instruction: 'Say "hi"', input: '', output: 'Hi!' } },
        { line: 3, value: { instruction: 'Two\r\nlines', input: 'x', output: 'and, a comma' } },
        { line: 6, error: 'has 2 fields but the header has 3 (columns: instruction, input, output)' },
        { line: 7, value: { instruction: 'last', input: 'y', output: 'multi\nline\nvalue' } },
        { line: 10, value: { instruction: 'after', input: 'z', output: 'w' } },
      ]);
    }
  });
  it('TSV', async () => {
    const r = await all(bytesInput('x.tsv', 'prompt\tcompletion\nA, B\t"C\tD"\n'), 'tsv');
    expect(r).toEqual([{ line: 2, value: { prompt: 'A, B', completion: 'C\tD' } }]);
  });
  it('an unterminated quote is a bad row at its line; a duplicate header name is a file error', async () => {
    const r = await all(bytesInput('q.csv', 'a,b\n1,2\n3,"never closed\n5,6\n'), 'csv');
    expect(r[0]).toEqual({ line: 2, value: { a: '1', b: '2' } });
    expect(r[1].line).toBe(3);
    expect(r[1].error).toMatch(/quoted field is never closed/);
    expect(await failure(all(bytesInput('d.csv', 'a,b,a\n1,2,3\n'), 'csv'))).toMatch(/d\.csv:1: the CSV header names column "a" twice/);
  });
});

describe('Parquet (hyparquet)', () => {
  const n = 25;
  const pq = writeParquet(
    [
      { name: 'instruction', type: 'string', values: Array.from({ length: n }, (_, i) => `do ${i} — ünïcode`) },
      { name: 'input', type: 'string', values: Array.from({ length: n }, (_, i) => (i % 3 ? null : `in ${i}`)) },
      { name: 'output', type: 'string', values: Array.from({ length: n }, (_, i) => `out ${i}`) },
      { name: 'id', type: 'int64', values: Array.from({ length: n }, (_, i) => BigInt(i) * 10000000000n) },
    ],
    7,
  );
  it('reads every row group, row numbers from 1, nulls and int64 kept', async () => {
    const r = await all(bytesInput('x.parquet', pq), 'parquet');
    expect(r).toHaveLength(n);
    r.forEach((x, i) => {
      expect(x.line).toBe(i + 1);
      expect(x.value).toEqual({ instruction: `do ${i} — ünïcode`, input: i % 3 ? null : `in ${i}`, output: `out ${i}`, id: BigInt(i) * 10000000000n });
    });
  });
  it('reads from a file on disk by ranges (the Node adapter) and from a stream without random access', async () => {
    const f = join(tmp, 'x.parquet');
    writeFileSync(f, pq);
    expect((await all(nodeFileInput(f))).map((x) => x.line)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const b = bytesInput('nos.parquet', pq, 5);
    const streamOnly: DataInput = { name: b.name, stream: b.stream };
    expect(await all(streamOnly, 'parquet')).toHaveLength(n);
  });
  it('an unsupported codec or a broken file is one clear message', async () => {
    const z = writeParquet([{ name: 'text', type: 'string', values: ['a'] }], 10, 6);
    expect(await failure(all(bytesInput('z.parquet', z), 'parquet'))).toMatch(/z\.parquet: cannot read the Parquet file: .*ZSTD.*Re-save it with snappy/);
    expect(await failure(all(bytesInput('b.parquet', pq.slice(0, 100)), 'parquet'))).toMatch(/b\.parquet: cannot read the Parquet file/);
  });
});

describe('browser input (File / Blob)', () => {
  it('fileInput streams a File and slices it for Parquet', async () => {
    const text = 'a,b\n"x\ny",2\n';
    const f = new File([text], 'drop.csv');
    expect(await all(fileInput(f))).toEqual([{ line: 2, value: { a: 'x\ny', b: '2' } }]);
    const pq = writeParquet([{ name: 'text', type: 'string', values: ['p', 'q'] }], 1);
    const r = await all(fileInput(new Blob([pq]), 'drop.parquet'));
    expect(r.map((x) => x.value)).toEqual([{ text: 'p' }, { text: 'q' }]);
  });
});

describe('plain text', () => {
  it('one example per non-blank line', async () => {
    expect(await all(bytesInput('x.txt', 'one\n\n  \ntwo\r\nthree'), 'text')).toEqual([
      { line: 1, value: { text: 'one' } },
      { line: 4, value: { text: 'two' } },
      { line: 5, value: { text: 'three' } },
    ]);
  });
});

describe('encodings', () => {
  it('UTF-16 and UTF-32 files are named, not misread', async () => {
    const le = new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]);
    expect(await failure(all(bytesInput('u16.jsonl', le), 'jsonl'))).toMatch(/u16\.jsonl: the file is UTF-16 \(little-endian\) text; only UTF-8 is supported/);
    const be = new Uint8Array([0xfe, 0xff, 0x00, 0x7b]);
    expect(await failure(all(bytesInput('u16be.csv', be, 1), 'csv'))).toMatch(/UTF-16 \(big-endian\)/);
    expect(await failure(all(bytesInput('u32.txt', new Uint8Array([0xff, 0xfe, 0, 0, 0x41, 0, 0, 0])), 'text'))).toMatch(/UTF-32/);
  });
  it('a Latin-1 byte is reported with its line, at any chunking', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"text":"ok"}\n{"text":"ok é"}\n{"text":"caf'), 0xe9, ...new TextEncoder().encode('"}\n')]);
    for (const c of CHUNKS) {
      expect(await failure(all(bytesInput('latin.jsonl', bytes, c), 'jsonl'))).toMatch(/^latin\.jsonl:3: the file is not UTF-8 text \(invalid byte 0xe9\).*Re-save it as UTF-8/);
    }
  });
  it('compressed files are named, not misread', async () => {
    expect(await failure(all(bytesInput('x.jsonl.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0])), 'jsonl'))).toMatch(/x\.jsonl\.gz: the file is gzip-compressed; extract the data file/);
    expect(await failure(all(bytesInput('x.zip', new Uint8Array([0x50, 0x4b, 3, 4, 0, 0])), 'csv'))).toMatch(/x\.zip: the file is a zip archive/);
  });
  it('a file cut inside a multi-byte character', async () => {
    const bytes = new TextEncoder().encode('a\nb€').slice(0, -1);
    expect(await failure(all(bytesInput('cut.txt', bytes), 'text'))).toMatch(/cut\.txt:2: .*ends inside a multi-byte character/);
  });
  it('firstInvalidUtf8 rejects overlong forms and surrogates, accepts a sequence cut at the end', () => {
    expect(firstInvalidUtf8(new Uint8Array([0x41, 0xc0, 0x80]))).toBe(1);
    expect(firstInvalidUtf8(new Uint8Array([0xed, 0xa0, 0x80]))).toBe(0);
    expect(firstInvalidUtf8(new Uint8Array([0x41, 0xe2, 0x82]))).toBe(-1);
    expect(firstInvalidUtf8(new TextEncoder().encode('héllo €😀'))).toBe(-1);
  });
  it('text chunks reassemble multi-byte characters split across chunks', async () => {
    const s = 'é€😀'.repeat(50);
    let got = '';
    for await (const c of textChunks(bytesInput('x', s, 1))) got += c;
    expect(got).toBe(s);
  });
});

describe('streaming large files', () => {
  async function writeBig(path: string, header: string, row: (i: number) => string, bytes: number, footer = ''): Promise<number> {
    const ws = createWriteStream(path);
    let size = 0;
    let i = 0;
    const w = async (s: string) => {
      size += Buffer.byteLength(s);
      if (!ws.write(s)) await once(ws, 'drain');
    };
    await w(header);
    while (size < bytes) await w(row(i++));
    await w(footer);
    ws.end();
    await once(ws, 'finish');
    return i;
  }

  it('a 60 MB JSONL file is read in a process whose heap is capped at 48 MB', async () => {
    const path = join(tmp, 'big.jsonl');
    const pad = 'lorem ipsum dolor sit amet '.repeat(20);
    const n = await writeBig(path, '', (i) => JSON.stringify({ instruction: `task ${i}`, output: `${pad}${i}` }) + '\n', 60e6);
    expect(statSync(path).size).toBeGreaterThan(60e6);
    // The reader runs in a child process that cannot hold the file: V8 aborts if the heap passes the cap
    // (the file alone would take 120 MB as a JS string, 60 MB as bytes).
    const script = join(tmp, 'stream-child.mts');
    writeFileSync(
      script,
      `import { nodeFileInput } from ${JSON.stringify(join(ROOT, 'src/cli/data-input.ts'))};
import { readRecords } from ${JSON.stringify(join(ROOT, 'src/data/readers/index.ts'))};
const meter = { maxBuffered: 0 };
let count = 0, last = 0, bad = 0, peak = 0;
const t0 = performance.now();
for await (const r of readRecords(nodeFileInput(process.argv[2], 1 << 20), 'jsonl', { meter })) {
  count++; last = r.line; if (r.error) bad++;
  if (count % 2000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
}
console.log(JSON.stringify({ count, last, bad, maxBuffered: meter.maxBuffered, peakHeap: peak, secs: (performance.now() - t0) / 1000 }));
`,
    );
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [script, path], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=48 --max-semi-space-size=2' },
      timeout: 120_000,
    });
    expect(r.stderr.replace(/npm warn.*\n/g, '')).not.toMatch(/heap out of memory|Error/);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.count).toBe(n);
    expect(out.last).toBe(n);
    expect(out.bad).toBe(0);
    // The reader itself holds one chunk (1 MB of bytes → ≤ 1M characters) plus a partial line.
    expect(out.maxBuffered).toBeLessThan(1.1e6);
    expect(out.peakHeap).toBeLessThan(48e6);
  });

  it('CSV and JSON-array files stream too (bounded buffers)', async () => {
    const pad = 'x, "quoted" text\nwith a line break '.repeat(8);
    const csvPath = join(tmp, 'big.csv');
    const nCsv = await writeBig(csvPath, 'prompt,completion\n', (i) => `"p ${i}","${pad.replace(/"/g, '""')}${i}"\n`, 12e6);
    const meter: BufferMeter = { maxBuffered: 0 };
    let count = 0;
    let last: RawRecord | null = null;
    for await (const r of readRecords(nodeFileInput(csvPath, 1 << 20), 'csv', { meter })) {
      count++;
      last = r;
    }
    expect(count).toBe(nCsv);
    expect(last!.line).toBe(2 + (nCsv - 1) * 9); // each row spans 9 lines (8 embedded line breaks)
    expect(meter.maxBuffered).toBeLessThan(1.1e6 + 2000);

    const jsonPath = join(tmp, 'big.json');
    const nJson = await writeBig(jsonPath, '{"data": [\n', (i) => (i ? ',\n' : '') + JSON.stringify({ text: `${pad}${i}` }), 12e6, '\n]}\n');
    const jm: BufferMeter = { maxBuffered: 0 };
    count = 0;
    for await (const r of readRecords(nodeFileInput(jsonPath, 1 << 20), 'json', { meter: jm })) {
      if (r.error) throw new Error(r.error);
      count++;
    }
    expect(count).toBe(nJson);
    expect(jm.maxBuffered).toBeLessThan(1.1e6);
  });
});
