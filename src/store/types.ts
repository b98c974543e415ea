// Shapes shared by the store's slices and the panels.
import type { RecordShape } from '../data/shapes';
import type { AdapterSummary } from '../gpu/device';
import type { ModelSpec } from '../model/config';
import type { HistoryPoint } from '../train/checkpoint';
import type { RunConfig } from '../train/run';
import type { Knobs } from '../plan/knobs';
import type { CacheEntry, DatasetOptions, DatasetSummary, ModelInfo } from '../worker/protocol';

export type GpuState =
  | { status: 'checking' }
  | { status: 'ok'; adapter: AdapterSummary }
  | { status: 'missing'; message: string; help: string[] };

/** Where a model comes from, in a form a run record can keep. */
export type SourceRef = { kind: 'hub'; repo: string; revision: string } | { kind: 'files'; name: string };

export type ModelChoice =
  | { kind: 'hub'; repo: string; catalog: boolean }
  | { kind: 'files'; name: string; files: { path: string; file: File }[] };

export type LoadState =
  | { status: 'idle' }
  | {
      status: 'loading';
      stage: 'download' | 'weights' | 'starting';
      detail: string;
      loaded: number;
      total: number;
      /** Download speed (bytes/s) and time left for the current file. */
      bytesPerSecond: number;
      etaSeconds: number;
    }
  | { status: 'error'; message: string };

export interface LoadedModelState {
  info: ModelInfo;
  spec: ModelSpec;
  source: SourceRef;
  /** When the load finished (ms since the epoch). */
  loadedAt: number;
}

/** 'inspected': read without a model (columns and shape only); 'ready': tokenized, trainable. */
type DatasetStatus = 'idle' | 'preparing' | 'inspected' | 'ready' | 'error';

/** A Hub dataset opened by id: its configs and splits (from the viewer API) and the one chosen. */
export interface HubDatasetState {
  dataset: string;
  config: string;
  split: string;
  configs: { config: string; splits: string[] }[];
  /** Parquet files and bytes of each config/split ("config/split" → totals). */
  sizes: Record<string, { files: number; bytes: number }>;
  partial: boolean;
}

export interface DatasetState {
  /** A dropped or picked file; null when a Hub dataset (or nothing) is open. */
  file: File | null;
  /** A Hub dataset opened by id; null when a file (or nothing) is open. */
  hub: HubDatasetState | null;
  /** Download of a Hub dataset's Parquet files in progress (bytes of the chosen split). */
  download: { loaded: number; total: number; detail: string } | null;
  /** Reading and tokenizing in progress: counts so far and bytes read of the file's size (null when not reading). */
  progress: { rows: number; examples: number; tokens: number; bytes: number; totalBytes: number | null } | null;
  options: DatasetOptions;
  status: DatasetStatus;
  summary: DatasetSummary | null;
  /** Errors outside the file itself (the engine failed). */
  error: string | null;
}

export type RunStatus = 'running' | 'paused' | 'interrupted' | 'stopped' | 'done' | 'failed';

export interface RunMetrics {
  train: HistoryPoint[];
  eval: { step: number; loss: number }[];
  samples: { step: number; text: string }[];
  tokensPerSecond: number;
  /** Seconds of training, over all segments of a resumed run. */
  elapsedSeconds: number;
  etaSeconds: number;
  evalLossBefore: number | null;
  evalLossAfter: number | null;
  peakBytes: number;
}

export interface RunRecord {
  /** Layout version of the record (RUN_SCHEMA in runlogic.ts); records from before it had none (= 1). */
  schema: number;
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  status: RunStatus;
  model: { name: string; source: SourceRef; modelType: string; params: number };
  knobs: Knobs;
  config: RunConfig;
  /** shape / promptFormat: the record shape and prompt formatting the data was read with (absent in older records). */
  dataset: {
    name: string; examples: number; options: DatasetOptions; shape?: RecordShape; promptFormat?: string;
    /** A separate evaluation file that replaced the eval split (absent: the eval split of the dataset). */
    evalFile?: { name: string; examples: number };
  };
  trainableParams: number;
  totalSteps: number | null;
  metrics: RunMetrics;
  /** Step of the latest checkpoint in IndexedDB (null: none yet). */
  checkpointStep: number | null;
  /** Bytes kept in IndexedDB for this run: its checkpoints and its dataset copy (absent in older records). */
  stored?: { checkpoints: number; dataset: number };
  /** Seconds trained before the current segment (resumed runs). */
  elapsedBefore: number;
  error: string | null;
  /** The experiment (store/experiment.ts) this run is one of, and its place in the experiment's plan (absent: a single run). */
  experiment?: { id: string; index: number };
}

export type CacheState = { status: 'idle' | 'loading' | 'ready'; entries: CacheEntry[]; error: string | null };

export type Tab = 'model' | 'dataset' | 'settings' | 'train' | 'experiment' | 'playground' | 'runs';

export interface StreamState {
  text: string;
  status: 'idle' | 'running' | 'done' | 'error';
  error: string | null;
  /** When done: tokens generated and seconds from the request to the last token. */
  tokens?: number;
  seconds?: number;
  /** Ended by the Stop button before max tokens or the end-of-text token. */
  stopped?: boolean;
}
