// safetensors writer: the header of a planned layout, a tensor's little-endian data bytes in its
// dtype, a streaming writer (tensor by tensor, never the whole file in memory) and an in-memory
// serializer. The file layout and the reader are in safetensors.ts.
//
// No Node or DOM APIs here: this runs in a Web Worker and in Node.

import { f32ToBf16Bits, f32ToF16Bits } from '../gpu/half';
import { compareNames, dtypeBytes, isNonNegInt, littleEndian, SafetensorsError } from './safetensors';

/** A tensor for the safetensors writers: name, stored dtype, shape, and its row-major data (numel(shape) values or raw words). */
export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I32';
  shape: number[];
  /**
   * Float32Array values (converted to dtype, round to nearest even), Uint16Array raw f16/bf16
   * bits, or for I32 the raw 32-bit words (Int32Array or Uint32Array: packed quantized codes).
   */
  data: Float32Array | Uint16Array | Int32Array | Uint32Array;
}

/** Name, dtype and shape of a tensor to write (its data comes separately when streaming). */
export type TensorLayout = Pick<TensorToWrite, 'name' | 'dtype' | 'shape'>;

function checkLayout(t: TensorLayout, seen: Set<string>, what: string): void {
  if (!t.name || t.name === '__metadata__') throw new SafetensorsError(`${what}: invalid tensor name '${t.name}'.`);
  if (seen.has(t.name)) throw new SafetensorsError(`${what}: duplicate tensor name '${t.name}'.`);
  seen.add(t.name);
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'I32') {
    throw new SafetensorsError(`${what}: tensor '${t.name}': dtype '${String(t.dtype)}' cannot be written (F32, F16, BF16, I32 only).`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => isNonNegInt(d))) {
    throw new SafetensorsError(`${what}: tensor '${t.name}': bad shape ${JSON.stringify(t.shape)}.`);
  }
}

function numelOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The first bytes of a file whose tensors' data follow in `layout` order: the 8-byte header
 * length, then the header JSON (with __metadata__) padded with spaces to a multiple of 8.
 * Throws SafetensorsError for a __metadata__ value that is not a string.
 */
export function safetensorsHeader(layout: TensorLayout[], metadata: Record<string, string> = { format: 'pt' }, what = 'safetensorsHeader'): Uint8Array<ArrayBuffer> {
  const seen = new Set<string>();
  for (const t of layout) checkLayout(t, seen, what);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new SafetensorsError(`${what}: __metadata__ value for '${k}' is not a string.`);
  }
  const header: Record<string, unknown> = { __metadata__: metadata };
  let pos = 0;
  for (const t of layout) {
    const nbytes = numelOf(t.shape) * dtypeBytes(t.dtype);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + nbytes] };
    pos += nbytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, padded, true);
  dv.setUint32(4, 0, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length);
  return out;
}

/**
 * The little-endian data bytes of one tensor in its dtype (f32 values rounded to nearest even for
 * F16/BF16). Throws SafetensorsError when the data's length differs from numel(shape), I32 gets
 * float data (or the reverse), or F32 gets raw 16-bit data.
 */
function tensorDataBytes(t: TensorToWrite, what = 'tensorDataBytes'): Uint8Array<ArrayBuffer> {
  if ((t.dtype === 'I32') !== (t.data instanceof Int32Array || t.data instanceof Uint32Array)) {
    throw new SafetensorsError(`${what}: tensor '${t.name}': I32 tensors take Int32Array/Uint32Array data, and only they do.`);
  }
  const n = t.data.length;
  if (n !== numelOf(t.shape)) {
    throw new SafetensorsError(`${what}: tensor '${t.name}': shape [${t.shape.join(', ')}] has ${numelOf(t.shape)} elements but data has ${n}.`);
  }
  if (t.data instanceof Uint16Array && t.dtype === 'F32') {
    throw new SafetensorsError(`${what}: tensor '${t.name}': raw 16-bit data given for an F32 tensor.`);
  }
  const out = new Uint8Array(n * dtypeBytes(t.dtype));
  const dv = new DataView(out.buffer);
  if (t.dtype === 'I32' || t.dtype === 'F32') {
    const d = t.data as Int32Array | Uint32Array | Float32Array;
    if (littleEndian) out.set(new Uint8Array(d.buffer, d.byteOffset, 4 * n));
    else if (t.dtype === 'F32') for (let i = 0; i < n; i++) dv.setFloat32(4 * i, d[i], true);
    else for (let i = 0; i < n; i++) dv.setUint32(4 * i, d[i] >>> 0, true);
  } else if (t.data instanceof Uint16Array) {
    for (let i = 0; i < n; i++) dv.setUint16(2 * i, t.data[i], true);
  } else {
    const conv = t.dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
    const d = t.data as Float32Array;
    for (let i = 0; i < n; i++) dv.setUint16(2 * i, conv(d[i]), true);
  }
  return out;
}

/**
 * Writes a file tensor by tensor: the header first (from the layout), then each tensor's data as
 * it is produced, which must come in layout order with the layout's name, dtype and shape. The
 * whole file is never held in memory; `sink` receives the chunks in order.
 * Throws SafetensorsError for a tensor out of layout order or of another dtype or shape, and at the
 * end when planned tensors were not written.
 */
export class SafetensorsStreamWriter {
  private next = 0;

  constructor(
    private readonly layout: TensorLayout[],
    private readonly sink: (chunk: Uint8Array) => void | Promise<void>,
    private readonly metadata: Record<string, string> = { format: 'pt' },
    private readonly what = 'safetensors writer',
  ) {}

  async begin(): Promise<void> {
    await this.sink(safetensorsHeader(this.layout, this.metadata, this.what));
  }

  async write(t: TensorToWrite): Promise<void> {
    const want = this.layout[this.next];
    if (!want || want.name !== t.name || want.dtype !== t.dtype || want.shape.join(',') !== t.shape.join(',')) {
      throw new SafetensorsError(
        `${this.what}: tensor '${t.name}' (${t.dtype} [${t.shape.join(', ')}]) does not match the planned ` +
          (want ? `'${want.name}' (${want.dtype} [${want.shape.join(', ')}])` : 'end of the file'),
      );
    }
    await this.sink(tensorDataBytes(t, this.what));
    this.next++;
  }

  /** Checks that every planned tensor was written. */
  end(): void {
    if (this.next !== this.layout.length) throw new SafetensorsError(`${this.what}: ${this.layout.length - this.next} planned tensors were not written.`);
  }
}

/**
 * Writes a valid file in memory: tensors sorted by dtype size (largest first) then name, header
 * JSON padded with spaces to a multiple of 8, __metadata__ (default {format: 'pt'}).
 */
export function serializeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array<ArrayBuffer> {
  const what = 'serializeSafetensors';
  const order = tensors.slice().sort((a, b) => dtypeBytes(b.dtype) - dtypeBytes(a.dtype) || compareNames(a.name, b.name));
  const header = safetensorsHeader(order, metadata, what);
  const parts = order.map((t) => tensorDataBytes(t, what));
  const out = new Uint8Array(header.length + parts.reduce((a, p) => a + p.length, 0));
  out.set(header);
  let off = header.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
