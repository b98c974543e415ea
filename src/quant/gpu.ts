// Quantization on the GPU (shaders/quantize.wgsl) into the packed buffers of a QuantWeight.
//
// The f32 matrix is uploaded in chunks through ONE staging buffer per GpuContext (16 MiB, or the
// device's storage-binding limit if smaller), created on first use and kept, with one small
// uniform buffer beside it; a full-precision copy of a whole matrix never exists on the GPU. Per
// chunk: writeBuffer(staging) + writeBuffer(params), then one submission of the statistics pass
// and the code pass (queue order makes the next chunk's writes land after this chunk's work).
//
// nf4-dq: the GPU writes the exact absmax values to a temporary buffer (codes are computed from
// them, as bitsandbytes does), reads them back, and the second level (mean, 256-blocks, dynamic
// 8-bit code) runs on the CPU with nf4.ts' doubleQuantize (it is 1/64 of the matrix and
// sequential by nature: a mean first); the temporary is destroyed.
//
// Deterministic: codes and scales depend only on W (no atomics; max reductions are exact).

import { grid1d, packUniform, type Dispatch, type GpuContext, type Kernel, type KernelSpec } from '../gpu/context';
import { Program } from '../gpu/program';
import type { QuantWeight } from './weight';
import {
  canQuantize,
  codeBits,
  DEFAULT_GROUP_SIZE,
  effectiveGroupSize,
  isQalora,
  NF4_BLOCK,
  quantBytes,
  quantLayout,
  type QuantFormat,
  type QuantizedHost,
} from './formats';
import { doubleQuantize } from './nf4';
import { quantShaderConstants } from './reference';

/**
 * Bytes of the staging buffer W is uploaded through, one chunk at a time (16 MiB; less when the
 * device's binding limit is lower, rounded down to 256 bytes).
 */
const QUANT_STAGING_BYTES = 16 << 20;

interface QuantState {
  staging: GPUBuffer;
  capElems: number;
  params: GPUBuffer;
}

const states = new WeakMap<GpuContext, QuantState>();

