// File formats → a stream of raw records, each with the line (or Parquet row) it came from.
// JSONL, a JSON array (or an object holding one), CSV/TSV (papaparse), Parquet (hyparquet) and
// plain text (one example per non-blank line). Every reader streams: what it holds at once is a
// chunk plus the record being read, whatever the file size (Parquet: one row group at a time).
// A malformed record is yielded as { error } so the caller can skip it or stop; file-level
// problems (wrong encoding, truncated JSON, unreadable Parquet) throw DatasetError.

import Papa from 'papaparse';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { DatasetError, peekBytes, readAllBytes, textChunks, textLines, type BufferMeter, type DataInput } from './input';

export type FileFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet' | 'text';
export const FILE_FORMATS: readonly FileFormat[] = ['jsonl', 'json', 'csv', 'tsv', 'parquet', 'text'];

/** One record of the file: a value, or why it could not be read. `line` is 1-based (Parquet: the row number). */
export interface RawRecord {
  line: number;
  value?: unknown;
  error?: string;
}

/** "file:12" for text formats, "file: row 12" for Parquet. */
export function locate(file: string, format: FileFormat, line: number): string {
  return format === 'parquet' ? `${file}: row ${line}` : `${file}:${line}`;
}

/** Field names the record shapes look for (a single-line JSON object holding one of these is a record, not a holder). */
const RECORD_KEYS = ['text', 'instruction', 'output', 'prompt', 'completion', 'response', 'messages', 'conversations'];

/** The file's format from its name, else from its first bytes. */
export async function detectFileFormat(input: DataInput): Promise<FileFormat> {
  const name = input.name.toLowerCase();
  const head = await peekBytes(input, 1 << 16);
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31) return 'parquet'; // PAR1
  if (/\.parquet$/.test(name)) return 'parquet';
  if (/\.(jsonl|ndjson)$/.test(name)) return 'jsonl';
  if (/\.csv$/.test(name)) return 'csv';
  if (/\.(tsv|tab)$/.test(name)) return 'tsv';
  if (/\.(txt|text|md)$/.test(name)) return 'text';
  let s = new TextDecoder('utf-8').decode(head);
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  const t = s.trimStart();
  if (t.startsWith('[')) return 'json';
  if (t.startsWith('{')) {
    const nl = t.indexOf('\n');
    const first = (nl < 0 ? t : t.slice(0, nl)).trim();
    let obj: unknown;
    try {
      obj = JSON.parse(first);
    } catch {
      // Not one object on the first line: a pretty-printed object, or a first line longer than the peek
      // (minified JSON if the name says .json, else JSON Lines with long lines).
      if (nl < 0) return /\.json$/.test(name) ? 'json' : 'jsonl';
      return 'json';
    }
    // One object on the first line: JSON Lines, unless it is the only line and holds the records array.
    const rest = nl < 0 ? '' : t.slice(nl + 1).trim();
    if (!rest && obj && typeof obj === 'object' && !Array.isArray(obj)) {
      const o = obj as Record<string, unknown>;
      const holder = !RECORD_KEYS.some((k) => k in o) && Object.values(o).some((v) => Array.isArray(v));
      if (holder) return 'json';
    }
    return 'jsonl';
  }
  if (/\.json$/.test(name)) return 'json';
  return 'text';
}

export interface ReadOptions {
  /** Records how much the reader buffers (streaming checks). */
  meter?: BufferMeter;
  /** Called once for JSON files with the key of the holder object whose array is read (null for a top-level array). */
  onJsonKey?: (key: string | null, ignored: string[]) => void;
}

export function readRecords(input: DataInput, format: FileFormat, opts: ReadOptions = {}): AsyncIterable<RawRecord> {
  switch (format) {
    case 'jsonl':
      return jsonlRecords(input, opts.meter);
    case 'json':
      return jsonRecords(input, opts);
    case 'csv':
      return csvRecords(input, ',', opts.meter);
    case 'tsv':
      return csvRecords(input, '\t', opts.meter);
    case 'parquet':
      return parquetRecords(input);
    case 'text':
      return textRecords(input, opts.meter);
  }
}

// ---- JSON Lines ------------------------------------------------------------------------------

