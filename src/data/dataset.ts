// The dataset pipeline shared by the CLI and the studio's worker:
//   bytes (DataInput) → records (readers.ts) → samples (shapes.ts) → formatted segments (format.ts)
//   → ids + training mask (tokenize.ts) → truncated Examples with stats and a preview,
// then sampling, the train/eval split and optional packing (prepareData).
// Bad rows are skipped (counted and listed with their line and reason) or stop the run, as asked;
// nothing is dropped without a line in `stats.skipped`.

import type { TextTokenizer } from '../model/tokenizer';
import { permutation, type Example } from './batch';
import { makeFormatter, type Formatter } from './format';
import { DatasetError, peekBytes, type DataInput } from './input';
import { packExamples } from './pack';
import { detectFileFormat, locate, readRecords, type FileFormat } from './readers';
import { checkTemplate, detectShape, ShapeError, toSample, type RecordShape, type Sample } from './shapes';
import { tokenizeFormatted } from './tokenize';
import { opt, renderWorded, wordedOf, type OptionRef, type Worded } from '../options';
import { hash32, mulberry32 } from '../util/random';

export interface DataOptions {
  /** Record shape; 'auto' (default) detects it from the first record ('template' when a template is given). */
  format?: 'auto' | RecordShape;
  /** Prompt template with {column} placeholders (the 'template' shape). */
  template?: string;
  /** Response column (the 'template' shape; overrides output/completion for alpaca/prompt-completion). */
  responseColumn?: string;
  /** 'auto' | 'model' | 'alpaca' | 'none' | 'chatml' | Jinja source (see format.ts). */
  chatTemplate?: string;
  /** Train on the prompt tokens too (default: completion-only loss; chat: assistant turns only). */
  trainOnPrompt?: boolean;
  /** Sequence length: longer examples are truncated (and counted). */
  seqLen: number;
  /** The model's maximum positions: the seq-len advice never goes above it. */
  maxSeqLen?: number;
  /** At most this many examples (after bad rows are dropped). */
  maxSamples?: number;
  /** 'first' (default) takes the first maxSamples; 'random' a seeded random subset (kept in file order). */
  sample?: 'first' | 'random';
  seed?: number;
  /** 'stop' (default): the first bad row is an error naming its line; 'skip': counted and listed. */
  onBadRows?: 'skip' | 'stop';
  /** The file format; 'auto' (default) from the name and first bytes. */
  fileFormat?: 'auto' | FileFormat;
  /** How many examples to render in the preview (default 3). */
  previewCount?: number;
  /** Progress every 1000 rows. */
  onProgress?: (p: { rows: number; examples: number }) => void;
}

export const SKIPPED_LIST_MAX = 1000;

export interface SkippedRow {
  line: number;
  reason: string;
}

