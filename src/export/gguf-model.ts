// The merged model (base + LoRA, PEFT's merge_and_unload via lora/merge.ts planMerge) and the LoRA
// adapter alone as llama.cpp GGUF files, streamed tensor by tensor: memory ≈ the largest tensor.
// Names, layouts and metadata: gguf-llama.ts (convert_hf_to_gguf.py); the adapter as
// convert_lora_to_gguf.py writes it. No Node or DOM APIs here.

import { bf16BitsToF32, f16BitsToF32 } from '../gpu/half';
import type { MergeAdapter, StreamedFile } from '../lora/merged';
import { planMerge } from '../lora/merge';
import { loraScaling } from '../lora/peft';
import type { Checkpoint } from '../model/checkpoint';
import type { ModelSpec } from '../model/config';
import type { TensorToWrite } from '../model/safetensors-writer';
import type { ModelSource } from '../model/source';
import { type QuantizedHost } from '../quant/formats';
import { dequantizeRef } from '../quant/reference';
import { quantizedFromTensors } from '../model/qalora-checkpoint';
import { expandPooledAdapter } from '../lora/qalora-merge';
import { GgufStreamWriter, type GgufMetadata, type GgufTensorLayout } from './gguf';
import { archMetadata, ggufTensorName, llama3RopeFactors, permuteHeads, permuteRows, transpose, type GgufOp } from './gguf-llama';
import { encodeGgml, ggmlFits, GgmlType, ggmlTypeName } from './ggml-quant';
import { tokenizerMetadata } from './gguf-tokenizer';

/** The tensor types a GGUF export writes its matrices in (--type). */
type GgufOutType = 'f32' | 'f16' | 'q8_0' | 'q4_0';

/** The output type named by `s` (exactly 'f32', 'f16', 'q8_0' or 'q4_0'), or null; the host words the error. */
export function parseGgufOutType(s: string): GgufOutType | null {
  return s === 'f32' || s === 'f16' || s === 'q8_0' || s === 'q4_0' ? s : null;
}

const TYPE_OF: Record<GgufOutType, GgmlType> = { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0 };

/** A GGUF file to write and what the export changed on the way (for the host to show). */
export interface GgufExport {
  file: StreamedFile;
  /** One line each: precision fallbacks, dequantized QA-LoRA weights, scaling rewrites. */
  notes: string[];
}

/**
 * convert_hf_to_gguf.py's choice of type: 1-D tensors, norms, position embeddings and rope factors
 * stay F32; other matrices take the requested type, or F16 when a block type does not fit a row
 * length (its "falling back to F16").
 */
function typeFor(name: string, dims: number[], want: GgmlType, fallbacks: string[]): GgmlType {
  if (dims.length === 1 || name.endsWith('_norm.weight') || name === 'position_embd.weight' || name === 'rope_freqs.weight') return GgmlType.F32;
  if (!ggmlFits(want, dims[0])) {
    fallbacks.push(name);
    return GgmlType.F16;
  }
  return want;
}

/** f32 values of a tensor planMerge produced. */
function toF32(t: TensorToWrite): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.dtype === 'F16') return Float32Array.from(t.data as Uint16Array, f16BitsToF32);
  if (t.dtype === 'BF16') return Float32Array.from(t.data as Uint16Array, bf16BitsToF32);
  throw new Error(`${t.name}: ${t.dtype} values cannot be exported to GGUF`);
}

/** Applies a gguf-llama op to a [rows, cols] (checkpoint layout) tensor; returns values in GGUF row order. */
function applyOp(op: GgufOp, x: Float32Array, shape: number[], spec: ModelSpec): Float32Array {
  const rows = shape[0];
  const cols = shape.length > 1 ? shape[1] : 1;
  if (op === 'transpose') return transpose(x, rows, cols);
  if (op === 'permute-q' || op === 'permute-k') return permuteRows(x, rows, cols, permuteHeads(op, spec));
  return x;
}

/**
 * The merged model as one GGUF file (llama.cpp reads it with `llama-cli -m FILE`): architecture
 * and tokenizer metadata, every tensor under its llama.cpp name, matrices in `type` (F16, Q8_0,
 * Q4_0 or F32; rows that are not whole 32-value blocks fall back to F16 as convert_hf_to_gguf does).
 * `adapter` null exports the base alone. `quantized` (a QA-LoRA merge, from readQuantizedLinears)
 * dequantizes the merged INT-N matrices (exact: codes and merged zero points) before encoding them
 * in `type`; a note says so. Throws for tensors llama.cpp has no name for and for unsupported rope
 * scaling; progress counts tensors of the checkpoint.
 */
