// Experiment records in IndexedDB (their plan, where they stand, the answers measured so far); the
// runs they drive are ordinary run records (./db.ts), each naming its experiment.
import { createStore, del, set, values, type UseStore } from 'idb-keyval';
import type { HeldOutPrompt } from '../data/heldout';
import type { ExperimentRun, ExperimentSpec } from '../experiment/spec';
import { defaultKnobs, type Knobs } from '../plan/knobs';
import { withPeftNames } from '../train/peft-names';

/** Where an experiment stands: 'interrupted' when a closed page or a lost device left it mid-run. */
type ExperimentStatus = 'running' | 'interrupted' | 'stopped' | 'done' | 'failed';

/** One experiment as kept in IndexedDB. */
export interface ExperimentRecord {
  /** Layout version (EXPERIMENT_SCHEMA; 1 named baseKnobs' LoRA fields rank, alpha, ..., read by readExperiment). */
  schema: number;
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  /** The experiment as the JSON the CLI reads (the reviewed plan's order and runs). */
  spec: ExperimentSpec;
  /** The runs in the order they execute (reviewed: reordered, pruned). */
  plan: ExperimentRun[];
  /** The knobs every run starts from (the spec's settings are applied over them). */
  baseKnobs: Knobs;
  /** Index in `plan` of the run in progress, or of the next to start (plan.length: all trained). */
  current: number;
  status: ExperimentStatus;
  /** The prompts drawn from the held-out rows at the start (spec.heldOutPrompts of them), answered after spec.prompts; absent: none. */
  heldOut?: HeldOutPrompt[];
  /** The base model's answers to the prompts (typed, then held out), per base quantization. */
  baseAnswers: Record<string, string[]>;
  /** Each run's answers (by plan index), measured once the run is done. */
  runAnswers: Record<number, string[]>;
  error: string | null;
}

/** Layout version of the experiment records this studio writes (2: baseKnobs under PEFT's names). */
export const EXPERIMENT_SCHEMA = 2;

/**
 * A stored experiment as this studio reads it, or null for an entry it does not know (no plan, a
 * schema other than 1 or EXPERIMENT_SCHEMA): a version-1 record's baseKnobs are read under PEFT's
 * names (withPeftNames), knobs it lacks take their defaults, and the record is marked
 * EXPERIMENT_SCHEMA. Never throws.
 */
export function readExperiment(raw: unknown): ExperimentRecord | null {
  const x = raw as ExperimentRecord | null;
  if (!x || typeof x !== 'object' || !Array.isArray(x.plan)) return null;
  if (x.schema === EXPERIMENT_SCHEMA) return x;
  if (x.schema !== 1) return null;
  return { ...x, schema: EXPERIMENT_SCHEMA, baseKnobs: { ...defaultKnobs(null), ...withPeftNames(x.baseKnobs) } };
}

let store: UseStore | null = null;
const experiments = () => (store ??= createStore('lora-studio-experiments', 'experiments'));

/** Every stored experiment (unchecked: the slice reads what it knows). */
export async function listExperiments(): Promise<ExperimentRecord[]> {
  return values<ExperimentRecord>(experiments());
}

export async function putExperiment(x: ExperimentRecord): Promise<void> {
  await set(x.id, x, experiments());
}

export async function removeExperiment(id: string): Promise<void> {
  await del(id, experiments());
}
