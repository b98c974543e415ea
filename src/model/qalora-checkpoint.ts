// A QA-LoRA merged model on disk: the layout (a Hugging Face folder whose
// config.json declares the quantization and whose safetensors hold packed codes, scales and zero
// points), which loads back without any quant flag. The
// merge itself (zero points absorb the adapter) is src/lora/qalora-merge.ts.
//
// Layout of a quantized linear `P` (P = the module's weight key without ".weight"):
//   P.qweight  I32 [words]     the packed codes exactly as on the GPU: a little-endian N-bit stream
//                              over the row-major [out, in] matrix (element i in bits N·i .. N·i+N)
//   P.scales   F16 [out, in/g] per (row, group) scale s
//   P.qzeros   F32 [out, in/g] per (row, group) zero point z' (a float after the merge: f16 would
//              round it by up to 2^-7 of a step, which is visible in the loss) — F16 is accepted too
//   dequant:   ŵ[o, i] = s[o, l] · (q[o, i] − z[o, l]),  l = floor(i / g)
// config.json gains "quantization_config": {"quant_method": "qalora", "bits": N, "group_size": g,
//   "zero_point": "float32", "format": "webgpu-lora-studio/qalora-v1"}.

import type { QuantFormat, QuantizedHost } from '../quant/formats';
import { OptionError, opt } from '../options';
import type { TensorToWrite } from './safetensors-writer';

/** The `format` tag of this studio's QA-LoRA quantization_config (our own layout, described above; no HF library reads it). */
const QALORA_FORMAT = 'webgpu-lora-studio/qalora-v1';

/** A QA-LoRA quantization read from config.json: the mode, N = bits (4, 3, 2) and the group size g (input columns per scale / zero point). */
export interface QaloraQuantConfig {
  mode: 'qalora-int4' | 'qalora-int3' | 'qalora-int2';
  bits: number;
  groupSize: number;
}

/**
 * A quantized checkpoint that cannot be used: an unknown or invalid quantization_config, a quant mode
 * other than the stored one, or quantized tensors of the wrong shape or dtype.
 */
export class QuantCheckpointError extends OptionError {
  override name = 'QuantCheckpointError';
}

/**
 * Reads config.json's quantization_config; null when the checkpoint is not quantized. Throws
 * QuantCheckpointError for a quantization this studio did not write (GPTQ, AWQ, bitsandbytes, ...) or
 * bits other than 4, 3, 2 or a group_size that is not a positive integer.
 */
export function readQuantConfig(config: Record<string, unknown>, fileName: string): QaloraQuantConfig | null {
  const q = config.quantization_config as Record<string, unknown> | undefined;
  if (!q) return null;
  if (q.quant_method !== 'qalora' || q.format !== QALORA_FORMAT) {
    throw new QuantCheckpointError([
      `${fileName}: quantization_config (quant_method ${JSON.stringify(q.quant_method)}) is not supported; only QA-LoRA merged models written by ` +
        "LoRA Studio's QA-LoRA merge load quantized. Use the full-precision checkpoint and choose ", opt('quant'), ' instead.',
    ]);
  }
  const bits = q.bits;
  const g = q.group_size;
  if ((bits !== 4 && bits !== 3 && bits !== 2) || typeof g !== 'number' || !Number.isInteger(g) || g <= 0) {
    throw new QuantCheckpointError(`${fileName}: quantization_config needs bits 4, 3 or 2 and a positive integer group_size.`);
  }
  return { mode: `qalora-int${bits}` as QaloraQuantConfig['mode'], bits, groupSize: g };
}

/** config.json's "quantization_config" object for a merged QA-LoRA model (format QALORA_FORMAT). */
export function quantConfigJson(c: QaloraQuantConfig): Record<string, unknown> {
  return { quant_method: 'qalora', bits: c.bits, group_size: c.groupSize, zero_point: 'float32', format: QALORA_FORMAT };
}

function f16Pairs(words: Uint32Array, n: number): Uint16Array {
  return new Uint16Array(words.buffer, words.byteOffset, Math.ceil(n / 2) * 2).slice(0, n);
}

/**
 * The three tensors of one quantized linear (see the layout above). Throws QuantCheckpointError for
 * a format other than QA-LoRA.
 */
export function quantizedTensors(prefix: string, q: QuantizedHost): TensorToWrite[] {
  if (!q.zeros || !(q.scales instanceof Uint32Array)) throw new QuantCheckpointError(`${prefix}: only QA-LoRA formats can be saved quantized`);
  const L = q.cols / q.groupSize;
  return [
    { name: `${prefix}.qweight`, dtype: 'I32', shape: [q.codes.length], data: q.codes },
    { name: `${prefix}.scales`, dtype: 'F16', shape: [q.rows, L], data: f16Pairs(q.scales, q.rows * L) },
    q.zeros instanceof Float32Array
      ? { name: `${prefix}.qzeros`, dtype: 'F32', shape: [q.rows, L], data: q.zeros }
      : { name: `${prefix}.qzeros`, dtype: 'F16', shape: [q.rows, L], data: f16Pairs(q.zeros, q.rows * L) },
  ];
}

/**
 * Rebuilds the host arrays of a saved quantized linear from the raw tensor bytes. Throws
 * QuantCheckpointError when the tensors' sizes do not match a [rows, cols] INT-N matrix of the
 * group size (damaged file or foreign config.json).
 */
export function quantizedFromTensors(
  mode: QuantFormat, rows: number, cols: number, groupSize: number,
  raw: { qweight: Uint8Array; scales: Uint8Array; qzeros: Uint8Array }, prefix: string,
): QuantizedHost {
  const L = cols / groupSize;
  const bits = Number(mode.slice(-1));
  const words = Math.ceil((rows * cols * bits) / 32);
  const zF32 = raw.qzeros.byteLength === rows * L * 4;
  if (raw.qweight.byteLength !== words * 4 || raw.scales.byteLength !== rows * L * 2 || !(zF32 || raw.qzeros.byteLength === rows * L * 2)) {
    throw new QuantCheckpointError(`${prefix}: quantized tensors do not match a [${rows}, ${cols}] INT${bits} matrix with group size ${groupSize}; the checkpoint is damaged or its config.json does not belong to it.`);
  }
  const toWords = (b: Uint8Array, n: number) => {
    const out = new Uint32Array(n);
    new Uint8Array(out.buffer).set(b);
    return out;
  };
  return {
    mode, rows, cols, groupSize,
    codes: toWords(raw.qweight, words),
    scales: toWords(raw.scales, Math.ceil((rows * L) / 2)),
    zeros: zF32 ? new Float32Array(toWords(raw.qzeros, rows * L).buffer) : toWords(raw.qzeros, Math.ceil((rows * L) / 2)),
    extra: null,
  };
}