export async function mergedGgufFile(
  base: { checkpoint: Checkpoint; spec: ModelSpec },
  source: ModelSource,
  adapter: MergeAdapter | null,
  opts: { type: GgufOutType; name: string; quantized?: { mode: string; groupSize: number; linears: Map<string, QuantizedHost> } },
  onProgress?: (done: number, total: number) => void,
): Promise<GgufExport> {
  const { spec } = base;
  const want = TYPE_OF[opts.type];
  const notes: string[] = [];
  const plan = planMerge(base.checkpoint, spec, adapter?.modules ?? [], adapter?.weights ?? new Map(), adapter?.h ?? { r: 1, loraAlpha: 1, loraDropout: 0, useRslora: false }, onProgress, opts.quantized?.linears);
  const qByPrefix = new Map([...(opts.quantized?.linears ?? [])].map(([k, q]) => [k.replace(/\.weight$/, ''), q] as const));
  // The GGUF layout: each checkpoint tensor under its llama.cpp name and dims (a QA-LoRA triple
  // qweight/scales/qzeros becomes the one dense weight it stands for).
  const layout: GgufTensorLayout[] = [];
  const fallbacks: string[] = [];
  const route = new Map<string, { name: string; op: GgufOp; shape: number[] } | null>();
  const add = (name: string, dims: number[]) => layout.push({ name, dims, type: typeFor(name, dims, want, fallbacks) });
  const ropeFactors = llama3RopeFactors(spec);
  if (ropeFactors) add('rope_freqs.weight', [ropeFactors.length]);
  let dequantized = 0;
  for (const t of plan.layout) {
    let shape = t.shape;
    let hfName = t.name;
    const qm = /^(.*)\.(qweight|scales|qzeros)$/.exec(t.name);
    if (qm && qByPrefix.has(qm[1])) {
      if (qm[2] !== 'qweight') continue;
      const q = qByPrefix.get(qm[1])!;
      shape = [q.rows, q.cols];
      hfName = `${qm[1]}.weight`;
      dequantized++;
    }
    const g = ggufTensorName(hfName, spec);
    route.set(hfName, g ? { ...g, shape } : null);
    if (!g) continue;
    const gDims = g.op === 'transpose' ? [shape[0], shape[1]] : [...shape].reverse();
    add(g.name, gDims);
    // GPT-2 ties its head to wte; convert_hf_to_gguf.py writes the head as its own output.weight.
    if (g.name === 'token_embd.weight' && spec.arch === 'gpt2' && !plan.layout.some((x) => x.name === 'lm_head.weight')) add('output.weight', gDims);
  }
  if (fallbacks.length) notes.push(`${fallbacks.length} matri${fallbacks.length === 1 ? 'x has' : 'ces have'} rows that are not whole 32-value blocks and were written as F16 instead of ${ggmlTypeName(want)} (${fallbacks.slice(0, 3).join(', ')}${fallbacks.length > 3 ? ', …' : ''})`);
  if (dequantized) notes.push(`the QA-LoRA merged ${opts.quantized!.mode} model was dequantized (${dequantized} matrices, exact) and written as ${ggmlTypeName(want)}${want === GgmlType.F16 || want === GgmlType.F32 ? '' : ' (requantized: llama.cpp has no INT-N with these zero points)'}`);
  const metadata: GgufMetadata = archMetadata(spec, want, opts.name);
  const tok = await tokenizerMetadata(source, spec);
  for (const [k, v] of tok.metadata) metadata.set(k, v);
  notes.push(...tok.notes);
  const typeOf = new Map(layout.map((t) => [t.name, t] as const));
  const probe = new GgufStreamWriter(metadata, layout, () => undefined);

  const file: StreamedFile = {
    name: `${opts.name}-${opts.type}.gguf`,
    bytes: probe.plan.fileBytes,
    async write(sink) {
      const w = new GgufStreamWriter(metadata, layout, sink, file.name);
      await w.begin();
      const emit = async (name: string, values: Float32Array) => {
        const t = typeOf.get(name)!;
        await w.write(name, encodeGgml(t.type, values, t.dims[0], name));
      };
      if (ropeFactors) await emit('rope_freqs.weight', ropeFactors);
      const pending = new Map<string, TensorToWrite>();
      for await (const t of plan.tensors()) {
        let values: Float32Array;
        let hfName = t.name;
        const qm = /^(.*)\.(qweight|scales|qzeros)$/.exec(t.name);
        if (qm && qByPrefix.has(qm[1])) {
          pending.set(qm[2], t);
          if (pending.size < 3) continue;
          const q = qByPrefix.get(qm[1])!;
          const raw = (x: TensorToWrite) => new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
          const host = quantizedFromTensors(q.mode, q.rows, q.cols, q.groupSize, { qweight: raw(pending.get('qweight')!), scales: raw(pending.get('scales')!), qzeros: raw(pending.get('qzeros')!) }, qm[1]);
          pending.clear();
          values = dequantizeRef(host);
          hfName = `${qm[1]}.weight`;
        } else values = toF32(t);
        const r = route.get(hfName);
        if (!r) continue;
        const out = applyOp(r.op, values, r.shape, spec);
        await emit(r.name, out);
        if (r.name === 'token_embd.weight' && typeOf.has('output.weight') && !route.has('lm_head.weight')) await emit('output.weight', out);
      }
      w.end();
    },
  };
  return { file, notes };
}

