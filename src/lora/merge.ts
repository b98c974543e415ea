// Folding a LoRA adapter into the base weights (PEFT's merge_and_unload for Linear and Conv1D).
import { f32ToBf16Bits, f32ToF16Bits } from '../gpu/half';
import type { Checkpoint } from '../model/checkpoint';
import type { ModelSpec } from '../model/config';
import { otherWeightKeys, resolveKeyPrefix, type LinearModule } from '../model/modules';
import type { SafetensorsDType, TensorToWrite } from '../model/safetensors';
import type { QuantizedHost } from '../quant/formats';
import { expandPooledAdapter, mergeQaloraZeros, quantizedTensors } from '../quant/qalora';
import { loraScaling, type AdapterTensors, type LoraHyper } from './peft';

/**
 * Returns W + s·B·A in the checkpoint's own layout: Linear W [out, in]; GPT-2 Conv1D stores
 * W [in, out], so there the update is added transposed. Accumulates in float64.
 */
export function mergeLinear(m: LinearModule, W: Float32Array, t: AdapterTensors, r: number, s: number): Float32Array {
  const { inF, outF } = m;
  if (W.length !== inF * outF) throw new Error(`${m.name}: weight has ${W.length} values, expected ${inF * outF}`);
  const out = new Float32Array(W);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += t.B[o * r + k] * t.A[k * inF + i];
      const idx = m.conv1d ? i * outF + o : o * inF + i;
      out[idx] = W[idx] + s * d;
    }
  }
  return out;
}

/**
 * PEFT's merge_and_unload over a whole checkpoint: every tensor of the base in its own dtype, with
 * each adapted weight replaced by W + s·B·A. A tied head that carries LoRA is untied (the merged
 * head is written as lm_head.weight and the embedding stays as it was), so `untied` tells the
 * caller to set tie_word_embeddings false in config.json.
 */
export async function mergeCheckpoint(
  ckpt: Checkpoint,
  spec: ModelSpec,
  modules: LinearModule[],
  adapter: Map<string, AdapterTensors>,
  h: LoraHyper,
  onProgress?: (done: number, total: number) => void,
  /**
   * QA-LoRA: the INT-N quantized decoder linears by checkpoint tensor name. They are written
   * quantized, with the adapter folded into their zero points (codes unchanged).
   */
  quantized?: Map<string, QuantizedHost>,
): Promise<{ tensors: TensorToWrite[]; untied: boolean }> {
  const s = loraScaling(h);
  const g = h.qaloraGroupSize;
  // A QA-LoRA adapter merged densely (into unquantized matrices) is its group-constant update.
  const weights = new Map(
    [...adapter].map(([name, t]) => {
      const m = modules.find((x) => x.name === name);
      return [name, g && m ? expandPooledAdapter(t, h.r, m.inF, g) : t] as const;
    }),
  );
  const key = resolveKeyPrefix(ckpt.names(), spec);
  const byKey = new Map<string, LinearModule>();
  let untiedHead: LinearModule | null = null;
  const embedKey = otherWeightKeys(spec).embed;
  for (const m of modules) {
    if (m.kind === 'lm_head' && m.weightKey === embedKey) untiedHead = m;
    else byKey.set(key(m.weightKey), m);
  }
  const names = ckpt.names();
  const tensors: TensorToWrite[] = [];
  const store = (name: string, dtype: SafetensorsDType, shape: number[], data: Float32Array): TensorToWrite => {
    if (dtype === 'F16') return { name, dtype: 'F16', shape, data: Uint16Array.from(data, f32ToF16Bits) };
    if (dtype === 'BF16') return { name, dtype: 'BF16', shape, data: Uint16Array.from(data, f32ToBf16Bits) };
    return { name, dtype: 'F32', shape, data };
  };
  let done = 0;
  for (const name of names) {
    const info = ckpt.info(name);
    const m = byKey.get(name);
    const q = quantized?.get(name);
    if (q) {
      const mod = modules.find((x) => key(x.weightKey) === name);
      const t = mod ? adapter.get(mod.name) : undefined;
      tensors.push(...quantizedTensors(name.replace(/\.weight$/, ''), t ? mergeQaloraZeros(q, t, h.r, s) : q));
    } else if (m) {
      const t = weights.get(m.name);
      if (!t) throw new Error(`adapter has no weights for ${m.name}`);
      tensors.push(store(name, info.dtype, info.shape, mergeLinear(m, await ckpt.readF32(name), t, h.r, s)));
    } else if (info.dtype === 'F16' || info.dtype === 'BF16') {
      const raw = await ckpt.readRaw(name);
      const bits = new Uint16Array(raw.bytes.byteLength / 2);
      new Uint8Array(bits.buffer).set(raw.bytes);
      tensors.push({ name, dtype: info.dtype, shape: info.shape, data: bits });
    } else {
      tensors.push(store(name, info.dtype === 'F64' ? 'F32' : info.dtype, info.shape, await ckpt.readF32(name)));
    }
    onProgress?.(++done, names.length);
  }
  if (untiedHead) {
    const emb = key(embedKey);
    const info = ckpt.info(emb);
    const t = weights.get(untiedHead.name)!;
    tensors.push(store('lm_head.weight', info.dtype, info.shape, mergeLinear(untiedHead, await ckpt.readF32(emb), t, h.r, s)));
  }
  return { tensors, untied: untiedHead !== null };
}
