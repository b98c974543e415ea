// One answer of an experiment's comparison: greedy, seeded generation of a prompt by the base or
// base + adapter, wrapped as the training data was. Part of the engine (no Node or DOM APIs); the
// CLI's report (cli/experiment.ts) answers with it, and src/worker/answers.test.ts checks that the
// studio's answers (the worker's generate request) equal it.

import { encodePrompt, stopIdsFor, type PromptFormat } from '../data/format';
import type { GpuContext } from '../gpu/context';
import type { LoraState } from '../lora/state';
import { generateTokens, Generator } from '../net/generate';
import type { LoadedModel } from '../model/load';

/**
 * The answer npm run generate gives: greedy (temperature 0), seeded with `seed`, at most `maxNew`
 * new tokens, stopped on the model's stop ids for `format`; a window of max(64, prompt + new
 * tokens) positions (at most 1024 and the model's maximum). `prompt` is text (wrapped as `format`)
 * or token ids fed as they are (a held-out prompt as training formatted it, data/heldout.ts).
 * Returns the decoded new text.
 */
export async function greedyAnswer(ctx: GpuContext, loaded: LoadedModel, lora: LoraState | null, prompt: string | { ids: number[] }, format: PromptFormat | null, maxNew: number, seed: number): Promise<string> {
  const { spec, tokenizer } = loaded;
  const { ids } = typeof prompt === 'string' ? encodePrompt(tokenizer, prompt, format ?? undefined) : prompt;
  const T = Math.min(spec.maxT, Math.max(64, Math.min(1024, ids.length + maxNew)));
  const gen = new Generator(ctx, spec, loaded.weights, lora, { T });
  const out: number[] = [];
  for await (const id of generateTokens(ctx, gen, ids, { maxNewTokens: maxNew, temperature: 0, topP: 1, seed, stop: stopIdsFor(tokenizer, format ?? undefined) })) out.push(id);
  return tokenizer.decode(out, true);
}
