// What a local model folder must hold before the studio offers to load it: a tokenizer and the
// weights, next to its config.json. Pure (file paths in, a reason out).

/** The tokenizer files a folder may hold: any one of these sets loads. */
const TOKENIZER_SETS: readonly (readonly string[])[] = [['tokenizer.json'], ['tokenizer.model'], ['vocab.json', 'merges.txt']];

/** Weight files (or shard indexes) the loader reads. */
const WEIGHT_FILES: readonly string[] = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];

/**
 * Why a model folder cannot load, or null when it can: `paths` are the opened files' paths
 * ("folder/config.json"), `dir` the folder that holds config.json ("folder", or "" at the top).
 */
export function folderProblem(name: string, dir: string, paths: readonly string[]): string | null {
  const prefix = dir ? `${dir}/` : '';
  const here = new Set(paths.filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length)));
  const missing: string[] = [];
  if (!TOKENIZER_SETS.some((set) => set.every((f) => here.has(f)))) missing.push('no tokenizer (tokenizer.json, or tokenizer.model, or vocab.json with merges.txt)');
  if (!WEIGHT_FILES.some((f) => here.has(f))) missing.push('no weights (model.safetensors or pytorch_model.bin, or their .index.json with the shards)');
  return missing.length ? `“${name}” cannot be loaded: the folder has ${missing.join(' and ')}. Open the whole model folder.` : null;
}
