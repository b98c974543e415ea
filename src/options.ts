// Options in engine messages. The engine is shared by hosts that name their options differently
// (the CLI a flag such as --seq-len, the studio a knob's label such as "Sequence length"), so a
// message that tells the user what to change carries the option as data, not as a flag: a list of
// text parts and option references, rendered by each host with its own table (src/cli/options.ts,
// src/ui/wording.ts). Part of the engine: imports nothing.

/** An option of a run or of its data that a message can point at (the names are RunConfig / DataOptions fields). */
export type RunOption =
  | 'seqLen' | 'batchSize' | 'gradAccum' | 'r' | 'loraAlpha' | 'loraDropout' | 'lr' | 'loraplusLrRatio' | 'quant'
  | 'targetModules' | 'gradCheckpointing' | 'saveActivations' | 'matmulMath' | 'subgroups' | 'maxGradNorm'
  | 'format' | 'template' | 'responseColumn' | 'chatTemplate' | 'trainOnPrompt' | 'onBadRows' | 'accessToken';

/** Every RunOption, for tables that must name each one (tests check the hosts' tables against it). */
export const RUN_OPTIONS: readonly RunOption[] = [
  'seqLen', 'batchSize', 'gradAccum', 'r', 'loraAlpha', 'loraDropout', 'lr', 'loraplusLrRatio', 'quant', 'targetModules', 'gradCheckpointing', 'saveActivations',
  'matmulMath', 'subgroups', 'maxGradNorm', 'format', 'template', 'responseColumn', 'chatTemplate', 'trainOnPrompt', 'onBadRows', 'accessToken',
];

/** A reference to an option in a message, with the value to give it when the message suggests one. */
export interface OptionRef {
  option: RunOption;
  value?: string | number | boolean;
}

/** A message as text parts and option references. */
export type Worded = readonly (string | OptionRef)[];

/** How a host names an option reference (with its value, when the reference has one). */
export type OptionNamer = (ref: OptionRef) => string;

/** Shorthand for an option reference inside a Worded message. */
export function opt(option: RunOption, value?: string | number | boolean): OptionRef {
  return value === undefined ? { option } : { option, value };
}

/** The option in plain words: the fallback when no host renders the message (Error.message). */
const PLAIN_NAME: Record<RunOption, string> = {
  seqLen: 'the sequence length', batchSize: 'the batch size', gradAccum: 'gradient accumulation', r: 'the rank', loraAlpha: 'alpha',
  loraDropout: 'dropout', lr: 'the learning rate', loraplusLrRatio: 'the LoRA+ ratio', quant: 'the base quantization', targetModules: 'the target modules',
  gradCheckpointing: 'activation checkpointing', saveActivations: 'the saved activations',
  matmulMath: 'the matmul math', subgroups: 'subgroup reductions', maxGradNorm: 'the maximum gradient norm', format: 'the record shape', template: 'the prompt template',
  responseColumn: 'the response column', chatTemplate: 'the prompt format', trainOnPrompt: 'training on the prompt', onBadRows: 'the bad-rows setting',
  accessToken: 'an access token',
};

/** The fallback namer: plain words, then the value. */
const plainNamer: OptionNamer = (r) => (r.value === undefined || r.value === true ? PLAIN_NAME[r.option] : `${PLAIN_NAME[r.option]} “${r.value}”`);

/** A Worded message as one string, each option named by `name`. */
export function renderWorded(parts: Worded, name: OptionNamer = plainNamer): string {
  return parts.map((p) => (typeof p === 'string' ? p : name(p))).join('');
}

/**
 * An error about an option: `parts` is the message with its option references, `option` the first
 * one (the option to change; a host focuses its control). `message` is the plain-words rendering.
 */
export class OptionError extends Error {
  override name = 'OptionError';
  readonly parts: Worded;
  readonly option: RunOption | undefined;
  readonly value: string | number | boolean | undefined;
  constructor(message: string | Worded) {
    const parts = typeof message === 'string' ? [message] : message;
    super(renderWorded(parts));
    this.parts = parts;
    const first = parts.find((p): p is OptionRef => typeof p !== 'string');
    this.option = first?.option;
    this.value = first?.value;
  }
}

/** The Worded parts of an error that carries them (an OptionError or a subclass), else null. */
export function wordedOf(e: unknown): Worded | null {
  const parts = (e as { parts?: unknown } | null)?.parts;
  return Array.isArray(parts) ? (parts as Worded) : null;
}

/** An error's message rendered with a host's namer (its own message when it carries no option references). */
export function hostMessage(e: unknown, name: OptionNamer): string {
  const parts = wordedOf(e);
  if (parts) return renderWorded(parts, name);
  return e instanceof Error ? e.message : String(e);
}
