// Wrappers for shaders/convert.wgsl: f32 ↔ packed f16, for the activations the training graph
// saves for its backward in half the bytes (TransformerOptions.saveActivations 'f16'). The
// segment variants convert up to MAX_F16_SEGMENTS tensors to / from one packed buffer in one
// dispatch (the transformer's one pack and one unpack per layer); packF16 / unpackF16 convert one.
import { grid1d, type Bindable, type BindingKind, type Dispatch, type GpuContext } from '../gpu/context';

/** Most f32 tensors one packF16Segments / unpackF16Segments dispatch binds (5 + 1 storage bindings ≤ 8). */
export const MAX_F16_SEGMENTS = 5;

type Op = 'pack' | 'unpack' | 'packSegs' | 'unpackSegs';

function convertKernel(ctx: GpuContext, op: Op, segs: number) {
  const f32Kind: BindingKind = op === 'packSegs' ? 'read' : 'rw';
  const bindings: BindingKind[] = op === 'pack' || op === 'unpack'
    ? ['uniform', 'read', 'rw']
    : ['uniform', op === 'packSegs' ? 'rw' : 'read', ...Array<BindingKind>(segs).fill(f32Kind)];
  return ctx.kernel({
    shader: 'convert', entry: op, bindings,
    defines: {
      OP_PACK: op === 'pack', OP_UNPACK: op === 'unpack', OP_PACK_SEGS: op === 'packSegs', OP_UNPACK_SEGS: op === 'unpackSegs',
      SEGS: segs, SEG2: segs >= 2, SEG3: segs >= 3, SEG4: segs >= 4, SEG5: segs >= 5,
    },
  });
}

function checkEven(label: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0 || n % 2) throw new Error(`internal: ${label}: f16 packing needs an even element count, got ${n}`);
}

/**
 * Packs n f32 values of `inp` [n] into n/2 u32 words of `out` (two f16 halves each, the low half
 * first: src/gpu/half.ts's layout), rounding to the nearest f16 and clamping to ±65504. Throws an
 * internal Error when n is not a positive even count.
 */
export function packF16(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; out: Bindable }): Dispatch {
  checkEven(label, a.n);
  return ctx.dispatch(label, convertKernel(ctx, 'pack', 0), [ctx.uniform('u', [a.n]), a.inp, a.out], grid1d(Math.ceil(a.n / 2 / 256)));
}

/**
 * Unpacks n f16 values (n/2 u32 words of `inp`, packF16's layout) into n f32 values of `out`,
 * exactly. Throws an internal Error when n is not a positive even count.
 */
export function unpackF16(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; out: Bindable }): Dispatch {
  checkEven(label, a.n);
  return ctx.dispatch(label, convertKernel(ctx, 'unpack', 0), [ctx.uniform('u', [a.n]), a.inp, a.out], grid1d(Math.ceil(a.n / 2 / 256)));
}

/** One f32 tensor of a packed buffer: its n f32 values (n even) are words [offset, offset + n/2) of the packed buffer. */
export interface F16Segment {
  /** f32 elements of the tensor (positive, even). */
  n: number;
  /** The f32 tensor [n]. */
  f32: Bindable;
  /** Its first u32 word in the packed buffer. */
  offset: number;
}

/** The uniform of the segment variants: per segment (first grid word, words, packed offset, 0), zero-padded to 5. */
function segmentUniform(label: string, segs: F16Segment[]): { values: number[]; words: number } {
  if (segs.length < 1 || segs.length > MAX_F16_SEGMENTS) throw new Error(`internal: ${label}: 1 to ${MAX_F16_SEGMENTS} f16 segments, got ${segs.length}`);
  const values: number[] = [];
  let words = 0;
  for (const s of segs) {
    checkEven(label, s.n);
    if (!Number.isInteger(s.offset) || s.offset < 0) throw new Error(`internal: ${label}: f16 segment offset ${s.offset} is not a word index`);
    values.push(words, s.n / 2, s.offset, 0);
    words += s.n / 2;
  }
  const ranges = segs.map((s) => [s.offset, s.offset + s.n / 2]).sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) throw new Error(`internal: ${label}: f16 segments overlap in the packed buffer`);
  }
  while (values.length < 4 * MAX_F16_SEGMENTS) values.push(0);
  return { values, words };
}

/**
 * Packs each segment's n f32 values into its words of `out` (packF16's conversion and layout per
 * segment, the bits identical), all segments in one dispatch. Throws an internal Error for 0 or
 * more than MAX_F16_SEGMENTS segments, an odd or non-positive n, a negative or fractional offset,
 * or overlapping packed ranges.
 */
export function packF16Segments(ctx: GpuContext, label: string, a: { segs: F16Segment[]; out: Bindable }): Dispatch {
  const u = segmentUniform(label, a.segs);
  const kernel = convertKernel(ctx, 'packSegs', a.segs.length);
  return ctx.dispatch(label, kernel, [ctx.uniform('u'.repeat(u.values.length), u.values), a.out, ...a.segs.map((s) => s.f32)], grid1d(Math.ceil(u.words / 256)));
}

/**
 * Unpacks each segment's words of `inp` into its n f32 values (unpackF16's conversion, exact), all
 * segments in one dispatch; the f32 tensors must be distinct buffers or non-overlapping slices
 * (they are bound writable). Throws as packF16Segments.
 */
export function unpackF16Segments(ctx: GpuContext, label: string, a: { inp: Bindable; segs: F16Segment[] }): Dispatch {
  const u = segmentUniform(label, a.segs);
  const kernel = convertKernel(ctx, 'unpackSegs', a.segs.length);
  return ctx.dispatch(label, kernel, [ctx.uniform('u'.repeat(u.values.length), u.values), a.inp, ...a.segs.map((s) => s.f32)], grid1d(Math.ceil(u.words / 256)));
}
