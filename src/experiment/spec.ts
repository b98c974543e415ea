// An experiment: one dataset, base settings, and axes to vary, expanded into a list of runs that
// execute one after another and are compared in one report (src/experiment/report.ts). The spec is
// JSON (the CLI reads it from a file; the studio can export the same). Part of the engine: no Node
// or DOM APIs.
//
// Keys are a run's config keys (src/train/run.ts RunConfig) except the PEFT concepts, which carry
// their PEFT names: r, lora_alpha, lora_dropout, target_modules, use_rslora.

import { parseQuantMode, type QuantMode } from '../quant/formats';
import { parseTargets } from '../lora/targets';
import { SCHEDULE_KINDS } from '../train/schedule';

/** One setting's value in a spec. */
export type SettingValue = string | number | boolean;

/** Settings by spec key (PEFT names for PEFT concepts). */
export type Settings = Record<string, SettingValue>;

/** An experiment as written in its JSON file. */
export interface ExperimentSpec {
  /** Names the report and its exports. */
  name: string;
  /** Model folder or Hub id (the CLI's --model wins). */
  model?: string;
  /** Data file or hub:OWNER/NAME (the CLI's --data wins). */
  data?: string;
  /** Settings every run shares. */
  base: Settings;
  /** Keys to vary and their values: every combination is a run (cartesian product, first key outermost). */
  axes?: Record<string, SettingValue[]>;
  /** Explicit configurations (each a set of overrides), crossed with `axes`; for studies whose keys vary together. */
  runs?: Settings[];
  /** Prompts answered by the base and by every run, wrapped as the training data was. */
  prompts: string[];
  /**
   * Evaluation prompts drawn from the held-out rows (the eval split with the run's seed, or the
   * evaluation file), in split order, each fed as training formatted it and shown with its
   * reference answer; after `prompts` (0: none).
   */
  heldOutPrompts?: number;
  /** New tokens per answer (64). */
  maxNewTokens?: number;
  /** Seed of the (greedy) generation (0). */
  genSeed?: number;
}

/** One run of an expanded experiment. */
export interface ExperimentRun {
  /** Position in the experiment (0-based). */
  index: number;
  /** Short, folder-safe name naming the values that vary ("r8", "r16-nf4"); "base" when nothing varies. */
  name: string;
  /** base + the run's overrides, by spec key. */
  settings: Settings;
  /** The run's values of the keys that vary across the experiment. */
  varied: Settings;
}

/** An invalid experiment spec: not an object, an unknown key, a value out of its range, or a data option among the varied settings; the message names the place in the spec. */
export class ExperimentError extends Error {
  override name = 'ExperimentError';
}

type Check = (v: SettingValue) => string | null;
const posInt: Check = (v) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? null : 'must be a positive integer');
const nonNegInt: Check = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? null : 'must be a non-negative integer');
const positive: Check = (v) => (typeof v === 'number' && v > 0 ? null : 'must be a positive number');
const nonNeg: Check = (v) => (typeof v === 'number' && v >= 0 ? null : 'must be a non-negative number');
const fraction: Check = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? null : 'must be a number in [0, 1)');
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'must be true or false');
const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? null : 'must be a non-empty string');
const oneOf = (xs: readonly string[]): Check => (v) => (typeof v === 'string' && xs.includes(v) ? null : `must be one of ${xs.join(', ')}`);
const catching = (f: (s: string) => unknown): Check => (v) => {
  if (typeof v !== 'string') return 'must be a string';
  try {
    f(v);
    return null;
  } catch (e) {
    return `is invalid: ${(e as Error).message}`;
  }
};