async function* jsonlRecords(input: DataInput, meter?: BufferMeter): AsyncIterable<RawRecord> {
  for await (const { line, text } of textLines(input, meter)) {
    if (text.trim() === '') continue;
    try {
      yield { line, value: JSON.parse(text) };
    } catch (e) {
      yield { line, error: `not valid JSON (${(e as Error).message}). Each line of a .jsonl file must be one JSON object like {"text": "..."}` };
    }
  }
}

// ---- plain text ------------------------------------------------------------------------------

async function* textRecords(input: DataInput, meter?: BufferMeter): AsyncIterable<RawRecord> {
  for await (const { line, text } of textLines(input, meter)) {
    if (text.trim() === '') continue;
    yield { line, value: { text } };
  }
}

// ---- JSON array ------------------------------------------------------------------------------

const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * A streaming splitter (not a parser): it tracks strings and nesting to find where each element of
 * the records array begins and ends, and hands each element's text to JSON.parse. The records array
 * is the top-level array, or the first array-valued key of a top-level object ({"data": [...]}).
 */
async function* jsonRecords(input: DataInput, opts: ReadOptions): AsyncIterable<RawRecord> {
  const name = input.name;
  let line = 1;
  let depth = 0;
  let inString = false;
  let escape = false;
  let top: 'array' | 'object' | null = null;
  let closed = false; // the top-level value has ended
  let inArray = false; // inside the records array
  let arrayDone = false;
  let elemDepth = -1;
  let capturing = false;
  let cap: string[] = [];
  let capLen = 0;
  let elemLine = 0;
  let afterComma = false;
  // Keys of the holder object (depth-1 strings followed by ':').
  let keyParts: string[] | null = null;
  let keyFrom = -1;
  let lastKey: string | null = null;
  const keys: string[] = [];
  let chosen: string | null = null;
  const ignored: string[] = [];
  const finish = (text: string): RawRecord => {
    const t = text.trim();
    try {
      return { line: elemLine, value: JSON.parse(t) };
    } catch (e) {
      return { line: elemLine, error: `not valid JSON (${(e as Error).message})` };
    }
  };
  for await (const s of textChunks(input)) {
    let capFrom = capturing ? 0 : -1;
    if (keyParts && inString) keyFrom = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10) line++;
      if (inString) {
        if (escape) escape = false;
        else if (c === 92) escape = true;
        else if (c === 34) {
          inString = false;
          if (keyParts) {
            keyParts.push(s.slice(keyFrom, i));
            try {
              lastKey = JSON.parse('"' + keyParts.join('') + '"') as string;
            } catch {
              lastKey = keyParts.join('');
            }
            keyParts = null;
          }
        }
        continue;
      }
      if (inArray && depth === elemDepth) {
        if (c === 44 || c === 93) {
          if (capturing) {
            cap.push(s.slice(capFrom, i));
            const rec = finish(cap.join(''));
            cap = [];
            capLen = 0;
            capturing = false;
            yield rec;
          } else if (c === 44 || afterComma) {
            if (c === 44) yield { line, error: 'empty element (two commas in a row)' };
          }
          afterComma = c === 44;
          if (c === 93) {
            inArray = false;
            arrayDone = true;
            depth--;
            if (depth === 0) closed = true;
          }
          continue;
        }
        if (!capturing && !isWs(c)) {
          capturing = true;
          capFrom = i;
          elemLine = line;
        }
      }
      if (c === 34) {
        inString = true;
        if (top === 'object' && depth === 1) {
          keyParts = [];
          keyFrom = i + 1;
        }
        continue;
      }
      if (c === 123 || c === 91) {
        if (depth === 0) {
          if (closed) throw new DatasetError(`${name}:${line}: more than one JSON value in the file; if it holds one JSON object per line, name it .jsonl.`);
          top = c === 91 ? 'array' : 'object';
          if (top === 'array') {
            inArray = true;
            elemDepth = 1;
            opts.onJsonKey?.(null, []);
          }
        } else if (top === 'object' && depth === 1 && c === 91) {
          if (chosen === null && !arrayDone) {
            chosen = lastKey ?? '';
            inArray = true;
            elemDepth = 2;
          } else ignored.push(lastKey ?? '');
        }
        depth++;
      } else if (c === 125 || c === 93) {
        depth--;
        if (depth < 0) throw new DatasetError(`${name}:${line}: unexpected '${String.fromCharCode(c)}': the JSON is malformed.`);
        if (depth === 0) closed = true;
      } else if (c === 58 && top === 'object' && depth === 1 && lastKey !== null) {
        keys.push(lastKey);
      } else if (depth === 0 && !isWs(c)) {
        if (closed) throw new DatasetError(`${name}:${line}: more than one JSON value in the file; if it holds one JSON object per line, name it .jsonl.`);
        throw new DatasetError(`${name}:${line}: expected a JSON array of records, or an object holding one like {"data": [...]}.`);
      }
    }
    if (capturing) {
      const part = s.slice(capFrom);
      cap.push(part);
      capLen += part.length;
      if (opts.meter && capLen > opts.meter.maxBuffered) opts.meter.maxBuffered = capLen;
    }
    if (keyParts && inString) keyParts.push(s.slice(keyFrom));
    if (opts.meter && s.length > opts.meter.maxBuffered) opts.meter.maxBuffered = s.length;
  }
  if (top === null) return; // nothing but whitespace: the caller reports the empty file
  if (!closed || inString) {
    throw new DatasetError(`${name}:${line}: the JSON ends before its ${inArray ? 'array' : 'value'} is closed; the file may be truncated.`);
  }
  if (top === 'object') {
    if (chosen === null) {
      throw new DatasetError(
        `${name}: the JSON object holds no array of records (keys: ${keys.length ? keys.join(', ') : 'none'}). ` +
          'Give a JSON array of records, or an object holding one like {"data": [...]}.',
      );
    }
    opts.onJsonKey?.(chosen, ignored);
  }
}

