// Presets: experiments that reproduce a known study on whatever model and dataset are loaded.
// Part of the engine: no Node or DOM APIs.

import type { ModelSpec } from '../model/config';
import { countLoraParams, parseTargets, resolveTargets } from '../lora/targets';
import { type ExperimentRun, type ExperimentSpec, type Settings } from './spec';

/** The QLoRA study's four configurations, in its order. */
export const QLORA_STUDY_RUNS: readonly Settings[] = [
  { r: 8, target_modules: 'q_proj,v_proj', quant: 'nf4' },
  { r: 16, target_modules: 'q_proj,v_proj', quant: 'nf4' },
  { r: 8, target_modules: 'all-linear,lm_head', quant: 'nf4' },
  { r: 8, target_modules: 'all-linear,lm_head', quant: 'int8' },
];

/**
 * "QLoRA study: attention r8 / r16, all-linear + lm_head r8, 4-bit and 8-bit" over the given base
 * settings (the study's keys r, target_modules and quant are set per run; every other base key is
 * kept). `prompts` are the evaluation prompts answered by the base and by each run.
 */
export function qloraStudyPreset(base: Settings = {}, prompts: string[] = [], name = 'qlora-study'): ExperimentSpec {
  const shared: Settings = { ...base };
  for (const k of ['r', 'target_modules', 'quant']) delete shared[k];
  return { name, base: shared, runs: QLORA_STUDY_RUNS.map((r) => ({ ...r })), prompts };
}

/**
 * Trainable LoRA parameters of a run on a model (r and target_modules of its settings; the CLI's
 * defaults 8 and "attention" when unset), counted as PEFT's print_trainable_parameters does.
 */
export function runTrainableParams(spec: ModelSpec, run: ExperimentRun): number {
  const r = (run.settings.r as number | undefined) ?? 8;
  const targets = (run.settings.target_modules as string | undefined) ?? 'attention';
  return countLoraParams(resolveTargets(spec, parseTargets(targets)), r);
}
