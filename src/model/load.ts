// Loading a model folder (local, dropped in the browser, or on the Hub) onto the GPU.
import type { GpuContext } from '../gpu/context';
import type { WeightDType } from '../gpu/tensor';
import { Checkpoint } from './checkpoint';
import { ModelConfigError, parseConfigText, type ModelSpec } from './config';
import type { QuantMode } from '../quant/formats';
import { QuantCheckpointError, readQuantConfig } from './qalora-checkpoint';
import type { ModelSource } from './source';
import { loadTokenizer, type TextTokenizer } from './tokenizer';
import { loadWeights, type LoadProgress, type ModelWeights } from './weights';
import { opt } from '../options';

/** A model ready to train or generate: its spec, tokenizer, frozen weights on the GPU and the open checkpoint. */
export interface LoadedModel {
  name: string;
  spec: ModelSpec;
  tokenizer: TextTokenizer;
  weights: ModelWeights;
  checkpoint: Checkpoint;
}

/** Storage of the frozen dense weights: 'auto' (see chooseDType), f32 or f16. */
type DTypeChoice = 'auto' | WeightDType;

/** The ModelSpec of the folder's config.json. Throws ModelConfigError when config.json is missing or invalid. */
export async function readSpec(src: ModelSource): Promise<ModelSpec> {
  const file = `${src.name}/config.json`;
  if (!(await src.has('config.json'))) {
    throw new ModelConfigError(`${file} is missing: a model folder needs the config.json of its Hugging Face repository.`);
  }
  return parseConfigText(await src.text('config.json'), file);
}

/**
 * Storage dtype of the frozen weights: 'auto' keeps f32 checkpoints in f32 and stores F16/BF16
 * ones as f16 (half the memory; BF16 → f16 loses no precision for weights of normal magnitude).
 */
function chooseDType(choice: DTypeChoice, ckpt: Checkpoint): WeightDType {
  if (choice !== 'auto') return choice;
  const names = ckpt.names();
  const anyF32 = names.some((n) => ckpt.info(n).dtype === 'F32' || ckpt.info(n).dtype === 'F64');
  return anyF32 ? 'f32' : 'f16';
}

/**
 * Reads config.json, the tokenizer and the checkpoint of `src` and uploads the weights (quantizing the
 * decoder linears under `opts.quant`; a checkpoint whose config.json declares a QA-LoRA quantization
 * loads quantized as stored). Throws ModelConfigError, QuantCheckpointError (a quantized checkpoint
 * asked for another quant mode, or an unknown quantization_config), TokenizerError, CheckpointError,
 * MissingTensorError, and GpuError for out of memory or a buffer above the device's limits.
 */
export async function loadModel(
  ctx: GpuContext,
  src: ModelSource,
  opts: { dtype?: DTypeChoice; quant?: QuantMode; groupSize?: number; onProgress?: (p: LoadProgress) => void } = {},
): Promise<LoadedModel> {
  const spec = await readSpec(src);
  const prequantized = readQuantConfig(JSON.parse(await src.text('config.json')) as Record<string, unknown>, `${src.name}/config.json`);
  if (prequantized && opts.quant && opts.quant !== 'none' && opts.quant !== prequantized.mode) {
    throw new QuantCheckpointError([
      `${src.name} is already quantized (${prequantized.mode}, group size ${prequantized.groupSize}); load it with `, opt('quant', 'none'),
      ', or start from the full-precision model.',
    ]);
  }
  const tokenizer = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
  const checkpoint = await Checkpoint.open(src);
  const dtype = chooseDType(opts.dtype ?? 'auto', checkpoint);
  const weights = await ctx.guard('loading the model weights', () =>
    loadWeights(ctx, spec, checkpoint, {
      dtype, quant: opts.quant, groupSize: opts.groupSize, onProgress: opts.onProgress, sourceName: src.name, prequantized,
    }),
  );
  return { name: src.name, spec, tokenizer, weights, checkpoint };
}
