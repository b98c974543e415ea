// The command-line flag of every setting a run has, shared by the CLI (which parses them and names
// them in messages, src/cli/options.ts) and the studio's "Copy as command" (which writes the
// `npm run train` line of its knobs). Part of the engine: imports only engine types.

import type { RunOption } from './options';
import type { RunConfig } from './train/run';

/** The flag of each option an engine message can name (the access token is an environment variable). */
export const OPTION_FLAG: Record<RunOption, string> = {
  seqLen: '--seq-len', batchSize: '--batch-size', gradAccum: '--grad-accum', r: '--lora-r', loraAlpha: '--lora-alpha', loraDropout: '--lora-dropout', lr: '--lr',
  loraplusLrRatio: '--loraplus-lr-ratio', quant: '--quant', targetModules: '--target-modules', gradCheckpointing: '--grad-checkpointing', saveActivations: '--activations', matmulMath: '--matmul-math',
  subgroups: '--subgroups', maxGradNorm: '--max-grad-norm', format: '--format', template: '--template', responseColumn: '--response-column', chatTemplate: '--chat-template', trainOnPrompt: '--train-on-prompt',
  onBadRows: '--on-bad-rows', accessToken: 'HF_TOKEN',
};

/** The flag of each RunConfig field `npm run train` takes (baseModel is --model). */
export const CONFIG_FLAG: Partial<Record<keyof RunConfig, string>> = {
  r: '--lora-r', loraAlpha: '--lora-alpha', loraDropout: '--lora-dropout', useRslora: '--use-rslora', targetModules: '--target-modules', loraplusLrRatio: '--loraplus-lr-ratio', lr: '--lr',
  schedule: '--schedule', warmup: '--warmup', steps: '--steps', epochs: '--epochs', batchSize: '--batch-size', gradAccum: '--grad-accum',
  seqLen: '--seq-len', seed: '--seed', saveEvery: '--save-every', maxGradNorm: '--max-grad-norm', weightDecay: '--weight-decay',
  gradCheckpointing: '--grad-checkpointing', saveActivations: '--activations', matmulMath: '--matmul-math', subgroups: '--subgroups', quant: '--quant', groupSize: '--group-size',
};

/**
 * The older flag of each LoRA setting, from before the flags took PEFT's / TRL's names: `npm run
 * train` still accepts them (src/cli/train-run.ts), and names the one the user typed in messages.
 */
export const LEGACY_CONFIG_FLAG: Partial<Record<keyof RunConfig, string>> = {
  r: '--rank', loraAlpha: '--alpha', loraDropout: '--dropout', useRslora: '--rslora', targetModules: '--targets', loraplusLrRatio: '--lora-plus-ratio',
};

/** How the data is read, as the studio's Dataset tab and the CLI's data flags both set it. */
export interface DataFlags {
  format: string;
  template: string;
  responseColumn: string;
  chatTemplate: string;
  trainOnPrompt: boolean;
  onBadRows: string;
  packing: boolean;
}

/** A value quoted for a POSIX shell when it needs it. */
export function shellQuote(v: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `npm run train -- …` line of a run: every setting spelled out (the CLI's defaults differ from
 * the studio's), data options only where they differ from the defaults. `model`, `data` and `out`
 * are paths the user fills in when the studio does not know them; `evalFile` (optional) is the
 * evaluation file, written as --eval-file instead of --eval-split.
 */
export function trainCommand(c: RunConfig, data: DataFlags, evalSplit: number, paths: { model: string; data: string; out: string; evalFile?: string }): string {
  const args: string[] = ['--model', shellQuote(paths.model), '--data', shellQuote(paths.data), '--out', shellQuote(paths.out)];
  const flag = (f: string, v: string | number | boolean | undefined) => {
    if (v === undefined || v === false) return;
    args.push(f);
    if (v !== true) args.push(shellQuote(String(v)));
  };
  const order: (keyof RunConfig)[] = [
    'r', 'loraAlpha', 'loraDropout', 'useRslora', 'targetModules', 'loraplusLrRatio', 'lr', 'schedule', 'warmup', 'steps', 'epochs', 'batchSize', 'gradAccum', 'seqLen',
    'seed', 'saveEvery', 'maxGradNorm', 'weightDecay', 'gradCheckpointing', 'saveActivations', 'matmulMath', 'subgroups', 'quant', 'groupSize',
  ];
  for (const k of order) {
    if (k === 'epochs' && c.steps !== undefined) continue; // steps win over epochs
    if (k === 'quant' && (c.quant ?? 'none') === 'none') continue;
    if (k === 'saveActivations' && (c.saveActivations ?? 'f32') === 'f32') continue;
    if (k === 'matmulMath' && (c.matmulMath ?? 'f32') === 'f32') continue;
    flag(CONFIG_FLAG[k]!, c[k] as string | number | boolean | undefined);
  }
  // A separate evaluation file replaces the split.
  if (paths.evalFile) flag('--eval-file', paths.evalFile);
  else flag('--eval-split', evalSplit);
  if (data.format !== 'auto' || data.template.trim()) flag('--format', data.format === 'auto' ? 'template' : data.format);
  if (data.template.trim()) flag('--template', data.template);
  if (data.responseColumn) flag('--response-column', data.responseColumn);
  if (data.chatTemplate !== 'auto') flag('--chat-template', data.chatTemplate);
  flag('--train-on-prompt', data.trainOnPrompt);
  flag('--packing', data.packing);
  if (data.onBadRows !== 'stop') flag('--on-bad-rows', data.onBadRows);
  return `npm run train -- ${args.join(' ')}`;
}