/** Every key a spec's settings may hold, its check, and the RunConfig (or data config) field it sets. */
const SETTING_KEYS: Record<string, { field: string; check: Check }> = {
  r: { field: 'r', check: posInt },
  lora_alpha: { field: 'loraAlpha', check: positive },
  lora_dropout: { field: 'loraDropout', check: fraction },
  target_modules: { field: 'targetModules', check: catching(parseTargets) },
  use_rslora: { field: 'useRslora', check: bool },
  loraPlusRatio: { field: 'loraplusLrRatio', check: positive },
  lr: { field: 'lr', check: positive },
  quant: { field: 'quant', check: catching(parseQuantMode) },
  groupSize: { field: 'groupSize', check: posInt },
  schedule: { field: 'schedule', check: oneOf(SCHEDULE_KINDS) },
  warmup: { field: 'warmup', check: nonNegInt },
  steps: { field: 'steps', check: posInt },
  epochs: { field: 'epochs', check: posInt },
  batchSize: { field: 'batchSize', check: posInt },
  gradAccum: { field: 'gradAccum', check: posInt },
  seqLen: { field: 'seqLen', check: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 2 ? null : 'must be an integer ≥ 2') },
  seed: { field: 'seed', check: nonNegInt },
  saveEvery: { field: 'saveEvery', check: nonNegInt },
  keepCheckpoints: { field: 'keepCheckpoints', check: posInt },
  maxGradNorm: { field: 'maxGradNorm', check: nonNeg },
  weightDecay: { field: 'weightDecay', check: nonNeg },
  gradCheckpointing: { field: 'gradCheckpointing', check: bool },
  saveActivations: { field: 'saveActivations', check: oneOf(['f32', 'f16']) },
  matmulMath: { field: 'matmulMath', check: oneOf(['f32', 'f16']) },
  subgroups: { field: 'subgroups', check: bool },
  dtype: { field: 'dtype', check: oneOf(['auto', 'f32', 'f16']) },
  evalSplit: { field: 'evalSplit', check: fraction },
  evalFile: { field: 'evalFile', check: str },
  dataFormat: { field: 'dataFormat', check: str },
  template: { field: 'template', check: str },
  responseColumn: { field: 'responseColumn', check: str },
  chatTemplate: { field: 'chatTemplate', check: str },
  trainOnPrompt: { field: 'trainOnPrompt', check: bool },
  packing: { field: 'packing', check: bool },
  maxSamples: { field: 'maxSamples', check: posInt },
  sample: { field: 'sample', check: oneOf(['first', 'random']) },
  onBadRows: { field: 'onBadRows', check: oneOf(['stop', 'skip']) },
  fileFormat: { field: 'fileFormat', check: str },
};

/** The keys an experiment may vary (the axes); the others are shared by every run. */
export const AXIS_KEYS = ['r', 'lora_alpha', 'target_modules', 'quant', 'loraPlusRatio', 'lr', 'use_rslora', 'lora_dropout', 'saveActivations', 'matmulMath', 'subgroups'] as const;

/** The data is read once for the whole experiment: keys that shape it cannot vary. */
const DATA_KEYS = new Set(['seqLen', 'seed', 'evalSplit', 'evalFile', 'dataFormat', 'template', 'responseColumn', 'chatTemplate', 'trainOnPrompt', 'packing', 'maxSamples', 'sample', 'onBadRows', 'fileFormat']);

