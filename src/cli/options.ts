// The CLI's names for the engine's options: each RunOption is a flag. Engine messages carry
// options as data (src/options.ts); the CLI renders them here, and nowhere else rewrites them.

import { OPTION_FLAG } from '../flags';
import { hostMessage, type OptionNamer, type RunOption } from '../options';

/** The flag of each option (shared with the studio's "Copy as command": src/flags.ts). */
export { OPTION_FLAG };

const PLACEHOLDER: Partial<Record<RunOption, string>> = { responseColumn: 'COLUMN', seqLen: 'N', batchSize: 'N', lr: 'X', quant: 'MODE' };

/** An option as the CLI writes it: the flag and its value ("--seq-len 512", "--template \"... {column} ...\""). */
export const cliNamer: OptionNamer = (r) => {
  if (r.option === 'accessToken') return 'an access token in HF_TOKEN';
  const flag = OPTION_FLAG[r.option];
  if (r.value === true) return flag;
  const v = r.value === undefined ? (r.option === 'responseColumn' ? PLACEHOLDER.responseColumn : undefined) : String(r.value);
  if (v === undefined) return flag;
  return /\s/.test(v) ? `${flag} "${v}"` : `${flag} ${v}`;
};

/** Any error's message in the CLI's words (flags for the options it names). */
export function cliMessage(e: unknown): string {
  return hostMessage(e, cliNamer);
}
