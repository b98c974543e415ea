// The GGUF v3 container (ggml's docs/gguf.md; gguf-py's constants.py and gguf_writer.py): a header
// of metadata key/values and tensor infos, then the tensor data, every tensor starting at a multiple
// of the alignment. Written as a stream: the layout (names, dims, types) is known before any tensor
// data exists, so a writer needs memory for one tensor only. No Node or DOM APIs here.
//
// File layout (all little-endian):
//   u32 magic "GGUF" (0x46554747), u32 version 3, u64 tensor_count, u64 metadata_kv_count,
//   metadata_kv_count × { gguf_string key, u32 value_type, value },
//   tensor_count × { gguf_string name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml_type,
//                    u64 offset (from the start of the data section, a multiple of the alignment) },
//   zero padding to the alignment, then the data section.
// gguf_string = u64 byte length + UTF-8 bytes (no terminator); an array = u32 element type, u64 count,
// elements.

import { ggmlBytes, type GgmlType } from './ggml-quant';

/** GGUF_DEFAULT_ALIGNMENT: tensors start at multiples of this many bytes (general.alignment). */
const GGUF_ALIGNMENT = 32;
/** The file's first u32, little-endian: the bytes "GGUF". */
const GGUF_MAGIC = 0x46554747;
/** The GGUF version written (3, gguf-py's GGUF_VERSION; counts and lengths are u64 since v2). */
const GGUF_VERSION = 3;

/** gguf_type (docs/gguf.md; GGUFValueType in gguf-py). */
const GGUFValueType = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;

/** A metadata value with its GGUF type: scalars, strings and one-level arrays (all llama.cpp reads). */
type GgufValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64' | 'f64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]' | 'i32[]'; value: ArrayLike<number> };

/** The metadata in file order (insertion order of the map). */
export type GgufMetadata = Map<string, GgufValue>;

/** One tensor of the file: `dims` innermost first (ggml ne[]: a [out, in] matrix is [in, out]). */
export interface GgufTensorLayout {
  name: string;
  dims: number[];
  type: GgmlType;
}

/**
 * An invalid GGUF layout or stream (non-finite metadata number, tensor named twice, dims outside 1–4
 * positive values, tensors written out of layout order, with the wrong byte count or missing at the end).
 */
class GgufError extends Error {
  override name = 'GgufError';
}

const enc = new TextEncoder();

/** Bytes of a tensor's data (before padding): blocks of its type along ne[0], times the outer dims. */
function ggufTensorBytes(t: GgufTensorLayout): number {
  const [ne0, ...rest] = t.dims;
  return ggmlBytes(t.type, ne0, t.name) * rest.reduce((a, b) => a * b, 1);
}

const pad = (n: number, a = GGUF_ALIGNMENT) => Math.ceil(n / a) * a;

