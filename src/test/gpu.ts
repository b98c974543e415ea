// Test helpers (Node only): one shared GPU context per test file, random data, comparisons.
import { createNodeContext } from '../cli/node-gpu';
import type { GpuContext } from '../gpu/context';
import { mulberry32 } from '../util/random';

let ctxPromise: Promise<GpuContext> | null = null;
export function testContext(): Promise<GpuContext> {
  ctxPromise ??= createNodeContext();
  return ctxPromise;
}

let f16Promise: Promise<GpuContext | null> | null = null;
/**
 * A second context whose device was created with 'shader-f16' (for the f16 matmul math tests), or
 * null when the test adapter has no shader-f16 (SwiftShader): no second device is made then.
 */
export function testContextF16(): Promise<GpuContext | null> {
  f16Promise ??= testContext().then((ctx) => (ctx.adapter.hasF16 ? createNodeContext(undefined, false, true) : null));
  return f16Promise;
}

let sgPromise: Promise<GpuContext | null> | null = null;
/**
 * A second context with GpuContext.subgroups on (its device asked for 'subgroups'), or null when
 * the test adapter has no 'subgroups' feature: no second device is made then.
 */
export function testContextSubgroups(): Promise<GpuContext | null> {
  sgPromise ??= testContext().then((ctx) => (ctx.adapter.hasSubgroups ? createNodeContext(undefined, false, false, true) : null));
  return sgPromise;
}

/**
 * The two paths of the row-reduction kernels (shaders/common/wg_reduce.wgsl), for tests that run
 * each case on both: the tree on testContext (tag ''), and subgroups on testContextSubgroups (ctx
 * null where the adapter has no 'subgroups' feature; the tag then says the test is skipped, why).
 */
export async function reductionPaths(): Promise<{ tag: string; ctx: GpuContext | null }[]> {
  const sg = await testContextSubgroups();
  return [
    { tag: '', ctx: await testContext() },
    { tag: sg ? ' [subgroups]' : ' [subgroups: skipped, the adapter has no subgroups feature]', ctx: sg },
  ];
}

/** Deterministic PRNG (the engine's mulberry32) so failures reproduce. */
export const rng = mulberry32;

export function randn(n: number, r: () => number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

export function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a);
}

/** Largest |a-b| / (atol + rtol*|b|); <= 1 means within tolerance. */
function maxErrRatio(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!Number.isFinite(a[i])) return Infinity;
    worst = Math.max(worst, d / (atol + rtol * Math.abs(b[i])));
  }
  return worst;
}

export function expectClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-4, rtol = 1e-3): void {
  const r = maxErrRatio(got, want, atol, rtol);
  if (!(r <= 1)) {
    let idx = 0;
    let worst = -1;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i] - want[i]) / (atol + rtol * Math.abs(want[i]));
      if (!(d <= worst)) {
        worst = d;
        idx = i;
      }
    }
    throw new Error(`${name}: mismatch ratio ${r.toFixed(3)} at [${idx}]: got ${got[idx]}, want ${want[idx]}`);
  }
}

/** Central finite differences (float64) of loss(x) = sum(f(x) * w) with respect to x. */
export function numericGrad(f: (x: Float64Array) => Float64Array, x: Float64Array, w: Float64Array, eps = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  const loss = (xx: Float64Array) => f(xx).reduce((s, v, i) => s + v * w[i], 0);
  for (let i = 0; i < x.length; i++) {
    const xp = Float64Array.from(x), xm = Float64Array.from(x);
    xp[i] += eps;
    xm[i] -= eps;
    g[i] = (loss(xp) - loss(xm)) / (2 * eps);
  }
  return g;
}
