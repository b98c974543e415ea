// Plain texts as training examples (BOS + tokens, truncated): for in-memory corpora such as the
// studio's text list and tests. Files of every format go through dataset.ts.
import type { TextTokenizer } from '../model/tokenizer';
import type { Example } from './batch';
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
