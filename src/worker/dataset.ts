// "Prepare dataset → stats + preview": the studio's seam to the dataset pipeline (src/data). A
// dropped file is inspected at once (format, columns, record shape: no tokenizer needed); with a
// model loaded it is read in full — records → samples → formatted, tokenized examples with their
// training masks — giving the pipeline's stats and preview, with progress while it reads. The
// examples stay in the worker for training as a compact ExampleStore (split with the run's seed,
// packed when asked).

import {
  ExampleStore, fileInput, inspectDataset, loadDataset, packExamples, packStore, splitExamples, splitStore,
  type DataInput, type DataProgress, type DatasetExample, type Example, type ExampleList, type LoadedDataset,
} from '../data';
import type { TextTokenizer } from '../model/tokenizer';
import type { DatasetInspect, DatasetOptions, EngineEvent } from './protocol';
import { studioWords } from '../plan/knobs';

const PREVIEW = 5;

/** A dropped file's format, columns and record shape (no tokenizer needed). */
export function inspectFile(file: Blob, name: string): Promise<DatasetInspect> {
  return inspectInput(fileInput(file, name));
}

/** Format, columns and record shape of any data input (a file, a Hub split). */
export async function inspectInput(input: DataInput): Promise<DatasetInspect> {
  const i = await inspectDataset(input);
  return { fileFormat: i.file_format, columns: i.columns, shape: i.shape, reason: i.reason === undefined ? undefined : studioWords(i.reason) };
}

/** A dropped file read with the panel's options into tokenized examples, stats and preview. */
export function loadFile(file: Blob, name: string, tok: TextTokenizer, opts: DatasetOptions, seqLen: number, maxSeqLen?: number, onProgress?: (p: DataProgress) => void): Promise<LoadedDataset> {
  return loadInput(fileInput(file, name), tok, opts, seqLen, maxSeqLen, onProgress);
}

/** Any data input read with the panel's options (the same pipeline for a file and a Hub split). */
export async function loadInput(
  input: DataInput,
  tok: TextTokenizer,
  opts: DatasetOptions,
  seqLen: number,
  maxSeqLen?: number,
  onProgress?: (p: DataProgress) => void,
): Promise<LoadedDataset> {
  const template = opts.template.trim() === '' ? undefined : opts.template;
  return loadDataset(input, tok, {
    format: opts.format === 'auto' && template ? 'template' : opts.format,
    template,
    responseColumn: opts.responseColumn || undefined,
    chatTemplate: opts.chatTemplate,
    trainOnPrompt: opts.trainOnPrompt,
    onBadRows: opts.onBadRows,
    seqLen,
    maxSeqLen,
    previewCount: PREVIEW,
    onProgress,
  });
}

/**
 * The run's train and eval rows: the seeded split of the CLI, then packing when asked. A store
 * (what the worker holds) gives views over it (packed rows in a new store); an array, arrays.
 */
export function trainEval(examples: DatasetExample[], evalSplit: number, seed: number, packing: boolean, seqLen: number): { train: Example[]; eval: Example[] };
export function trainEval(examples: ExampleStore, evalSplit: number, seed: number, packing: boolean, seqLen: number): { train: ExampleList; eval: ExampleList };
export function trainEval(examples: DatasetExample[] | ExampleStore, evalSplit: number, seed: number, packing: boolean, seqLen: number): { train: ExampleList; eval: ExampleList } {
  if (examples instanceof ExampleStore) return splitStore(examples, evalSplit, seed, packing, seqLen);
  const s = splitExamples(examples, evalSplit, seed);
  return packing ? { train: packExamples(s.train, seqLen), eval: packExamples(s.eval, seqLen) } : s;
}

/** A loader's progress as datasetProgress events, at most every `ms` (the first and the last always). */
export function datasetProgress(emit: (e: EngineEvent) => void, ms = 100): (p: DataProgress) => void {
  let last = -Infinity;
  return (p) => {
    const now = Date.now();
    const end = p.totalBytes !== undefined && p.bytes >= p.totalBytes;
    if (!end && now - last < ms) return;
    last = now;
    emit({ kind: 'datasetProgress', rows: p.rows, examples: p.examples, tokens: p.tokens, bytes: p.bytes, totalBytes: p.totalBytes ?? null });
  };
}

/**
 * The run's rows with a separate evaluation file (the CLI's --eval-file): every example trains, the
 * file's examples evaluate; packed when asked. Stores (what the worker holds) give stores; arrays, arrays.
 */
export function trainWithEvalFile(examples: DatasetExample[], evalExamples: DatasetExample[], packing: boolean, seqLen: number): { train: Example[]; eval: Example[] };
export function trainWithEvalFile(examples: ExampleStore, evalExamples: ExampleStore, packing: boolean, seqLen: number): { train: ExampleList; eval: ExampleList };
export function trainWithEvalFile(examples: DatasetExample[] | ExampleStore, evalExamples: DatasetExample[] | ExampleStore, packing: boolean, seqLen: number): { train: ExampleList; eval: ExampleList } {
  if (!packing) return { train: examples, eval: evalExamples };
  const pack = (e: DatasetExample[] | ExampleStore): ExampleList => (e instanceof ExampleStore ? packStore(e, seqLen) : packExamples(e, seqLen));
  return { train: pack(examples), eval: pack(evalExamples) };
}
