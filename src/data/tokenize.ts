// Formatted segments → token ids with a per-token training mask.
//
// One example, one text: the segments are joined and the whole text is tokenized once, so the ids
// are exactly what the tokenizer gives that text at inference. The tokenizer's own post-processing
// (Llama: BOS; tokenizers with add_eos_token: BOS … EOS) is applied once around the whole text —
// never per segment — and a special token the text already writes itself (a chat template's
// {{ bos_token }}, a trailing EOS) is not doubled. The labels come from where each segment starts
// in the text: a token wholly inside an untrained segment is masked; a token that straddles the
// boundary between an untrained and a trained segment is trained (TRL's completion-only loss on
// offsets does the same).

import type { TextTokenizer } from '../model/tokenizer';
import type { Formatted } from './format';

interface TokenizedSegments {
  ids: number[];
  /** Per id: true when predicting this token counts toward the loss. */
  mask: boolean[];
}

/** What the tokenizer's post-processing puts before and after a text (Llama: [BOS] / []; add_eos_token: [BOS] / [EOS]; GPT-2: [] / []). */
interface PostSpecials {
  prefix: number[];
  suffix: number[];
}

const specialsCache = new WeakMap<TextTokenizer, PostSpecials>();

function indexOfRun(hay: number[], needle: number[]): number {
  for (let p = 0; p + needle.length <= hay.length; p++) {
    let k = 0;
    while (k < needle.length && hay[p + k] === needle[k]) k++;
    if (k === needle.length) return p;
  }
  return -1;
}

/**
 * The special tokens the tokenizer's post-processor (tokenizer.json `post_processor`, e.g.
 * TemplateProcessing `<s> $A </s>`) adds around a text, found once per tokenizer by encoding a probe
 * with and without them.
 */
function postSpecials(tok: TextTokenizer): PostSpecials {
  let s = specialsCache.get(tok);
  if (!s) {
    const plain = tok.encode('a', false);
    const full = tok.encode('a', true);
    const p = plain.length ? indexOfRun(full, plain) : -1;
    s = p < 0 ? { prefix: [], suffix: [] } : { prefix: full.slice(0, p), suffix: full.slice(p + plain.length) };
    specialsCache.set(tok, s);
  }
  return s;
}

const startsWithRun = (a: number[], run: number[]) => run.length > 0 && run.length <= a.length && run.every((x, i) => a[i] === x);
const endsWithRun = (a: number[], run: number[]) => run.length > 0 && run.length <= a.length && run.every((x, i) => a[a.length - run.length + i] === x);

/**
 * `plain` (a text's ids without specials) with the post-processing specials around it: the prefix
 * unless the text already starts with it, the suffix (when `withSuffix`) unless it already ends
 * with it. Returns the ids and how many were put before `plain`.
 */
function withSpecials(tok: TextTokenizer, plain: number[], withSuffix: boolean): { ids: number[]; before: number; after: number } {
  const { prefix, suffix } = postSpecials(tok);
  const pre = startsWithRun(plain, prefix) ? [] : prefix;
  const post = !withSuffix || endsWithRun(plain, suffix) ? [] : suffix;
  return { ids: [...pre, ...plain, ...post], before: pre.length, after: post.length };
}

/**
 * Token ids of a prompt for generation: the tokenizer's prefix specials (BOS) once, never its
 * suffix specials — a prompt sent to the model never ends in EOS.
 */
export function encodePromptText(tok: TextTokenizer, text: string): number[] {
  return withSpecials(tok, text === '' ? [] : tok.encode(text, false), false).ids;
}

/**
 * How many tokens of `plain` (the ids of `text` without specials) lie wholly inside text[0, c), and
 * whether the next token straddles c. The tokens of text[0, c) encoded alone that agree with
 * `plain` are inside; where the two disagree, a token crosses c — unless decoding shows that more
 * tokens still end inside text[0, c) (a merge inside a word that is split by c).
 */
function boundaryAt(tok: TextTokenizer, text: string, c: number, plain: number[]): { k: number; straddles: boolean } {
  if (c <= 0) return { k: 0, straddles: false };
  if (c >= text.length) return { k: plain.length, straddles: false };
  const p = tok.encode(text.slice(0, c), false);
  let k = 0;
  while (k < p.length && k < plain.length && p[k] === plain[k]) k++;
  if (k === p.length) return { k, straddles: false };
  const head = text.slice(0, c);
  while (k < plain.length) {
    const d = tok.decode(plain.slice(0, k + 1));
    if (d.length <= c && head.startsWith(d) && d.length > 0) k++;
    else break;
  }
  return { k, straddles: k < plain.length };
}

/**
 * The example's ids and training mask: the whole text tokenized once, the post-processing specials
 * once around it, the tokenizer's EOS appended (and trained with the last segment) when `f.eos` and
 * the text does not already end in it.
 */
export function tokenizeFormatted(tok: TextTokenizer, f: Formatted): TokenizedSegments {
  const segs = f.segments.filter((s) => s.text.length > 0);
  const text = segs.map((s) => s.text).join('');
  let plain = text === '' ? [] : tok.encode(text, false);
  const lastTrain = segs.length ? segs[segs.length - 1].train : true;

  // Segment k covers tokens [starts[k], starts[k + 1]); a straddling token goes to the trained side.
  const starts: number[] = [0];
  let at = 0;
  for (let k = 0; k + 1 < segs.length; k++) {
    at += segs[k].text.length;
    const { k: inside, straddles } = boundaryAt(tok, text, at, plain);
    const start = Math.max(starts[starts.length - 1], straddles && segs[k].train && !segs[k + 1].train ? inside + 1 : inside);
    starts.push(start);
  }
  starts.push(plain.length);
  const plainMask = new Array<boolean>(plain.length).fill(false);
  for (let k = 0; k < segs.length; k++) plainMask.fill(segs[k].train, starts[k], starts[k + 1]);

  const eos = tok.eos[0];
  if (f.eos && eos !== undefined && plain[plain.length - 1] !== eos && !postSpecials(tok).suffix.includes(eos)) {
    plain = [...plain, eos];
    plainMask.push(lastTrain);
  }
  const { ids, before, after } = withSpecials(tok, plain, true);
  // Specials before the text take the first segment's flag (position 0 is never a target anyway).
  const firstTrain = segs.length ? segs[0].train : false;
  const mask = [...new Array<boolean>(before).fill(firstTrain), ...plainMask, ...new Array<boolean>(after).fill(lastTrain)];
  return { ids, mask };
}
