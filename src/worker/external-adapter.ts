// An adapter folder opened in the playground (PEFT, TRL, Unsloth, LLaMA-Factory): its files, as
// the page handed them over, read with readAdapterSource and checked against the loaded base by
// importAdapter; messages reworded for the studio (where the CLI would name a flag or a folder).
import { readAdapterSource } from '../lora/adapter-source';
import { importAdapter, type AdapterTensors, type LoraHyper } from '../lora/peft';
import type { ModelSpec } from '../model/config';
import type { LinearModule } from '../model/modules';
import { blobSource } from '../model/source';
import type { ExternalAdapterInfo } from './protocol';

/** The engine's adapter messages in the studio's words (the base is loaded on the Model tab; the folder is opened again). */
function adapterWording(message: string): string {
  return message
    .replace(/load the adapter onto the base it was trained for/g, 'load the base it was trained for on the Model tab, then open the adapter folder again')
    .replace(/give a folder written by/g, 'open a folder written by');
}

/**
 * Reads and checks an opened adapter folder against the loaded model's spec. Throws one line in
 * the studio's words naming the folder (and file) and what to do.
 */
export async function readExternalAdapter(
  spec: ModelSpec,
  name: string,
  files: { path: string; file: Blob }[],
): Promise<{ h: LoraHyper; modules: LinearModule[]; weights: Map<string, AdapterTensors>; info: ExternalAdapterInfo }> {
  try {
    if (files.length === 0) throw new Error(`${name}: no files were opened; open the adapter's folder (adapter_config.json and adapter_model.safetensors or adapter_model.bin)`);
    const src = blobSource(name, new Map(files.map((f) => [f.path, f.file])));
    const f = await readAdapterSource(src);
    const ad = importAdapter(spec, f.configJson, f.bytes, f.file);
    const info: ExternalAdapterInfo = { name, file: f.file, r: ad.h.r, loraAlpha: ad.h.loraAlpha, useRslora: ad.h.useRslora, modules: ad.modules.length, baseModel: ad.baseModel };
    return { ...ad, info };
  } catch (e) {
    throw new Error(adapterWording((e as Error).message));
  }
}
