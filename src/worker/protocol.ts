// The typed message protocol between the studio page and the engine's Web Worker. Requests carry
// an id; the worker answers each with exactly one reply (ok + result, or error) and may send any
// number of events tagged with the same id before it (progress, training steps, tokens).

import type { DatasetStats, PreviewExample, RecordShape } from '../data';
import type { HubDatasetListing } from '../data/hub';
import type { PromptFormat } from '../data/format';
import type { ChatMessage } from '../data/shapes';
import type { HeldOutPrompt } from '../data/heldout';
import type { AdapterSummary } from '../gpu/device';
import type { QuantMode } from '../quant/formats';
import type { ProgressInfo, RunConfig } from '../train/run';
import type { RunOption } from '../options';

/** Where a base model comes from: a Hub repo (revision default main; token for gated repos), or a picked folder's files with their paths. */
export type ModelSourceSpec =
  | { kind: 'hub'; repo: string; revision?: string; token?: string }
  | { kind: 'files'; name: string; files: { path: string; file: Blob }[] };

/** Storage of the frozen base (group size for QA-LoRA). */
export type { QuantMode };

/**
 * A loaded base model as the page sees it: counts (params, layers, hidden C, vocab, maxPositions T),
 * the weights' storage dtype and bytes on the GPU, and the quantization it was loaded with.
 */
export interface ModelInfo {
  name: string;
  modelType: string;
  params: number;
  layers: number;
  hidden: number;
  vocab: number;
  maxPositions: number;
  weightsDType: string;
  baseWeightBytes: number;
  quant: QuantMode;
  groupSize: number;
  /** Matrices the quant mode could not take (kept in the storage dtype), with the reason. */
  unquantized: { name: string; reason: string }[];
  /** The model's config.json text (the page derives the spec from it). */
  configText: string;
}

interface TrainRequestData {
  /** One example per entry (plain text; the dataset pipeline produces richer examples). */
  texts: string[];
  evalTexts: string[];
}

/** A dataset prepared by `prepareDataset` and held in the worker, split with the run's seed. */
interface PreparedDataRef {
  datasetId: string;
  evalSplit: number;
  /** A separate evaluation file prepared the same way: it replaces the eval split (the CLI's --eval-file). */
  evalDatasetId?: string;
}

/** How a training run ended: steps done, eval losses before and after (null: no eval set), trainable parameters, tokens/s, peak GPU bytes, and whether it was stopped early. */
export interface TrainSummary {
  runId: string;
  steps: number;
  evalLossBefore: number | null;
  evalLossAfter: number | null;
  trainableParams: number;
  tokensPerSecond: number;
  peakBytes: number;
  stoppedEarly: boolean;
}

/**
 * 'base' = no adapter; 'trained' = the adapter of the last training run; { runId } = a run's adapter
 * (from memory or IndexedDB); { external } = an adapter folder opened with loadExternalAdapter.
 */
export type AdapterRef = 'base' | 'trained' | { runId: string } | { external: string };

/** An adapter folder opened in the playground, as checked against the loaded base. */
export interface ExternalAdapterInfo {
  name: string;
  /** The weights file read (folder/adapter_model.safetensors or .bin). */
  file: string;
  r: number;
  loraAlpha: number;
  useRslora: boolean;
  /** Modules the adapter applies to in the loaded model. */
  modules: number;
  /** base_model_name_or_path from adapter_config.json. */
  baseModel: string | null;
}

/** One generation: the prompt (or a conversation), the adapter to apply, and the sampling settings (maxNewTokens in tokens; temperature ≤ 0 or absent is greedy, else seeded temperature / top-p sampling: net/generate.ts). */
export interface GenerateRequest {
  /** The prompt as typed (with promptIds: its text, for the reply only). */
  prompt: string;
  /** The prompt as token ids, fed as they are (a held-out prompt as training formatted it); `format` then only adds its stop ids. */
  promptIds?: number[];
  adapter: AdapterRef;
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Wrap the prompt as the training data was (Alpaca prompt, chat template turn); absent: as typed. */
  format?: PromptFormat;
  /** A conversation (the chat playground): rendered with the chat template chat data trains with (encodeChat) instead of prompt and format. */
  messages?: ChatMessage[];
}

