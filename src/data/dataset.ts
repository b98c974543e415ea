// The dataset pipeline shared by the CLI and the studio's worker:
//   bytes (DataInput) → records (readers/) → samples (shapes.ts) → formatted segments (format.ts)
//   → ids + training mask (tokenize.ts) → truncated examples in an ExampleStore (examples.ts), with
//   stats (stats.ts) and a preview (preview.ts),
// then sampling, the train/eval split (sampling.ts) and optional packing (prepareData).
// Bad rows are skipped (counted and listed with their line and reason) or stop the run, as asked;
// nothing is dropped without a line in `stats.skipped`.
//
// Memory: the file streams (a chunk and the record being read; Parquet one row group), each record
// becomes a JS object only until it is tokenized, and what stays is the token ids and masks of the
// kept examples (5 bytes per token in typed-array chunks) plus per-example tables, the lengths and
// duplicate keys of the stats, and the preview. With maxSamples and sample 'random', the reservoir
// holds up to maxSamples samples (their text) until the file ends.

import type { TextTokenizer } from '../model/tokenizer';
import { opt, renderWorded, type Worded } from '../options';
import { ExampleStore, ExampleView, viewAll } from './examples';
import { makeFormatter, type Formatter } from './format';
import { countingInput, DatasetError, peekBytes, type DataInput } from './input';
import { resolveOptions, type DataOptions } from './options';
import { packStore } from './pack';
import { previewOf, type PreviewExample } from './preview';
import { detectFileFormat, locate, readRecords, type FileFormat } from './readers';
import { Sampler, splitIndices } from './sampling';
import { detectShape, ShapeError, toSample, type RecordShape, type Sample } from './shapes';
import { StatsAccumulator, type DatasetStats } from './stats';
import { tokenizeFormatted } from './tokenize';
import type { Example } from './batch';

export { resolveOptions, type DataOptions, type DataProgress } from './options';
export { previewOf, renderPreview, type PreviewExample } from './preview';
export { splitExamples, splitIndices } from './sampling';
export { type DataWarning, type DatasetStats } from './stats';

/** An example as JS arrays (what `LoadedDataset.examples` materializes; tests and small data). */
export interface DatasetExample extends Example {
  ids: number[];
  trainMask: boolean[];
  /** Line (Parquet: row) of the record. */
  line: number;
}

/**
 * The result of loadDataset: the tokenized examples (each at most seqLen tokens, with its
 * per-token train mask: the labels of masked tokens are -100), the statistics and warnings for the
 * CLI's report and the studio's data panel, and a few examples rendered for the preview.
 */
export interface LoadedDataset {
  /** The tokenized examples, compact (what training reads). */
  store: ExampleStore;
  /**
   * The same examples as JS arrays, built on first access and kept (about 16 bytes per token
   * more): for tests and small files; the CLI and the studio read `store`.
   */
  readonly examples: DatasetExample[];
  stats: DatasetStats;
  /** The first `previewCount` examples (default 3) as runs of trained and masked text. */
  preview: PreviewExample[];
}

interface Pending {
  line: number;
  sample: Sample;
}

/** The store's examples as JS arrays. */
function materialize(store: ExampleStore): DatasetExample[] {
  const out: DatasetExample[] = [];
  for (let i = 0; i < store.length; i++) {
    const e = store.at(i)!;
    out.push({ ids: Array.from(e.ids), trainMask: Array.from(e.trainMask, (m) => m === 1), line: e.line });
  }
  return out;
}

