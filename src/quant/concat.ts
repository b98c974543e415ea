// Row-wise concatenation of quantized matrices that read one input (q|k|v, gate|up) into one set of
// buffers, so that one matmul runs over all of them (lora/linear.ts). Each format's layout is a
// stream over the flattened row-major matrix (codes; nf4 absmax per 64-block; int8 scale per row;
// QA-LoRA scale / zero point per group of a row), so when every matrix fills whole u32 words
// (formats.ts rowBlocksConcatenate) the buffers of the concatenation are the matrices' buffers one
// after the other, and index as one [Σ out, in] matrix in the same format: nothing is requantized,
// the codes are the same bits. nf4-dq never concatenates (one second-level mean per matrix).

import type { GpuContext } from '../gpu/context';
import { isQalora, paddedBytes, quantLayout, rowBlocksConcatenate, DEFAULT_GROUP_SIZE } from './formats';
import { zerosF32Bytes } from './gpu';
import type { QuantWeight } from './weight';

/**
 * Moves `parts` (separate QuantWeights of one mode, group size and in_features, in row order) into
 * one set of buffers named `name` and returns one view per part (its own name, shape and bytes,
 * `offset` = its first row × in), or null, touching nothing, when they cannot concatenate: fewer
 * than two, mixed formats, a part that is already a view, a layout with padding
 * (rowBlocksConcatenate), or a buffer above `maxBytes`. Each buffer of the group is allocated at the
 * sum of the parts' padded sizes, so the bytes the memory estimate counts per matrix stay exact.
 * The parts' own buffers are destroyed (one GPU copy each, submitted here).
 */
export function concatQuantWeights(ctx: GpuContext, name: string, parts: QuantWeight[], maxBytes: number): QuantWeight[] | null {
  if (parts.length < 2) return null;
  const p0 = parts[0];
  const cols = p0.shape[1];
  const g = isQalora(p0.mode) ? p0.groupSize : DEFAULT_GROUP_SIZE;
  const same = (q: QuantWeight) => q.mode === p0.mode && q.groupSize === p0.groupSize && q.shape[1] === cols && !!q.zerosF32 === !!p0.zerosF32 && !q.offset && !q.extra;
  if (!parts.every((q) => same(q) && rowBlocksConcatenate(q.mode, q.shape[0], cols, g))) return null;
  // Unpadded bytes of each part's codes, scales and zero points.
  const sizes = parts.map((q) => {
    const l = quantLayout(q.mode, q.shape[0], cols, g);
    return { codes: l.codes, scales: l.scales, zeros: q.zeros ? (q.zerosF32 ? zerosF32Bytes(q) : l.zeros) : 0 };
  });
  const total = (k: 'codes' | 'scales' | 'zeros') => sizes.reduce((a, s) => a + paddedBytes(s[k]), 0);
  if (Math.max(total('codes'), total('scales'), total('zeros')) > maxBytes) return null;
  const codes = ctx.createBuffer(`${name}.codes`, total('codes'));
  const scales = ctx.createBuffer(`${name}.scales`, total('scales'));
  const zeros = p0.zeros ? ctx.createBuffer(`${name}.zeros`, total('zeros')) : null;
  const enc = ctx.device.createCommandEncoder();
  const at = { codes: 0, scales: 0, zeros: 0 };
  let row = 0;
  const views = parts.map((q, i) => {
    const s = sizes[i];
    enc.copyBufferToBuffer(q.codes, 0, codes, at.codes, s.codes);
    enc.copyBufferToBuffer(q.scales, 0, scales, at.scales, s.scales);
    if (zeros && q.zeros) enc.copyBufferToBuffer(q.zeros, 0, zeros, at.zeros, s.zeros);
    at.codes += s.codes;
    at.scales += s.scales;
    at.zeros += s.zeros;
    const view: QuantWeight = { ...q, codes, scales, zeros, offset: row * cols };
    row += q.shape[0];
    return view;
  });
  ctx.submit(enc);
  for (const q of parts) for (const b of [q.codes, q.scales, q.zeros]) if (b) ctx.destroyBuffer(b);
  return views;
}