/** How the records of a data file become training examples (the dataset pipeline's options). */
export interface DatasetOptions {
  /** Record shape: 'auto' detects it from the first record. */
  format: 'auto' | RecordShape;
  /** Prompt template with {column} placeholders ('' = none). */
  template: string;
  /** Column holding the response ('' = the shape's own). */
  responseColumn: string;
  /** 'auto' | 'model' | 'alpaca' | 'none' | 'chatml'. */
  chatTemplate: string;
  trainOnPrompt: boolean;
  onBadRows: 'stop' | 'skip';
  /** Pack several short examples into each row of seqLen tokens. */
  packing: boolean;
}

/** The Dataset tab's defaults, equal to the CLI's (detected shape, no template, stop on a bad row, no packing). */
export const DEFAULT_DATASET_OPTIONS: DatasetOptions = {
  format: 'auto', template: '', responseColumn: '', chatTemplate: 'auto', trainOnPrompt: false, onBadRows: 'stop', packing: false,
};

/** Where a dataset comes from: a dropped or picked file, or one split of a Hub dataset's Parquet export. */
export type DatasetSourceSpec =
  | { kind: 'file'; file: Blob; name: string }
  | { kind: 'hub'; dataset: string; config: string; split: string; token?: string };

export type { HubDatasetListing };

/** What a file holds, before options are chosen (no tokenizer needed). */
export interface DatasetInspect {
  fileFormat: string;
  columns: string[];
  shape: RecordShape | null;
  reason?: string;
}

/** A dataset file as read by the worker: its inspection, prepared examples and stats (ok), or the error in the studio's words with the option it is about. */
export type DatasetSummary =
  | {
      ok: true;
      name: string;
      inspect: DatasetInspect;
      /** The prepared examples in the worker (null until a model is loaded to tokenize them). */
      datasetId: string | null;
      stats: DatasetStats | null;
      /** Examples as trained, in runs of trained / masked text (render as text, never as HTML). */
      preview: PreviewExample[];
    }
  | { ok: false; name: string; inspect: DatasetInspect | null; error: string; option?: RunOption };

/** One file in the worker's model cache (Cache Storage): its URL, Hub repo, revision, path in the repo, and size in bytes. */
export interface CacheEntry {
  url: string;
  repo: string;
  revision: string;
  file: string;
  bytes: number;
}

/** A file to download. Blobs cross the worker boundary by reference and may live on disk, so a merged model of several GiB is never one array in memory. */
export interface ExportedFile {
  name: string;
  data: Blob;
}

/**
 * The checkpoint an export reads: absent = the run's final adapter (in memory, else its newest
 * checkpoint); `step` = the kept checkpoint of that step (checksum verified; one line when it is
 * no longer kept or is damaged).
 */
interface ExportStep {
  step?: number;
}

/** What a `train` request carries. */
export interface TrainRequest {
  config: RunConfig;
  data: TrainRequestData | PreparedDataRef;
  runId: string;
  /** Evaluate every N steps (0 / absent: before and after only). */
  evalEvery?: number;
  /** Generate a greedy sample for this prompt at every checkpoint. */
  sample?: { prompt: string; maxNewTokens: number; format?: GenerateRequest['format'] };
  /** Keep checkpoints in IndexedDB (the studio's runs). */
  persist?: boolean;
  /** Continue from the run's checkpoint in IndexedDB. */
  resume?: boolean;
  /** Checkpoints kept in IndexedDB (default 2); a new one is written before the oldest goes. */
  keepCheckpoints?: number;
}

/** A calibration's measure: seconds per micro-batch, and whether it was scaled from a smaller probe batch (a slow device); null: not measured. */
type CalibrationReply = { secondsPerMicroBatch: number; scaled: boolean } | null;

/** A generation's end: the whole text, tokens generated, whether stopGenerate cut it short, and the prompt as rendered. */
export interface GenerateReply {
  text: string;
  tokens: number;
  stopped: boolean;
  prompt: string;
}

