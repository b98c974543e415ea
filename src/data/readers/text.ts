// Plain text: one example per non-blank line.
import { textLines, type BufferMeter, type DataInput } from '../input';
import type { RawRecord } from './types';

/** One { text } record per non-blank line. */
export async function* textRecords(input: DataInput, meter?: BufferMeter): AsyncIterable<RawRecord> {
  for await (const { line, text } of textLines(input, meter)) {
    if (text.trim() === '') continue;
    yield { line, value: { text } };
  }
}
