// The training knobs: their values, one-line explanations, sensible defaults per model, target
// module presets, validation, and the RunConfig the engine runs. Pure (no DOM, no store).

import { countModelParams, type ModelSpec } from '../model/config';
import { layerKinds } from '../model/modules';
import { parseTargets, resolveTargets } from '../lora/targets';
import { validateRunConfig, type RunConfig } from '../train/run';
import type { ScheduleKind } from '../train/schedule';
import { loraInF, type LoraSettings } from '../lora/peft';
import { isQalora, type QuantMode } from './memory';
import type { SaveActivations } from '../net/buffers';
import { hostMessage, renderWorded, type OptionNamer, type RunOption, type Worded } from '../options';

/**
 * The studio's training settings, one field per knob of the Settings tab (KNOB_HELP explains
 * each, KNOB_LABEL names it); toRunConfig maps them to the engine's RunConfig, knobIssues checks
 * them. The LoRA fields (LoraSettings: PEFT's names in camelCase, as RunConfig has them; targetModules
 * as the module kinds with LoRA, the knob's checkboxes) are shared with the cluster hand-off's
 * ClusterRun. batchSize is B and seqLen is T (tokens).
 */
export interface Knobs extends LoraSettings {
  /** How the frozen base is stored: 'none' (f16/f32), int8 (LLM.int8 storage), nf4 / nf4-dq (QLoRA), or a QA-LoRA mode (see QuantMode). */
  quant: QuantMode;
  /** QA-LoRA group size (input channels per quantization group); used only by QA-LoRA modes. */
  groupSize: number;
  lr: number;
  schedule: ScheduleKind;
  /** Warmup in optimizer steps. */
  warmup: number;
  /** Whether `epochs` or `steps` sets the run's length. */
  lengthBy: 'epochs' | 'steps';
  epochs: number;
  steps: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  /** Share of the examples held out for the eval loss, in [0, 1). */
  evalSplit: number;
  seed: number;
  /** Evaluate, generate a sample and save a checkpoint every N steps (0: only at the end). */
  evalEvery: number;
  /** Prompt the adapter answers at each evaluation ('' = none). */
  samplePrompt: string;
  /** Tokens generated for each sample, 1..512. */
  sampleTokens: number;
  gradCheckpointing: boolean;
  /** How the activations kept for the backward are stored: 'f32' exact, 'f16' about half their memory. */
  saveActivations: SaveActivations;
  /**
   * How the dense matmuls compute (RunConfig.matmulMath): 'f32', or 'f16' (f16 products, f32 sums;
   * only on a GPU with 'shader-f16': matmulMathUnavailable says why not).
   */
  matmulMath: 'f32' | 'f16';
  /**
   * Row reductions with subgroup operations (RunConfig.subgroups): fewer barriers, different
   * rounding; only on a GPU with the WebGPU 'subgroups' feature (subgroupsKnobUnavailable says why not).
   */
  subgroups: boolean;
  maxGradNorm: number;
  weightDecay: number;
}

/** The name of one knob (a field of Knobs), as the store, the Settings tab and KnobIssue use it. */
export type KnobName = keyof Knobs;