/**
 * Every request the engine worker answers: its `type` → `{ req, reply }`, where `req` is what the
 * request carries besides its type and `reply` the one result it is answered with (null: nothing
 * but "done"). The page's `EngineClient.call` and the worker's handler table (./handlers) are both
 * typed from this map, so the compiler checks that each handler returns its request's reply.
 *
 * To add a request: add an entry here (with a docstring), a method on `EngineSession`
 * (./session) or one of its concern modules, and its line in `handlers` (the compiler points at
 * the missing line); events it streams go in `EngineEvent`.
 */
export interface RequestMap {
  /** Acquires the GPU device; replies with the adapter's description and limits. */
  init: { req: object; reply: AdapterSummary };
  /** Loads a model (replacing the one loaded, its adapters and prepared datasets); `load` events. */
  loadModel: { req: { source: ModelSourceSpec; dtype?: 'auto' | 'f32' | 'f16'; quant?: { mode: QuantMode; groupSize: number } }; reply: ModelInfo };
  /** A Hub model's config.json text (for the memory estimate before any download). */
  fetchConfig: { req: { repo: string; revision?: string; token?: string }; reply: { text: string } };
  /** The model cache's files. */
  cacheList: { req: object; reply: CacheEntry[] };
  /** Deletes the cached files of one repo (all with no repo); replies with how many. */
  cacheClear: { req: { repo?: string }; reply: { deleted: number } };
  /** Lists a Hub dataset's Parquet export (configs, splits, files) through the dataset viewer API. */
  listHubDataset: { req: { dataset: string; token?: string }; reply: HubDatasetListing };
  /** Inspects a data file or Hub split and, with a model loaded, tokenizes it (kept for train); `datasetDownload` events. */
  prepareDataset: { req: { source: DatasetSourceSpec; options: DatasetOptions; seqLen: number }; reply: DatasetSummary };
  /**
   * The first `count` held-out examples of a prepared dataset as evaluation prompts: the run's eval
   * split (the train request's split: `data` with the run's `seed`) or its evaluation file, in split
   * order, each prompt's ids as training formatted them and the reference answer (data/heldout.ts).
   */
  heldOutPrompts: { req: { data: PreparedDataRef; seed: number; count: number }; reply: HeldOutPrompt[] };
  /** Trains (or resumes) a run; `step`, `eval`, `evalBefore`, `checkpoint`, `sample`, `storageFull`, `resumedFrom` events. */
  train: { req: TrainRequest; reply: TrainSummary };
  /**
   * Times a few training steps of `config` on a throwaway adapter (the time estimate); null when the
   * engine is busy (training, loading, generating) or the calibration was stopped or superseded.
   */
  calibrate: { req: { config: RunConfig }; reply: CalibrationReply };
  /** Stops the calibration in flight after its current step. */
  stopCalibration: { req: object; reply: null };
  /** Holds the run before its next step. */
  pause: { req: object; reply: null };
  /** Releases a paused run (and retries a checkpoint write that found storage full). */
  resume: { req: object; reply: null };
  /** Ends the run after its current step (with a checkpoint). */
  stop: { req: object; reply: null };
  /** Generates text from the base or an adapter; `token` events. */
  generate: { req: { req: GenerateRequest }; reply: GenerateReply };
  /** Ends every generation in progress after its current token (their replies say stopped). */
  stopGenerate: { req: object; reply: null };
  /**
   * A run's adapter as its two PEFT files (the saved checkpoint, or the adapter trained in memory);
   * with `step` (needs `runId`) the kept checkpoint of that step instead of the newest.
   */
  exportAdapter: { req: { runId?: string } & ExportStep; reply: { files: ExportedFile[] } };
  /** The merged model: dense (base dtype), or with quantized: true the QA-LoRA merge into the loaded INT-N base; `export` events. */
  exportMerged: { req: { runId: string; quantized?: boolean } & ExportStep; reply: { files: ExportedFile[] } };
  /** llama.cpp GGUF: the merged model (f16 / q8_0; a QA-LoRA run on its loaded INT-N base is dequantized) or the adapter alone. */
  exportGguf: { req: { runId: string; what: 'merged' | 'adapter'; ggufType: 'f16' | 'q8_0' } & ExportStep; reply: { files: ExportedFile[]; notes: string[] } };
  /** Frees a run's or an opened adapter folder's GPU buffers (runId: the run id or the external id). */
  dropAdapter: { req: { runId: string }; reply: null };
  /** Opens a PEFT adapter folder's files onto the loaded base under `id` (GPU buffers until dropAdapter or another model). */
  loadExternalAdapter: { req: { id: string; name: string; files: { path: string; file: Blob }[] }; reply: ExternalAdapterInfo };
  /** For tests: destroys the GPU device the way a driver reset or an out-of-memory loss would. */
  simulateDeviceLoss: { req: object; reply: null };
}

