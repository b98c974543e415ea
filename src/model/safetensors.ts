// safetensors reader: header parsing with full validation, dtype conversion to f32, "did you
// mean" names. The writer is safetensors-writer.ts.
//
// File layout: u64 little-endian N, then N bytes of UTF-8 JSON header (starts with '{', right-padded
// with spaces), then the data buffer. Header entries {"dtype", "shape", "data_offsets": [begin, end]}
// are relative to the data buffer; "__metadata__" is a string -> string map. A valid file has its
// offsets, sorted, contiguous from 0 without gaps or overlaps, end - begin == numel * bytes(dtype),
// and a length of exactly 8 + N + (last end). Offsets in TensorInfo are absolute file offsets.
//
// No Node or DOM APIs here: this runs in a Web Worker and in Node.

/** The dtypes of the safetensors format (the safetensors crate's Dtype, huggingface/safetensors safetensors/src/tensor.rs) that this reader knows. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'F8_E4M3'
  | 'F8_E5M2';

/** One header entry: dtype, shape and the tensor's bytes [begin, end) as absolute file offsets. */
interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets in the file: [begin, end). */
  begin: number;
  end: number;
}

/** A parsed and validated safetensors header (sizes in bytes). */
export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** N: the JSON header's byte length. */
  headerLength: number;
  /** 8 + N: where the data buffer starts. */
  dataStart: number;
  fileSize: number;
}

/** A damaged or invalid safetensors file (bad header length, JSON, dtype, shape, offsets or file length), or an unknown dtype; the message names the file and says to re-download or re-export it. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Largest header accepted (the reference implementation's limit). */
const MAX_HEADER_LENGTH = 100_000_000;

const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** True when `d` is a dtype name this reader knows. */
function isSafetensorsDType(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, d);
}

/** Bytes per element of a dtype. Throws SafetensorsError for an unknown one. */
export function dtypeBytes(d: SafetensorsDType): number {
  const b = DTYPE_BYTES[d];
  if (b === undefined) throw new SafetensorsError(`unknown safetensors dtype '${String(d)}'`);
  return b;
}

const REEXPORT =
  'The file is damaged or not a valid safetensors file: re-download it, or re-export it with safetensors ' +
  '(e.g. save_pretrained(..., safe_serialization=True)).';

function fail(fileName: string, problem: string, todo = REEXPORT): never {
  throw new SafetensorsError(`${fileName}: ${problem}. ${todo}`);
}

