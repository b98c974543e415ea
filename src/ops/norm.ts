// Wrappers for shaders/norm.wgsl: Llama RMSNorm and GPT-2 LayerNorm (forward, input gradient).
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';
import type { WeightDType } from '../gpu/tensor';

type Kind = 'uniform' | 'read' | 'rw';

/** Threads per row: about 8 channels per thread, a power of two in [32, 256]. */
function normWorkgroupSize(C: number): number {
  let wg = 32;
  while (wg < 256 && wg * 8 < C) wg *= 2;
  return wg;
}

function normKernel(ctx: GpuContext, C: number, layernorm: boolean, backward: boolean, wDType: WeightDType | undefined, bindings: Kind[]) {
  return ctx.kernel({
    shader: 'norm',
    entry: `${layernorm ? 'layernorm' : 'rmsnorm'}_${backward ? 'backward' : 'forward'}`,
    bindings,
    defines: { LAYERNORM: layernorm, BACKWARD: backward, W_F16: wDType === 'f16', WG: normWorkgroupSize(C), SUBGROUPS: ctx.subgroups },
  });
}

/** Llama RMSNorm: out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps), saved per row. */
export function rmsnormForward(
  ctx: GpuContext,
  label: string,
  a: { N: number; C: number; eps: number; inp: Bindable; weight: Bindable; wDType?: WeightDType; out: Bindable; rstd: Bindable /* f32 [N] saved for backward */ },
): Dispatch {
  const k = normKernel(ctx, a.C, false, false, a.wDType, ['uniform', 'read', 'read', 'rw', 'rw']);
  const u = ctx.uniform('uufu', [a.N, a.C, a.eps, 0]);
  return ctx.dispatch(label, k, [u, a.inp, a.weight, a.out, a.rstd], grid1d(a.N));
}

/** Input gradient of RMSNorm (weight frozen); dinp = grad, or dinp += grad with accumulate. */
export function rmsnormBackward(
  ctx: GpuContext,
  label: string,
  a: { N: number; C: number; inp: Bindable; weight: Bindable; wDType?: WeightDType; rstd: Bindable; dout: Bindable; dinp: Bindable; accumulate: boolean },
): Dispatch {
  const k = normKernel(ctx, a.C, false, true, a.wDType, ['uniform', 'read', 'read', 'read', 'read', 'rw']);
  const u = ctx.uniform('uufu', [a.N, a.C, 0, a.accumulate ? 1 : 0]);
  return ctx.dispatch(label, k, [u, a.inp, a.weight, a.rstd, a.dout, a.dinp], grid1d(a.N));
}

/** GPT-2 LayerNorm (biased variance): out = (inp - mean) * rstd * weight + bias; saves mean, rstd per row. */
export function layernormForward(
  ctx: GpuContext,
  label: string,
  a: { N: number; C: number; eps: number; inp: Bindable; weight: Bindable; bias: Bindable; wDType?: WeightDType; out: Bindable; mean: Bindable; rstd: Bindable },
): Dispatch {
  const k = normKernel(ctx, a.C, true, false, a.wDType, ['uniform', 'read', 'read', 'read', 'rw', 'rw', 'rw']);
  const u = ctx.uniform('uufu', [a.N, a.C, a.eps, 0]);
  return ctx.dispatch(label, k, [u, a.inp, a.weight, a.bias, a.out, a.mean, a.rstd], grid1d(a.N));
}

/** Input gradient of LayerNorm (weight and bias frozen); dinp = grad, or dinp += grad with accumulate. */
export function layernormBackward(
  ctx: GpuContext,
  label: string,
  a: { N: number; C: number; inp: Bindable; weight: Bindable; wDType?: WeightDType; mean: Bindable; rstd: Bindable; dout: Bindable; dinp: Bindable; accumulate: boolean },
): Dispatch {
  const k = normKernel(ctx, a.C, true, true, a.wDType, ['uniform', 'read', 'read', 'read', 'read', 'read', 'rw']);
  const u = ctx.uniform('uufu', [a.N, a.C, 0, a.accumulate ? 1 : 0]);
  return ctx.dispatch(label, k, [u, a.inp, a.weight, a.mean, a.rstd, a.dout, a.dinp], grid1d(a.N));
}
