// Evaluation prompts drawn from the held-out rows of a run (its eval split, or its evaluation
// file): each example's prompt exactly as training formatted and tokenized it — the tokens before
// the first trained token — and its reference answer, the trained tokens that follow, up to the
// end of the turn. An experiment's base and runs answer these ids as they are (no re-templating),
// so the comparison sees the prompts the eval loss was measured on. Engine: no Node or DOM APIs.

import type { TextTokenizer } from '../model/tokenizer';
import type { Example } from './batch';
import { chatTurnEndText, stopIdsFor, type PromptFormat } from './format';
import { DatasetError } from './input';
import { opt } from '../options';

/** One held-out evaluation prompt: the example's prompt ids as trained, their text, and the reference answer. */
export interface HeldOutPrompt {
  /** The record's line (Parquet: row) in its file. */
  line: number;
  /** The prompt tokens exactly as training formatted them (BOS and template included), the mask off. */
  ids: number[];
  /** The prompt's text (ids decoded, special tokens skipped). */
  text: string;
  /** The trained tokens after the prompt, decoded up to the end of the turn (EOS or the template's end-of-turn, not included). */
  reference: string;
}

/**
 * The prompt and reference of one tokenized example, or null when it has none: prompt = ids[0, p)
 * where p is the first position ≥ 1 whose token trains (position 0 is never a target; training's
 * own rule for the prompt length, data/dataset.ts); reference = the trained run from p, cut at the
 * first id of `stop` or the first untrained token (the next turn of a conversation), decoded with
 * special tokens skipped, and cut at `stopText` (a template's plain-text end of turn) when given.
 * Null when the first token trains (plain text, or the prompt trained too: no masked prompt) or
 * nothing trains after it.
 */
function promptOf(ids: ArrayLike<number>, mask: ArrayLike<number | boolean>, tok: TextTokenizer, stop: number[], stopText: string): { ids: number[]; reference: string } | null {
  let p = 1;
  while (p < ids.length && !mask[p]) p++;
  if (mask[0] || p >= ids.length) return null; // the first token trains (plain text, train on prompt: no masked prompt), or nothing after it does
  const ref: number[] = [];
  for (let i = p; i < ids.length && mask[i] && !stop.includes(ids[i]); i++) ref.push(ids[i]);
  let reference = tok.decode(ref, true);
  if (stopText && reference.includes(stopText)) reference = reference.slice(0, reference.indexOf(stopText)).trimEnd();
  return { ids: Array.from(ids).slice(0, p), reference };
}

/**
 * The first `count` held-out examples that have a prompt, in the order of `heldOut` (the run's eval
 * split in its seeded order: data/sampling splitIndices, unpacked — so a larger count keeps the
 * earlier prompts), as HeldOutPrompt. `format` is the data's prompt format (the stop ids and a
 * chat template's end of turn; null for plain text). Throws DatasetError (one line, what to do)
 * when `heldOut` is empty or no example has a prompt that is not trained (plain text data, or
 * "train on prompt"); returns fewer than `count` when fewer examples are held out.
 */
export function heldOutPrompts(heldOut: { length: number; at(i: number): (Example & { line?: number }) | undefined }, count: number, tok: TextTokenizer, format: PromptFormat | null): HeldOutPrompt[] {
  if (count <= 0) return [];
  if (heldOut.length === 0) throw new DatasetError('No rows are held out for evaluation (the evaluation split is 0 and there is no evaluation file): hold some out, or ask for 0 held-out prompts.');
  const stop = stopIdsFor(tok, format ?? undefined);
  const stopText = format ? chatTurnEndText(tok, format) : '';
  const out: HeldOutPrompt[] = [];
  for (let i = 0; i < heldOut.length && out.length < count; i++) {
    const ex = heldOut.at(i)!;
    const p = promptOf(ex.ids, ex.trainMask ?? new Uint8Array(ex.ids.length).fill(1), tok, stop, stopText);
    if (p) out.push({ line: ex.line ?? 0, ids: p.ids, text: tok.decode(p.ids, true), reference: p.reference });
  }
  if (out.length === 0) {
    throw new DatasetError([
      'No held-out example has a prompt to answer: every token of the data trains (plain text, or the prompt trained too). Use prompt/response data without ',
      opt('trainOnPrompt'), ', or type the evaluation prompts.',
    ]);
  }
  return out;
}
