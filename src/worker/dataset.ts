// "Prepare dataset → stats + preview": the studio's seam to the dataset pipeline (src/data). A
// dropped file is inspected at once (format, columns, record shape: no tokenizer needed); with a
// model loaded it is read in full — records → samples → formatted, tokenized examples with their
// training masks — giving the pipeline's stats and preview. The examples stay in the worker for
// training (split with the run's seed, packed when asked).

import { fileInput, inspectDataset, loadDataset, packExamples, splitExamples, type DataInput, type DatasetExample, type Example, type LoadedDataset } from '../data';
import type { TextTokenizer } from '../model/tokenizer';
import type { DatasetInspect, DatasetOptions } from './protocol';
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
export function loadFile(file: Blob, name: string, tok: TextTokenizer, opts: DatasetOptions, seqLen: number, maxSeqLen?: number): Promise<LoadedDataset> {
  return loadInput(fileInput(file, name), tok, opts, seqLen, maxSeqLen);
}

/** Any data input read with the panel's options (the same pipeline for a file and a Hub split). */
export async function loadInput(input: DataInput, tok: TextTokenizer, opts: DatasetOptions, seqLen: number, maxSeqLen?: number): Promise<LoadedDataset> {
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
  });
}

/** The run's train and eval rows: the seeded split of the CLI, then packing when asked. */
export function trainEval(examples: DatasetExample[], evalSplit: number, seed: number, packing: boolean, seqLen: number): { train: Example[]; eval: Example[] } {
  const s = splitExamples(examples, evalSplit, seed);
  return packing ? { train: packExamples(s.train, seqLen), eval: packExamples(s.eval, seqLen) } : s;
}

/** The run's rows with a separate evaluation file (the CLI's --eval-file): every example trains, the file's examples evaluate; packed when asked. */
export function trainWithEvalFile(examples: DatasetExample[], evalExamples: DatasetExample[], packing: boolean, seqLen: number): { train: Example[]; eval: Example[] } {
  return packing ? { train: packExamples(examples, seqLen), eval: packExamples(evalExamples, seqLen) } : { train: examples, eval: evalExamples };
}
