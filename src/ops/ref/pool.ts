// float64 references for shaders/pool.wgsl.
/** QA-LoRA's group average pooling: returns [N, C/g], the mean of each g consecutive columns of inp [N, C]. */
export function groupPoolRef(N: number, C: number, g: number, inp: ArrayLike<number>): Float64Array {
  const L = C / g;
  const out = new Float64Array(N * L);
  for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) {
    let s = 0;
    for (let j = 0; j < g; j++) s += inp[n * C + l * g + j];
    out[n * L + l] = s / g;
  }
  return out;
}

/** Backward of groupPoolRef: dinp [N, C] = scale·dout[n, ⌊c/g⌋] with dout [N, C/g] (+= when accumulate). */
export function groupUnpoolRef(N: number, C: number, g: number, dout: ArrayLike<number>, dinp: Float64Array, scale: number, accumulate: boolean): void {
  const L = C / g;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const v = scale * dout[n * L + Math.floor(c / g)];
    dinp[n * C + c] = accumulate ? dinp[n * C + c] + v : v;
  }
}
