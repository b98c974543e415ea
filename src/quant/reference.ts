// The CPU reference quantize / dequantize of every quantized mode, dispatching to the per-format
// rules (nf4.ts, int8.ts, qalora.ts): the GPU quantizer and the fused matmul kernels must agree
// with these bit for bit (see the tests); and the constants those kernels share with them.
import {
  canQuantize,
  codeBits,
  DEFAULT_GROUP_SIZE,
  effectiveGroupSize,
  quantLayout,
  type QuantFormat,
  type QuantizedHost,
} from './formats';
import { dequantizeInt8, int8CodeAt, INV127, INV254, quantizeInt8 } from './int8';
import { dequantizeNf4, NF4, NF4_MID, nf4CodeAt, quantizeNf4 } from './nf4';
import { dequantizeQalora, qaCodeAt, quantizeQalora } from './qalora';

/**
 * CPU reference quantizer of W[rows = out, cols = in] (row-major f32, at least rows·cols elements)
 * into the exact buffers the GPU quantizer writes (layouts in the format files' headers). Throws
 * Error when canQuantize gives a reason or W is too short.
 */
export function quantizeRef(mode: QuantFormat, W: Float32Array, rows: number, cols: number, groupSize = DEFAULT_GROUP_SIZE): QuantizedHost {
  const why = canQuantize(mode, rows, cols, groupSize);
  if (why) throw new Error(why);
  const numel = rows * cols;
  if (W.length < numel) throw new Error(`quantizeRef: W has ${W.length} elements, [${rows}, ${cols}] needs ${numel}`);
  const l = quantLayout(mode, rows, cols, groupSize);
  const codes = new Uint32Array(l.codes / 4);
  const g = effectiveGroupSize(mode, cols, groupSize);
  const base = { mode, rows, cols, groupSize: g, codes };
  switch (mode) {
    case 'nf4':
    case 'nf4-dq':
      return { ...base, ...quantizeNf4(mode === 'nf4-dq', W, numel, codes) };
    case 'int8':
      return { ...base, ...quantizeInt8(W, rows, cols, codes) };
    default:
      return { ...base, ...quantizeQalora(codeBits(mode), W, rows, cols, groupSize, codes, l.scales) };
  }
}

/** The code of element i (unsigned field value; int8 is returned signed). */
export function codeAt(q: QuantizedHost, i: number): number {
  switch (q.mode) {
    case 'int8':
      return int8CodeAt(q.codes, i);
    case 'nf4':
    case 'nf4-dq':
      return nf4CodeAt(q.codes, i);
    default:
      return qaCodeAt(q.codes, codeBits(q.mode), i);
  }
}

/** ŵ as the fused matmul kernels compute it (f32 arithmetic). */
export function dequantizeRef(q: QuantizedHost): Float32Array {
  switch (q.mode) {
    case 'nf4':
    case 'nf4-dq':
      return dequantizeNf4(q);
    case 'int8':
      return dequantizeInt8(q);
    default:
      return dequantizeQalora(q, codeBits(q.mode));
  }
}

/**
 * WGSL literal for an f32 value (exact: the shortest decimal of the double equal to the f32).
 * Throws Error for a non-finite value.
 */
function wgslF32(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`wgslF32: ${v}`);
  return `${Object.is(v, -0) ? '-0.0' : String(v)}f`;
}

/** Constants shared by shaders/quantize.wgsl and shaders/matmul.wgsl, as preprocessor defines. */
export function quantShaderConstants(): Record<string, string> {
  return {
    NF4_CODE: Array.from(NF4, wgslF32).join(', '),
    NF4_MID: Array.from(NF4_MID, wgslF32).join(', '),
    INV127: wgslF32(INV127),
    INV254: wgslF32(INV254),
  };
}