/**
 * The LoRA adapter as llama.cpp's adapter GGUF (convert_lora_to_gguf.py; load with
 * `llama-cli -m BASE.gguf --lora FILE`): general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha (f32), the architecture metadata of the base, and per adapted matrix
 * `<gguf name>.lora_a` (dims [in, r]) and `.lora_b` (dims [r, out]). lora_b of Llama's attn_q /
 * attn_k is row-permuted like the base weight (the converter's LoraTorchTensor permutes B only).
 * llama.cpp scales by alpha/r, so an rsLoRA adapter is written with alpha·√r (a note says so); a
 * QA-LoRA adapter is written as the equivalent dense LoRA (A repeated over each group), which
 * matches the dense base, not the INT-N one. Refuses a LoRA on a tied head (llama.cpp has no
 * output.weight to add it to). Matrices in `type` (f32, f16 or q8_0; F16 where rows are not whole blocks).
 */
export function adapterGgufFile(spec: ModelSpec, adapter: MergeAdapter, opts: { type: GgufOutType; name: string }): GgufExport {
  const { h } = adapter;
  const want = TYPE_OF[opts.type];
  const notes: string[] = [];
  let alpha = h.loraAlpha;
  if (h.useRslora) {
    alpha = loraScaling(h) * h.r;
    notes.push(`rsLoRA: adapter.lora.alpha is written as alpha·√r = ${alpha.toPrecision(6)} so that llama.cpp's alpha/r scaling equals alpha/√r`);
  }
  if (h.qaloraGroupSize) notes.push(`QA-LoRA: A is written expanded over its groups of ${h.qaloraGroupSize} inputs (the same update on a dense base); llama.cpp applies it to whatever base it is given`);
  const layout: GgufTensorLayout[] = [];
  const fallbacks: string[] = [];
  const items: { name: string; a: Float32Array; b: Float32Array; aDims: number[]; bDims: number[] }[] = [];
  for (const m of adapter.modules) {
    if (m.kind === 'lm_head' && spec.tieEmbeddings) {
      throw new Error(`${m.name}: a LoRA on the tied lm_head has no llama.cpp adapter form (the base GGUF has no output.weight); export the merged model as GGUF instead, or train without lm_head in the targets`);
    }
    const t0 = adapter.weights.get(m.name);
    if (!t0) throw new Error(`adapter has no weights for ${m.name}`);
    const t = h.qaloraGroupSize ? expandPooledAdapter(t0, h.r, m.inF, h.qaloraGroupSize) : t0;
    const g = ggufTensorName(m.weightKey, spec)!;
    const b = g.op === 'permute-q' || g.op === 'permute-k' ? permuteRows(t.B, m.outF, h.r, permuteHeads(g.op, spec)) : t.B;
    items.push({ name: g.name, a: t.A, b, aDims: [m.inF, h.r], bDims: [h.r, m.outF] });
  }
  for (const it of items) {
    layout.push({ name: `${it.name}.lora_a`, dims: it.aDims, type: typeFor(`${it.name}.lora_a`, it.aDims, want, fallbacks) });
    layout.push({ name: `${it.name}.lora_b`, dims: it.bDims, type: typeFor(`${it.name}.lora_b`, it.bDims, want, fallbacks) });
  }
  if (fallbacks.length && want !== GgmlType.F16) notes.push(`${fallbacks.length} LoRA matrices have rows that are not whole 32-value blocks (rank ${h.r}) and were written as F16`);
  const metadata = archMetadata(spec, want, opts.name, 'adapter');
  metadata.set('adapter.type', { type: 'string', value: 'lora' });
  metadata.set('adapter.lora.alpha', { type: 'f32', value: alpha });
  const probe = new GgufStreamWriter(metadata, layout, () => undefined);
  const file: StreamedFile = {
    name: `${opts.name}-lora-${opts.type}.gguf`,
    bytes: probe.plan.fileBytes,
    async write(sink) {
      const w = new GgufStreamWriter(metadata, layout, sink, file.name);
      await w.begin();
      let i = 0;
      for (const it of items) {
        for (const [suffix, x] of [['lora_a', it.a], ['lora_b', it.b]] as const) {
          const t = layout[i++];
          await w.write(t.name, encodeGgml(t.type, x, t.dims[0], `${it.name}.${suffix}`));
        }
      }
      w.end();
    },
  };
  return { file, notes };
}
