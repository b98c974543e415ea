// CSV / TSV through papaparse's streaming parser (the header row names the columns).
import Papa from 'papaparse';
import { DatasetError, textChunks, type BufferMeter, type DataInput } from '../input';
import type { RawRecord } from './types';


/**
 * papaparse's own streaming reader, fed through the minimal Node-readable interface it accepts
 * (on/removeListener/pause/resume + readable/read), so the same code runs in a browser worker.
 * Each 'data' event is parsed synchronously; its rows are collected and yielded before the next
 * chunk. Each row's start line is counted from the text between row ends (quoted fields may hold
 * line breaks), which is kept only until the next row ends.
 */
export async function* csvRecords(input: DataInput, delimiter: string, meter?: BufferMeter): AsyncIterable<RawRecord> {
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