/** One line per knob: what it does and how to choose it. */
export const KNOB_HELP: Record<KnobName, string> = {
  r: 'Rank r of the LoRA matrices: capacity of the adapter; 8–16 for style or format, 32–64 for new knowledge.',
  loraAlpha: 'LoRA alpha: the update is scaled by alpha / r (or alpha / √r with rsLoRA); 2 × rank is a common choice.',
  loraDropout: 'Dropout on the adapter input during training: 0.05–0.1 helps on small datasets, 0 for tiny runs.',
  useRslora: 'Rank-stabilised LoRA: scale by alpha / √r so higher ranks keep learning at the same learning rate.',
  targetModules: 'Which linear layers get an adapter: attention only is cheapest; all linear layers learn more.',
  loraplusLrRatio: 'LoRA+: the B matrices learn this many times faster than A (1 = plain LoRA, 16 is the LoRA+ paper\'s value).',
  quant: 'Storage of the frozen base: 4- or 8-bit bases (QLoRA, QA-LoRA) cut its memory 2–8×, with a small quality cost.',
  groupSize: 'QA-LoRA group size along the input: smaller groups quantize more precisely but store more scales.',
  lr: 'AdamW learning rate: 1e-4 to 5e-4 for LoRA on real models; raise it for tiny models, lower it if the loss jumps.',
  schedule: 'How the learning rate changes: constant, or decaying linearly or along a cosine to 0 at the last step.',
  warmup: 'Steps over which the learning rate ramps up from 0: a few percent of the run steadies the start.',
  lengthBy: 'Measure the run in passes over the dataset (epochs) or in optimizer steps.',
  epochs: 'Passes over the training examples: 1–3 is typical; more risks memorising the data.',
  steps: 'Optimizer steps to run (each consumes batch size × gradient accumulation examples).',
  batchSize: 'Sequences per micro-batch: activation memory grows linearly with it.',
  gradAccum: 'Micro-batches summed per optimizer step: a larger effective batch without more memory.',
  seqLen: 'Tokens per sequence: longer examples are truncated; memory grows linearly with it.',
  evalSplit: 'Share of the examples held out to measure eval loss (never trained on).',
  seed: 'Seeds the adapter initialisation, data order, dropout and split: the same seed repeats the run exactly.',
  evalEvery: 'Every N steps: measure eval loss, generate a sample for your prompt and save a checkpoint (0: only at the end).',
  samplePrompt: 'Prompt answered by the adapter at every evaluation, to watch what it learns.',
  sampleTokens: 'Length of each sample generation, in tokens.',
  gradCheckpointing: 'Recompute activations in the backward pass instead of keeping them: much less memory, about a third slower.',
  saveActivations: 'Store the activations kept for the backward pass as f32 (exact) or f16 (about half their memory; gradients within f16 rounding).',
  matmulMath: 'Arithmetic of the matrix products: f32, or f16 (the GPU\'s half precision with f32 accumulation: a little less exact, faster on GPUs with shader-f16).',
  subgroups: 'Sum and max over rows (norms, loss, gradient norm) with the GPU\'s subgroup operations: fewer synchronisations, results differ only by rounding.',
  maxGradNorm: 'Clip the gradient norm to this value (0 = off): protects against sudden loss spikes.',
  weightDecay: 'Decoupled AdamW weight decay on the adapter (0 is usual for LoRA).',
};

/**
 * Each knob's label in the Settings tab, which is also how the studio's messages name it
 * (studioNamer, knobIssues), so a message says exactly what the user sees.
 */
export const KNOB_LABEL: Record<KnobName, string> = {
  r: 'Rank (r)', loraAlpha: 'Alpha', loraDropout: 'Dropout', useRslora: 'rsLoRA scaling', targetModules: 'Target modules', loraplusLrRatio: 'LoRA+ ratio',
  quant: 'Base quantization', groupSize: 'Group size', lr: 'Learning rate', schedule: 'Schedule', warmup: 'Warm-up steps', lengthBy: 'Run length by',
  epochs: 'Epochs', steps: 'Steps', batchSize: 'Batch size', gradAccum: 'Gradient accumulation', seqLen: 'Sequence length', evalSplit: 'Eval split',
  seed: 'Seed', evalEvery: 'Evaluate every', samplePrompt: 'Sample prompt', sampleTokens: 'Sample length', gradCheckpointing: 'Activation checkpointing',
  saveActivations: 'Saved activations', matmulMath: 'Matmul math', subgroups: 'Subgroup reductions', maxGradNorm: 'Max gradient norm', weightDecay: 'Weight decay',
};

