// A JSON array of records, or an object holding one ({"data": [...]}), split element by element as the text arrives.
import { DatasetError, textChunks, type BufferMeter, type DataInput } from '../input';
import type { RawRecord } from './types';

interface JsonReadOptions {
  /** Records how much the reader buffers (streaming checks). */
  meter?: BufferMeter;
  /** Called once with the key of the holder object whose array is read (null for a top-level array). */
  onJsonKey?: (key: string | null, ignored: string[]) => void;
}

const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * A streaming splitter (not a parser): it tracks strings and nesting to find where each element of
 * the records array begins and ends, and hands each element's text to JSON.parse. The records array
 * is the top-level array, or the first array-valued key of a top-level object ({"data": [...]}).
 */
export async function* jsonRecords(input: DataInput, opts: JsonReadOptions): AsyncIterable<RawRecord> {
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
