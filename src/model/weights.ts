// Frozen base weights: read tensor by tensor from a checkpoint, converted to the storage dtype
// (f32, or f16 packed two per u32), GPT-2 Conv1D matrices transposed to the Linear [out, in]
// layout, and uploaded. Only one tensor is held on the CPU at a time. The dense weights (and
// biases) of the modules that read one input (ARCH_LAYOUT's q|k|v and gate|up) go into one buffer
// per group, row blocks side by side, so that lora/linear.ts runs one frozen product for the
// group; each module keeps its own Weight (a view: buffer + offset), so files, adapters and the
// per-module paths see separate modules. Quantized groups likewise (quant/concat.ts), except
// nf4-dq and layouts with padding.

import type { GpuContext } from '../gpu/context';
import { packF16 } from '../gpu/half';
import type { Weight, WeightDType } from '../gpu/tensor';
import { isQuantWeight, type AnyWeight, type QuantWeight } from '../quant/weight';
import { concatQuantWeights } from '../quant/concat';
import { canQuantize, type QuantFormat, type QuantMode } from '../quant/formats';
import { quantizeWeight, uploadQuantized } from '../quant/gpu';
import { quantizedFromTensors, type QaloraQuantConfig } from './qalora-checkpoint';
import type { Checkpoint } from './checkpoint';
import type { ModelSpec } from './config';
import { ARCH_LAYOUT, linearModules, otherWeightKeys, resolveKeyPrefix, type LinearModule } from './modules';

/** One linear of the model on the GPU: W [out, in] (GPT-2's Conv1D transposed at load), optional bias [out]. */
export interface LinearWeights {
  module: LinearModule;
  /** f32 / f16, or quantized (decoder-block projections under a quant mode). */
  W: AnyWeight;
  bias: Weight | null;
}

/** One decoder block's weights: the two norms' weights [C] (and biases [C] for GPT-2's LayerNorm) and its linears. */
interface LayerWeights {
  norm1: Weight;
  norm1Bias: Weight | null;
  norm2: Weight;
  norm2Bias: Weight | null;
  /** By module kind: q_proj, k_proj, ... or c_attn, attn.c_proj, c_fc, mlp.c_proj. */
  linear: Map<string, LinearWeights>;
}

/**
 * Every frozen weight of the model on the GPU: embeddings wte [V, C] (and GPT-2's wpe [maxT, C]), the
 * blocks, the final norm [C] and the output head (the embedding when tied).
 */
export interface ModelWeights {
  dtype: WeightDType;
  embed: Weight;
  posEmbed: Weight | null;
  layers: LayerWeights[];
  finalNorm: Weight;
  finalNormBias: Weight | null;
  lmHead: LinearWeights;
  /** Bytes of base weights on the GPU. */
  bytes: number;
  quant: QuantMode;
  /** Quantized matrices: their GPU bytes and parameter count. */
  quantBytes: number;
  quantParams: number;
  /** Matrices a quant mode could not take (kept in the storage dtype), with the reason. */
  unquantized: { name: string; reason: string }[];
}