/** A target_modules value as the engine's target string: PEFT's list form joined with commas. */
function normalize(key: string, v: unknown): unknown {
  if (key === 'target_modules' && Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
  return v;
}

/** Checks one value; `label` names it in errors ("exp.json: base.r", "exp.json: axes.r[1]"). */
function checkSetting(label: string, key: string, raw: unknown): SettingValue {
  const k = SETTING_KEYS[key];
  if (!k) throw new ExperimentError(`${label}: unknown key "${key}"; use one of ${Object.keys(SETTING_KEYS).join(', ')}.`);
  const v = normalize(key, raw);
  const bad = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? k.check(v) : 'must be a string, number or boolean';
  if (bad) throw new ExperimentError(`${label} ${bad} (got ${JSON.stringify(raw)}).`);
  return v as SettingValue;
}

function checkSettings(where: string, raw: unknown, varying: boolean): Settings {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ExperimentError(`${where} must be an object of settings.`);
  const out: Settings = {};
  for (const [key, v] of Object.entries(raw)) {
    if (!SETTING_KEYS[key]) throw new ExperimentError(`${where}: unknown key "${key}"; use one of ${Object.keys(SETTING_KEYS).join(', ')}.`);
    out[key] = checkSetting(`${where}.${key}`, key, v);
    if (varying && DATA_KEYS.has(key)) throw new ExperimentError(`${where}.${key} shapes the data, which is read once per experiment: set it in "base".`);
  }
  return out;
}

/**
 * Parses and validates an experiment spec (JSON text or an already-parsed object). Errors are one
 * line naming `fileName` and the key: `exp.json: axes.r[1] must be a positive integer (got 0).`
 * Throws ExperimentError.
 */
export function parseExperiment(json: unknown, fileName = 'experiment'): ExperimentSpec {
  let o: unknown = json;
  if (typeof json === 'string') {
    try {
      o = JSON.parse(json);
    } catch (e) {
      throw new ExperimentError(`${fileName}: not valid JSON (${(e as Error).message}).`);
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ExperimentError(`${fileName}: an experiment is a JSON object with name, base, axes and prompts.`);
  const s = o as Record<string, unknown>;
  const known = new Set(['name', 'model', 'data', 'base', 'axes', 'runs', 'prompts', 'heldOutPrompts', 'maxNewTokens', 'genSeed']);
  for (const k of Object.keys(s)) if (!known.has(k)) throw new ExperimentError(`${fileName}: unknown key "${k}"; use ${[...known].join(', ')}.`);
  if (typeof s.name !== 'string' || !s.name.trim()) throw new ExperimentError(`${fileName}: name must be a non-empty string.`);
  for (const k of ['model', 'data'] as const) {
    if (s[k] !== undefined && typeof s[k] !== 'string') throw new ExperimentError(`${fileName}: ${k} must be a string (a folder, file or Hub id).`);
  }
  const base = checkSettings(`${fileName}: base`, s.base ?? {}, false);
  let axes: Record<string, SettingValue[]> | undefined;
  if (s.axes !== undefined) {
    if (s.axes === null || typeof s.axes !== 'object' || Array.isArray(s.axes)) throw new ExperimentError(`${fileName}: axes must be an object such as {"r": [8, 16]}.`);
    axes = {};
    for (const [key, vs] of Object.entries(s.axes)) {
      if (!(AXIS_KEYS as readonly string[]).includes(key)) throw new ExperimentError(`${fileName}: axes.${key} cannot vary; vary ${AXIS_KEYS.join(', ')}, or set it in "base".`);
      if (!Array.isArray(vs) || vs.length === 0) throw new ExperimentError(`${fileName}: axes.${key} must be a non-empty list of values.`);
      axes[key] = vs.map((v, i) => checkSetting(`${fileName}: axes.${key}[${i}]`, key, v));
    }
  }
  let runs: Settings[] | undefined;
  if (s.runs !== undefined) {
    if (!Array.isArray(s.runs) || s.runs.length === 0) throw new ExperimentError(`${fileName}: runs must be a non-empty list of settings objects.`);
    runs = s.runs.map((r, i) => checkSettings(`${fileName}: runs[${i}]`, r, true));
  }
  if (!Array.isArray(s.prompts) || !s.prompts.every((p) => typeof p === 'string')) throw new ExperimentError(`${fileName}: prompts must be a list of strings (may be empty).`);
  for (const k of ['maxNewTokens', 'genSeed'] as const) {
    const v = s[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) throw new ExperimentError(`${fileName}: ${k} must be a non-negative integer (got ${JSON.stringify(v)}).`);
  }
  const held = s.heldOutPrompts;
  if (held !== undefined && !(typeof held === 'number' && Number.isInteger(held) && held >= 0)) {
    throw new ExperimentError(`${fileName}: heldOutPrompts must be a non-negative integer, the number of evaluation prompts drawn from the held-out rows (got ${JSON.stringify(held)}).`);
  }
  if (typeof held === 'number' && held > 0 && base.evalSplit === 0 && base.evalFile === undefined) {
    throw new ExperimentError(`${fileName}: heldOutPrompts draws from the held-out rows, but base.evalSplit is 0 and there is no base.evalFile: hold rows out, or set heldOutPrompts to 0.`);
  }
  return {
    name: s.name.trim(), model: s.model as string | undefined, data: s.data as string | undefined, base, axes, runs,
    prompts: s.prompts as string[], heldOutPrompts: held as number | undefined, maxNewTokens: s.maxNewTokens as number | undefined, genSeed: s.genSeed as number | undefined,
  };
}

/** A value in a run name: numbers compactly, target lists joined with '+', booleans as the key or "no-KEY", saved activations as "actf16", matmul math as "mmf16", subgroup reductions as "sg" / "no-sg". */
function nameValue(key: string, v: SettingValue): string {
  if (key === 'subgroups' && typeof v === 'boolean') return v ? 'sg' : 'no-sg';
  if (typeof v === 'boolean') return v ? key.replace(/^use_/, '') : `no-${key.replace(/^use_/, '')}`;
  const prefix: Record<string, string> = { r: 'r', lora_alpha: 'alpha', loraPlusRatio: 'lp', lr: 'lr', lora_dropout: 'do', groupSize: 'g', saveActivations: 'act', matmulMath: 'mm' };
  const text = typeof v === 'number' ? String(v) : v.split(',').map((x) => x.trim()).filter(Boolean).join('+');
  return `${prefix[key] ?? ''}${text}`.replace(/[^A-Za-z0-9_.+-]/g, '_');
}

/**
 * The experiment's runs: the cartesian product of `runs` (or one empty override) and `axes` (first
 * axis outermost), in that stable order, each named after the values that vary across the list.
 * Throws ExperimentError when two runs would have the same settings.
 */
export function expandExperiment(spec: ExperimentSpec): ExperimentRun[] {
  let combos: Settings[] = (spec.runs ?? [{}]).map((r) => ({ ...r }));
  for (const [key, values] of Object.entries(spec.axes ?? {})) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  const all = combos.map((c) => ({ ...spec.base, ...c }));
  const keys = [...new Set(all.flatMap((s) => Object.keys(s)))];
  const varies = keys.filter((k) => new Set(all.map((s) => JSON.stringify(s[k] ?? null))).size > 1);
  const seen = new Map<string, number>();
  // 'base' is taken: the report's answers of the base model (no adapter) go under that name.
  const names = new Set<string>(['base']);
  return all.map((settings, index) => {
    const varied: Settings = {};
    for (const k of varies) if (settings[k] !== undefined) varied[k] = settings[k];
    const key = JSON.stringify(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (seen.has(key)) throw new ExperimentError(`${spec.name}: runs ${seen.get(key)! + 1} and ${index + 1} have the same settings; remove the duplicate value from axes or runs.`);
    seen.set(key, index);
    let name = varies.length ? varies.filter((k) => settings[k] !== undefined).map((k) => nameValue(k, settings[k])).join('-') || `run${index + 1}` : `run${index + 1}`;
    if (names.has(name)) name = `${name}-${index + 1}`; // two values that read alike in a folder name
    names.add(name);
    return { index, name, settings, varied };
  });
}

/** The keys that vary across an experiment's runs (the report marks their columns). */
export function variedKeys(runs: ExperimentRun[]): string[] {
  return [...new Set(runs.flatMap((r) => Object.keys(r.varied)))];
}

/** A run's settings as RunConfig / data-config fields (r, loraAlpha, targetModules, ...); unset fields are absent. */
export function runFields(settings: Settings): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const [k, v] of Object.entries(settings)) out[SETTING_KEYS[k].field] = v;
  return out;
}

/** Bits per base weight of a quant mode (16 for an unquantized base; its real dtype is in metrics). */
export function quantBits(q: QuantMode | string | undefined): number {
  const m: Record<string, number> = { none: 16, int8: 8, nf4: 4, 'nf4-dq': 4, 'qalora-int4': 4, 'qalora-int3': 3, 'qalora-int2': 2 };
  return m[q ?? 'none'] ?? 16;
}
