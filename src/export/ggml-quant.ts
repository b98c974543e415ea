// ggml tensor types a GGUF export writes, with their encoders and the reference decoders the tests
// use: F32, F16, and the block formats Q8_0 and Q4_0 as ggml-quants.c defines them
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref, dequantize_row_q8_0/q4_0). Blocks run along ne[0],
// the innermost dim (a matrix row). No Node or DOM APIs here.
//
//   Q8_0, 34 bytes per 32 values: f16 d = amax/127, then 32 × int8 q = roundf(x / d); x ≈ q·d.
//   Q4_0, 18 bytes per 32 values: f16 d = m/−8 (m the value of largest magnitude, with its sign),
//         then 16 bytes: byte j holds value j in its low nibble and value j+16 in its high nibble,
//         q = min(15, trunc(x/d + 8.5)); x ≈ (q − 8)·d.

import { f16BitsToF32, f32ToF16Bits } from '../gpu/half';

/** ggml_type codes (ggml.h; GGMLQuantizationType in gguf-py). */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** QK8_0 = QK4_0 = 32 values per block. */
const QK = 32;

/** ggml's name of a tensor type ('F32', 'F16', 'Q4_0', 'Q8_0'), for messages and tests. */
export function ggmlTypeName(t: GgmlType): string {
  return t === GgmlType.F32 ? 'F32' : t === GgmlType.F16 ? 'F16' : t === GgmlType.Q4_0 ? 'Q4_0' : 'Q8_0';
}

/** Bytes of one row of `ne0` values; throws when a block type gets a row that is not whole blocks. */
export function ggmlBytes(t: GgmlType, ne0: number, name = 'tensor'): number {
  switch (t) {
    case GgmlType.F32:
      return 4 * ne0;
    case GgmlType.F16:
      return 2 * ne0;
    case GgmlType.Q8_0:
    case GgmlType.Q4_0:
      if (ne0 % QK !== 0) throw new Error(`${name}: ${ggmlTypeName(t)} needs rows of a multiple of ${QK} values, this one has ${ne0}`);
      return (ne0 / QK) * (t === GgmlType.Q8_0 ? 34 : 18);
  }
}

/** Whether rows of `ne0` values can be stored as `t` (block types need whole blocks). */
export function ggmlFits(t: GgmlType, ne0: number): boolean {
  return (t !== GgmlType.Q8_0 && t !== GgmlType.Q4_0) || ne0 % QK === 0;
}

const fr = Math.fround;
/** C's roundf: halves away from zero. */
const roundf = (v: number) => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

/**
 * Encodes f32 values (row-major, ne[0] innermost; length a multiple of ne0) as type `t`. Throws
 * Error when a block type gets rows that are not whole 32-value blocks.
 */
export function encodeGgml(t: GgmlType, x: Float32Array, ne0: number, name = 'tensor'): Uint8Array {
  const rows = x.length / ne0;
  const out = new Uint8Array(ggmlBytes(t, ne0, name) * rows);
  const view = new DataView(out.buffer);
  if (t === GgmlType.F32) {
    for (let i = 0; i < x.length; i++) view.setFloat32(4 * i, x[i], true);
  } else if (t === GgmlType.F16) {
    for (let i = 0; i < x.length; i++) view.setUint16(2 * i, f32ToF16Bits(x[i]), true);
  } else if (t === GgmlType.Q8_0) {
    for (let b = 0, o = 0; b < x.length; b += QK, o += 34) {
      let amax = 0;
      for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
      const d = fr(amax / 127);
      const id = d ? fr(1 / d) : 0;
      view.setUint16(o, f32ToF16Bits(d), true);
      for (let j = 0; j < QK; j++) view.setInt8(o + 2 + j, roundf(fr(x[b + j] * id)));
    }
  } else {
    for (let b = 0, o = 0; b < x.length; b += QK, o += 18) {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < QK; j++) {
        const v = x[b + j];
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = fr(max / -8);
      const id = d ? fr(1 / d) : 0;
      view.setUint16(o, f32ToF16Bits(d), true);
      for (let j = 0; j < QK / 2; j++) {
        const q0 = Math.min(15, Math.trunc(fr(fr(x[b + j] * id) + 8.5)));
        const q1 = Math.min(15, Math.trunc(fr(fr(x[b + QK / 2 + j] * id) + 8.5)));
        out[o + 2 + j] = q0 | (q1 << 4);
      }
    }
  }
  return out;
}

/** Decodes `n` values of type `t` back to f32 (the reference rules; tests and the GGUF reader). */
export function decodeGgml(t: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (t === GgmlType.F32) for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  else if (t === GgmlType.F16) for (let i = 0; i < n; i++) out[i] = f16BitsToF32(view.getUint16(2 * i, true));
  else if (t === GgmlType.Q8_0) {
    for (let b = 0, o = 0; b < n; b += QK, o += 34) {
      const d = f16BitsToF32(view.getUint16(o, true));
      for (let j = 0; j < QK; j++) out[b + j] = view.getInt8(o + 2 + j) * d;
    }
  } else {
    for (let b = 0, o = 0; b < n; b += QK, o += 18) {
      const d = f16BitsToF32(view.getUint16(o, true));
      for (let j = 0; j < QK / 2; j++) {
        const q = bytes[o + 2 + j];
        out[b + j] = ((q & 15) - 8) * d;
        out[b + QK / 2 + j] = ((q >> 4) - 8) * d;
      }
    }
  }
  return out;
}