// ---- CSV / TSV -------------------------------------------------------------------------------

/**
 * papaparse's own streaming reader, fed through the minimal Node-readable interface it accepts
 * (on/removeListener/pause/resume + readable/read), so the same code runs in a browser worker.
 * Each 'data' event is parsed synchronously; its rows are collected and yielded before the next
 * chunk. Each row's start line is counted from the text between row ends (quoted fields may hold
 * line breaks), which is kept only until the next row ends.
 */
async function* csvRecords(input: DataInput, delimiter: string, meter?: BufferMeter): AsyncIterable<RawRecord> {
  const kind = delimiter === '\t' ? 'TSV' : 'CSV';
  const rows: { fields: string[]; end: number; errors: Papa.ParseError[] }[] = [];
  const listeners = new Map<string, ((x?: unknown) => void)[]>();
  const fake = {
    readable: true,
    read() {},
    on(ev: string, fn: (x?: unknown) => void) {
      listeners.set(ev, [...(listeners.get(ev) ?? []), fn]);
      return fake;
    },
    removeListener(ev: string, fn: (x?: unknown) => void) {
      listeners.set(ev, (listeners.get(ev) ?? []).filter((f) => f !== fn));
      return fake;
    },
    pause() {},
    resume() {},
  };
  const emit = (ev: string, arg?: unknown) => {
    for (const fn of listeners.get(ev) ?? []) fn(arg);
  };
  let failure: unknown = null;
  let started = false;
  const start = (newline: '\n' | '\r\n' | '\r') => {
    started = true;
    Papa.parse(fake as unknown as File, {
      delimiter,
      newline,
      header: false,
    skipEmptyLines: false,
    // row.end: the absolute character offset just past the row (its line break included).
    step: (r: Papa.ParseStepResult<string[]>) => void rows.push({ fields: r.data, end: r.meta.cursor, errors: r.errors }),
    error: (e: unknown) => void (failure = e),
    } as Papa.ParseLocalConfig<string[], File>);
  };
  // The line break is decided on the first one (in the header row), not guessed per chunk.
  const newlineOf = (t: string): '\n' | '\r\n' | '\r' | null => {
    const i = t.indexOf('\n');
    if (i > 0 && t.charCodeAt(i - 1) === 13) return '\r\n';
    if (i >= 0) return '\n';
    const r = t.indexOf('\r');
    return r >= 0 && r < t.length - 1 ? '\r' : null;
  };

  let header: string[] | null = null;
  let buf = ''; // the text from offset bufOff (the end of the last row) on
  let bufOff = 0;
  let linesBefore = 0; // line breaks before bufOff
  function* drain(): Generator<RawRecord> {
    if (failure) throw new DatasetError(`${input.name}: cannot read the ${kind}: ${(failure as Error).message ?? String(failure)}`);
    for (const row of rows.splice(0)) {
      const line = linesBefore + 1;
      const upto = row.end - bufOff;
      for (let i = 0; i < upto; i++) if (buf.charCodeAt(i) === 10) linesBefore++;
      buf = buf.slice(upto);
      bufOff = row.end;
      const f = row.fields;
      if (row.errors.length) {
        const e = row.errors[0];
        const why =
          e.code === 'MissingQuotes' ? 'a quoted field is never closed (a stray " ?)' : e.code === 'InvalidQuotes' ? 'malformed quotes (text after a closing ")' : e.message;
        if (!header) throw new DatasetError(`${input.name}:${line}: the ${kind} header row cannot be read: ${why}.`);
        yield { line, error: why };
        continue;
      }
      if (f.length === 1 && f[0].trim() === '') continue; // a blank line
      if (!header) {
        header = f.map((h, i) => h.trim() || `column_${i + 1}`);
        const seen = new Set<string>();
        for (const h of header) {
          if (seen.has(h)) throw new DatasetError(`${input.name}:${line}: the ${kind} header names column "${h}" twice; column names must be unique.`);
          seen.add(h);
        }
        continue;
      }
      if (f.length !== header.length) {
        yield { line, error: `has ${f.length} field${f.length === 1 ? '' : 's'} but the header has ${header.length} (columns: ${header.join(', ')})` };
        continue;
      }
      const obj: Record<string, string> = {};
      header.forEach((h, i) => (obj[h] = f[i]));
      yield { line, value: obj };
    }
  }
  for await (const s of textChunks(input)) {
    buf += s;
    if (meter && buf.length > meter.maxBuffered) meter.maxBuffered = buf.length;
    if (!started) {
      const nl = newlineOf(buf);
      if (!nl) continue;
      start(nl);
      emit('data', buf);
    } else emit('data', s);
    yield* drain();
  }
  if (!started) {
    start(newlineOf(buf + '\n') ?? '\n');
    if (buf) emit('data', buf);
  }
  emit('end');
  yield* drain();
}

