// A PEFT adapter read from any ModelSource: a local folder (CLI), a Hub repo (hubSource), or the
// files of a folder opened in the browser (blobSource). The adapter is small, so its weights file
// is read whole; importAdapter (peft.ts) then validates it against the loaded base.
import type { ModelSource } from '../model/source';
import { AdapterError } from './peft';

/** The two files of an adapter as importAdapter takes them; `file` names the weights file for messages. */
export interface AdapterFiles {
  configJson: string;
  bytes: Uint8Array;
  file: string;
}

/**
 * Reads adapter_config.json and adapter_model.safetensors (or, as PEFT wrote it before
 * safetensors, adapter_model.bin; safetensors wins when both exist). Throws a one-line
 * AdapterError naming the source when either is missing, or when the folder holds a model instead.
 */
export async function readAdapterSource(src: ModelSource): Promise<AdapterFiles> {
  const [hasCfg, hasSt, hasBin] = await Promise.all(['adapter_config.json', 'adapter_model.safetensors', 'adapter_model.bin'].map((f) => src.has(f)));
  if (!hasCfg || (!hasSt && !hasBin)) {
    const model = !hasCfg && (await src.has('config.json'));
    throw new AdapterError(
      `${src.name}: expected adapter_config.json and adapter_model.safetensors (or adapter_model.bin) there${model ? ' — this is a model folder, not an adapter' : ''}; give a folder written by PEFT's save_pretrained (TRL, Unsloth, LLaMA-Factory) or by this studio`,
    );
  }
  const weights = hasSt ? 'adapter_model.safetensors' : 'adapter_model.bin';
  const [configJson, size] = await Promise.all([src.text('adapter_config.json'), src.size(weights)]);
  const bytes = await src.range(weights, 0, size);
  return { configJson, bytes, file: `${src.name}/${weights}` };
}