/** Grows a byte buffer as values are appended (header only: metadata and tensor infos). */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private need(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.need(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.need(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number): void {
    this.need(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  f32(v: number): void {
    this.need(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.need(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  u8(v: number): void {
    this.need(1);
    this.buf[this.length++] = v;
  }
  str(s: string): void {
    const b = enc.encode(s);
    this.u64(b.length);
    this.need(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  zeros(n: number): void {
    this.need(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
}

function writeValue(w: ByteWriter, key: string, v: GgufValue): void {
  const T = GGUFValueType;
  const num = (x: number, what: string) => {
    if (!Number.isFinite(x)) throw new GgufError(`GGUF metadata "${key}": ${what} ${x} is not a finite number`);
    return x;
  };
  switch (v.type) {
    case 'u32':
      w.u32(T.UINT32);
      w.u32(num(v.value, 'u32'));
      return;
    case 'i32':
      w.u32(T.INT32);
      w.i32(num(v.value, 'i32'));
      return;
    case 'u64':
      w.u32(T.UINT64);
      w.u64(num(v.value, 'u64'));
      return;
    case 'f32':
      w.u32(T.FLOAT32);
      w.f32(num(v.value, 'f32'));
      return;
    case 'f64':
      w.u32(T.FLOAT64);
      w.f64(num(v.value, 'f64'));
      return;
    case 'bool':
      w.u32(T.BOOL);
      w.u8(v.value ? 1 : 0);
      return;
    case 'string':
      w.u32(T.STRING);
      w.str(v.value);
      return;
    case 'string[]':
      w.u32(T.ARRAY);
      w.u32(T.STRING);
      w.u64(v.value.length);
      for (const s of v.value) w.str(s);
      return;
    case 'f32[]':
    case 'i32[]': {
      w.u32(T.ARRAY);
      w.u32(v.type === 'f32[]' ? T.FLOAT32 : T.INT32);
      w.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) (v.type === 'f32[]' ? w.f32(num(v.value[i], 'f32')) : w.i32(v.value[i]));
      return;
    }
  }
}

/** A planned GGUF file: the header bytes (padded to the alignment) and where each tensor's data goes. */
interface GgufPlan {
  header: Uint8Array<ArrayBuffer>;
  /** Offsets relative to the data section (multiples of GGUF_ALIGNMENT), by tensor name. */
  offsets: Map<string, number>;
  /** Size of the whole file in bytes (the last tensor padded too, as gguf-py writes it). */
  fileBytes: number;
}

/**
 * Serializes the header of a GGUF v3 file: metadata in map order, then the tensor infos in `tensors`
 * order with offsets packed in that order (each tensor padded to 32 bytes). Throws GgufError for a
 * duplicate tensor name or a shape its type cannot take (e.g. Q8_0 with ne[0] not a multiple of 32).
 */
function planGguf(metadata: GgufMetadata, tensors: GgufTensorLayout[]): GgufPlan {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.size);
  for (const [k, v] of metadata) {
    w.str(k);
    writeValue(w, k, v);
  }
  const offsets = new Map<string, number>();
  let off = 0;
  for (const t of tensors) {
    if (offsets.has(t.name)) throw new GgufError(`GGUF: tensor "${t.name}" appears twice in the layout`);
    if (t.dims.length < 1 || t.dims.length > 4 || t.dims.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new GgufError(`GGUF: tensor "${t.name}" has dims [${t.dims.join(', ')}]; ggml takes 1 to 4 positive dims`);
    }
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(off);
    offsets.set(t.name, off);
    off += pad(ggufTensorBytes(t));
  }
  w.zeros(pad(w.length) - w.length);
  const header = w.bytes();
  return { header, offsets, fileBytes: header.length + off };
}

/**
 * Writes a GGUF file to `sink` in order: begin() the header, write() each tensor's encoded bytes in
 * layout order (checked against the layout's size), end() checks that every tensor came. Only the
 * current tensor is ever held, so a model larger than memory can be written.
 * Throws GgufError for a tensor out of layout order or of the wrong byte count, and at end() when
 * tensors were not written.
 */
export class GgufStreamWriter {
  private next = 0;
  readonly plan: GgufPlan;
  constructor(
    metadata: GgufMetadata,
    private readonly layout: GgufTensorLayout[],
    private readonly sink: (chunk: Uint8Array) => void | Promise<void>,
    /** Names the file in errors. */
    private readonly what = 'GGUF file',
  ) {
    this.plan = planGguf(metadata, layout);
  }

  async begin(): Promise<void> {
    await this.sink(this.plan.header);
  }

  /** The next tensor's data, already in its GGUF type (ggml-quant.ts encodes it). */
  async write(name: string, data: Uint8Array): Promise<void> {
    const t = this.layout[this.next];
    if (!t || t.name !== name) throw new GgufError(`${this.what}: got tensor "${name}" where the layout has ${t ? `"${t.name}"` : 'no more tensors'}`);
    const want = ggufTensorBytes(t);
    if (data.byteLength !== want) throw new GgufError(`${this.what}: tensor "${name}" has ${data.byteLength} bytes, its layout needs ${want}`);
    this.next++;
    await this.sink(data);
    const p = pad(want) - want;
    if (p) await this.sink(new Uint8Array(p));
  }

  end(): void {
    if (this.next !== this.layout.length) throw new GgufError(`${this.what}: ${this.layout.length - this.next} tensor(s) were never written (next: "${this.layout[this.next].name}")`);
  }
}