// The studio's names for the engine's options (src/options.ts carries them in engine messages as
// data): each is a knob of the Settings tab or a field of the Dataset tab. The worker renders engine
// errors with this table before they cross to the page; nothing else rewrites engine messages.
/** Where an option lives in the studio: its label, its tab, and the knob it is (when it is one). */
export interface OptionPlace {
  label: string;
  tab: 'settings' | 'dataset' | 'model';
  knob?: KnobName;
}

const knob = (k: KnobName): OptionPlace => ({ label: KNOB_LABEL[k], tab: 'settings', knob: k });

/** The studio's place for every option an engine message can name. */
export const OPTION_PLACE: Record<RunOption, OptionPlace> = {
  seqLen: knob('seqLen'), batchSize: knob('batchSize'), gradAccum: knob('gradAccum'), r: knob('r'), loraAlpha: knob('loraAlpha'),
  loraDropout: knob('loraDropout'), lr: knob('lr'), loraplusLrRatio: knob('loraplusLrRatio'), quant: knob('quant'), targetModules: knob('targetModules'),
  gradCheckpointing: knob('gradCheckpointing'), saveActivations: knob('saveActivations'), maxGradNorm: knob('maxGradNorm'),
  matmulMath: knob('matmulMath'), subgroups: knob('subgroups'),
  format: { label: 'Record shape', tab: 'dataset' }, template: { label: 'Prompt template', tab: 'dataset' },
  responseColumn: { label: 'Response column', tab: 'dataset' }, chatTemplate: { label: 'Prompt format', tab: 'dataset' },
  trainOnPrompt: { label: 'Train on the prompt too', tab: 'dataset' }, onBadRows: { label: 'Bad rows', tab: 'dataset' },
  accessToken: { label: 'Access token', tab: 'model' },
};

/** The option each knob is, for the knobs an engine message can name (the control carries it as data-option). */
export const KNOB_OPTION: Partial<Record<KnobName, RunOption>> = Object.fromEntries(
  (Object.entries(OPTION_PLACE) as [RunOption, OptionPlace][]).filter(([, p]) => p.knob).map(([o, p]) => [p.knob, o]),
);

const TAB_NAME = { settings: 'Settings', dataset: 'Dataset', model: 'Model' } as const;

/** An option as the studio writes it: the control's label, then the value to give it ("Sequence length 512", "Bad rows: skip"). */
export const studioNamer: OptionNamer = (r) => {
  const p = OPTION_PLACE[r.option];
  if (r.option === 'accessToken') return `an access token (${TAB_NAME.model} tab → ${p.label})`;
  if (r.value === undefined || r.value === true) return `“${p.label}”`;
  if (typeof r.value === 'number') return `“${p.label}” ${r.value}`;
  return `“${p.label}”: ${r.value}`;
};

/** A Worded engine message in the studio's words. */
export function studioWords(parts: Worded): string {
  return renderWorded(parts, studioNamer);
}

/** Any error's message in the studio's words (control labels for the options it names). */
export function studioMessage(e: unknown): string {
  return hostMessage(e, studioNamer);
}

/** A model's architecture family ('llama' covers the Llama-style families; 'gpt2'): decides the module kinds offered. */
export type Arch = ModelSpec['arch'];

/** Module kinds offered as checkboxes for an architecture (decoder linears, then the head). */
export function moduleKinds(arch: Arch): string[] {
  return [...layerKinds({ arch } as ModelSpec), 'lm_head'];
}

/**
 * A target-module preset as PEFT users know them: 'attention' (the original LoRA paper's q_proj,
 * v_proj; GPT-2's c_attn) or 'all-linear' (PEFT's target_modules="all-linear": every linear of
 * the decoder blocks, the head excluded).
 */
export type TargetPreset = 'attention' | 'all-linear';

