// The dataset's statistics, gathered example by example while the file streams (counts, lengths
// in a growable Uint32Array, duplicate keys, skipped rows), and the warnings about what will train.

import type { OptionRef } from '../options';
import { U32Vec } from './examples';
import type { FileFormat } from './readers';
import type { RecordShape } from './shapes';

const SKIPPED_LIST_MAX = 1000;

interface SkippedRow {
  line: number;
  reason: string;
}

/**
 * What loadDataset found in a file, for the CLI's `data` command (printed as JSON, hence the
 * snake_case keys), the train command's summary and the studio's data panel. Counts are of
 * records / examples; lengths and token counts are in tokens of the model's tokenizer.
 */
export interface DatasetStats {
  /** The DataInput's name: a path, a File's name, or for a Hub dataset "owner/name (config/split)". */
  file: string;
  file_format: FileFormat;
  /** JSON objects holding the records array: its key. */
  json_key?: string;
  /** The record shape (detected or given). */
  format: RecordShape;
  /** How prompts are formatted: 'alpaca', 'none', 'text', 'chat template (model)', ... */
  prompt_format: string;
  train_on_prompt: boolean;
  seq_len: number;
  /** Records read (good and bad). */
  rows: number;
  examples: number;
  /** Tokens after truncation. */
  tokens: number;
  /** Tokens whose label is not -100 (what the loss is computed on). */
  trained_tokens: number;
  truncated: number;
  /** Bad rows and examples with nothing to train (first SKIPPED_LIST_MAX listed). */
  skipped: SkippedRow[];
  skipped_count: number;
  /** Examples whose prompt alone fills seq-len (included in skipped). */
  too_long: number;
  /** Examples identical (after formatting) to an earlier one; the pairs, first 20. */
  duplicates: number;
  duplicate_lines: { line: number; same_as: number }[];
  /** Token lengths before truncation. */
  length: { min: number; max: number; mean: number; p50: number; p95: number };
  /** Lengths before truncation in (up to) 10 equal bins up to seq-len, then one bin above it (to: null). */
  length_histogram: { from: number; to: number | null; count: number }[];
  /** What makes little of the data train (few trained tokens, many rows cut or skipped), with the fix: see dataWarnings. */
  warnings: DataWarning[];
  /** When maxSamples cut the data: how they were picked and how many good rows there were (null: 'first' stops reading). */
  sampled?: { from: number | null; kept: number; mode: 'first' | 'random' };
}

/**
 * A warning about the data as it will be trained, worded for any host: the message names no
 * option; `fix` says which option to change to what, and each host renders its own name for it
 * (the CLI a flag, the studio a knob's label).
 */
export interface DataWarning {
  kind: 'few_trained' | 'cut_by_seq_len' | 'bad_rows';
  message: string;
  fix: OptionRef | null;
}

/** Below this share of trained tokens, or above this share of rows cut or skipped, the data gets a warning. */
const WARN_SHARE = 0.1;

const pct = (x: number) => `${x < 0.01 ? (x * 100).toFixed(1) : Math.round(x * 100)}%`;

/**
 * Warnings when little will be trained: fewer than 10% of tokens trained (the prompts are masked,
 * or truncation cuts the responses), or more than 10% of rows truncated or skipped because their
 * prompt fills the sequence (the fix: the sequence length that holds 95% of the examples, capped
 * at the model's maximum `maxSeqLen`), or more than 10% bad rows.
 */
function dataWarnings(
  st: Pick<DatasetStats, 'tokens' | 'trained_tokens' | 'truncated' | 'too_long' | 'examples' | 'rows' | 'skipped_count' | 'train_on_prompt' | 'format' | 'seq_len'>,
  p95Length: number,
  maxSeqLen = Infinity,
): DataWarning[] {
  const out: DataWarning[] = [];
  const counted = st.examples + st.too_long;
  const cut = st.truncated + st.too_long;
  const want = Math.min(maxSeqLen, Math.ceil(p95Length / 64) * 64);
  const longer = want > st.seq_len ? ({ option: 'seqLen', value: want } as const) : null;
  if (counted > 0 && cut / counted > WARN_SHARE) {
    out.push({
      kind: 'cut_by_seq_len',
      message:
        `${pct(cut / counted)} of the examples do not fit the sequence length of ${st.seq_len} tokens` +
        ` (${st.truncated} truncated, ${st.too_long} skipped because the prompt alone fills it)` +
        (longer ? `; ${want} tokens hold 95% of them.` : maxSeqLen <= st.seq_len ? '; the model takes no more: shorten the prompts.' : '.'),
      fix: longer,
    });
  }
  const bad = st.skipped_count - st.too_long;
  if (st.rows > 0 && bad / st.rows > WARN_SHARE) {
    out.push({ kind: 'bad_rows', message: `${pct(bad / st.rows)} of the rows were skipped as bad or empty (see the skipped rows).`, fix: null });
  }
  if (st.tokens > 0 && st.trained_tokens / st.tokens < WARN_SHARE) {
    const masked = !st.train_on_prompt && st.format !== 'text';
    out.push({
      kind: 'few_trained',
      message:
        `only ${pct(st.trained_tokens / st.tokens)} of the tokens are trained` +
        (masked ? ': the prompts are masked and much longer than the responses.' : st.truncated ? ': truncation cuts most of the responses.' : '.'),
      fix: masked ? { option: 'trainOnPrompt', value: true } : st.truncated && longer ? longer : null,
    });
  }
  return out;
}

