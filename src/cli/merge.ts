// npm run merge -- --model DIR --adapter DIR --out DIR [--quant qalora-int4|3|2 --group-size G]
// Folds a LoRA adapter into the base (PEFT merge_and_unload) and writes a Hugging Face folder:
// config.json, model.safetensors in the base's dtype, and the tokenizer files. With a QA-LoRA
// quant mode the merge is exact into the INT-N model, which stays INT-N (see src/quant/qalora.ts).
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { importAdapter } from '../lora/peft';
import { mergedModelFiles, readQuantizedLinears } from '../lora/merged';
import { Checkpoint } from '../model/checkpoint';
import { loadModel, readSpec } from '../model/load';
import { isQalora, parseQuantMode } from '../quant/formats';
import { gpuContext, num, openModelSource, parseCli, positiveInt, progressLine, readAdapterDir, runCli, UsageError, writeFiles } from './common';

const USAGE = `usage: npm run merge -- --model DIR --adapter DIR --out DIR [--quant qalora-int4|qalora-int3|qalora-int2 --group-size G (32)]`;

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
  const ad = await readAdapterDir(a.adapter);
  const imp = importAdapter(spec, ad.configJson, ad.bytes, ad.file);
  const progress = (d: number, t: number) => progressLine(`merging ${d}/${t}`);

  let merged: Awaited<ReturnType<typeof mergedModelFiles>>;
  let note = '';
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
    for (const u of loaded.weights.unquantized) progressLine(`${u.name} stays unquantized: ${u.reason}`, true);
    const linears = await readQuantizedLinears(ctx, loaded);
    merged = await mergedModelFiles(loaded, src, imp, { mode: quant, groupSize, linears }, progress);
    note = ` (${quant}, group size ${groupSize}: ${linears.size} matrices stay quantized)`;
  } else {
    merged = await mergedModelFiles({ checkpoint: await Checkpoint.open(src), spec }, src, imp, undefined, progress);
  }
  writeFiles(a.out, merged.files);
  // The weights stream to disk tensor by tensor (a model larger than memory merges too).
  const fd = openSync(join(a.out, merged.weights.name), 'w');
  try {
    await merged.weights.write((chunk) => {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
    });
  } finally {
    closeSync(fd);
  }
  progressLine(`merged ${imp.modules.length} modules into ${a.out}${note}${merged.untied ? ' (the adapted lm_head is now untied from the embedding)' : ''}`, true);
});