/** The module kinds of a preset for an architecture, in model order, plus 'lm_head' when `withHead`. */
export function presetKinds(preset: TargetPreset, arch: Arch, withHead: boolean): string[] {
  const kinds = preset === 'all-linear' ? layerKinds({ arch } as ModelSpec) : arch === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'];
  return withHead ? [...kinds, 'lm_head'] : [...kinds];
}

/** The preset a selection equals, if any. */
export function presetOf(kinds: string[], arch: Arch): { preset: TargetPreset; withHead: boolean } | null {
  const set = new Set(kinds);
  const withHead = set.has('lm_head');
  for (const preset of ['attention', 'all-linear'] as const) {
    const want = presetKinds(preset, arch, withHead);
    if (want.length === set.size && want.every((k) => set.has(k))) return { preset, withHead };
  }
  return null;
}

/** parseTargets syntax for a selection, in model order ("q_proj,v_proj", GPT-2 "c_attn,attn.c_proj"). */
export function targetsString(kinds: string[], arch: Arch): string {
  const order = moduleKinds(arch);
  return order.filter((k) => kinds.includes(k)).join(',');
}

/** Short name of a selection: its preset ("attention", "all-linear", "+lm_head") or the module list. */
export function targetsLabel(kinds: string[], arch: Arch): string {
  const p = presetOf(kinds, arch);
  return p ? `${p.preset}${p.withHead ? '+lm_head' : ''}` : targetsString(kinds, arch).replace(/,/g, '+');
}

/** Keeps the kinds that exist in `arch` (switching between Llama- and GPT-2-family models). */
export function adaptKinds(kinds: string[], arch: Arch): string[] {
  const valid = new Set(moduleKinds(arch));
  const kept = kinds.filter((k) => valid.has(k));
  if (kept.some((k) => k !== 'lm_head')) return kept;
  return presetKinds('attention', arch, kept.includes('lm_head'));
}

/** Defaults scaled to the model: small models take a higher learning rate and longer sequences fit. */
export function defaultKnobs(spec: ModelSpec | null): Knobs {
  const params = spec ? countModelParams(spec) : 135e6;
  const arch: Arch = spec?.arch ?? 'llama';
  const maxT = spec?.maxT ?? 2048;
  const tiny = params < 20e6;
  const big = params >= 1e9;
  const rank = tiny ? 8 : 16;
  return {
    r: rank,
    loraAlpha: 2 * rank,
    loraDropout: tiny ? 0 : 0.05,
    useRslora: false,
    targetModules: presetKinds(tiny ? 'attention' : 'all-linear', arch, false),
    loraplusLrRatio: 16,
    quant: 'none',
    groupSize: 32,
    lr: tiny ? 1e-3 : params < 500e6 ? 3e-4 : 2e-4,
    schedule: 'linear',
    warmup: tiny ? 0 : 10,
    lengthBy: 'epochs',
    epochs: tiny ? 3 : 1,
    steps: 100,
    batchSize: tiny ? 8 : big ? 2 : 4,
    gradAccum: big ? 4 : 1,
    seqLen: Math.min(tiny ? 128 : 512, maxT),
    evalSplit: 0.1,
    seed: 42,
    evalEvery: tiny ? 10 : 50,
    samplePrompt: '',
    sampleTokens: 32,
    gradCheckpointing: big,
    saveActivations: 'f32',
    matmulMath: 'f32',
    subgroups: false,
    maxGradNorm: 1,
    weightDecay: 0,
  };
}

/**
 * The engine's RunConfig for these knobs: the targetModules kinds become parseTargets syntax in model order,
 * steps is set only when the run is measured in steps, checkpoints follow evalEvery (saveEvery),
 * and groupSize is passed only for QA-LoRA modes. No checks here (knobIssues does them).
 */
