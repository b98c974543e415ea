// Periodic training checkpoints: the adapter in PEFT format, Adam's moments, and the loop state
// (step, epoch, position in the epoch's shuffled order, loss history), so a resumed run continues
// exactly where the checkpoint was taken. Files are returned as bytes; the host stores them
// (a folder in the CLI, IndexedDB in the studio).

import { exportAdapter, type LoraHyper } from '../lora/peft';
import { readMoments, type LoraState } from '../lora/state';
import type { ModelSpec } from '../model/config';
import { serializeSafetensors } from '../model/safetensors-writer';

/**
 * One optimizer step of the loss curve (transformers' trainer_state.json log_history keeps the
 * same quantities): `step` 1-based, `loss` the mean next-token cross-entropy of the step in nats
 * per predicted token, `lr` the learning rate used for its update, `gradNorm` the global L2 norm of
 * the LoRA gradients before clipping.
 */
export interface HistoryPoint {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

/**
 * The loop state of a checkpoint (trainer_state.json, after transformers' file of that name but
 * with this tool's own fields): enough to continue the run exactly, with the same example order
 * (epoch and cursor into the permutation seeded by hash32(seed, epoch)) and the same curve.
 */
export interface TrainerState {
  /** Format version; parseTrainerState accepts 1 only. */
  version: 1;
  /** Optimizer steps completed. */
  step: number;
  totalSteps: number;
  /** 0-based epoch the cursor is in. */
  epoch: number;
  /** Index of the next micro-batch example in the epoch's permutation. */
  cursor: number;
  history: HistoryPoint[];
  /** Mean eval loss (nats per token) measured before the first step; null without eval examples. */
  evalLossBefore: number | null;
  /** The run's full configuration (CLI options), so a resume needs no flags but --resume. */
  config: Record<string, unknown>;
}

/**
 * A checkpoint (or exported adapter) as files by name: text files as strings, binary files as
 * bytes. The host decides where they go (a folder in the CLI, IndexedDB in the studio).
 */
export type FileMap = Map<string, Uint8Array | string>;

/**
 * Adam's moments in a checkpoint: a safetensors file with two flat F32 tensors [P] (P = every
 * LoRA parameter, in LoraState's parameter order), named as torch.optim.AdamW's state:
 * exp_avg (first moment m) and exp_avg_sq (second moment v).
 */
export const OPTIMIZER_FILE = 'optimizer.safetensors';
/** The TrainerState of a checkpoint, as JSON. */
export const STATE_FILE = 'trainer_state.json';

/**
 * The files of a checkpoint at the current step: the adapter in PEFT's format
 * (adapter_config.json + adapter_model.safetensors, as lora/peft.ts exportAdapter writes them, so
 * a checkpoint's folder is also a PEFT adapter folder), OPTIMIZER_FILE with Adam's moments,
 * and STATE_FILE with `state`. Reads the adapter and moments back from the GPU (awaits the queue);
 * throws what exportAdapter throws (AdapterError) and GPU read errors.
 */
export async function makeCheckpoint(lora: LoraState, spec: ModelSpec, h: LoraHyper, baseModel: string, state: TrainerState): Promise<FileMap> {
  const weights = await lora.tensors();
  const { configJson, safetensors } = exportAdapter(spec, h, lora.modules, weights, baseModel);
  const { m, v } = await readMoments(lora);
  const opt = serializeSafetensors([
    { name: 'exp_avg', dtype: 'F32', shape: [m.length], data: m },
    { name: 'exp_avg_sq', dtype: 'F32', shape: [v.length], data: v },
  ]);
  return new Map<string, Uint8Array | string>([
    ['adapter_config.json', configJson],
    ['adapter_model.safetensors', safetensors],
    [OPTIMIZER_FILE, opt],
    [STATE_FILE, JSON.stringify(state, null, 1)],
  ]);
}

/**
 * Reads a checkpoint's trainer_state.json. Throws Error naming `fileName` when the text is not
 * JSON (the checkpoint is damaged: resume from an earlier one) or not a version-1 trainer state
 * (no numeric step and cursor). Other fields are trusted as written by makeCheckpoint.
 */
export function parseTrainerState(text: string, fileName: string): TrainerState {
  let s: TrainerState;
  try {
    s = JSON.parse(text) as TrainerState;
  } catch (e) {
    throw new Error(`${fileName}: not valid JSON (${(e as Error).message}); the checkpoint is damaged — resume from an earlier one.`);
  }
  if (s.version !== 1 || typeof s.step !== 'number' || typeof s.cursor !== 'number') {
    throw new Error(`${fileName}: not a trainer state written by this tool.`);
  }
  return s;
}
