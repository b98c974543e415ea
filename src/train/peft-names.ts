// Reading settings saved before the LoRA fields took PEFT's names. Run records (IndexedDB),
// experiment records, saved settings (localStorage and files) and CLI run folders (trainer_state.json,
// metrics.json) written by older versions name the fields rank, alpha, dropout, rslora, targets /
// targetKinds and loraPlusRatio; every reader of persisted settings passes them through
// withPeftNames, so nothing a user saved is lost. Part of the engine: pure, imports nothing.

/**
 * The old field name of each LoRA setting → its PEFT name in camelCase (PEFT LoraConfig r,
 * lora_alpha, lora_dropout, use_rslora, target_modules; LoRA+'s loraplus_lr_ratio). `targets` was
 * RunConfig's parseTargets string, `targetKinds` the studio's list of module kinds: both are now
 * `targetModules` (a string in RunConfig, a list in Knobs, as PEFT's target_modules takes either).
 */
const LEGACY_PEFT_FIELDS: Readonly<Record<string, string>> = {
  rank: 'r',
  alpha: 'loraAlpha',
  dropout: 'loraDropout',
  rslora: 'useRslora',
  targets: 'targetModules',
  targetKinds: 'targetModules',
  loraPlusRatio: 'loraplusLrRatio',
};

/**
 * A copy of saved settings (Knobs, RunConfig, or a CLI run's recorded config) with each old LoRA
 * field renamed to its PEFT name (LEGACY_PEFT_FIELDS); a field already under its new name wins over
 * an old one, every other field is kept as it is, in its order. A non-object (null, an array, a
 * number) is returned unchanged, for the caller's own checks to reject. Never throws.
 */
export function withPeftNames<T>(saved: T): T {
  if (!saved || typeof saved !== 'object' || Array.isArray(saved)) return saved;
  const src = saved as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    const neu = LEGACY_PEFT_FIELDS[k];
    if (neu === undefined) out[k] = v;
    else if (!(neu in src)) out[neu] = v;
  }
  return out as T;
}