/** Header length from the first 8 bytes (u64 LE); validates N <= 100_000_000 and 8 + N <= fileSize. */
export function readHeaderLength(first8: Uint8Array, fileSize: number, fileName: string): number {
  if (fileSize < 8 || first8.length < 8) {
    fail(fileName, `the file is only ${Math.min(fileSize, first8.length)} bytes long, too short to hold the 8-byte header length`);
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  // hi != 0 means N >= 2^32, far beyond the limit; avoid precision loss in the message.
  const n = hi * 4294967296 + lo;
  if (hi !== 0 || n > MAX_HEADER_LENGTH) {
    fail(fileName, `header length ${hi !== 0 ? `${n} (about 2^${Math.floor(Math.log2(n))})` : n} is larger than the limit of ${MAX_HEADER_LENGTH} bytes`);
  }
  if (n < 2) fail(fileName, `header length ${n} is too small for a JSON object`);
  if (8 + n > fileSize) {
    fail(fileName, `header length ${n} runs past the end of the file (${fileSize} bytes); the file is truncated`);
  }
  return n;
}

/** True for a safe integer >= 0 (shapes, offsets). */
export function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the JSON header: starts with '{', valid JSON, each entry has
 * dtype/shape/data_offsets, known dtype, end-begin == numel*bytes(dtype), offsets sorted contiguous
 * from 0 without gaps or overlaps, file length exactly 8 + N + last end, __metadata__ string map.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, fileName: string): SafetensorsHeader {
  const headerLength = headerBytes.length;
  const dataStart = 8 + headerLength;
  if (headerLength === 0 || headerBytes[0] !== 0x7b /* '{' */) {
    fail(fileName, `the JSON header does not start with '{' (first byte ${headerLength ? `0x${headerBytes[0].toString(16).padStart(2, '0')}` : 'missing'})`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(fileName, 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(fileName, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(fileName, 'the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const byOffset: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(fileName, '__metadata__ is not a JSON object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(fileName, `__metadata__ value for '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(fileName, `tensor '${name}': entry is not a JSON object`);
    const e = entry as Record<string, unknown>;
    if (!('dtype' in e) || !('shape' in e) || !('data_offsets' in e)) {
      fail(fileName, `tensor '${name}': entry lacks ${['dtype', 'shape', 'data_offsets'].filter((k) => !(k in e)).join(', ')}`);
    }
    const { dtype, shape, data_offsets: off } = e;
    if (!isSafetensorsDType(dtype)) {
      fail(
        fileName,
        `tensor '${name}': unknown or unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
        'Convert the checkpoint to float32, float16 or bfloat16 and re-export it as safetensors.',
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) fail(fileName, `tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isNonNegInt) || off[0] > off[1]) {
      fail(fileName, `tensor '${name}': data_offsets ${JSON.stringify(off)} is not a pair [begin, end] of integers with begin <= end`);
    }
    let numel = 1;
    for (const d of shape as number[]) numel *= d;
    const want = numel * dtypeBytes(dtype);
    const [begin, end] = off as [number, number];
    if (!Number.isSafeInteger(want) || end - begin !== want) {
      fail(fileName, `tensor '${name}': ${dtype} shape [${(shape as number[]).join(', ')}] needs ${want} bytes but data_offsets [${begin}, ${end}] cover ${end - begin}`);
    }
    tensors.set(name, { name, dtype, shape: (shape as number[]).slice(), begin: dataStart + begin, end: dataStart + end });
    byOffset.push({ name, begin, end });
  }

  byOffset.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of byOffset) {
    if (t.begin > pos) fail(fileName, `gap in the data buffer: bytes [${pos}, ${t.begin}) before tensor '${t.name}' belong to no tensor`);
    if (t.begin < pos) fail(fileName, `tensor '${t.name}' at data_offsets [${t.begin}, ${t.end}] overlaps the previous tensor (which ends at ${pos})`);
    pos = t.end;
  }
  const expected = dataStart + pos;
  if (fileSize < expected) {
    fail(fileName, `the file is truncated: it is ${fileSize} bytes but the header describes ${expected} bytes (${expected - fileSize} missing)`);
  }
  if (fileSize > expected) {
    fail(fileName, `${fileSize - expected} trailing bytes after the last tensor (the file is ${fileSize} bytes, the header describes ${expected})`);
  }
  return { tensors, metadata, headerLength, dataStart, fileSize };
}

// ---- dtype conversion ----------------------------------------------------------------------

/** True on a little-endian host (typed arrays can then be copied as file bytes). */
export const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let f16Table: Float32Array | null = null;
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/** A Uint8Array whose byteOffset is a multiple of `align` (copies only when needed). */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

/**
 * Converts raw tensor bytes (any alignment: copy when unaligned) of F64/F32/F16/BF16 to a new
 * Float32Array; other dtypes throw SafetensorsError. `name` starts error messages: pass something
 * that names the file too, e.g. "model.safetensors: tensor 'lm_head.weight'".
 */
export function toF32(dtype: SafetensorsDType, bytes: Uint8Array, name: string): Float32Array {
  const size = DTYPE_BYTES[dtype];
  if (size === undefined) throw new SafetensorsError(`${name}: unknown dtype '${String(dtype)}'.`);
  if (bytes.length % size !== 0) {
    throw new SafetensorsError(`${name}: ${bytes.length} bytes is not a whole number of ${dtype} elements (${size} bytes each).`);
  }
  const n = bytes.length / size;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32': {
      if (littleEndian) {
        const a = aligned(bytes, 4);
        out.set(new Float32Array(a.buffer, a.byteOffset, n));
      } else {
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      }
      return out;
    }
    case 'F64': {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case 'F16':
    case 'BF16': {
      let u16: Uint16Array;
      if (littleEndian) {
        const a = aligned(bytes, 2);
        u16 = new Uint16Array(a.buffer, a.byteOffset, n);
      } else {
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
        u16 = new Uint16Array(n);
        for (let i = 0; i < n; i++) u16[i] = dv.getUint16(2 * i, true);
      }
      if (dtype === 'F16') {
        const t = f16ToF32Table();
        for (let i = 0; i < n; i++) out[i] = t[u16[i]];
      } else {
        const o32 = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) o32[i] = u16[i] << 16;
      }
      return out;
    }
    default:
      throw new SafetensorsError(
        `${name}: dtype ${dtype} cannot be converted to float32 (only F64, F32, F16 and BF16 tensors are supported as weights; ` +
          're-export the checkpoint in float32, float16 or bfloat16).',
      );
  }
}

/** Orders names by UTF-16 code units (locale-independent, stable across hosts). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Names among `names` closest to `name` (edit distance), for "did you mean" messages. */
export function closeNames(name: string, names: Iterable<string>, count = 5): string[] {
  const scored: { n: string; d: number }[] = [];
  for (const n of names) scored.push({ n, d: editDistance(name, n) });
  scored.sort((a, b) => a.d - b.d || compareNames(a.n, b.n));
  return scored.slice(0, count).map((s) => s.n);
}

function editDistance(a: string, b: string): number {
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1));
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/**
 * Convenience for small files fully in memory: parse + give per-tensor f32 data. Throws as
 * parseSafetensorsHeader, and SafetensorsError from get() for a name the file lacks (with close
 * names).
 */
export function parseSafetensors(bytes: Uint8Array, fileName: string): { header: SafetensorsHeader; get(name: string): Float32Array } {
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, fileName);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length, fileName);
  return {
    header,
    get(name: string): Float32Array {
      const info = header.tensors.get(name);
      if (!info) {
        const near = closeNames(name, header.tensors.keys());
        throw new SafetensorsError(
          `${fileName}: no tensor named '${name}'${near.length ? `; close names: ${near.join(', ')}` : ' (the file holds no tensors)'}.`,
        );
      }
      return toF32(info.dtype, bytes.subarray(info.begin, info.end), `${fileName}: tensor '${name}'`);
    },
  };
}
