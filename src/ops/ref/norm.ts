// float64 references for shaders/norm.wgsl (same argument names as ops/norm.ts). Input gradients
// only: base weights are frozen.

type Arr = ArrayLike<number>;

/** RMSNorm (Llama): out [N, C] = inp·rstd·weight[C], rstd[n] = 1/√(mean(inp²) + eps). */
export function rmsnormForwardRef(a: { N: number; C: number; eps: number; inp: Arr; weight: Arr; out: Float64Array; rstd: Float64Array }): void {
  const { N, C } = a;
  for (let n = 0; n < N; n++) {
    const b = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += a.inp[b + c] * a.inp[b + c];
    const r = 1 / Math.sqrt(ss / C + a.eps);
    for (let c = 0; c < C; c++) a.out[b + c] = a.inp[b + c] * r * a.weight[c];
    a.rstd[n] = r;
  }
}

/** dinp = r * (w*dout - inp * r^2 * sum(dout*w*inp) / C); dinp += with accumulate. */
export function rmsnormBackwardRef(a: { N: number; C: number; inp: Arr; weight: Arr; rstd: Arr; dout: Arr; dinp: Float64Array; accumulate: boolean }): void {
  const { N, C } = a;
  for (let n = 0; n < N; n++) {
    const b = n * C;
    const r = a.rstd[n];
    let s = 0;
    for (let c = 0; c < C; c++) s += a.dout[b + c] * a.weight[c] * a.inp[b + c];
    const k = (r * r * s) / C;
    for (let c = 0; c < C; c++) {
      const g = r * (a.dout[b + c] * a.weight[c] - a.inp[b + c] * k);
      a.dinp[b + c] = a.accumulate ? a.dinp[b + c] + g : g;
    }
  }
}

/** LayerNorm (GPT-2): out [N, C] = (inp − mean)·rstd·weight + bias, with mean[n] and rstd[n] = 1/√(var + eps) (biased variance). */
export function layernormForwardRef(a: {
  N: number; C: number; eps: number; inp: Arr; weight: Arr; bias: Arr; out: Float64Array; mean: Float64Array; rstd: Float64Array;
}): void {
  const { N, C } = a;
  for (let n = 0; n < N; n++) {
    const b = n * C;
    let s = 0;
    for (let c = 0; c < C; c++) s += a.inp[b + c];
    const mu = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (a.inp[b + c] - mu) ** 2;
    const r = 1 / Math.sqrt(v / C + a.eps);
    for (let c = 0; c < C; c++) a.out[b + c] = (a.inp[b + c] - mu) * r * a.weight[c] + a.bias[c];
    a.mean[n] = mu;
    a.rstd[n] = r;
  }
}

/** norm = (inp-mean)*rstd, dnorm = w*dout; dinp = rstd*(dnorm - mean(dnorm) - norm*mean(dnorm*norm)). */
export function layernormBackwardRef(a: {
  N: number; C: number; inp: Arr; weight: Arr; mean: Arr; rstd: Arr; dout: Arr; dinp: Float64Array; accumulate: boolean;
}): void {
  const { N, C } = a;
  for (let n = 0; n < N; n++) {
    const b = n * C;
    const mu = a.mean[n], r = a.rstd[n];
    let m1 = 0, m2 = 0;
    for (let c = 0; c < C; c++) {
      const dnorm = a.weight[c] * a.dout[b + c];
      m1 += dnorm;
      m2 += dnorm * (a.inp[b + c] - mu) * r;
    }
    m1 /= C;
    m2 /= C;
    for (let c = 0; c < C; c++) {
      const norm = (a.inp[b + c] - mu) * r;
      const g = r * (a.weight[c] * a.dout[b + c] - m1 - norm * m2);
      a.dinp[b + c] = a.accumulate ? a.dinp[b + c] + g : g;
    }
  }
}
