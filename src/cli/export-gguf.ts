// npm run export-gguf -- --model DIR [--adapter DIR] --type f16|q8_0|q4_0|f32 --out FILE.gguf
//                        [--lora-only] [--quant qalora-int4|3|2 --group-size G]
// Writes the merged model (base + adapter, or the base alone) as one llama.cpp GGUF file, or with
// --lora-only the adapter as llama.cpp's adapter GGUF (load with `llama-cli -m BASE.gguf --lora FILE`).
// The file is streamed to disk tensor by tensor (src/export/gguf-model.ts).
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { adapterGgufFile, mergedGgufFile, parseGgufOutType, type GgufExport } from '../export/gguf-model';
import { readQuantizedLinears } from '../lora/merged';
import { importAdapter } from '../lora/peft';
import { Checkpoint } from '../model/checkpoint';
import { loadModel, readSpec } from '../model/load';
import { isQalora, parseQuantMode } from '../quant/formats';
import { fmtMB, gpuContext, num, openModelSource, parseCli, positiveInt, progressLine, readAdapterDir, runCli, UsageError } from './common';

const USAGE = `usage: npm run export-gguf -- --model DIR [--adapter DIR] --out FILE.gguf [--type f16|q8_0|q4_0|f32 (f16)] [--lora-only]
       [--quant qalora-int4|qalora-int3|qalora-int2 --group-size G (32): a QA-LoRA adapter merged exactly into its INT-N base, then dequantized]`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, type: { type: 'string' },
      'lora-only': { type: 'boolean' }, quant: { type: 'string' }, 'group-size': { type: 'string' },
    } as const,
    USAGE,
  );
  if (!a.model || !a.out) throw new UsageError(`--model and --out are required.\n${USAGE}`);
  if (!a.out.endsWith('.gguf')) throw new UsageError(`--out ${a.out}: give a file name ending in .gguf`);
  const type = parseGgufOutType(a.type ?? 'f16');
  if (!type) throw new UsageError(`--type ${a.type}: use f16, q8_0, q4_0 or f32`);
  const src = openModelSource(a.model);
  const spec = await readSpec(src);
  const name = basename(a.out).replace(/\.gguf$/, '');
  const quant = parseQuantMode(a.quant ?? 'none');
  if (quant !== 'none' && !isQalora(quant)) throw new UsageError(`--quant ${quant}: only a QA-LoRA base (qalora-int4/3/2) is merged before export; export a QLoRA adapter merged into the full-precision base (no --quant).`);
  const groupSize = num(a['group-size'], 'group-size', 32, positiveInt);

  let out: GgufExport;
  if (a['lora-only']) {
    if (!a.adapter) throw new UsageError(`--lora-only needs --adapter DIR (the adapter to write).\n${USAGE}`);
    if (type === 'q4_0') throw new UsageError('--type q4_0 is for merged models; write an adapter as f16, f32 or q8_0');
    const ad = await readAdapterDir(a.adapter);
    const imp = importAdapter(spec, ad.configJson, ad.bytes, ad.file);
    out = adapterGgufFile(spec, imp, { type, name });
  } else {
    const ad = a.adapter ? await readAdapterDir(a.adapter) : null;
    const imp = ad ? { ...importAdapter(spec, ad.configJson, ad.bytes, ad.file), file: ad.file } : null;
    const progress = (d: number, t: number) => progressLine(`exporting ${d}/${t}`);
    if (isQalora(quant)) {
      if (!imp || imp.h.qaloraGroupSize !== groupSize) {
        throw new UsageError(`--quant ${quant} --group-size ${groupSize}: give the --adapter of a QA-LoRA run trained with that mode and group size (train with --quant ${quant} --group-size ${groupSize}).`);
      }
      const ctx = await gpuContext();
      const loaded = await loadModel(ctx, src, { quant, groupSize, onProgress: (p) => progressLine(`quantizing ${p.loaded}/${p.total}`) });
      const linears = await readQuantizedLinears(ctx, loaded);
      out = await mergedGgufFile(loaded, src, imp, { type, name, quantized: { mode: quant, groupSize, linears } }, progress);
    } else {
      out = await mergedGgufFile({ checkpoint: await Checkpoint.open(src), spec }, src, imp, { type, name }, progress);
    }
  }
  const fd = openSync(a.out, 'w');
  try {
    await out.file.write((chunk) => {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
    });
  } finally {
    closeSync(fd);
  }
  for (const n of out.notes) progressLine(`note: ${n}`, true);
  const what = a['lora-only'] ? 'LoRA adapter' : a.adapter ? 'merged model' : 'model';
  progressLine(`wrote the ${what} as GGUF (${type}) to ${a.out} (${fmtMB(out.file.bytes)})`, true);
});
