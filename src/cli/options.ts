// The CLI's names for the engine's options: each RunOption is a flag. Engine messages carry
// options as data (src/options.ts); the CLI renders them here, and nowhere else rewrites them.

import { LEGACY_CONFIG_FLAG, OPTION_FLAG } from '../flags';
import { hostMessage, type OptionNamer, type RunOption } from '../options';

/** The flag of each option (shared with the studio's "Copy as command": src/flags.ts). */
export { OPTION_FLAG };

const PLACEHOLDER: Partial<Record<RunOption, string>> = { responseColumn: 'COLUMN', seqLen: 'N', batchSize: 'N', lr: 'X', quant: 'MODE' };

/** Options the user set with an older flag (--rank for --lora-r): messages name the flag typed. */
const typedFlag = new Map<RunOption, string>();

/**
 * Notes which options the parsed flags `a` (parseArgs names, no dashes) set through an older alias
 * (LEGACY_CONFIG_FLAG) and not through the current flag, so cliNamer names those as typed.
 */
export function noteTypedFlags(a: Record<string, unknown>): void {
  for (const [field, old] of Object.entries(LEGACY_CONFIG_FLAG)) {
    const option = field as RunOption;
    if (!(option in OPTION_FLAG)) continue;
    if (a[old.slice(2)] !== undefined && a[OPTION_FLAG[option].slice(2)] === undefined) typedFlag.set(option, old);
  }
}

/** An option as the CLI writes it: the flag and its value ("--seq-len 512", "--template \"... {column} ...\""). */
export const cliNamer: OptionNamer = (r) => {
  if (r.option === 'accessToken') return 'an access token in HF_TOKEN';
  const flag = typedFlag.get(r.option) ?? OPTION_FLAG[r.option];
  if (r.value === true) return flag;
  const v = r.value === undefined ? (r.option === 'responseColumn' ? PLACEHOLDER.responseColumn : undefined) : String(r.value);
  if (v === undefined) return flag;
  return /\s/.test(v) ? `${flag} "${v}"` : `${flag} ${v}`;
};

/** Any error's message in the CLI's words (flags for the options it names). */
export function cliMessage(e: unknown): string {
  return hostMessage(e, cliNamer);
}
