// Wrappers for shaders/crossentropy.wgsl: fused softmax-cross-entropy (optionally writing dlogits
// in place) and the deterministic loss sum.
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

/**
 * logits f32 [N, V], targets i32 [N] (-100, or any value outside [0, V), = ignore).
 * losses[n] = logsumexp(logits[n]) - logits[n, target] (0 for ignored rows). With backward the
 * logits are overwritten with dlogits = (softmax - onehot(target)) * scale[0] (zero rows when ignored).
 */
export function crossEntropy(
  ctx: GpuContext,
  label: string,
  a: { N: number; V: number; logits: Bindable; targets: Bindable; losses: Bindable; scale: Bindable; backward: boolean },
): Dispatch {
  const k = ctx.kernel({
    shader: 'crossentropy',
    entry: 'cross_entropy',
    bindings: ['uniform', a.backward ? 'rw' : 'read', 'read', 'rw', 'read'],
    defines: { LOSS_REDUCE: false, BACKWARD: a.backward, SUBGROUPS: ctx.subgroups },
  });
  const u = ctx.uniform('uu', [a.N, a.V]);
  return ctx.dispatch(label, k, [u, a.logits, a.targets, a.losses, a.scale], grid1d(a.N));
}

/** out[outIndex] = (accumulate ? out[outIndex] : 0) + sum(losses[0..N)) in a fixed order (single workgroup, deterministic). */
export function lossReduce(ctx: GpuContext, label: string, a: { N: number; losses: Bindable; out: Bindable; outIndex: number; accumulate: boolean }): Dispatch {
  const k = ctx.kernel({ shader: 'crossentropy', entry: 'loss_reduce', bindings: ['uniform', 'read', 'rw'], defines: { LOSS_REDUCE: true, BACKWARD: false, SUBGROUPS: ctx.subgroups } });
  const u = ctx.uniform('uuu', [a.N, a.outIndex, a.accumulate ? 1 : 0]);
  return ctx.dispatch(label, k, [u, a.losses, a.out], [1, 1, 1]);
}
