// Folding a LoRA adapter into the base weights (PEFT's merge_and_unload for Linear and Conv1D).
import { f32ToBf16Bits, f32ToF16Bits } from '../gpu/half';
import type { Checkpoint } from '../model/checkpoint';
import type { ModelSpec } from '../model/config';
import { otherWeightKeys, resolveKeyPrefix, type LinearModule } from '../model/modules';
import type { SafetensorsDType } from '../model/safetensors';
import type { TensorLayout, TensorToWrite } from '../model/safetensors-writer';
import type { QuantizedHost } from '../quant/formats';
import { quantizedTensors } from '../model/qalora-checkpoint';
import { expandPooledAdapter, mergeQaloraZeros } from './qalora-merge';
import { loraScaling, type AdapterTensors, type LoraHyper } from './peft';

/**
 * Returns W + s·B·A in the checkpoint's own layout: Linear W [out, in]; GPT-2 Conv1D stores
 * W [in, out], so there the update is added transposed. Accumulates in float64.
 * Throws Error when W does not have out·in values.
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

/** What a merged checkpoint holds (layout order) and its tensors, produced one at a time. */
interface MergePlan {
  layout: TensorLayout[];
  /** The adapted head was tied to the embedding and is now written as its own lm_head.weight. */
  untied: boolean;
  /** Every tensor in layout order; only one is held at a time. */
  tensors(): AsyncGenerator<TensorToWrite>;
}

/** The dtype a tensor is written in: F16/BF16 stay as they are, everything else becomes F32. */
function outDType(d: SafetensorsDType): 'F32' | 'F16' | 'BF16' {
  return d === 'F16' || d === 'BF16' ? d : 'F32';
}

/**
 * PEFT's merge_and_unload over a whole checkpoint: every tensor of the base in its own dtype, with
 * each adapted weight replaced by W + s·B·A. A tied head that carries LoRA is untied (the merged
 * head is written as lm_head.weight and the embedding stays as it was), so `untied` tells the
 * caller to set tie_word_embeddings false in config.json. The layout is known before any tensor
 * is read, so a writer can stream the file (SafetensorsStreamWriter).
 * Throws Error when the adapter lacks a targeted module's weights (and as Checkpoint for unreadable
 * tensors).
 */
export function planMerge(
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
): MergePlan {
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
    else if (!weights.has(m.name)) throw new Error(`adapter has no weights for ${m.name}`);
    else byKey.set(key(m.weightKey), m);
  }
  if (untiedHead && !weights.has(untiedHead.name)) throw new Error(`adapter has no weights for ${untiedHead.name}`);
  const names = ckpt.names();
  const layout: TensorLayout[] = [];
  // Quantized linears with the adapter folded into their zero points (small: the codes are shared,
  // only the zero points are new, and they become F32).
  const mergedQ = new Map<string, QuantizedHost>();
  for (const name of names) {
    const info = ckpt.info(name);
    const q = quantized?.get(name);
    if (q) {
      const mod = modules.find((x) => key(x.weightKey) === name);
      const t = mod ? adapter.get(mod.name) : undefined;
      const mq = t ? mergeQaloraZeros(q, t, h.r, s) : q;
      mergedQ.set(name, mq);
      for (const x of quantizedTensors(name.replace(/\.weight$/, ''), mq)) layout.push({ name: x.name, dtype: x.dtype, shape: x.shape });
    } else layout.push({ name, dtype: outDType(info.dtype), shape: info.shape });
  }
  if (untiedHead) {
    const info = ckpt.info(key(embedKey));
    layout.push({ name: 'lm_head.weight', dtype: outDType(info.dtype), shape: info.shape });
  }
  const store = (name: string, dtype: SafetensorsDType, shape: number[], data: Float32Array): TensorToWrite => {
    const d = outDType(dtype);
    if (d === 'F16') return { name, dtype: 'F16', shape, data: Uint16Array.from(data, f32ToF16Bits) };
    if (d === 'BF16') return { name, dtype: 'BF16', shape, data: Uint16Array.from(data, f32ToBf16Bits) };
    return { name, dtype: 'F32', shape, data };
  };
  async function* tensors(): AsyncGenerator<TensorToWrite> {
    let done = 0;
    for (const name of names) {
      const info = ckpt.info(name);
      const m = byKey.get(name);
      const mq = mergedQ.get(name);
      if (mq) {
        yield* quantizedTensors(name.replace(/\.weight$/, ''), mq);
      } else if (m) {
        yield store(name, info.dtype, info.shape, mergeLinear(m, await ckpt.readF32(name), weights.get(m.name)!, h.r, s));
      } else if (info.dtype === 'F16' || info.dtype === 'BF16') {
        const raw = await ckpt.readRaw(name);
        const bits = new Uint16Array(raw.bytes.byteLength / 2);
        new Uint8Array(bits.buffer).set(raw.bytes);
        yield { name, dtype: info.dtype, shape: info.shape, data: bits };
      } else {
        yield store(name, info.dtype, info.shape, await ckpt.readF32(name));
      }
      onProgress?.(++done, names.length);
    }
    if (untiedHead) {
      const emb = key(embedKey);
      const info = ckpt.info(emb);
      yield store('lm_head.weight', info.dtype, info.shape, mergeLinear(untiedHead, await ckpt.readF32(emb), weights.get(untiedHead.name)!, h.r, s));
    }
  }
  return { layout, untied: untiedHead !== null, tensors };
}

/** planMerge with every tensor collected in memory (small models, tests). */
export async function mergeCheckpoint(...args: Parameters<typeof planMerge>): Promise<{ tensors: TensorToWrite[]; untied: boolean }> {
  const plan = planMerge(...args);
  const tensors: TensorToWrite[] = [];
  for await (const t of plan.tensors()) tensors.push(t);
  return { tensors, untied: plan.untied };
}