/** A request's type: a key of RequestMap. */
export type RequestType = keyof RequestMap;

/** The message of one request type: `{ type }` plus what it carries. */
export type RequestOf<K extends RequestType> = { type: K } & RequestMap[K]['req'];

/** The reply of one request type. */
export type Reply<K extends RequestType> = RequestMap[K]['reply'];

/** Any request (the union of RequestOf over RequestMap). */
export type Request = { [K in RequestType]: RequestOf<K> }[RequestType];

/** Everything the worker reports while a request runs (progress, steps, evals, samples, tokens), tagged with the request's id; deviceLost is untagged. */
export type EngineEvent =
  /** download: bytes of the whole download so far / expected, detail = the file in flight; weights: tensors uploaded / all. */
  | { kind: 'load'; stage: 'download' | 'weights'; loaded: number; total: number; detail: string }
  /** A Hub dataset's Parquet files downloading: bytes so far / of all its files, detail = the file in flight. */
  | { kind: 'datasetDownload'; loaded: number; total: number; detail: string }
  /** A dataset being read and tokenized: rows read, examples kept and their tokens, bytes read of the file's size (at most every 100 ms, and at the end). */
  | { kind: 'datasetProgress'; rows: number; examples: number; tokens: number; bytes: number; totalBytes: number | null }
  | { kind: 'step'; info: ProgressInfo }
  | { kind: 'eval'; step: number; loss: number }
  /** The eval loss before training, measured before the first step. */
  | { kind: 'evalBefore'; loss: number }
  /** A checkpoint was saved; bytes: what the run's kept checkpoints take in IndexedDB (persisted runs). */
  | { kind: 'checkpoint'; step: number; evalLossBefore: number | null; bytes?: number }
  /**
   * Browser storage is full. checkpoint: the checkpoint of `step` could not be written; the run
   * waits, paused, until it is resumed (the write is tried again) or stopped. models: a downloaded
   * file could not be kept in the model cache (the load goes on from memory).
   */
  | { kind: 'storageFull'; what: 'checkpoint' | 'models'; step?: number; file?: string }
  /** The resumed run continues from an older checkpoint than its newest (which was damaged). */
  | { kind: 'resumedFrom'; step: number; notice: string }
  | { kind: 'sample'; step: number; text: string }
  /** A paused run is parked: every step up to `step` was reported, the next waits for resume or stop. */
  | { kind: 'held'; step: number }
  | { kind: 'token'; text: string }
  /** Merging a model for download: tensors done of all. */
  | { kind: 'export'; done: number; total: number }
  | { kind: 'deviceLost'; message: string };

/** A message from the worker to the page: an event of a request, or its one reply (a result, or an error in the studio's words). */
export type WorkerMessage =
  | { id: number; type: 'event'; event: EngineEvent }
  | { id: number; type: 'reply'; ok: true; result: unknown }
  /** `error` is in the studio's words; `option` is the setting it is about (the page focuses its control). */
  | { id: number; type: 'reply'; ok: false; error: string; option?: RunOption };

/** A message from the page to the worker: a request with the id its events and reply carry. */
export type RequestMessage = { id: number; req: Request };
