// float64 reference for the matmul family (same argument names as ops/matmul.ts).

/** As MatmulArgs: out[M, N] = alpha·op(A)·op(B) + bias[offBias + n] + beta·out; leading dimensions and offsets in elements. */
interface MatmulRefArgs {
  M: number;
  N: number;
  K: number;
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  out: Float64Array;
  transA?: boolean;
  transB?: boolean;
  lda?: number;
  ldb?: number;
  ldc?: number;
  offA?: number;
  offB?: number;
  offC?: number;
  alpha?: number;
  beta?: number;
  bias?: ArrayLike<number>;
  offBias?: number;
}

/** float64 reference of the matmul kernels (see MatmulRefArgs); writes out in place. */
export function matmulRef(a: MatmulRefArgs): void {
  const { M, N, K } = a;
  const lda = a.lda ?? (a.transA ? M : K);
  const ldb = a.ldb ?? (a.transB ? K : N);
  const ldc = a.ldc ?? N;
  const oA = a.offA ?? 0, oB = a.offB ?? 0, oC = a.offC ?? 0;
  const alpha = a.alpha ?? 1, beta = a.beta ?? 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = a.transA ? a.A[oA + k * lda + m] : a.A[oA + m * lda + k];
        const bv = a.transB ? a.B[oB + n * ldb + k] : a.B[oB + k * ldb + n];
        s += av * bv;
      }
      let v = alpha * s;
      if (a.bias) v += a.bias[(a.offBias ?? 0) + n];
      const idx = oC + m * ldc + n;
      if (beta !== 0) v += beta * a.out[idx];
      a.out[idx] = v;
    }
  }
}
