// float64 references for shaders/pool.wgsl.
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

export function groupUnpoolRef(N: number, C: number, g: number, dout: ArrayLike<number>, dinp: Float64Array, scale: number, accumulate: boolean): void {
  const L = C / g;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const v = scale * dout[n * L + Math.floor(c / g)];
    dinp[n * C + c] = accumulate ? dinp[n * C + c] + v : v;
  }
}