/** Two 32-bit FNV-1a variants → a 53-bit key (duplicate detection without keeping the texts). */
function textKey(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0) * 2 ** 21 + ((b >>> 0) & 0x1fffff);
}

function percentile(sorted: Uint32Array, q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Counts what the loader sees, one example (or skipped row) at a time; `finish` gives the stats. */
export class StatsAccumulator {
  /** Token lengths before truncation of the kept examples. */
  readonly lengths = new U32Vec();
  /** Lengths of the examples skipped because their prompt fills seq-len (for the seq-len advice). */
  readonly tooLongLengths = new U32Vec();
  /** Duplicate detection: a 53-bit key of each distinct formatted text → its first line. */
  private readonly seen = new Map<number, number>();
  readonly duplicateLines: { line: number; same_as: number }[] = [];
  duplicates = 0;
  tokens = 0;
  trainedTokens = 0;
  truncated = 0;
  tooLong = 0;
  shortestPrompt = Infinity;
  readonly skipped: SkippedRow[] = [];
  skippedCount = 0;
  badRows = 0;

  /** A kept example: its length before truncation, tokens kept, trained tokens, its formatted text's key. */
  addExample(line: number, length: number, kept: number, trained: number, truncated: boolean, text: string): void {
    if (truncated) this.truncated++;
    const key = textKey(text);
    const first = this.seen.get(key);
    if (first !== undefined) {
      this.duplicates++;
      if (this.duplicateLines.length < 20) this.duplicateLines.push({ line, same_as: first });
    } else this.seen.set(key, line);
    this.tokens += kept;
    this.trainedTokens += trained;
    this.lengths.push(length);
  }

  /** An example whose prompt alone fills seq-len (`promptLen` tokens, `length` in all). */
  addTooLong(length: number, promptLen: number): void {
    this.shortestPrompt = Math.min(this.shortestPrompt, promptLen);
    this.tooLong++;
    this.tooLongLengths.push(length);
  }

  /** A skipped row (bad, or nothing to train); the first SKIPPED_LIST_MAX are listed. */
  skip(line: number, reason: string, bad: boolean): void {
    if (bad) this.badRows++;
    this.skippedCount++;
    if (this.skipped.length < SKIPPED_LIST_MAX) this.skipped.push({ line, reason });
  }

  /** The stats of the examples added, with the file's description. */
  finish(
    d: Pick<DatasetStats, 'file' | 'file_format' | 'json_key' | 'format' | 'prompt_format' | 'train_on_prompt' | 'seq_len' | 'rows'>,
    maxSeqLen?: number,
  ): DatasetStats {
    const seqLen = d.seq_len;
    const lengths = this.lengths.view();
    const sorted = lengths.slice().sort();
    const nb = Math.min(10, seqLen);
    const bin = seqLen / nb;
    const hist: { from: number; to: number | null; count: number }[] = Array.from({ length: nb }, (_, i) => ({
      from: Math.floor(i * bin) + 1,
      to: Math.floor((i + 1) * bin),
      count: 0,
    }));
    hist.push({ from: seqLen + 1, to: null, count: 0 });
    for (const L of lengths) hist[L > seqLen ? nb : hist.findIndex((h) => h.to !== null && L <= h.to)].count++;
    let sum = 0;
    for (const L of lengths) sum += L;
    const stats: DatasetStats = {
      file: d.file,
      file_format: d.file_format,
      ...(d.json_key !== undefined ? { json_key: d.json_key } : {}),
      format: d.format,
      prompt_format: d.prompt_format,
      train_on_prompt: d.train_on_prompt,
      seq_len: seqLen,
      rows: d.rows,
      examples: lengths.length,
      tokens: this.tokens,
      trained_tokens: this.trainedTokens,
      truncated: this.truncated,
      skipped: this.skipped,
      skipped_count: this.skippedCount,
      too_long: this.tooLong,
      duplicates: this.duplicates,
      duplicate_lines: this.duplicateLines,
      length: {
        min: sorted[0],
        max: sorted[sorted.length - 1],
        mean: Math.round((sum / lengths.length) * 10) / 10,
        p50: percentile(sorted, 0.5),
        p95: percentile(sorted, 0.95),
      },
      length_histogram: hist,
      warnings: [],
    };
    const all = new Uint32Array(lengths.length + this.tooLongLengths.length);
    all.set(lengths);
    all.set(this.tooLongLengths.view(), lengths.length);
    stats.warnings = dataWarnings(stats, percentile(all.sort(), 0.95), maxSeqLen);
    return stats;
  }
}
