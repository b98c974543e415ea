// The preview of a few examples: their text in runs of trained and masked tokens (rendered as text,
// never as HTML, by every host).

import type { TextTokenizer } from '../model/tokenizer';

/**
 * One example as the preview shows it (as text, never as HTML): where it came from, its size in
 * tokens, and its text in runs of trained and masked tokens.
 */
export interface PreviewExample {
  /** Line (Parquet: row) of the record, 1-based. */
  line: number;
  /** Tokens kept (after truncation to seqLen). */
  tokens: number;
  /** Tokens that are training targets (label not -100); position 0 never is. */
  trained: number;
  /** The example was longer than seqLen and cut. */
  truncated: boolean;
  /** The example's text in runs: trained (label kept) or masked (-100). */
  segments: { text: string; trained: boolean }[];
}

/** Runs of the example by whether each token is a target (position 0 never is); `length` is its length before truncation. */
export function previewOf(
  tok: TextTokenizer,
  ex: { ids: ArrayLike<number>; trainMask: ArrayLike<boolean | number>; line: number },
  length: number,
  seqLen: number,
): PreviewExample {
  const ids = Array.from(ex.ids);
  const segments: { text: string; trained: boolean }[] = [];
  let runStart = 0;
  let trained = 0;
  const target = (t: number) => t > 0 && !!ex.trainMask[t];
  for (let t = 1; t <= ids.length; t++) {
    if (t < ids.length && target(t)) trained++;
    if (t === ids.length || target(t) !== target(runStart)) {
      segments.push({ text: tok.decode(ids.slice(runStart, t)), trained: target(runStart) });
      runStart = t;
    }
  }
  return { line: ex.line, tokens: ids.length, trained, truncated: length > seqLen, segments };
}

/** Preview examples as plain text for a terminal: masked and trained runs under their own labels. */
export function renderPreview(p: PreviewExample[]): string {
  const out: string[] = [];
  p.forEach((e, i) => {
    out.push(`── example ${i + 1} · line ${e.line} · ${e.tokens} tokens · ${e.trained} trained${e.truncated ? ' · truncated' : ''} ──`);
    for (const s of e.segments) {
      out.push(s.trained ? '[trained]' : '[masked: label -100]');
      out.push(s.text);
    }
    out.push('');
  });
  return out.join('\n');
}
