// Wrappers for shaders/optimizer.wgsl: global gradient norm (two passes) and AdamW.
import { GpuError, grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

const WG = 256;
/** Cap on pass-1 workgroups (one partial each): enough threads to fill a large GPU. */
const MAX_PARTIALS = 1024;
/** Cap on AdamW workgroups; larger ranges are covered by the grid-stride loop. */
const MAX_ADAMW_WORKGROUPS = 4096;

/** Number of f32 elements (not bytes) the `partial` scratch of gradNorm(n) needs. */
export function gradNormPartialSize(n: number): number {
  return Math.min(MAX_PARTIALS, Math.max(1, Math.ceil(n / (WG * 4))));
}

function boundBytes(r: Bindable): number {
  if ('buffer' in r) return r.size ?? r.buffer.size - (r.offset ?? 0);
  return r.size;
}

/**
 * stats[outIndex] = sqrt(sum over grads[0..n) of g^2). Pass 1 writes one partial sum per
 * workgroup into `partial` (gradNormPartialSize(n) f32 elements), pass 2 reduces them in one
 * workgroup. The summation order depends only on n: deterministic.
 * Throws GpuError when `partial` is smaller than gradNormPartialSize(n) f32 values.
 */
export function gradNorm(
  ctx: GpuContext,
  label: string,
  a: { n: number; grads: Bindable; partial: Bindable; stats: Bindable; outIndex: number },
): Dispatch[] {
  const numPartials = gradNormPartialSize(a.n);
  if (boundBytes(a.partial) < numPartials * 4) {
    throw new GpuError(`${label}: partial holds ${boundBytes(a.partial)} bytes, needs ${numPartials} f32 (gradNormPartialSize)`);
  }
  const wg = grid1d(numPartials);
  const partialKernel = ctx.kernel({ shader: 'optimizer', entry: 'sumsq_partial', bindings: ['uniform', 'read', 'rw'], defines: { SUBGROUPS: ctx.subgroups } });
  const finalKernel = ctx.kernel({ shader: 'optimizer', entry: 'norm_final', bindings: ['uniform', 'read', 'rw'], defines: { SUBGROUPS: ctx.subgroups } });
  return [
    ctx.dispatch(`${label}.partial`, partialKernel, [ctx.uniform('uu', [a.n, numPartials]), a.grads, a.partial], wg),
    ctx.dispatch(`${label}.final`, finalKernel, [ctx.uniform('uu', [numPartials, a.outIndex]), a.partial, a.stats], [1, 1, 1]),
  ];
}

/**
 * Decoupled-weight-decay AdamW (torch.optim.AdamW semantics) on elements [offset, offset+n) of
 * params/grads/m/v:
 *  clip = maxNorm > 0 ? min(1, maxNorm / (stats[normIndex] + 1e-6)) : 1  (torch clip_grad_norm_)
 *  g = grads[i] * clip; lr = step[0] * lrMul; t = step[1] (1-based step count, stored as f32)
 *  p -= lr * weightDecay * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
 *  mhat = m / (1 - b1^t); vhat = v / (1 - b2^t); p -= lr * mhat / (sqrt(vhat) + eps)
 * `step` is an f32 storage buffer [lr, t] the trainer writes before the optimizer's submission.
 * Hyperparameters travel as f32 uniforms.
 */
export function adamw(
  ctx: GpuContext,
  label: string,
  a: {
    n: number;
    offset: number;
    params: Bindable;
    grads: Bindable;
    m: Bindable;
    v: Bindable;
    step: Bindable;
    stats: Bindable;
    normIndex: number;
    lrMul: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    maxNorm: number;
  },
): Dispatch {
  const kernel = ctx.kernel({
    shader: 'optimizer',
    entry: 'adamw',
    bindings: ['uniform', 'rw', 'read', 'rw', 'rw', 'read', 'read'],
    defines: { SUBGROUPS: ctx.subgroups },
  });
  const u = ctx.uniform('uuuffffff', [
    a.n, a.offset, a.normIndex, a.lrMul, a.beta1, a.beta2, a.eps, a.weightDecay, a.maxNorm,
  ]);
  const workgroups = Math.min(MAX_ADAMW_WORKGROUPS, Math.max(1, Math.ceil(a.n / WG)));
  return ctx.dispatch(label, kernel, [u, a.params, a.grads, a.m, a.v, a.step, a.stats], grid1d(workgroups));
}
