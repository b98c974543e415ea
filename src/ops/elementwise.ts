// Wrappers for shaders/elementwise.wgsl: add, accumulate (axpy), LoRA input dropout.
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

/** out = a + b over n elements (out must not alias a or b). */
export function add(ctx: GpuContext, label: string, a: { n: number; a: Bindable; b: Bindable; out: Bindable }): Dispatch {
  const k = ctx.kernel({ shader: 'elementwise', entry: 'add', bindings: ['uniform', 'read', 'read', 'rw'], defines: { OP_ADD: true, OP_ACCUMULATE: false, OP_DROPOUT: false } });
  return ctx.dispatch(label, k, [ctx.uniform('u', [a.n]), a.a, a.b, a.out], grid1d(Math.ceil(a.n / 256)));
}

/** out += scale * inp over n elements (scale defaults to 1). */
export function accumulate(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; out: Bindable; scale?: number }): Dispatch {
  const k = ctx.kernel({ shader: 'elementwise', entry: 'accumulate', bindings: ['uniform', 'read', 'rw'], defines: { OP_ADD: false, OP_ACCUMULATE: true, OP_DROPOUT: false } });
  return ctx.dispatch(label, k, [ctx.uniform('uf', [a.n, a.scale ?? 1]), a.inp, a.out], grid1d(Math.ceil(a.n / 256)));
}

/** The integer threshold on the hash's top 24 bits: keep iff (hash >>> 8) >= ceil(p * 2^24). */
function dropoutThreshold(p: number): number {
  return Math.min(2 ** 24, Math.ceil(p * 2 ** 24));
}

/**
 * LoRA input dropout (inverted dropout): out = inp * keep / (1-p), keep = hash(seed[0], salt,
 * index) >= p, where seed is a u32 storage buffer the trainer rewrites before each submission and
 * salt a per-call constant (distinct per module and layer). Calling it with the same seed/salt on a
 * gradient applies the identical mask (that is its backward). p=0 must be an exact copy. Use a good
 * integer hash (e.g. PCG / murmur-style finalizer) of (seed, salt, index) to a uniform [0,1).
 * Throws Error when p is outside [0, 1) or salt is not a u32.
 */
export function dropout(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; out: Bindable; seed: Bindable; salt: number; p: number }): Dispatch {
  if (!(a.p >= 0 && a.p < 1)) throw new Error(`${label}: dropout p must be in [0, 1), got ${a.p}`);
  if (!Number.isInteger(a.salt) || a.salt < 0 || a.salt > 0xffffffff) throw new Error(`${label}: dropout salt must be a u32, got ${a.salt}`);
  const k = ctx.kernel({ shader: 'elementwise', entry: 'dropout', bindings: ['uniform', 'read', 'rw', 'read'], defines: { OP_ADD: false, OP_ACCUMULATE: false, OP_DROPOUT: true } });
  const u = ctx.uniform('uuuf', [a.n, a.salt, dropoutThreshold(a.p), 1 / (1 - a.p)]);
  return ctx.dispatch(label, k, [u, a.inp, a.out, a.seed], grid1d(Math.ceil(a.n / 256)));
}
