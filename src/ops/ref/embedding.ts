// float64 reference for shaders/embedding.wgsl (same argument names as ops/embedding.ts).

type Arr = ArrayLike<number>;

/** out [N, C] = wte[tokens[n]] (+ wpe[pos[n]] when both are given: GPT-2's learned positions); wte [V, C], wpe [n_positions, C]. */
export function embeddingForwardRef(a: { N: number; C: number; tokens: Arr; wte: Arr; out: Float64Array; pos?: Arr; wpe?: Arr }): void {
  const { N, C } = a;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let v = a.wte[a.tokens[n] * C + c];
      if (a.wpe && a.pos) v += a.wpe[a.pos[n] * C + c];
      a.out[n * C + c] = v;
    }
  }
}
