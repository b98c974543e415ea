// float64 references for shaders/activation.wgsl (same argument names as ops/activation.ts).

type Arr = ArrayLike<number>;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** h[n, f] = silu(gate) * up with gate = gu[n, f], up = gu[n, FF + f]. */
export function swigluForwardRef(a: { N: number; FF: number; gu: Arr; h: Float64Array }): void {
  const { N, FF } = a;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < FF; f++) {
      const gate = a.gu[n * 2 * FF + f], up = a.gu[n * 2 * FF + FF + f];
      a.h[n * FF + f] = gate * sigmoid(gate) * up;
    }
  }
}

/** Backward of swigluForwardRef: dgu [N, 2·FF] (gate half then up half) from dh [N, FF]. */
export function swigluBackwardRef(a: { N: number; FF: number; gu: Arr; dh: Arr; dgu: Float64Array }): void {
  const { N, FF } = a;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < FF; f++) {
      const j = n * 2 * FF + f;
      const gate = a.gu[j], up = a.gu[j + FF], d = a.dh[n * FF + f];
      const s = sigmoid(gate);
      a.dgu[j] = d * up * s * (1 + gate * (1 - s));
      a.dgu[j + FF] = d * gate * s;
    }
  }
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** GELU, tanh approximation (GPT-2's gelu_new): out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), n elements. */
export function geluForwardRef(a: { n: number; inp: Arr; out: Float64Array }): void {
  for (let i = 0; i < a.n; i++) {
    const x = a.inp[i];
    a.out[i] = 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_C * x ** 3)));
  }
}

/** dinp = dout · d gelu(x)/dx for the tanh approximation, n elements. */
export function geluBackwardRef(a: { n: number; inp: Arr; dout: Arr; dinp: Float64Array }): void {
  for (let i = 0; i < a.n; i++) {
    const x = a.inp[i];
    const t = Math.tanh(GELU_K * (x + GELU_C * x ** 3));
    const local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x);
    a.dinp[i] = a.dout[i] * local;
  }
}
