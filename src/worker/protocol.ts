// The typed message protocol between the studio page and the engine's Web Worker. Requests carry
// an id; the worker answers each with exactly one reply (ok + result, or error) and may send any
// number of events tagged with the same id before it (progress, training steps, tokens).

import type { AdapterSummary } from '../gpu/device';
import type { ProgressInfo, RunConfig } from '../train/run';

export type ModelSourceSpec =
  | { kind: 'hub'; repo: string; revision?: string; token?: string }
  | { kind: 'files'; name: string; files: { path: string; file: Blob }[] };

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
}

export interface TrainRequestData {
  /** One example per entry (plain text; the dataset pipeline produces richer examples). */
  texts: string[];
  evalTexts: string[];
}

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

export interface GenerateRequest {
  prompt: string;
  /** 'base' = no adapter; 'trained' = the adapter of the last training run. */
  adapter: 'base' | 'trained';
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
}

export type Request =
  | { type: 'init' }
  | { type: 'loadModel'; source: ModelSourceSpec; dtype?: 'auto' | 'f32' | 'f16' }
  | { type: 'train'; config: RunConfig; data: TrainRequestData; runId: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'generate'; req: GenerateRequest }
  | { type: 'exportAdapter' };

export type Result<T extends Request['type']> = T extends 'init'
  ? AdapterSummary
  : T extends 'loadModel'
    ? ModelInfo
    : T extends 'train'
      ? TrainSummary
      : T extends 'generate'
        ? { text: string; tokens: number }
        : T extends 'exportAdapter'
          ? { files: { name: string; bytes: Uint8Array }[] }
          : null;

export type EngineEvent =
  | { kind: 'load'; stage: 'download' | 'weights'; loaded: number; total: number; detail: string }
  | { kind: 'step'; info: ProgressInfo }
  | { kind: 'eval'; step: number; loss: number }
  | { kind: 'checkpoint'; step: number }
  | { kind: 'token'; text: string }
  | { kind: 'deviceLost'; message: string };

export type WorkerMessage =
  | { id: number; type: 'event'; event: EngineEvent }
  | { id: number; type: 'reply'; ok: true; result: unknown }
  | { id: number; type: 'reply'; ok: false; error: string };

export type RequestMessage = { id: number; req: Request };