// ---- Parquet ---------------------------------------------------------------------------------

async function asyncBufferOf(input: DataInput): Promise<AsyncBuffer> {
  if (input.slice && input.size !== undefined) {
    const slice = input.slice.bind(input);
    const size = input.size;
    return {
      byteLength: size,
      async slice(start: number, end?: number) {
        const b = await slice(start, end ?? size);
        return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
      },
    };
  }
  const all = await readAllBytes(input);
  return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
}

async function* parquetRecords(input: DataInput): AsyncIterable<RawRecord> {
  if (!input.parts) return yield* parquetFileRecords(input, 0);
  let rows = 0;
  for (const part of input.parts) {
    for await (const r of parquetFileRecords(part, rows)) {
      rows = r.line;
      yield r;
    }
  }
}

/** The rows of one Parquet file, numbered from `first` + 1. */
async function* parquetFileRecords(input: DataInput, first: number): AsyncIterable<RawRecord> {
  const fail = (e: unknown): never => {
    const msg = (e as Error)?.message ?? String(e);
    const codec = /compression|codec|unsupported/i.test(msg) ? ' Re-save it with snappy compression or none (pandas: df.to_parquet(path, compression="snappy")).' : '';
    throw new DatasetError(`${input.name}: cannot read the Parquet file: ${msg}.${codec}`);
  };
  let file: AsyncBuffer;
  let metadata;
  try {
    file = await asyncBufferOf(input);
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    return fail(e);
  }
  let row = 0;
  for (const rg of metadata.row_groups) {
    const n = Number(rg.num_rows);
    let objs: Record<string, unknown>[];
    try {
      objs = await parquetReadObjects({ file, metadata, rowStart: row, rowEnd: row + n });
    } catch (e) {
      return fail(e);
    }
    for (let i = 0; i < objs.length; i++) yield { line: first + row + i + 1, value: objs[i] };
    row += n;
  }
}