/** Reads, checks, formats and tokenizes one data file, streaming it; progress through `opts.onProgress`. */
export async function loadDataset(input: DataInput, tok: TextTokenizer, opts: DataOptions): Promise<LoadedDataset> {
  const o = resolveOptions(opts);
  const { seqLen, onBad, trainOnPrompt, maxSamples, sampleMode } = o;
  let shape = o.shape;
  const name = input.name;
  const head = await peekBytes(input, 1);
  if (head.length === 0) throw new DatasetError(`${name}: the file is empty (0 bytes).`);
  const fileFormat = opts.fileFormat && opts.fileFormat !== 'auto' ? opts.fileFormat : await detectFileFormat(input);
  const where = (line: number) => locate(name, fileFormat, line);

  const acc = new StatsAccumulator();
  const skip = (line: number, why: string | Worded, bad: boolean) => {
    const reason = typeof why === 'string' ? [why] : why;
    if (bad && onBad === 'stop') {
      throw new DatasetError([`${where(line)}: `, ...reason, '. To skip such rows instead (they are counted and listed), set ', opt('onBadRows', 'skip'), '.']);
    }
    acc.skip(line, renderWorded(reason), bad);
  };

  let formatter: Formatter | null = null;
  const store = new ExampleStore(Math.max(1 << 20, seqLen));
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
    const kept = Math.min(length, seqLen);
    let trained = 0;
    for (let i = 1; i < kept; i++) if (t.mask[i]) trained++;
    if (trained === 0) {
      if (p.sample.kind === 'text') return skip(p.line, `only ${length} token${length === 1 ? '' : 's'}: nothing to predict`, false);
      let promptLen = 0;
      while (promptLen < t.mask.length && !(promptLen > 0 && t.mask[promptLen])) promptLen++;
      acc.addTooLong(length, promptLen);
      return skip(p.line, `the prompt is ${promptLen} tokens, so nothing of the response fits in seq-len ${seqLen}`, false);
    }
    acc.addExample(p.line, length, kept, trained, length > seqLen, f.segments.map((s) => (s.train ? '\u0001' : '\u0002') + s.text).join(''));
    const ids = kept < length ? t.ids.slice(0, kept) : t.ids;
    const mask = kept < length ? t.mask.slice(0, kept) : t.mask;
    store.add(ids, mask, p.line);
    if (preview.length < previewCount) preview.push(previewOf(tok, { ids, trainMask: mask, line: p.line }, length, seqLen));
  };

  let rows = 0;
  let jsonKey: string | undefined;
  const sampler = maxSamples !== undefined ? new Sampler<Pending>(maxSamples, sampleMode, opts.seed ?? 42) : null;
  const counted = countingInput(input);
  const progress = () => opts.onProgress?.({ rows, examples: store.length, tokens: store.tokens, bytes: counted.bytesRead(), totalBytes: input.size });
  for await (const rec of readRecords(counted.input, fileFormat, { onJsonKey: (k) => (jsonKey = k ?? undefined) })) {
    rows++;
    if (rows % 1000 === 0) progress();
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
    const p = { line: rec.line, sample };
    if (!sampler) addExample(p);
    else if (sampleMode === 'first') {
      sampler.offered++;
      addExample(p);
      if (store.length >= sampler.max) break;
    } else sampler.offer(p);
  }
  if (sampler && sampleMode === 'random') for (const p of sampler.take((x) => x.line)) addExample(p);
  progress();

  if (rows === 0) {
    throw new DatasetError(
      fileFormat === 'parquet' ? `${name}: the file has no rows.`
        : fileFormat === 'csv' || fileFormat === 'tsv' ? `${name}: the file has no examples: it holds no rows (only a header or blank lines).`
        : fileFormat === 'json' ? `${name}: the file has no examples: its records array is empty.`
        : `${name}: the file has no examples: it holds only blank lines. Give one example per line (JSONL with a "text" field, or plain text).`,
    );
  }
  const { skipped, skippedCount, badRows, tooLong } = acc;
  if (store.length === 0) {
    if (tooLong > 0 && tooLong === skippedCount - badRows) {
      throw new DatasetError([
        `${name}: every example is longer than the sequence length ${seqLen} after its prompt (the shortest prompt is ${acc.shortestPrompt} tokens), so nothing would be trained` +
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

  const stats = acc.finish(
    { file: name, file_format: fileFormat, json_key: jsonKey, format: shape!, prompt_format: formatter!.name, train_on_prompt: trainOnPrompt, seq_len: seqLen, rows },
    opts.maxSeqLen,
  );
  if (sampler && (sampleMode === 'first' ? store.length >= sampler.max : sampler.offered > sampler.max)) {
    stats.sampled = { from: sampleMode === 'first' ? null : sampler.offered, kept: store.length, mode: sampleMode };
  }
  let examples: DatasetExample[] | null = null;
  return {
    store,
    get examples() {
      return (examples ??= materialize(store));
    },
    stats,
    preview,
  };
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

/** The seeded split of a store's examples (splitIndices), packed into new compact rows when asked. */
export function splitStore(store: ExampleStore, evalSplit: number, seed: number, packing: boolean, seqLen: number): { train: ExampleView; eval: ExampleView } {
  const s = splitIndices(store.length, evalSplit, seed);
  const train = new ExampleView(store, s.train);
  const ev = new ExampleView(store, s.eval);
  return packing ? { train: viewAll(packStore(train, seqLen)), eval: viewAll(packStore(ev, seqLen)) } : { train, eval: ev };
}

interface PrepareOptions extends DataOptions {
  /** Pack several short examples into each row of seqLen tokens. */
  packing?: boolean;
  /** Fraction of the examples held out for evaluation (ignored with evalInput). */
  evalSplit?: number;
  /** A separate evaluation file (read with the same options). */
  evalInput?: DataInput;
}

interface PreparedData {
  /** Rows for runTraining (packed when asked): views over the compact stores. */
  train: ExampleView;
  eval: ExampleView;
  /** The held-out examples unpacked, in split order (the eval split's, or the evaluation file's): data/heldout.ts draws evaluation prompts from them. */
  heldOut: ExampleView;
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
  let train: ExampleView;
  let evalSet: ExampleView;
  let heldOut: ExampleView;
  let evalStats: DatasetStats | null = null;
  let nTrain: number;
  let nEval: number;
  if (opts.evalInput) {
    const ev = await loadDataset(opts.evalInput, tok, { ...opts, maxSamples: undefined, previewCount: 0, onProgress: undefined });
    const pack = (v: ExampleView) => (opts.packing ? viewAll(packStore(v, opts.seqLen)) : v);
    train = pack(viewAll(main.store));
    heldOut = viewAll(ev.store);
    evalSet = pack(heldOut);
    evalStats = ev.stats;
    nTrain = main.store.length;
    nEval = ev.store.length;
  } else {
    const s = splitIndices(main.store.length, opts.evalSplit ?? 0, opts.seed ?? 42);
    [nTrain, nEval] = [s.train.length, s.eval.length];
    heldOut = new ExampleView(main.store, s.eval);
    ({ train, eval: evalSet } = splitStore(main.store, opts.evalSplit ?? 0, opts.seed ?? 42, !!opts.packing, opts.seqLen));
  }
  return {
    train,
    eval: evalSet,
    heldOut,
    stats: { ...main.stats, train_examples: nTrain, eval_examples: nEval, packing: !!opts.packing, train_rows: train.length, eval_rows: evalSet.length },
    evalStats,
    preview: main.preview,
  };
}
