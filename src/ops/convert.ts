// Wrappers for shaders/convert.wgsl: f32 ↔ packed f16, for the activations the training graph
// saves for its backward in half the bytes (TransformerOptions.saveActivations 'f16').
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

function convertKernel(ctx: GpuContext, pack: boolean) {
  return ctx.kernel({ shader: 'convert', entry: pack ? 'pack' : 'unpack', bindings: ['uniform', 'read', 'rw'], defines: { OP_PACK: pack, OP_UNPACK: !pack } });
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
  return ctx.dispatch(label, convertKernel(ctx, true), [ctx.uniform('u', [a.n]), a.inp, a.out], grid1d(Math.ceil(a.n / 2 / 256)));
}

/**
 * Unpacks n f16 values (n/2 u32 words of `inp`, packF16's layout) into n f32 values of `out`,
 * exactly. Throws an internal Error when n is not a positive even count.
 */
export function unpackF16(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; out: Bindable }): Dispatch {
  checkEven(label, a.n);
  return ctx.dispatch(label, convertKernel(ctx, false), [ctx.uniform('u', [a.n]), a.inp, a.out], grid1d(Math.ceil(a.n / 2 / 256)));
}
