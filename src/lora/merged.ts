// The merged-model folder shared by `npm run merge` and the studio's export: PEFT's
// merge_and_unload into the base's dtype, or for QA-LoRA the exact merge into the INT-N base.
import type { GpuContext } from '../gpu/context';
import { isQuantWeight } from '../quant/weight';
import type { LoadedModel } from '../model/load';
import { resolveKeyPrefix } from '../model/modules';
import { dtypeBytes } from '../model/safetensors';
import { safetensorsHeader, SafetensorsStreamWriter } from '../model/safetensors-writer';
import type { ModelSource } from '../model/source';
import { isQalora, QUANT_MODES, type QuantizedHost } from '../quant/formats';
import { readQuantized } from '../quant/gpu';
import { quantConfigJson } from '../model/qalora-checkpoint';
import { planMerge } from './merge';
import type { AdapterTensors, LoraHyper } from './peft';
import type { LinearModule } from '../model/modules';
import type { Checkpoint } from '../model/checkpoint';
import type { ModelSpec } from '../model/config';
import { convertSlowTokenizer } from '../model/slow-tokenizer';

/** Tokenizer and generation files copied next to a merged model when the base has them. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

/** Every quantized decoder linear of a loaded model, read back from the GPU, by checkpoint tensor name. */
export async function readQuantizedLinears(ctx: GpuContext, loaded: LoadedModel): Promise<Map<string, QuantizedHost>> {
  const key = resolveKeyPrefix(loaded.checkpoint.names(), loaded.spec);
  const out = new Map<string, QuantizedHost>();
  for (const layer of loaded.weights.layers) {
    for (const lw of layer.linear.values()) if (isQuantWeight(lw.W)) out.set(key(lw.module.weightKey), await readQuantized(ctx, lw.W));
  }
  return out;
}

/** An adapter to merge: its modules, A [r, in] / B [out, r] per module name, and its hyperparameters. */
export interface MergeAdapter {
  modules: LinearModule[];
  weights: Map<string, AdapterTensors>;
  h: LoraHyper;
}

/** The merged model's weights file, written tensor by tensor (never whole in memory). */
export interface StreamedFile {
  name: string;
  /** Size of the file in bytes. */
  bytes: number;
  /** Writes the file's bytes to `sink` in order, one tensor at a time. */
  write(sink: (chunk: Uint8Array) => void | Promise<void>): Promise<void>;
}

/**
 * The merged model: config.json (untied head when the adapter covered a tied one; the
 * quantization_config of a QA-LoRA merge) and the tokenizer files as text, and model.safetensors
 * as a stream. `quantized` (a QA-LoRA merge) comes from readQuantizedLinears on a model loaded in
 * that mode.
 * Throws Error when the loaded model is quantized in a mode other than QA-LoRA (only those merge
 * exactly).
 */
export async function mergedModelFiles(
  base: { checkpoint: Checkpoint; spec: ModelSpec },
  source: ModelSource,
  adapter: MergeAdapter,
  quantized?: { mode: string; groupSize: number; linears: Map<string, QuantizedHost> },
  onProgress?: (done: number, total: number) => void,
): Promise<{ files: Map<string, string>; weights: StreamedFile; untied: boolean }> {
  const config = JSON.parse(await source.text('config.json')) as Record<string, unknown>;
  if (quantized) {
    const mode = QUANT_MODES.find((q) => q === quantized.mode);
    if (!mode || !isQalora(mode)) throw new Error(`only QA-LoRA (qalora-int4/3/2) merges exactly into a quantized model, not ${quantized.mode}`);
    config.quantization_config = quantConfigJson({ mode, bits: Number(mode.slice(-1)), groupSize: quantized.groupSize });
  }
  const plan = planMerge(base.checkpoint, base.spec, adapter.modules, adapter.weights, adapter.h, onProgress, quantized?.linears);
  if (plan.untied) config.tie_word_embeddings = false;
  const files = new Map<string, string>([['config.json', JSON.stringify(config, null, 2)]]);
  for (const f of TOKENIZER_FILES) if (await source.has(f)) files.set(f, await source.text(f));
  if (!files.has('tokenizer.json') && ((await source.has('tokenizer.model')) || (await source.has('vocab.json')))) {
    // A base whose tokenizer is tokenizer.model (binary) or vocab.json + merges.txt: the merged model
    // gets the tokenizer.json it was loaded with, as save_pretrained writes a fast tokenizer's.
    const cfg = files.has('tokenizer_config.json') ? (JSON.parse(files.get('tokenizer_config.json')!) as Record<string, unknown>) : {};
    files.set('tokenizer.json', JSON.stringify((await convertSlowTokenizer(source, cfg)).json));
  }
  const header = safetensorsHeader(plan.layout);
  const dataBytes = plan.layout.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * dtypeBytes(t.dtype), 0);
  const weights: StreamedFile = {
    name: 'model.safetensors',
    bytes: header.length + dataBytes,
    async write(sink) {
      const w = new SafetensorsStreamWriter(plan.layout, sink, undefined, 'merged model.safetensors');
      await w.begin();
      for await (const t of plan.tensors()) await w.write(t);
      w.end();
    },
  };
  return { files, weights, untied: plan.untied };
}
