// The options of the dataset pipeline (one set for the CLI's flags and the studio's panel), checked once.

import { opt, wordedOf } from '../options';
import { DatasetError } from './input';
import type { FileFormat } from './readers';
import { checkTemplate, type RecordShape } from './shapes';

/** Progress while a file is read: rows read, examples kept, their tokens, bytes read of the file's size. */
export interface DataProgress {
  rows: number;
  examples: number;
  tokens: number;
  /** Bytes of the file read so far (Parquet: bytes fetched by its range reads). */
  bytes: number;
  /** The file's size in bytes, when known. */
  totalBytes?: number;
}

/**
 * The options of the dataset pipeline (loadDataset), shared by the CLI's flags and the studio's
 * data panel; resolveOptions checks them and throws DatasetError naming the option (seqLen an
 * integer ≥ 2, maxSamples a positive integer, a template with its response column and balanced
 * {column} placeholders). Lengths are in tokens.
 */
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
  /** Seed of the 'random' subset (util/random; the same seed picks the same rows). */
  seed?: number;
  /** 'stop' (default): the first bad row is an error naming its line; 'skip': counted and listed. */
  onBadRows?: 'skip' | 'stop';
  /** The file format; 'auto' (default) from the name and first bytes. */
  fileFormat?: 'auto' | FileFormat;
  /** How many examples to render in the preview (default 3). */
  previewCount?: number;
  /** Progress every 1000 rows, and once at the end of the file. */
  onProgress?: (p: DataProgress) => void;
}

/** The checked options with their defaults. */
interface ResolvedOptions {
  seqLen: number;
  onBad: 'skip' | 'stop';
  trainOnPrompt: boolean;
  maxSamples: number | undefined;
  sampleMode: 'first' | 'random';
  /** The record shape when given (or implied by a template); null: detect it from the first record. */
  shape: RecordShape | null;
}

/** Checks the options (DatasetError naming the option) and fills in the defaults. */
export function resolveOptions(opts: DataOptions): ResolvedOptions {
  const seqLen = opts.seqLen;
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new DatasetError(`sequence length must be an integer ≥ 2 (got ${seqLen}).`);
  const maxSamples = opts.maxSamples;
  if (maxSamples !== undefined && !(Number.isInteger(maxSamples) && maxSamples > 0)) throw new DatasetError(`max samples must be a positive integer (got ${maxSamples}).`);
  const shape: RecordShape | null = opts.format && opts.format !== 'auto' ? opts.format : opts.template ? 'template' : null;
  if (shape === 'template' || opts.template) {
    if (!opts.template) throw new DatasetError(['the template format needs a prompt template: ', opt('template', '... {column} ...')]);
    if (!opts.responseColumn) throw new DatasetError(['the template format needs the column that holds the response: ', opt('responseColumn')]);
    try {
      checkTemplate(opts.template);
    } catch (e) {
      throw new DatasetError(wordedOf(e) ?? (e as Error).message);
    }
  }
  return { seqLen, onBad: opts.onBadRows ?? 'stop', trainOnPrompt: opts.trainOnPrompt ?? false, maxSamples, sampleMode: opts.sample ?? 'first', shape };
}
