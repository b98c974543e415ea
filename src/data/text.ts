// The engine's first, in-memory reader: JSONL with a "text" field, or plain text with one example
// per line (kept for tests and small corpora). Files of every format go through dataset.ts.
import type { TextTokenizer } from '../model/tokenizer';
import type { Example } from './batch';
import { DatasetError } from './input';

export { DatasetError };

export interface TextDataset {
  texts: string[];
  /** 1-based line number of each text in the file. */
  lines: number[];
}

export function parseTextDataset(content: string, fileName: string): TextDataset {
  if (content.charCodeAt(0) === 0xfeff) content = content.slice(1);
  const isJsonl = /\.jsonl?$/i.test(fileName) || /^\s*\{/.test(content);
  const texts: string[] = [];
  const lines: number[] = [];
  const rows = content.split(/\r?\n/);
  rows.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    if (!isJsonl) {
      texts.push(raw);
      lines.push(line);
      return;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new DatasetError(`${fileName}:${line}: not valid JSON (${(e as Error).message}). Each line of a .jsonl file must be one JSON object like {"text": "..."}.`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new DatasetError(`${fileName}:${line}: expected a JSON object like {"text": "..."}.`);
    }
    const text = (obj as Record<string, unknown>).text;
    if (typeof text !== 'string') {
      const keys = Object.keys(obj as object);
      throw new DatasetError(
        `${fileName}:${line}: no "text" string field (fields present: ${keys.length ? keys.join(', ') : 'none'}). ` + 'Give each line a "text" field.',
      );
    }
    if (text.trim() === '') throw new DatasetError(`${fileName}:${line}: the "text" field is empty. Remove the line or give it text.`);
    texts.push(text);
    lines.push(line);
  });
  if (texts.length === 0) throw new DatasetError(`${fileName}: the file has no examples. Give one example per line (JSONL with a "text" field, or plain text).`);
  return { texts, lines };
}

/** BOS + tokens (the tokenizer's own post-processing), truncated to seqLen. */
export function tokenizeTexts(tok: TextTokenizer, texts: string[], seqLen: number): { examples: Example[]; truncated: number } {
  let truncated = 0;
  const examples = texts.map((t) => {
    let ids = tok.encode(t, true);
    if (ids.length > seqLen) {
      ids = ids.slice(0, seqLen);
      truncated++;
    }
    return { ids };
  });
  return { examples, truncated };
}
