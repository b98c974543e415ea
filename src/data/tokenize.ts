// Formatted segments → token ids with a per-token training mask.
//
// The whole text is tokenized at once when the tokenizer respects the segment boundaries (the
// tokens of each prefix ending at a boundary are a prefix of the whole text's tokens); then the
// ids are exactly what the model sees at inference. When the tokenizer merges characters across a
// boundary (e.g. prompt "The cat" + response "s sat"), the segments are tokenized separately and
// concatenated instead, so no token straddles the prompt/response line (counted in the stats).

import type { TextTokenizer } from '../model/tokenizer';
import type { Formatted } from './format';

export interface TokenizedSegments {
  ids: number[];
  /** Per id: true when predicting this token counts toward the loss. */
  mask: boolean[];
  /** The segments had to be tokenized separately (the tokenizer merges across a boundary). */
  separately: boolean;
}

function isPrefix(p: number[], a: number[]): boolean {
  if (p.length > a.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== a[i]) return false;
  return true;
}

export function tokenizeFormatted(tok: TextTokenizer, f: Formatted): TokenizedSegments {
  const segs = f.segments.filter((s) => s.text.length > 0);
  const full = segs.map((s) => s.text).join('');
  let ids = tok.encode(full, f.addSpecial);
  let mask: boolean[] = new Array(ids.length);
  let separately = false;
  // Token index where each segment starts.
  const starts: number[] = [0];
  let text = '';
  for (let k = 0; k + 1 < segs.length; k++) {
    text += segs[k].text;
    const p = tok.encode(text, f.addSpecial);
    if (!isPrefix(p, ids) || p.length < starts[starts.length - 1]) {
      separately = true;
      break;
    }
    starts.push(p.length);
  }
  if (!separately) {
    starts.push(ids.length);
    for (let k = 0; k < segs.length; k++) mask.fill(segs[k].train, starts[k], starts[k + 1]);
    if (segs.length === 0) mask.fill(false);
  } else {
    ids = [];
    mask = [];
    segs.forEach((s, k) => {
      const part = tok.encode(s.text, k === 0 ? f.addSpecial : false);
      for (const id of part) {
        ids.push(id);
        mask.push(s.train);
      }
    });
  }
  if (f.eos && tok.eos.length) {
    ids.push(tok.eos[0]);
    mask.push(segs.length ? segs[segs.length - 1].train : true);
  }
  return { ids, mask, separately };
}
