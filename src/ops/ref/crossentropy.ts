// float64 references for shaders/crossentropy.wgsl (same argument names as ops/crossentropy.ts).

type Arr = ArrayLike<number>;

const ignored = (t: number, V: number) => !(t >= 0 && t < V);

function logSumExp(x: Arr, base: number, V: number): { max: number; lse: number } {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, x[base + v]);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(x[base + v] - max);
  return { max, lse: max + Math.log(s) };
}

/** losses[n] = logsumexp(logits[n]) - logits[n, targets[n]]; 0 when the target is outside [0, V) (e.g. -100). */
export function crossEntropyForwardRef(a: { N: number; V: number; logits: Arr; targets: Arr; losses: Float64Array }): void {
  const { N, V } = a;
  for (let n = 0; n < N; n++) {
    const t = a.targets[n];
    if (ignored(t, V)) {
      a.losses[n] = 0;
      continue;
    }
    const { max, lse } = logSumExp(a.logits, n * V, V);
    a.losses[n] = max - a.logits[n * V + t] + (lse - max);
  }
}

/** dlogits = d(scale * sum(losses)) / dlogits = (softmax(logits[n]) - onehot(target)) * scale; zero rows when ignored. */
export function crossEntropyBackwardRef(a: { N: number; V: number; logits: Arr; targets: Arr; scale: number; dlogits: Float64Array }): void {
  const { N, V } = a;
  for (let n = 0; n < N; n++) {
    const t = a.targets[n];
    const b = n * V;
    if (ignored(t, V)) {
      for (let v = 0; v < V; v++) a.dlogits[b + v] = 0;
      continue;
    }
    const { lse } = logSumExp(a.logits, b, V);
    for (let v = 0; v < V; v++) a.dlogits[b + v] = (Math.exp(a.logits[b + v] - lse) - (v === t ? 1 : 0)) * a.scale;
  }
}

/** out[outIndex] = sum of losses[0..N) (added to the old value when accumulate). */
export function lossReduceRef(a: { N: number; losses: Arr; out: Float64Array; outIndex: number; accumulate: boolean }): void {
  let s = 0;
  for (let n = 0; n < a.N; n++) s += a.losses[n];
  a.out[a.outIndex] = (a.accumulate ? a.out[a.outIndex] : 0) + s;
}
