// Test helper: a LoRA adapter with random non-zero A and B (uniform in ±0.3) on the given PEFT
// targets, so that merges and exports change the model measurably.
import type { AdapterTensors, LoraHyper } from '../lora/peft';
import { parseTargets, resolveTargets } from '../lora/targets';
import type { ModelSpec } from '../model/config';
import { rng } from './gpu';

/** Modules of `targets` (parseTargets syntax) with A [r, in] and B [out, r], seeded. */
export function randomAdapter(spec: ModelSpec, targets: string, h: LoraHyper, seed: number) {
  const modules = resolveTargets(spec, parseTargets(targets));
  const r = rng(seed);
  const weights = new Map<string, AdapterTensors>();
  for (const m of modules) {
    weights.set(m.name, {
      A: Float32Array.from({ length: h.r * m.inF }, () => (r() * 2 - 1) * 0.3),
      B: Float32Array.from({ length: m.outF * h.r }, () => (r() * 2 - 1) * 0.3),
    });
  }
  return { modules, weights, h };
}
