// File formats → a stream of raw records, each with the line (or Parquet row) it came from.
// JSONL, a JSON array (or an object holding one), CSV/TSV (papaparse), Parquet (hyparquet) and
// plain text (one example per non-blank line). Every reader streams: what it holds at once is a
// chunk plus the record being read, whatever the file size (Parquet: one row group at a time).
// A malformed record is yielded as { error } so the caller can skip it or stop; file-level
// problems (wrong encoding, truncated JSON, unreadable Parquet) throw DatasetError.

import { peekBytes, type BufferMeter, type DataInput } from '../input';
import { csvRecords } from './csv';
import { jsonRecords } from './json';
import { jsonlRecords } from './jsonl';
import { parquetRecords } from './parquet';
import { textRecords } from './text';
import type { FileFormat, RawRecord } from './types';

export { FILE_FORMATS, locate, type FileFormat, type RawRecord } from './types';

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

interface ReadOptions {
  /** Records how much the reader buffers (streaming checks). */
  meter?: BufferMeter;
  /** Called once for JSON files with the key of the holder object whose array is read (null for a top-level array). */
  onJsonKey?: (key: string | null, ignored: string[]) => void;
}

/**
 * The raw records of `input` read as `format` (detectFileFormat gives it for 'auto'), streamed: a
 * record that cannot be parsed (a JSONL line that is not JSON, a CSV row with the wrong column
 * count) is yielded as { line, error }; problems with the whole file throw DatasetError while
 * iterating (not UTF-8, malformed or truncated JSON, a bad CSV header, an unreadable Parquet file
 * or an unsupported Parquet codec). Lines are 1-based; Parquet rows are numbered from 1 across
 * `input.parts`.
 */
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
