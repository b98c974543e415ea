// Periodic training checkpoints: the adapter in PEFT format, Adam's moments, and the loop state
// (step, epoch, position in the epoch's shuffled order, loss history), so a resumed run continues
// exactly where the checkpoint was taken. Files are returned as bytes; the host stores them
// (a folder in the CLI, IndexedDB in the studio).

import { exportAdapter, type LoraHyper } from '../lora/peft';
import { readMoments, type LoraState } from '../lora/state';
import type { ModelSpec } from '../model/config';
import { serializeSafetensors } from '../model/safetensors-writer';

export interface HistoryPoint {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

export interface TrainerState {
  version: 1;
  step: number;
  totalSteps: number;
  epoch: number;
  /** Index of the next micro-batch example in the epoch's permutation. */
  cursor: number;
  history: HistoryPoint[];
  evalLossBefore: number | null;
  /** The run's full configuration (CLI options), so a resume needs no flags but --resume. */
  config: Record<string, unknown>;
}

export type FileMap = Map<string, Uint8Array | string>;

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'trainer_state.json';

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