export function toRunConfig(k: Knobs, arch: Arch, baseModel: string): RunConfig {
  return {
    baseModel, r: k.r, loraAlpha: k.loraAlpha, loraDropout: k.loraDropout, useRslora: k.useRslora, targetModules: targetsString(k.targetModules, arch),
    loraplusLrRatio: k.loraplusLrRatio, lr: k.lr, schedule: k.schedule, warmup: k.warmup, steps: k.lengthBy === 'steps' ? k.steps : undefined,
    epochs: k.epochs, batchSize: k.batchSize, gradAccum: k.gradAccum, seqLen: k.seqLen, seed: k.seed, saveEvery: k.evalEvery,
    maxGradNorm: k.maxGradNorm, weightDecay: k.weightDecay, gradCheckpointing: k.gradCheckpointing, saveActivations: k.saveActivations,
    matmulMath: k.matmulMath, subgroups: k.subgroups, quant: k.quant, groupSize: isQalora(k.quant) ? k.groupSize : undefined,
  };
}

/**
 * Why “Matmul math” f16 cannot run on this GPU, in the studio's words; null when it can or when the
 * GPU is not known yet (`hasF16` undefined: the adapter has not answered). The worker asks for
 * 'shader-f16' whenever the adapter has it (session.ts), so the adapter's feature decides.
 */
export function matmulMathUnavailable(hasF16: boolean | undefined): string | null {
  if (hasF16 !== false) return null;
  return `“${KNOB_LABEL.matmulMath}” f16 needs a GPU with the WebGPU shader-f16 feature, and this one has none: use f32.`;
}

/**
 * Why “Subgroup reductions” cannot be turned on on this GPU, in the studio's words; null when they
 * can or when the GPU is not known yet (`hasSubgroups` undefined). The worker asks for 'subgroups'
 * whenever the adapter has it (session.ts), so the adapter's feature decides.
 */
export function subgroupsKnobUnavailable(hasSubgroups: boolean | undefined): string | null {
  if (hasSubgroups !== false) return null;
  return `“${KNOB_LABEL.subgroups}” need a GPU with the WebGPU subgroups feature, and this one has none: leave them off.`;
}

const isInt = (x: number, min: number) => Number.isInteger(x) && x >= min;

/** A knob whose value cannot train, with the reason in the studio's words (naming the knob and its allowed range). */
export interface KnobIssue {
  knob: KnobName;
  message: string;
}

/** The allowed range of a number in words ("a whole number from 1 to 1024", "a number ≥ 0"). */
export function rangeWords(r: { integer?: boolean; min?: number; max?: number }): string {
  const what = r.integer ? 'a whole number' : 'a number';
  if (r.min !== undefined && r.max !== undefined) return `${what} from ${r.min} to ${r.max}`;
  if (r.min !== undefined) return `${what} ≥ ${r.min}`;
  if (r.max !== undefined) return `${what} ≤ ${r.max}`;
  return what;
}

