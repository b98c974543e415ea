// What the UI may know of the engine: the live plan of the chosen model and knobs (memory estimate,
// fit verdict, problems), and the vocabulary the panels show (knob labels, quantization modes,
// schedules, record shapes, number formats). UI components import only the store (ARCHITECTURE.md);
// this module is their one door to the plan layer (src/plan/) and the engine's public names.

import { storageBytes } from '../plan/catalog';
import { knobProblems, matmulMathUnavailable, subgroupsKnobUnavailable, targetsString, type Knobs } from '../plan/knobs';
import { estimateMemory, judgeFit, tilingOfAdapter, type FitReport, type MemoryEstimate } from '../plan/memory';
import type { ModelSpec } from '../model/config';
import type { GpuState } from './types';

export { CATALOG, catalogSpec, storageBytes } from '../plan/catalog';
export {
  fmtParams, fmtShare, KNOB_HELP, KNOB_LABEL, KNOB_OPTION, matmulMathUnavailable, moduleKinds, OPTION_PLACE, presetOf, quantMismatch, rangeWords, subgroupsKnobUnavailable,
  targetsLabel,
  type KnobName, type Knobs,
} from '../plan/knobs';
export { bufferWords, fmtBytes, isQalora, QUANT_MODES, type QuantMode } from '../plan/memory';
export { countModelParams } from '../model/config';
export { SCHEDULE_KINDS, type ScheduleKind } from '../train/schedule';
export { DEFAULT_KEEP } from '../train/checkpoint-shelf';
export { runWriteBytes, storageVerdict } from '../worker/quota';
export type { DataWarning } from '../data/dataset';
export { AXIS_KEYS, type ExperimentRun } from '../experiment/spec';
export { hasReferences, reportTable, type ReportCell } from '../experiment/report';
export { RECORD_SHAPES, type RecordShape } from '../data/shapes';
export type { DatasetInspect, DatasetOptions } from '../worker/protocol';

/** The live plan: memory estimate and fit of the chosen model under the knobs (null: no model spec yet). */
export interface Plan {
  estimate: MemoryEstimate | null;
  fit: FitReport | null;
  /** Why there is no estimate (bad knobs), one line. */
  error: string | null;
  problems: string[];
  modelName: string;
}

/** What the plan depends on: the model's spec and stored weight width, the knobs, the adapter, the budget. */
interface PlanInput {
  spec: ModelSpec | null;
  /** Bytes per stored weight of the loaded model; null: not loaded (the catalog's storage width is used). */
  loadedWeightBytes: 2 | 4 | null;
  modelName: string;
  knobs: Knobs;
  gpu: GpuState;
  /** The memory budget the user set, GiB. */
  budgetGiB: number;
}

/**
 * Knobs this GPU cannot run, one line each: f16 “Matmul math” on an adapter without shader-f16,
 * “Subgroup reductions” on one without subgroups.
 */
export function gpuProblems(knobs: Pick<Knobs, 'matmulMath' | 'subgroups'>, gpu: GpuState): string[] {
  if (gpu.status !== 'ok') return [];
  const f16 = knobs.matmulMath === 'f16' ? matmulMathUnavailable(gpu.adapter.hasF16) : null;
  const sg = knobs.subgroups ? subgroupsKnobUnavailable(gpu.adapter.hasSubgroups) : null;
  return [f16, sg].filter((w): w is string => w !== null);
}

/** The plan for `input` (pure; the UI memoizes it). Errors of the estimate become `error`, never a throw. */
export function planOf(input: PlanInput): Plan | null {
  const { spec, knobs, gpu, modelName } = input;
  if (!spec) return null;
  const problems = [...knobProblems(knobs, spec), ...gpuProblems(knobs, gpu)];
  const weightBytes = input.loadedWeightBytes ?? storageBytes(spec);
  const maxBinding = gpu.status === 'ok' ? gpu.adapter.maxStorageBufferBindingSize : undefined;
  const est = {
    spec, weightBytes, quant: knobs.quant, groupSize: knobs.groupSize, r: knobs.r, targetModules: targetsString(knobs.targetModules, spec.arch),
    batchSize: knobs.batchSize, seqLen: knobs.seqLen, gradCheckpointing: knobs.gradCheckpointing, saveActivations: knobs.saveActivations, maxBinding,
    tiling: gpu.status === 'ok' ? tilingOfAdapter(gpu.adapter) : undefined,
  } as const;
  try {
    const estimate = estimateMemory(est);
    const fit = judgeFit(est, { budgetBytes: input.budgetGiB * 2 ** 30, maxBufferSize: gpu.status === 'ok' ? gpu.adapter.maxBufferSize : Infinity });
    return { estimate, fit, error: null, problems, modelName };
  } catch (e) {
    return { estimate: null, fit: null, error: (e as Error).message, problems, modelName };
  }
}