/** The checkpoint lacks tensors the config needs, or a tensor's shape differs from what config.json implies. */
class MissingTensorError extends Error {
  override name = 'MissingTensorError';
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

/** Progress of loadWeights: `loaded` of `total` tensors uploaded (counts, not bytes); `tensor` the latest name. */
export interface LoadProgress {
  loaded: number;
  total: number;
  tensor: string;
}

/**
 * Reads and uploads every weight the spec needs from the checkpoint (f32 or f16 packed; under
 * `opts.quant`, the decoder linears quantized on the GPU where canQuantize allows, listed in
 * `unquantized` otherwise). Throws MissingTensorError for a missing tensor or a shape that differs
 * from config.json, CheckpointError / SafetensorsError for unreadable files, QuantCheckpointError for
 * damaged prequantized tensors, GpuError when a buffer is above the device's limits.
 */
export async function loadWeights(
  ctx: GpuContext,
  spec: ModelSpec,
  ckpt: Checkpoint,
  opts: {
    dtype: WeightDType; quant?: QuantMode; groupSize?: number; onProgress?: (p: LoadProgress) => void; sourceName?: string;
    /** The checkpoint is a merged QA-LoRA model: its decoder linears are stored quantized. */
    prequantized?: QaloraQuantConfig | null;
    /** Put each q|k|v and gate|up group's weights in one set of buffers: dense, or quantized where quant/concat.ts can (default true; false: one per module, tests). */
    concatGroups?: boolean;
  },
): Promise<ModelWeights> {
  const pre = opts.prequantized ?? null;
  const quant = pre ? pre.mode : opts.quant ?? 'none';
  const groupSize = pre ? pre.groupSize : opts.groupSize ?? 32;
  const prefixOf = (m: LinearModule) => m.weightKey.replace(/\.weight$/, '');
  const stored = (m: LinearModule) => pre !== null && m.layer >= 0 && ckpt.has(key(`${prefixOf(m)}.qweight`));
  let quantBytes = 0;
  let quantParams = 0;
  const unquantized: { name: string; reason: string }[] = [];
  const key = resolveKeyPrefix(ckpt.names(), spec);
  const modules = linearModules(spec);
  const other = otherWeightKeys(spec);
  const wanted: string[] = [other.embed, other.finalNorm];
  if (other.posEmbed) wanted.push(other.posEmbed);
  if (other.finalNormBias) wanted.push(other.finalNormBias);
  for (const l of other.layers) {
    wanted.push(l.norm1, l.norm2);
    if (l.norm1Bias) wanted.push(l.norm1Bias);
    if (l.norm2Bias) wanted.push(l.norm2Bias);
  }
  for (const m of modules) {
    wanted.push(stored(m) ? `${prefixOf(m)}.qweight` : m.weightKey);
    if (m.biasKey) wanted.push(m.biasKey);
  }
  const missing = [...new Set(wanted)].filter((k) => !ckpt.has(key(k)));
  if (missing.length) {
    throw new MissingTensorError(
      `${opts.sourceName ?? 'the checkpoint'} lacks ${missing.length} tensor(s) this ${spec.modelType} config needs, e.g. ${missing
        .slice(0, 4)
        .map(key)
        .join(', ')}. Check that config.json and the safetensors files belong to the same model.`,
    );
  }

  let bytes = 0;
  let done = 0;
  const total = new Set(wanted).size;
  const cache = new Map<string, Weight>();
  const dtype = opts.dtype;

  /** `into`: write the tensor at element `offset` of a group's shared buffer instead of its own. */
  const load = async (canonical: string, expect: number[], transposeConv = false, into?: { buffer: GPUBuffer; offset: number }): Promise<Weight> => {
    const name = key(canonical);
    const cacheKey = `${name}|${transposeConv}`;
    const hit = cache.get(cacheKey);
    if (hit) return hit;
    const info = ckpt.info(name);
    const stored = transposeConv ? [expect[1], expect[0]] : expect;
    const numelStored = info.shape.reduce((a, b) => a * b, 1);
    const numelWant = stored.reduce((a, b) => a * b, 1);
    if (numelStored !== numelWant || (info.shape.length === stored.length && info.shape.some((d, i) => d !== stored[i]))) {
      throw new MissingTensorError(
        `tensor ${name} in ${info.file} has shape [${info.shape}] but config.json implies [${stored}]. ` +
          'Check that config.json matches the weights.',
      );
    }
    let data = await ckpt.readF32(name);
    if (transposeConv) data = transpose(data, expect[1], expect[0]);
    const payload = dtype === 'f16' ? packF16(data) : data;
    let buffer: GPUBuffer;
    if (into) {
      buffer = into.buffer;
      ctx.write(buffer, payload, into.offset * (dtype === 'f16' ? 2 : 4));
    } else {
      buffer = ctx.upload(name, payload);
    }
    bytes += payload.byteLength;
    const w: Weight = { name, buffer, dtype, shape: expect, ...(into ? { offset: into.offset } : {}) };
    cache.set(cacheKey, w);
    done++;
    opts.onProgress?.({ loaded: done, total, tensor: name });
    return w;
  };

  const { C, V } = spec;
  const embed = await load(other.embed, [V, C]);
  const posEmbed = other.posEmbed ? await load(other.posEmbed, [spec.maxT, C]) : null;
  const layers: LayerWeights[] = [];
  const quantizes = (m: LinearModule) => stored(m) || (quant !== 'none' && canQuantize(quant, m.outF, m.inF, groupSize) === null);
  const layout = ARCH_LAYOUT[spec.arch];
  const elemBytes = dtype === 'f16' ? 2 : 4;
  const maxGroupBytes = Math.min(ctx.device.limits.maxStorageBufferBindingSize, ctx.device.limits.maxBufferSize);
  for (let l = 0; l < spec.L; l++) {
    const o = other.layers[l];
    const linear = new Map<string, LinearWeights>();
    const layerModules = modules.filter((x) => x.layer === l);
    // Each group's shared buffers (weights, and biases when every module has one), by module name.
    // (Quantized weights are moved into one set of buffers after the layer's modules, below.)
    const slots = new Map<string, { W?: { buffer: GPUBuffer; offset: number }; bias?: { buffer: GPUBuffer; offset: number } }>();
    for (const kinds of opts.concatGroups === false ? [] : [layout.qkv, layout.mlpIn]) {
      const group = kinds.map((k) => layerModules.find((m) => m.kind === k)!);
      const rows = group.reduce((a, m) => a + m.outF, 0);
      const inF = group[0].inF;
      if (group.length < 2 || group.some((m) => m.inF !== inF || m.conv1d)) continue;
      const label = key(group[0].weightKey).replace(/\.weight$/, `|${group.slice(1).map((m) => m.kind).join('|')}`);
      const dense = group.every((m) => !quantizes(m) && (m.outF * inF) % 2 === 0) && rows * inF * elemBytes <= maxGroupBytes;
      const wBuf = dense ? ctx.createBuffer(label, rows * inF * elemBytes) : null;
      const withBias = group.every((m) => m.biasKey !== null && m.outF % 2 === 0);
      const bBuf = withBias ? ctx.createBuffer(`${label}.bias`, rows * elemBytes) : null;
      let row = 0;
      for (const m of group) {
        slots.set(m.name, { ...(wBuf ? { W: { buffer: wBuf, offset: row * inF } } : {}), ...(bBuf ? { bias: { buffer: bBuf, offset: row } } : {}) });
        row += m.outF;
      }
    }
    for (const m of layerModules) {
      const reason = quant === 'none' ? 'none' : canQuantize(quant, m.outF, m.inF, groupSize);
      let W: AnyWeight;
      const slot = slots.get(m.name);
      if (quantizes(m)) {
        let q: QuantWeight;
        if (stored(m)) {
          // A merged QA-LoRA checkpoint: upload the stored codes, scales and zero points as they are.
          const prefix = prefixOf(m);
          const raw = async (suffix: string) => (await ckpt.readRaw(key(`${prefix}.${suffix}`))).bytes;
          const host = quantizedFromTensors(quant as QaloraQuantConfig['mode'], m.outF, m.inF, groupSize, {
            qweight: await raw('qweight'), scales: await raw('scales'), qzeros: await raw('qzeros'),
          }, key(prefix));
          q = uploadQuantized(ctx, key(m.weightKey), host);
        } else {
          // Quantized on the GPU from the f32 rows; no full-precision copy stays on the GPU.
          let data = await ckpt.readF32(key(m.weightKey));
          if (m.conv1d) data = transpose(data, m.inF, m.outF);
          q = await quantizeWeight(ctx, key(m.weightKey), quant as QuantFormat, data, m.outF, m.inF, groupSize);
        }
        quantBytes += q.bytes;
        quantParams += m.outF * m.inF;
        bytes += q.bytes;
        done++;
        opts.onProgress?.({ loaded: done, total, tensor: m.weightKey });
        W = q;
      } else {
        if (reason !== 'none' && reason !== null) unquantized.push({ name: m.name, reason });
        W = await load(m.weightKey, [m.outF, m.inF], m.conv1d, slot?.W);
      }
      const bias = m.biasKey ? await load(m.biasKey, [m.outF], false, slot?.bias) : null;
      linear.set(m.kind, { module: m, W, bias });
    }
    // Quantized groups: the separately quantized (or uploaded) matrices moved into one set of buffers.
    for (const kinds of opts.concatGroups === false ? [] : [layout.qkv, layout.mlpIn]) {
      const lws = kinds.map((k) => linear.get(k)!);
      const qs = lws.map((lw) => lw.W).filter(isQuantWeight);
      if (qs.length !== lws.length) continue;
      const views = concatQuantWeights(ctx, `${qs[0].name}|${kinds.slice(1).join('|')}`, qs, maxGroupBytes);
      views?.forEach((v, i) => (lws[i].W = v));
    }
    layers.push({
      norm1: await load(o.norm1, [C]),
      norm1Bias: o.norm1Bias ? await load(o.norm1Bias, [C]) : null,
      norm2: await load(o.norm2, [C]),
      norm2Bias: o.norm2Bias ? await load(o.norm2Bias, [C]) : null,
      linear,
    });
  }
  const finalNorm = await load(other.finalNorm, [C]);
  const finalNormBias = other.finalNormBias ? await load(other.finalNormBias, [C]) : null;
  const head = modules.find((m) => m.kind === 'lm_head')!;
  // A tied head shares the embedding buffer ([V, C] is already the Linear layout).
  const lmW = head.weightKey === other.embed ? embed : await load(head.weightKey, [head.outF, head.inF], head.conv1d);
  return {
    dtype,
    embed,
    posEmbed,
    layers,
    finalNorm,
    finalNormBias,
    lmHead: { module: head, W: lmW, bias: null },
    bytes,
    quant,
    quantBytes,
    quantParams,
    unquantized,
  };
}
