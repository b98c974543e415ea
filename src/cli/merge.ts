// npm run merge -- --model DIR --adapter DIR --out DIR
// Folds a LoRA adapter into the base (PEFT merge_and_unload) and writes a Hugging Face folder:
// config.json, model.safetensors in the base's dtype, and the tokenizer files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importAdapter } from '../lora/peft';
import { mergeCheckpoint } from '../lora/merge';
import { Checkpoint } from '../model/checkpoint';
import { readSpec } from '../model/load';
import { serializeSafetensors } from '../model/safetensors';
import { openModelSource, parseCli, progressLine, readAdapterDir, runCli, UsageError } from './common';

const USAGE = `usage: npm run merge -- --model DIR --adapter DIR --out DIR`;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

runCli(async () => {
  const a = parseCli({ model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } } as const, USAGE);
  if (!a.model || !a.adapter || !a.out) throw new UsageError(`--model, --adapter and --out are required.\n${USAGE}`);
  const src = openModelSource(a.model);
  const spec = await readSpec(src);
  const ckpt = await Checkpoint.open(src);
  const ad = readAdapterDir(a.adapter);
  const imp = importAdapter(spec, ad.configJson, ad.bytes, ad.file);
  const { tensors, untied } = await mergeCheckpoint(ckpt, spec, imp.modules, imp.weights, imp.h, (d, t) => progressLine(`merging ${d}/${t}`));
  mkdirSync(a.out, { recursive: true });
  const config = JSON.parse(await src.text('config.json')) as Record<string, unknown>;
  if (untied) config.tie_word_embeddings = false;
  writeFileSync(join(a.out, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(a.out, 'model.safetensors'), serializeSafetensors(tensors));
  for (const f of TOKENIZER_FILES) {
    if (await src.has(f)) writeFileSync(join(a.out, f), await src.text(f));
  }
  progressLine(`merged ${imp.modules.length} modules into ${a.out}${untied ? ' (the adapted lm_head is now untied from the embedding)' : ''}`, true);
});
