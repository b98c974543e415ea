// float64 references for shaders/elementwise.wgsl (same argument names as ops/elementwise.ts).
// dropoutKeep reproduces the shader's integer hash exactly, so masks compare bit for bit.

type Arr = ArrayLike<number>;

/** out = a + b, n elements. */
export function addRef(a: { n: number; a: Arr; b: Arr; out: Float64Array }): void {
  for (let i = 0; i < a.n; i++) a.out[i] = a.a[i] + a.b[i];
}

/** out += scale·inp (scale default 1), n elements. */
export function accumulateRef(a: { n: number; inp: Arr; out: Float64Array; scale?: number }): void {
  const s = a.scale ?? 1;
  for (let i = 0; i < a.n; i++) a.out[i] += s * a.inp[i];
}

/** PCG-RXS-M-XS 32-bit hash, as in the shader (u32 wrap-around arithmetic). */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Whether element `index` survives dropout with probability p for this seed and salt. */
export function dropoutKeep(seed: number, salt: number, index: number, p: number): boolean {
  const key = pcg((seed ^ pcg(salt)) >>> 0);
  const h = pcg((pcg(index) + key) >>> 0);
  const thr = Math.min(2 ** 24, Math.ceil(p * 2 ** 24));
  return h >>> 8 >= thr;
}

/** Inverted dropout: out = keep ? inp / (1 - p) : 0. */
export function dropoutRef(a: { n: number; inp: Arr; out: Float64Array; seed: number; salt: number; p: number }): void {
  for (let i = 0; i < a.n; i++) a.out[i] = dropoutKeep(a.seed, a.salt, i, a.p) ? a.inp[i] / (1 - a.p) : 0;
}
