// Dispatches per decoder layer of a training step, for the benchmark: a Transformer on a given
// config with 1 and with 2 layers (random weights, LoRA on every linear with dropout), and the
// difference of their train programs' dispatch counts. Per-layer dispatches do not depend on the
// layer count or the vocabulary, so the vocabulary is cut to keep the random weights small.
import type { GpuContext } from '../gpu/context';
import { LoraState } from '../lora/state';
import { parseTargets, resolveTargets } from '../lora/targets';
import { Checkpoint } from '../model/checkpoint';
import { randomModelSource } from '../model/random';
import { loadWeights } from '../model/weights';
import type { SaveActivations } from '../net/buffers';
import { Transformer } from '../net/transformer';

/**
 * The training configuration counted: B, T, r, target_modules (PEFT's all-linear), lora_dropout,
 * and how the activations kept for the backward are stored (default 'f32').
 */
interface DispatchCountConfig {
  B: number;
  T: number;
  r: number;
  targetModules: string;
  loraDropout: number;
  saveActivations?: SaveActivations;
}

async function trainDispatches(ctx: GpuContext, config: Record<string, unknown>, L: number, c: DispatchCountConfig): Promise<number> {
  const cfg = { ...config, num_hidden_layers: L, vocab_size: 512 };
  const { spec, source } = randomModelSource(`random:dispatch-L${L}`, cfg, 1, 0.02);
  const weights = await loadWeights(ctx, spec, await Checkpoint.open(source), { dtype: 'f32' });
  const modules = resolveTargets(spec, parseTargets(c.targetModules));
  const lora = new LoraState(ctx, modules, { r: c.r, loraAlpha: 2 * c.r, loraDropout: c.loraDropout, useRslora: false });
  const model = new Transformer(ctx, spec, weights, lora, { B: c.B, T: Math.min(c.T, spec.maxT), training: true, saveActivations: c.saveActivations });
  const n = model.trainProgram!.dispatchCount;
  return n;
}

/**
 * Dispatches one decoder layer adds to a training step (forward, backward, LoRA gradients) for
 * `config` (a transformers config.json object) under `c`: the 2-layer count minus the 1-layer count.
 */
export async function dispatchesPerLayer(ctx: GpuContext, config: Record<string, unknown>, c: DispatchCountConfig): Promise<number> {
  const one = await trainDispatches(ctx, config, 1, c);
  const two = await trainDispatches(ctx, config, 2, c);
  return two - one;
}