export interface DatasetStats {
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

export interface PreviewExample {
  line: number;
  tokens: number;
  trained: number;
  truncated: boolean;
  /** The example's text in runs: trained (label kept) or masked (-100). */
  segments: { text: string; trained: boolean }[];
}

export interface DatasetExample extends Example {
  ids: number[];
  trainMask: boolean[];
  /** Line (Parquet: row) of the record. */
  line: number;
}

export interface LoadedDataset {
  examples: DatasetExample[];
  stats: DatasetStats;
  preview: PreviewExample[];
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

/** Runs of the example by whether each token is a target (position 0 never is). */
export function previewOf(tok: TextTokenizer, ex: { ids: number[]; trainMask: boolean[]; line: number }, length: number, seqLen: number): PreviewExample {
  const segments: { text: string; trained: boolean }[] = [];
  let runStart = 0;
  let trained = 0;
  const target = (t: number) => t > 0 && ex.trainMask[t];
  for (let t = 1; t <= ex.ids.length; t++) {
    if (t < ex.ids.length && target(t)) trained++;
    if (t === ex.ids.length || target(t) !== target(runStart)) {
      segments.push({ text: tok.decode(ex.ids.slice(runStart, t)), trained: target(runStart) });
      runStart = t;
    }
  }
  return { line: ex.line, tokens: ex.ids.length, trained, truncated: length > seqLen, segments };
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

interface Pending {
  line: number;
  sample: Sample;
}

/** Reads, checks, formats and tokenizes one data file. */
export async function loadDataset(input: DataInput, tok: TextTokenizer, opts: DataOptions): Promise<LoadedDataset> {
  const seqLen = opts.seqLen;
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new DatasetError(`sequence length must be an integer ≥ 2 (got ${seqLen}).`);
  const onBad = opts.onBadRows ?? 'stop';
  const trainOnPrompt = opts.trainOnPrompt ?? false;
  const maxSamples = opts.maxSamples;
  if (maxSamples !== undefined && !(Number.isInteger(maxSamples) && maxSamples > 0)) throw new DatasetError(`max samples must be a positive integer (got ${maxSamples}).`);
  const sampleMode = opts.sample ?? 'first';
  let shape: RecordShape | null = opts.format && opts.format !== 'auto' ? opts.format : opts.template ? 'template' : null;
  if (shape === 'template' || opts.template) {
    if (!opts.template) throw new DatasetError(['the template format needs a prompt template: ', opt('template', '... {column} ...')]);
    if (!opts.responseColumn) throw new DatasetError(['the template format needs the column that holds the response: ', opt('responseColumn')]);
    try {
      checkTemplate(opts.template);
    } catch (e) {
      throw new DatasetError(wordedOf(e) ?? (e as Error).message);
    }
  }
  const name = input.name;
  const head = await peekBytes(input, 1);
  if (head.length === 0) throw new DatasetError(`${name}: the file is empty (0 bytes).`);
  const fileFormat = opts.fileFormat && opts.fileFormat !== 'auto' ? opts.fileFormat : await detectFileFormat(input);
  const where = (line: number) => locate(name, fileFormat, line);

  const skipped: SkippedRow[] = [];
  let skippedCount = 0;
  let badRows = 0;
  const skip = (line: number, why: string | Worded, bad: boolean) => {
    const reason = typeof why === 'string' ? [why] : why;
    if (bad && onBad === 'stop') {
      throw new DatasetError([`${where(line)}: `, ...reason, '. To skip such rows instead (they are counted and listed), set ', opt('onBadRows', 'skip'), '.']);
    }
    if (bad) badRows++;
    skippedCount++;
    if (skipped.length < SKIPPED_LIST_MAX) skipped.push({ line, reason: renderWorded(reason) });
  };

  let formatter: Formatter | null = null;
  const examples: DatasetExample[] = [];
  const lengths: number[] = [];
  /** Lengths of the examples skipped because their prompt fills seq-len (for the seq-len advice). */
  const tooLongLengths: number[] = [];
  const seen = new Map<number, number>();
  const duplicateLines: { line: number; same_as: number }[] = [];
  let duplicates = 0;
  let tokens = 0;
  let trainedTokens = 0;
  let truncated = 0;
  let tooLong = 0;
  let shortestPrompt = Infinity;
  const preview: PreviewExample[] = [];
  const previewCount = opts.previewCount ?? 3;

  const addExample = (p: Pending) => {
    let f;
    try {
      f = formatter!.format(p.sample, trainOnPrompt);
    } catch (e) {
      if (e instanceof ShapeError) return skip(p.line, e.parts, true);
      throw e;
    }
    const t = tokenizeFormatted(tok, f);
    const length = t.ids.length;
    let ids = t.ids;
    let mask = t.mask;
    if (length > seqLen) {
      ids = ids.slice(0, seqLen);
      mask = mask.slice(0, seqLen);
    }
    let trained = 0;
    for (let i = 1; i < ids.length; i++) if (mask[i]) trained++;
    if (trained === 0) {
      if (p.sample.kind === 'text') return skip(p.line, `only ${length} token${length === 1 ? '' : 's'}: nothing to predict`, false);
      let promptLen = 0;
      while (promptLen < t.mask.length && !(promptLen > 0 && t.mask[promptLen])) promptLen++;
      shortestPrompt = Math.min(shortestPrompt, promptLen);
      tooLong++;
      tooLongLengths.push(length);
      return skip(p.line, `the prompt is ${promptLen} tokens, so nothing of the response fits in seq-len ${seqLen}`, false);
    }
    if (length > seqLen) truncated++;
    const key = textKey(f.segments.map((s) => (s.train ? '\u0001' : '\u0002') + s.text).join(''));
    const first = seen.get(key);
    if (first !== undefined) {
      duplicates++;
      if (duplicateLines.length < 20) duplicateLines.push({ line: p.line, same_as: first });
    } else seen.set(key, p.line);
    tokens += ids.length;
    trainedTokens += trained;
    lengths.push(length);
    const ex: DatasetExample = { ids, trainMask: mask, line: p.line };
    examples.push(ex);
    if (preview.length < previewCount) preview.push(previewOf(tok, ex, length, seqLen));
  };

  let rows = 0;
  let jsonKey: string | undefined;
  let available = 0; // good samples seen (for sampling stats)
  const reservoir: Pending[] = [];
  const rand = mulberry32(hash32(opts.seed ?? 42, 0x5a3e));
  for await (const rec of readRecords(input, fileFormat, { onJsonKey: (k) => (jsonKey = k ?? undefined) })) {
    rows++;
    if (opts.onProgress && rows % 1000 === 0) opts.onProgress({ rows, examples: examples.length });
    if (rec.error !== undefined) {
      skip(rec.line, rec.error, true);
      continue;
    }
    if (shape === null) {
      const d = detectShape(rec.value);
      if (d.shape === null) throw new DatasetError([`${where(rec.line)}: `, ...d.reason, '.']);
      shape = d.shape;
    }
    formatter ??= makeFormatter(shape, tok, opts.chatTemplate ?? 'auto');
    let sample: Sample;
    try {
      sample = toSample(rec.value, shape, { template: opts.template, responseColumn: opts.responseColumn });
    } catch (e) {
      if (e instanceof ShapeError) {
        skip(rec.line, e.parts, true);
        continue;
      }
      throw e;
    }
    available++;
    const p = { line: rec.line, sample };
    if (maxSamples === undefined) addExample(p);
    else if (sampleMode === 'first') {
      addExample(p);
      if (examples.length >= maxSamples) break;
    } else if (reservoir.length < maxSamples) reservoir.push(p);
    else {
      const j = Math.floor(rand() * available);
      if (j < maxSamples) reservoir[j] = p;
    }
  }
  if (reservoir.length) {
    reservoir.sort((a, b) => a.line - b.line);
    for (const p of reservoir) addExample(p);
  }

  if (rows === 0) {
    throw new DatasetError(
      fileFormat === 'parquet' ? `${name}: the file has no rows.`
        : fileFormat === 'csv' || fileFormat === 'tsv' ? `${name}: the file has no examples: it holds no rows (only a header or blank lines).`
        : fileFormat === 'json' ? `${name}: the file has no examples: its records array is empty.`
        : `${name}: the file has no examples: it holds only blank lines. Give one example per line (JSONL with a "text" field, or plain text).`,
    );
  }
  if (examples.length === 0) {
    if (tooLong > 0 && tooLong === skippedCount - badRows) {
      throw new DatasetError([
        `${name}: every example is longer than the sequence length ${seqLen} after its prompt (the shortest prompt is ${shortestPrompt} tokens), so nothing would be trained` +
          `${badRows ? ` (and ${badRows} bad row${badRows === 1 ? ' was' : 's were'} skipped)` : ''}; raise `, opt('seqLen'), ' or shorten the prompts.',
      ]);
    }
    const short = skippedCount - badRows - tooLong;
    const firstReason = skipped.length ? ` (first: ${where(skipped[0].line)}: ${skipped[0].reason})` : '';
    throw new DatasetError(
      `${name}: no usable rows: all ${rows} were skipped (${badRows} bad${tooLong ? `, ${tooLong} with a prompt longer than seq-len ${seqLen}` : ''}` +
        `${short > 0 ? `, ${short} too short` : ''})${firstReason}.`,
    );
  }

  const sorted = Uint32Array.from(lengths).sort();
  const nb = Math.min(10, seqLen);
  const bin = seqLen / nb;
  const hist: { from: number; to: number | null; count: number }[] = Array.from({ length: nb }, (_, i) => ({
    from: Math.floor(i * bin) + 1,
    to: Math.floor((i + 1) * bin),
    count: 0,
  }));
  hist.push({ from: seqLen + 1, to: null, count: 0 });
  for (const L of lengths) hist[L > seqLen ? nb : hist.findIndex((h) => h.to !== null && L <= h.to)].count++;
  const stats: DatasetStats = {
    file: name,
    file_format: fileFormat,
    ...(jsonKey !== undefined ? { json_key: jsonKey } : {}),
    format: shape!,
    prompt_format: formatter!.name,
    train_on_prompt: trainOnPrompt,
    seq_len: seqLen,
    rows,
    examples: examples.length,
    tokens,
    trained_tokens: trainedTokens,
    truncated,
    skipped,
    skipped_count: skippedCount,
    too_long: tooLong,
    duplicates,
    duplicate_lines: duplicateLines,
    length: {
      min: sorted[0],
      max: sorted[sorted.length - 1],
      mean: Math.round((lengths.reduce((a, b) => a + b, 0) / lengths.length) * 10) / 10,
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
    },
    length_histogram: hist,
    warnings: [],
  };
  stats.warnings = dataWarnings(stats, percentile(Uint32Array.from([...lengths, ...tooLongLengths]).sort(), 0.95), opts.maxSeqLen);
  if (maxSamples !== undefined && (sampleMode === 'first' ? examples.length >= maxSamples : available > maxSamples)) {
    stats.sampled = { from: sampleMode === 'first' ? null : available, kept: examples.length, mode: sampleMode };
  }
  return { examples, stats, preview };
}

/** What the studio's column picker needs before the user chooses options: the file format, the columns of the first records, the shape they suggest. */
export async function inspectDataset(
  input: DataInput,
  maxRecords = 200,
): Promise<{ file_format: FileFormat; columns: string[]; shape: RecordShape | null; reason?: Worded }> {
  const head = await peekBytes(input, 1);
  if (head.length === 0) throw new DatasetError(`${input.name}: the file is empty (0 bytes).`);
  const fileFormat = await detectFileFormat(input);
  const columns = new Set<string>();
  let detected: ReturnType<typeof detectShape> | null = null;
  let n = 0;
  for await (const rec of readRecords(input, fileFormat)) {
    if (rec.error !== undefined) continue;
    detected ??= detectShape(rec.value);
    if (rec.value && typeof rec.value === 'object' && !Array.isArray(rec.value)) for (const k of Object.keys(rec.value)) columns.add(k);
    if (++n >= maxRecords) break;
  }
  return {
    file_format: fileFormat,
    columns: [...columns],
    shape: detected?.shape ?? null,
    ...(detected && detected.shape === null ? { reason: detected.reason } : {}),
  };
}

/** Seeded train/eval split by fraction (at least one eval example; none when fewer than 2 examples). */
export function splitExamples<E>(examples: E[], evalSplit: number, seed: number): { train: E[]; eval: E[] } {
  if (!(evalSplit > 0) || examples.length < 2) return { train: examples, eval: [] };
  const order = permutation(examples.length, mulberry32(hash32(seed, 0xe7a1)));
  const nEval = Math.min(examples.length - 1, Math.max(1, Math.round(examples.length * evalSplit)));
  return { eval: order.slice(0, nEval).map((i) => examples[i]), train: order.slice(nEval).map((i) => examples[i]) };
}

export interface PrepareOptions extends DataOptions {
  /** Pack several short examples into each row of seqLen tokens. */
  packing?: boolean;
  /** Fraction of the examples held out for evaluation (ignored with evalInput). */
  evalSplit?: number;
  /** A separate evaluation file (read with the same options). */
  evalInput?: DataInput;
}

export interface PreparedData {
  /** Rows for runTraining (packed when asked). */
  train: Example[];
  eval: Example[];
  stats: DatasetStats & {
    train_examples: number;
    eval_examples: number;
    packing: boolean;
    /** Rows after packing (= examples without packing). */
    train_rows: number;
    eval_rows: number;
  };
  evalStats: DatasetStats | null;
  preview: PreviewExample[];
}

/** Everything the trainer needs from the data files: the split (or eval file), packed when asked, with stats. */
export async function prepareData(input: DataInput, tok: TextTokenizer, opts: PrepareOptions): Promise<PreparedData> {
  const main = await loadDataset(input, tok, opts);
  let train: Example[];
  let evalSet: Example[];
  let evalStats: DatasetStats | null = null;
  if (opts.evalInput) {
    const ev = await loadDataset(opts.evalInput, tok, { ...opts, maxSamples: undefined, previewCount: 0 });
    train = main.examples;
    evalSet = ev.examples;
    evalStats = ev.stats;
  } else {
    const s = splitExamples(main.examples, opts.evalSplit ?? 0, opts.seed ?? 42);
    train = s.train;
    evalSet = s.eval;
  }
  const nTrain = train.length;
  const nEval = evalSet.length;
  if (opts.packing) {
    train = packExamples(train, opts.seqLen);
    evalSet = packExamples(evalSet, opts.seqLen);
  }
  return {
    train,
    eval: evalSet,
    stats: { ...main.stats, train_examples: nTrain, eval_examples: nEval, packing: !!opts.packing, train_rows: train.length, eval_rows: evalSet.length },
    evalStats,
    preview: main.preview,
  };
}
