// Wrappers for shaders/pool.wgsl: QA-LoRA's group-average pooling of the adapter input.
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

function check(C: number, g: number): void {
  if (!(Number.isInteger(g) && g > 0 && C % g === 0)) throw new Error(`group pooling needs C (${C}) to be a multiple of the group size (${g})`);
}

/** out[n, l] = mean of inp[n, l·g .. l·g+g). */
export function groupPool(ctx: GpuContext, label: string, a: { N: number; C: number; g: number; inp: Bindable; out: Bindable }): Dispatch {
  check(a.C, a.g);
  const k = ctx.kernel({ shader: 'pool', entry: 'pool', bindings: ['uniform', 'read', 'rw'], defines: { UNPOOL: false } });
  const u = ctx.uniform('uuuuf', [a.N, a.C, a.g, 0, 1]);
  return ctx.dispatch(label, k, [u, a.inp, a.out], grid1d(Math.ceil((a.N * a.C) / a.g / 256)));
}

/** dinp[n, c] (+)= scale · dout[n, c/g] (scale 1/g is the adjoint of groupPool). */
export function groupUnpool(
  ctx: GpuContext,
  label: string,
  a: { N: number; C: number; g: number; dout: Bindable; dinp: Bindable; scale: number; accumulate: boolean },
): Dispatch {
  check(a.C, a.g);
  const k = ctx.kernel({ shader: 'pool', entry: 'unpool', bindings: ['uniform', 'read', 'rw'], defines: { UNPOOL: true } });
  const u = ctx.uniform('uuuuf', [a.N, a.C, a.g, a.accumulate ? 1 : 0, a.scale]);
  return ctx.dispatch(label, k, [u, a.dout, a.dinp], grid1d(Math.ceil((a.N * a.C) / 256)));
}
