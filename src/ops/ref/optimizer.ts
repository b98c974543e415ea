// float64 references for the optimizer kernels (same argument names as ops/optimizer.ts).

/** sqrt(sum of g^2) over all of `grads` (the kernel's grads[0..n)). */
export function gradNormRef(grads: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  return Math.sqrt(s);
}

/** The buffers AdamW touches; params, m and v are updated in place. */
export interface AdamwRefState {
  params: Float64Array;
  grads: ArrayLike<number>;
  m: Float64Array;
  v: Float64Array;
}

/**
 * One AdamW update of elements [offset, offset + n): `stats[normIndex]` is the gradient norm used for
 * clipping (scale min(1, maxNorm/(norm + 1e-6)); none when maxNorm ≤ 0); the learning rate is step[0]·lrMul.
 */
export interface AdamwRefArgs {
  n: number;
  offset: number;
  /** [lr, t] as the trainer writes it (t is the 1-based step count). */
  step: ArrayLike<number>;
  stats: ArrayLike<number>;
  normIndex: number;
  lrMul: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxNorm: number;
}

/** torch.optim.AdamW (decoupled weight decay) with clip_grad_norm_ scaling, on [offset, offset+n). */
export function adamwRef(state: AdamwRefState, a: AdamwRefArgs): void {
  const { params, grads, m, v } = state;
  const clip = a.maxNorm > 0 ? Math.min(1, a.maxNorm / (a.stats[a.normIndex] + 1e-6)) : 1;
  const lr = a.step[0] * a.lrMul;
  const t = a.step[1];
  const bc1 = 1 - Math.pow(a.beta1, t);
  const bc2 = 1 - Math.pow(a.beta2, t);
  for (let k = 0; k < a.n; k++) {
    const i = a.offset + k;
    const g = grads[i] * clip;
    let p = params[i];
    p -= lr * a.weightDecay * p;
    m[i] = a.beta1 * m[i] + (1 - a.beta1) * g;
    v[i] = a.beta2 * v[i] + (1 - a.beta2) * g * g;
    const mhat = m[i] / bc1;
    const vhat = v[i] / bc2;
    p -= (lr * mhat) / (Math.sqrt(vhat) + a.eps);
    params[i] = p;
  }
}