/** Problems with the knobs, one per knob, each naming its knob (empty: ready to train). */
export function knobIssues(k: Knobs, spec: ModelSpec | null): KnobIssue[] {
  const out: KnobIssue[] = [];
  const arch = spec?.arch ?? 'llama';
  const add = (knob: KnobName, rest: string) => out.push({ knob, message: `“${KNOB_LABEL[knob]}” ${rest}` });
  try {
    validateRunConfig(toRunConfig(k, arch, 'model'), spec?.maxT ?? Infinity);
  } catch (e) {
    const place = (e as { option?: RunOption }).option;
    out.push({ knob: (place && OPTION_PLACE[place].knob) || 'seqLen', message: studioMessage(e) });
  }
  if (k.targetModules.length === 0) add('targetModules', 'needs at least one module.');
  else if (spec) {
    try {
      resolveTargets(spec, parseTargets(targetsString(k.targetModules, arch)));
    } catch (e) {
      add('targetModules', `cannot be used: ${studioMessage(e)}`);
    }
  }
  if (!isInt(k.warmup, 0)) add('warmup', `must be ${rangeWords({ integer: true, min: 0 })} (got ${k.warmup}).`);
  if (k.lengthBy === 'epochs' && !isInt(k.epochs, 1)) add('epochs', `must be ${rangeWords({ integer: true, min: 1 })} (got ${k.epochs}).`);
  if (k.lengthBy === 'steps' && !isInt(k.steps, 1)) add('steps', `must be ${rangeWords({ integer: true, min: 1 })} (got ${k.steps}).`);
  if (!(k.evalSplit >= 0 && k.evalSplit < 1)) add('evalSplit', `must be at least 0 and below 1 (got ${k.evalSplit}).`);
  if (!isInt(k.seed, 0)) add('seed', `must be ${rangeWords({ integer: true, min: 0 })} (got ${k.seed}).`);
  if (!isInt(k.evalEvery, 0)) add('evalEvery', `must be ${rangeWords({ integer: true, min: 0 })} of steps (got ${k.evalEvery}).`);
  if (!isInt(k.sampleTokens, 1) || k.sampleTokens > 512) add('sampleTokens', `must be ${rangeWords({ integer: true, min: 1, max: 512 })} of tokens (got ${k.sampleTokens}).`);
  if (!(k.maxGradNorm >= 0)) add('maxGradNorm', `must be ${rangeWords({ min: 0 })} (got ${k.maxGradNorm}).`);
  if (!(k.weightDecay >= 0)) add('weightDecay', `must be ${rangeWords({ min: 0 })} (got ${k.weightDecay}).`);
  if (isQalora(k.quant)) {
    if (!isInt(k.groupSize, 1)) add('groupSize', `must be ${rangeWords({ integer: true, min: 1 })} (got ${k.groupSize}).`);
    else if (spec && k.targetModules.length > 0) {
      try {
        const h = { r: 1, loraAlpha: 1, loraDropout: 0, useRslora: false, qaloraGroupSize: k.groupSize };
        for (const m of resolveTargets(spec, parseTargets(targetsString(k.targetModules, arch)))) loraInF(m, h);
      } catch (e) {
        add('groupSize', `does not fit these targets: ${studioMessage(e)}`);
      }
    }
  }
  return out;
}

/** Problems with the knobs, one line each, each naming its knob (empty: ready to train). */
export function knobProblems(k: Knobs, spec: ModelSpec | null): string[] {
  return knobIssues(k, spec).map((i) => i.message);
}

/**
 * Why a run cannot start on the loaded base with these knobs' quantization (null: it can): the
 * base is quantized at load, so Settings and the loaded base must agree.
 */
export function quantMismatch(loaded: { quant: QuantMode; groupSize?: number } | null, k: Pick<Knobs, 'quant' | 'groupSize'>): string | null {
  if (!loaded) return null;
  const same = loaded.quant === k.quant && (!isQalora(k.quant) || loaded.groupSize === k.groupSize);
  if (same) return null;
  const name = (q: QuantMode, g?: number) => (isQalora(q) ? `${q} (group size ${g})` : q === 'none' ? 'none (f16/f32)' : q);
  return `The base is loaded as ${name(loaded.quant, loaded.groupSize)} but “${KNOB_LABEL.quant}” is ${name(k.quant, k.groupSize)}: load the model again (Model tab) or set “${KNOB_LABEL.quant}” back.`;
}

/** A parameter count in short form: 260K, 135M, 1.24B (three significant digits). */
export function fmtParams(n: number): string {
  const a = Math.abs(n);
  const [d, u] = a >= 1e9 ? [1e9, 'B'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'K'] : [1, ''];
  const v = n / d;
  return `${u ? Number(v.toPrecision(3)) : Math.round(v)}${u}`;
}

/** A share with two significant digits ("3.4%", "0.26%", "12%"). */
export function fmtShare(x: number): string {
  const p = x * 100;
  return `${p >= 10 ? Math.round(p) : Number(p.toPrecision(2))}%`;
}
