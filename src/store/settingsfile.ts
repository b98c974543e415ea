// Saved settings as a file: the knobs under a name, written and read as JSON. Pure (validation of
// what a user imports: only known knobs, each of the type the studio uses).
import { defaultKnobs, KNOB_LABEL, type KnobName, type Knobs } from '../plan/knobs';
import { withPeftNames } from '../train/peft-names';

/** Layout version of the settings files this studio writes: 2 names the LoRA knobs as PEFT does (r, loraAlpha, ...); 1 had rank, alpha, .... */
const SETTINGS_VERSION = 2;

/** The JSON of one saved set of settings. */
interface SettingsFile {
  kind: 'lora-studio-settings';
  version: typeof SETTINGS_VERSION;
  name: string;
  knobs: Knobs;
}

/** The JSON text of named knobs. */
export function settingsJson(name: string, knobs: Knobs): string {
  const f: SettingsFile = { kind: 'lora-studio-settings', version: SETTINGS_VERSION, name, knobs };
  return JSON.stringify(f, null, 2) + '\n';
}

/**
 * Named knobs read from JSON text (a settings file, or a stored entry): knobs it does not name keep
 * the defaults; a version-1 file's LoRA knobs (rank, alpha, ...) are read under PEFT's names; an unknown knob or one of the wrong type is an error in the studio's words.
 */
export function parseSettings(text: string, fallbackName: string): { name: string; knobs: Knobs } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${fallbackName} is not valid JSON (${(e as Error).message}).`);
  }
  const f = v as Partial<SettingsFile> | null;
  if (!f || typeof f !== 'object' || f.kind !== 'lora-studio-settings' || !f.knobs || typeof f.knobs !== 'object') {
    throw new Error(`${fallbackName} is not a settings file of the studio (it has no "kind": "lora-studio-settings" with its knobs).`);
  }
  const version = f.version as number;
  if (version !== 1 && version !== SETTINGS_VERSION) {
    throw new Error(`${fallbackName} was written by another version of the studio (settings format ${String(f.version)}; this one reads 1 and ${SETTINGS_VERSION}).`);
  }
  const knobs = defaultKnobs(null);
  const problems: string[] = [];
  for (const [k, val] of Object.entries(withPeftNames(f.knobs))) {
    if (!(k in knobs)) {
      problems.push(`unknown setting "${k}"`);
      continue;
    }
    const want = knobs[k as KnobName];
    const ok = Array.isArray(want) ? Array.isArray(val) && val.every((x) => typeof x === 'string') : typeof val === typeof want && (typeof val !== 'number' || Number.isFinite(val));
    if (!ok) problems.push(`“${KNOB_LABEL[k as KnobName]}” has a value of the wrong kind (${JSON.stringify(val)})`);
    else (knobs as unknown as Record<string, unknown>)[k] = val;
  }
  if (problems.length) throw new Error(`${fallbackName} cannot be used: ${problems.join('; ')}.`);
  const name = typeof f.name === 'string' && f.name.trim() ? f.name.trim() : fallbackName;
  return { name, knobs };
}
