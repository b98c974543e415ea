// JSON Lines: one JSON value per line, parsed as the line arrives (the text is never held whole).
import { textLines, type BufferMeter, type DataInput } from '../input';
import type { RawRecord } from './types';

/** One record per non-blank line; a line that is not JSON is yielded as { error }. */
export async function* jsonlRecords(input: DataInput, meter?: BufferMeter): AsyncIterable<RawRecord> {
  for await (const { line, text } of textLines(input, meter)) {
    if (text.trim() === '') continue;
    try {
      yield { line, value: JSON.parse(text) };
    } catch (e) {
      yield { line, error: `not valid JSON (${(e as Error).message}). Each line of a .jsonl file must be one JSON object like {"text": "..."}` };
    }
  }
}