function quantState(ctx: GpuContext): QuantState {
  let s = states.get(ctx);
  if (!s) {
    const bytes = Math.min(QUANT_STAGING_BYTES, ctx.device.limits.maxStorageBufferBindingSize) & ~255;
    const staging = ctx.createBuffer('quant-staging', bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    const params = ctx.createBuffer('quant-params', 64, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    s = { staging, capElems: bytes / 4, params };
    states.set(ctx, s);
  }
  return s;
}

/** One chunk of W quantized in one dispatch (elements and rows of the flattened [out, in] matrix). */
interface QuantChunk {
  /** First flat element, element count, first row, row count (rows only for row-wise modes). */
  e0: number;
  n: number;
  r0: number;
  nr: number;
}

/**
 * Splits W into chunks of at most capElems elements: multiples of 64 elements for nf4 (blocks run
 * over the flat matrix); whole rows for int8 / qalora, a row count that keeps every chunk start
 * word-aligned in the code stream (and at an even group for qalora's f16 pairs).
 * Throws Error when capElems is smaller than one NF4 block, or too small for the rows a chunk must
 * hold whole.
 */
export function quantChunks(mode: QuantFormat, rows: number, cols: number, groupSize: number, capElems: number): QuantChunk[] {
  const numel = rows * cols;
  const out: QuantChunk[] = [];
  if (mode === 'nf4' || mode === 'nf4-dq') {
    const per = Math.floor(capElems / NF4_BLOCK) * NF4_BLOCK;
    if (per < NF4_BLOCK) throw new Error(`quantize: a chunk of ${capElems} elements is smaller than one NF4 block`);
    for (let e0 = 0; e0 < numel; e0 += per) out.push({ e0, n: Math.min(per, numel - e0), r0: 0, nr: 0 });
    return out;
  }
  const bits = codeBits(mode);
  const L = isQalora(mode) ? cols / groupSize : 1;
  let align = 1;
  while ((align * cols * bits) % 32 !== 0 || (isQalora(mode) && (align * L) % 2 !== 0)) align++;
  const per = Math.floor(Math.floor(capElems / cols) / align) * align;
  if (per < 1) {
    throw new Error(`quantize: ${align} row(s) of ${cols} elements do not fit the ${capElems * 4}-byte staging buffer`);
  }
  for (let r0 = 0; r0 < rows; r0 += per) {
    const nr = Math.min(per, rows - r0);
    out.push({ e0: r0 * cols, n: nr * cols, r0, nr });
  }
  return out;
}

/** Layout of quantize.wgsl's uniform Params { rows, cols, e0, n, r0, nr, g, L, qmax, invq } (packUniform letters). */
export const QUANT_PARAMS = 'uuuuuuuuuf';

/**
 * The kernel of quantize.wgsl entry `entry`; qaBits > 0 selects the QA-LoRA INT-N variant;
 * `subgroups` the subgroup absmax reductions (GpuContext.subgroups).
 */
export function quantKernelSpec(entry: string, qaBits: number, subgroups = false): KernelSpec {
  const qa = qaBits > 0;
  return {
    shader: 'quantize',
    entry,
    bindings: qa ? ['uniform', 'read', 'rw', 'rw', 'rw'] : ['uniform', 'read', 'rw', 'rw'],
    defines: { ...quantShaderConstants(), QA: qa, QBITS: qa ? qaBits : undefined, SUBGROUPS: subgroups },
  };
}

function quantKernel(ctx: GpuContext, entry: string, qaBits: number): Kernel {
  return ctx.kernel(quantKernelSpec(entry, qaBits, ctx.subgroups));
}

/** Options of quantizeWeight. */
interface QuantizeOptions {
  /** Largest chunk in bytes (at most the staging buffer); tests use it to force several chunks. */
  chunkBytes?: number;
}

/**
 * Quantizes W [rows = out, cols = in] (row-major f32) on the GPU into a new QuantWeight.
 * Throws when canQuantize gives a reason (the caller checks it first and keeps such a matrix dense).
 */
export async function quantizeWeight(
  ctx: GpuContext,
  name: string,
  mode: QuantFormat,
  W: Float32Array,
  rows: number,
  cols: number,
  groupSize = DEFAULT_GROUP_SIZE,
  opts: QuantizeOptions = {},
): Promise<QuantWeight> {
  const why = canQuantize(mode, rows, cols, groupSize);
  if (why) throw new Error(`${name}: ${why}`);
  const numel = rows * cols;
  if (W.length < numel) throw new Error(`${name}: W has ${W.length} elements, [${rows}, ${cols}] needs ${numel}`);
  const st = quantState(ctx);
  const cap = Math.min(st.capElems, opts.chunkBytes ? Math.floor(opts.chunkBytes / 4) : Infinity);
  const chunks = quantChunks(mode, rows, cols, groupSize, cap);
  const layout = quantLayout(mode, rows, cols, groupSize);
  const qa = isQalora(mode);
  const bits = codeBits(mode);
  const qmax = qa ? 2 ** bits - 1 : 0;
  const L = qa ? cols / groupSize : 0;

  const codes = ctx.createBuffer(`${name}.codes`, layout.codes);
  // nf4-dq: the exact f32 absmax goes to a temporary; its q8 form is uploaded at the end.
  const nBlocks = Math.ceil(numel / NF4_BLOCK);
  const statBuf = ctx.createBuffer(mode === 'nf4-dq' ? `${name}.absmax-tmp` : `${name}.scales`, mode === 'nf4-dq' ? nBlocks * 4 : layout.scales);
  const zeros = qa ? ctx.createBuffer(`${name}.zeros`, layout.zeros) : null;

  const [statEntry, codeEntry] =
    mode === 'int8' ? ['int8_absmax', 'int8_codes'] : qa ? ['qa_params', 'qa_codes'] : ['nf4_absmax', 'nf4_codes'];
  const kStat = quantKernel(ctx, statEntry, qa ? bits : 0);
  const kCode = quantKernel(ctx, codeEntry, qa ? bits : 0);
  const res = [st.params, st.staging, codes, statBuf, ...(zeros ? [zeros] : [])];
  const dStat = ctx.dispatch(`${name}.quant.${statEntry}`, kStat, res, [1]);
  const dCode = ctx.dispatch(`${name}.quant.${codeEntry}`, kCode, res, [1]);
  const withGrid = (d: Dispatch, workgroups: number): Dispatch => ({ ...d, workgroups: grid1d(workgroups) });

  for (const ch of chunks) {
    ctx.write(st.staging, W.subarray(ch.e0, ch.e0 + ch.n));
    const u = packUniform(QUANT_PARAMS, [rows, cols, ch.e0, ch.n, ch.r0, ch.nr, qa ? groupSize : 0, L, qmax, qa ? Math.fround(1 / qmax) : 0]);
    ctx.device.queue.writeBuffer(st.params, 0, u);
    let stat: number;
    let code: number;
    if (mode === 'int8') {
      stat = ch.nr;
      code = Math.ceil(Math.ceil(ch.n / 4) / 64);
    } else if (qa) {
      stat = Math.ceil(Math.ceil((ch.nr * L) / 2) / 64);
      code = Math.ceil(Math.ceil((ch.n * bits) / 32) / 64);
    } else {
      stat = Math.ceil(ch.n / 64);
      code = Math.ceil(Math.ceil(ch.n / 8) / 64);
    }
    ctx.run(new Program(`${name}.quantize`).dispatch(withGrid(dStat, stat)).dispatch(withGrid(dCode, code)));
  }

  let scales = statBuf;
  let extra: GPUBuffer | null = null;
  if (mode === 'nf4-dq') {
    const absmax = await ctx.readF32(statBuf, 0, nBlocks);
    ctx.destroyBuffer(statBuf);
    const dq = doubleQuantize(absmax);
    scales = ctx.upload(`${name}.scales`, dq.q8);
    extra = ctx.upload(`${name}.extra`, dq.extra);
  }
  const bytes = quantBytes(mode, rows, cols, groupSize);
  return { name, mode, shape: [rows, cols], groupSize: effectiveGroupSize(mode, cols, groupSize), codes, scales, zeros, extra, bytes };
}

/** Uploads a host-quantized matrix (quantizeRef, or a prequantized checkpoint) as a QuantWeight. */
export function uploadQuantized(ctx: GpuContext, name: string, q: QuantizedHost): QuantWeight {
  const codes = ctx.upload(`${name}.codes`, q.codes);
  const scales = ctx.upload(`${name}.scales`, q.scales);
  const zeros = q.zeros ? ctx.upload(`${name}.zeros`, q.zeros) : null;
  const extra = q.extra ? ctx.upload(`${name}.extra`, q.extra) : null;
  const g = isQalora(q.mode) ? q.groupSize : DEFAULT_GROUP_SIZE;
  const zerosF32 = q.zeros instanceof Float32Array;
  // f32 zero points take 2 more bytes per group than the f16 layout quantBytes assumes.
  const bytes = quantBytes(q.mode, q.rows, q.cols, g) + (zerosF32 ? zeros!.size - quantLayoutZerosPadded(q) : 0);
  return { name, mode: q.mode, shape: [q.rows, q.cols], groupSize: q.groupSize, codes, scales, zeros, zerosF32, extra, bytes };
}

/**
 * Reads a QuantWeight back into host arrays (tests, export); a matrix of a concatenated group
 * (offset > 0) reads its own row block of each buffer.
 */
export async function readQuantized(ctx: GpuContext, w: QuantWeight): Promise<QuantizedHost> {
  const [rows, cols] = w.shape;
  const g = isQalora(w.mode) ? w.groupSize : DEFAULT_GROUP_SIZE;
  const l = quantLayout(w.mode, rows, cols, g);
  // The rows before this matrix in its buffers: exact byte offsets, since concatenated blocks are whole words.
  const r0 = (w.offset ?? 0) / cols;
  const o = quantLayout(w.mode, r0, cols, g);
  const u32 = async (b: GPUBuffer, off: number, bytes: number) => new Uint32Array(await ctx.read(b, off, bytes));
  const codes = await u32(w.codes, o.codes, l.codes);
  const scales =
    w.mode === 'int8' || w.mode === 'nf4' ? new Float32Array(await ctx.read(w.scales, o.scales, l.scales)) : await u32(w.scales, o.scales, l.scales);
  const zeros = !w.zeros ? null : w.zerosF32 ? new Float32Array(await ctx.read(w.zeros, zerosF32Bytes(w, r0), zerosF32Bytes(w))) : await u32(w.zeros, o.zeros, l.zeros);
  const extra = w.extra ? new Float32Array(await ctx.read(w.extra, 0, l.extra)) : null;
  return { mode: w.mode, rows, cols, groupSize: w.groupSize, codes, scales, zeros, extra };
}

/** Frees a QuantWeight's buffers. */
export function destroyQuantWeight(ctx: GpuContext, w: QuantWeight): void {
  for (const b of [w.codes, w.scales, w.zeros, w.extra]) if (b) ctx.destroyBuffer(b);
}

/** Bytes of the f16 zero-point buffer as allocated (padded like createBuffer). */
function quantLayoutZerosPadded(q: QuantizedHost): number {
  const l = quantLayout(q.mode, q.rows, q.cols, q.groupSize);
  return Math.max(16, Math.ceil(l.zeros / 16) * 16);
}

/** Bytes of f32 zero points (a merged QA-LoRA model) for `rows` rows of a QuantWeight shaped like `w`: 4 per group. */
export function zerosF32Bytes(w: QuantWeight, rows = w.shape[0]): number {
  return rows * (w.shape[1] / w.groupSize) * 4;
}
