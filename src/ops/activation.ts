// Wrappers for shaders/activation.wgsl: SwiGLU on a fused gate/up buffer, GELU (tanh approximation).
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

function actKernel(ctx: GpuContext, swiglu: boolean, backward: boolean) {
  return ctx.kernel({
    shader: 'activation',
    entry: `${swiglu ? 'swiglu' : 'gelu'}_${backward ? 'backward' : 'forward'}`,
    bindings: backward ? ['uniform', 'read', 'read', 'rw'] : ['uniform', 'read', 'rw'],
    defines: { SWIGLU: swiglu, BACKWARD: backward },
  });
}

/** h[n, f] = silu(gu[n, f]) * gu[n, FF + f]; gu [N, 2FF] (gate half first), h [N, FF]. */
export function swigluForward(ctx: GpuContext, label: string, a: { N: number; FF: number; gu: Bindable; h: Bindable }): Dispatch {
  const u = ctx.uniform('uu', [a.N, a.FF]);
  return ctx.dispatch(label, actKernel(ctx, true, false), [u, a.gu, a.h], grid1d(Math.ceil((a.N * a.FF) / 256)));
}

/** Writes both halves of dgu [N, 2FF] (gate gradient, then up gradient) from dh [N, FF]. */
export function swigluBackward(ctx: GpuContext, label: string, a: { N: number; FF: number; gu: Bindable; dh: Bindable; dgu: Bindable }): Dispatch {
  const u = ctx.uniform('uu', [a.N, a.FF]);
  return ctx.dispatch(label, actKernel(ctx, true, true), [u, a.gu, a.dh, a.dgu], grid1d(Math.ceil((a.N * a.FF) / 256)));
}

/** GPT-2 "gelu_new": out = 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) over n elements. */
export function geluForward(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; out: Bindable }): Dispatch {
  const u = ctx.uniform('u', [a.n]);
  return ctx.dispatch(label, actKernel(ctx, false, false), [u, a.inp, a.out], grid1d(Math.ceil(a.n / 256)));
}

/** dinp = dout * gelu'(inp). */
export function geluBackward(ctx: GpuContext, label: string, a: { n: number; inp: Bindable; dout: Bindable; dinp: Bindable }): Dispatch {
  const u = ctx.uniform('u', [a.n]);
  return ctx.dispatch(label, actKernel(ctx, false, true), [u, a.inp, a.dout, a.dinp], grid1d(Math.ceil(a.n / 256)));
}
