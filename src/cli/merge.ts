// npm run merge -- --model DIR --adapter DIR --out DIR [--quant qalora-int4|3|2 --group-size G]
// Folds a LoRA adapter into the base (PEFT merge_and_unload) and writes a Hugging Face folder:
// config.json, model.safetensors in the base's dtype, and the tokenizer files. With a QA-LoRA
// quant mode the merge is exact into the INT-N model, which stays INT-N (see src/quant/qalora.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isQuantWeight } from '../gpu/tensor';
import { importAdapter } from '../lora/peft';
import { mergeCheckpoint } from '../lora/merge';
import { loadModel } from '../model/load';
import { resolveKeyPrefix } from '../model/modules';
import { serializeSafetensors } from '../model/safetensors';
import { isQalora, parseQuantMode, type QuantizedHost } from '../quant/formats';
import { readQuantized } from '../quant/gpu';
import { quantConfigJson } from '../quant/qalora';
import { Checkpoint } from '../model/checkpoint';
import { readSpec } from '../model/load';
import { gpuContext, num, openModelSource, parseCli, positiveInt, progressLine, readAdapterDir, runCli, UsageError } from './common';

const USAGE = `usage: npm run merge -- --model DIR --adapter DIR --out DIR [--quant qalora-int4|qalora-int3|qalora-int2 --group-size G (32)]`;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

runCli(async () => {
  const a = parseCli(
    { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, quant: { type: 'string' }, 'group-size': { type: 'string' } } as const,
    USAGE,
  );
  if (!a.model || !a.adapter || !a.out) throw new UsageError(`--model, --adapter and --out are required.\n${USAGE}`);
  const quant = parseQuantMode(a.quant ?? 'none');
  if (quant !== 'none' && !isQalora(quant)) {
    throw new UsageError(`--quant ${quant}: only QA-LoRA (qalora-int4/3/2) merges exactly into a quantized model; merge a QLoRA adapter into the full-precision base (no --quant).`);
  }
  const groupSize = num(a['group-size'], 'group-size', 32, positiveInt);
  const src = openModelSource(a.model);
  const spec = await readSpec(src);
  const ad = readAdapterDir(a.adapter);
  const imp = importAdapter(spec, ad.configJson, ad.bytes, ad.file);
  const config = JSON.parse(await src.text('config.json')) as Record<string, unknown>;

  let ckpt: Checkpoint;
  let quantized: Map<string, QuantizedHost> | undefined;
  if (isQalora(quant)) {
    if (imp.h.qaloraGroupSize !== groupSize) {
      throw new UsageError(
        `${ad.file}: ${imp.h.qaloraGroupSize ? `a QA-LoRA adapter with group size ${imp.h.qaloraGroupSize}` : 'a plain LoRA adapter'} cannot merge exactly into a ` +
          `${quant} model with group size ${groupSize}; give the --group-size the adapter was trained with (train with --quant ${quant}).`,
      );
    }
    // Quantize exactly as training did (on the GPU), then read the codes, scales and zeros back.
    const ctx = await gpuContext();
    const loaded = await loadModel(ctx, src, { quant, groupSize, onProgress: (p) => progressLine(`quantizing ${p.loaded}/${p.total}`) });
    ckpt = loaded.checkpoint;
    const key = resolveKeyPrefix(ckpt.names(), spec);
    quantized = new Map();
    for (const layer of loaded.weights.layers) {
      for (const lw of layer.linear.values()) if (isQuantWeight(lw.W)) quantized.set(key(lw.module.weightKey), await readQuantized(ctx, lw.W));
    }
    for (const u of loaded.weights.unquantized) progressLine(`${u.name} stays unquantized: ${u.reason}`, true);
    config.quantization_config = quantConfigJson({ mode: quant, bits: Number(quant.slice(-1)), groupSize });
  } else {
    ckpt = await Checkpoint.open(src);
  }
  const { tensors, untied } = await mergeCheckpoint(ckpt, spec, imp.modules, imp.weights, imp.h, (d, t) => progressLine(`merging ${d}/${t}`), quantized);
  mkdirSync(a.out, { recursive: true });
  if (untied) config.tie_word_embeddings = false;
  writeFileSync(join(a.out, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(a.out, 'model.safetensors'), serializeSafetensors(tensors));
  for (const f of TOKENIZER_FILES) if (await src.has(f)) writeFileSync(join(a.out, f), await src.text(f));
  progressLine(
    `merged ${imp.modules.length} modules into ${a.out}${quantized ? ` (${quant}, group size ${groupSize}: ${quantized.size} matrices stay quantized)` : ''}` +
      `${untied ? ' (the adapted lm_head is now untied from the embedding)' : ''}`,
    true,
  );
});
