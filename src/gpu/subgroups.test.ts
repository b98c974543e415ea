// GpuContext.subgroups: shaders/common/wg_reduce.wgsl's subgroup variant, driven directly by a
// probe kernel at every power-of-two WG from 1 to 256 (below, at and above any subgroup size),
// against float64 sums and exact maxima; every thread must get the same value; two runs must be
// bitwise equal. And the Errors when the device or the adapter lacks 'subgroups' (the constructor,
// useSubgroups, and a run's config through applyRunDevice), in each host's words. The ops that
// include wg_reduce are tested on both paths in their own files (reductionPaths).
import { describe, expect, it } from 'vitest';
import { randn, rng, testContext, testContextSubgroups } from '../test/gpu';
import { GpuContext, GpuError, subgroupsUnavailable } from './context';
import { cliMessage } from '../cli/options';
import { studioMessage } from '../plan/knobs';
import { rmsnormForward } from '../ops/norm';
import { applyRunDevice } from '../train/run';
import { renderWorded } from '../options';
import type { AdapterSummary } from './device';
import { Program } from './program';
import { preprocess } from './shaders';

const ctxSg = await testContextSubgroups();
const SKIP = ctxSg ? '' : ' (skipped: the adapter has no subgroups feature)';

// out[0..WG): wgSum(v); [WG..2WG): wgMax(v); [2WG..3WG): wgReduceSum of v; [3WG..4WG):
// wgReduceMax of v (red refilled between calls, as the contract asks); [4WG..5WG): subgroup_size.
const PROBE = `#if SUBGROUPS
enable subgroups;
#endif
const WG: u32 = {{WG}}u;
@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
var<workgroup> red: array<f32, {{WG}}>;
#include "common/wg_reduce.wgsl"
@compute @workgroup_size({{WG}})
fn main(
#if SUBGROUPS
        @builtin(subgroup_size) sgSizeIn: u32,
#endif
        @builtin(local_invocation_index) tid: u32) {
#if SUBGROUPS
  out[4u * WG + tid] = f32(sgSizeIn);
#endif
  let v = inp[tid];
  out[tid] = wgSum(tid, v);
  out[WG + tid] = wgMax(tid, v);
  red[tid] = v;
  workgroupBarrier();
  let s = wgReduceSum(tid);
  workgroupBarrier();
  red[tid] = v;
  workgroupBarrier();
  let m = wgReduceMax(tid);
  out[2u * WG + tid] = s;
  out[3u * WG + tid] = m;
}
`;

async function probe(ctx: GpuContext, WG: number, v: Float32Array): Promise<Float32Array> {
  const c = new GpuContext(ctx.device, ctx.adapter, { ...ctx.shaders, 'test/wg_reduce_probe': PROBE }, { subgroups: ctx.subgroups });
  const k = c.kernel({ shader: 'test/wg_reduce_probe', bindings: ['read', 'rw'], defines: { WG, SUBGROUPS: c.subgroups } });
  const out = c.createBuffer('out', 5 * WG * 4);
  c.run(new Program('probe').dispatch(c.dispatch('probe', k, [c.upload('inp', v), out], [1])));
  return c.readF32(out, 0, 5 * WG);
}

describe('wg_reduce subgroup variant', () => {
  it.skipIf(!ctxSg)(`ctx.subgroups selects it: the preprocessed source uses subgroup operations, the tree's does not${SKIP}`, async () => {
    const ctx = ctxSg!;
    expect(ctx.subgroups).toBe(true);
    expect(ctx.device.features.has('subgroups')).toBe(true);
    expect((await testContext()).subgroups).toBe(false);
    // The code without its comments (the headers name the subgroup builtins either way).
    const src = (sg: boolean) => preprocess(ctx.shaders, 'norm', { LAYERNORM: false, BACKWARD: false, W_F16: false, WG: 64, SUBGROUPS: sg }).replace(/\/\/.*$/gm, '');
    expect(src(true)).toMatch(/^enable subgroups;/m);
    expect(src(true)).toContain('subgroupAdd(');
    expect(src(false)).not.toMatch(/^enable subgroups;|subgroup[A-Z]/m);
  });

  for (const WG of [1, 2, 4, 8, 16, 32, 64, 128, 256]) {
    it.skipIf(!ctxSg)(`WG=${WG}: sums within f32 rounding of float64, exact max, the same value in every thread, bitwise repeatable${SKIP}`, async () => {
      const ctx = ctxSg!;
      const r = rng(WG * 31 + 5);
      const v = Float32Array.from(randn(WG, r, 3).map((x) => x + 0.5));
      const got = await probe(ctx, WG, v);
      const sum = Array.from(v).reduce((a, b) => a + b, 0);
      const abs = Array.from(v).reduce((a, b) => a + Math.abs(b), 0);
      const max = Math.max(...v);
      const sg = got[4 * WG];
      expect(sg).toBeGreaterThanOrEqual(1); // the subgroup size the device reports (SwiftShader: 4)
      for (let t = 0; t < WG; t++) {
        expect(got[t], `wgSum thread ${t}`).toBe(got[0]);
        expect(got[2 * WG + t], `wgReduceSum thread ${t}`).toBe(got[0]);
        expect(got[WG + t], `wgMax thread ${t}`).toBe(max);
        expect(got[3 * WG + t], `wgReduceMax thread ${t}`).toBe(max);
        expect(got[4 * WG + t]).toBe(sg);
      }
      expect(Math.abs(got[0] - sum)).toBeLessThanOrEqual(abs * WG * 2 ** -24 + 1e-30);
      expect(Array.from(await probe(ctx, WG, v))).toEqual(Array.from(got));
    });
  }

  it.skipIf(!ctxSg)(`the tree and the subgroup variant agree within rounding at WG=256${SKIP}`, async () => {
    const r = rng(77);
    const v = Float32Array.from(randn(256, r, 1));
    const tree = await probe(await testContext(), 256, v);
    const sub = await probe(ctxSg!, 256, v);
    const abs = Array.from(v).reduce((a, b) => a + Math.abs(b), 0);
    expect(Math.abs(tree[0] - sub[0])).toBeLessThanOrEqual(abs * 256 * 2 ** -24);
    expect(sub[256]).toBe(tree[256]);
  });
});

describe('asking for subgroups without the feature', () => {
  it('a device created without it: an Error naming the feature and acquireDevice wantSubgroups', async () => {
    const ctx = await testContext();
    expect(ctx.device.features.has('subgroups')).toBe(false); // testContext does not ask for it
    const adapter: AdapterSummary = { ...ctx.adapter, hasSubgroups: true };
    expect(() => new GpuContext(ctx.device, adapter, ctx.shaders, { subgroups: true })).toThrow(
      "Subgroup reductions need the device to be created with the 'subgroups' feature (acquireDevice(gpu, { wantSubgroups: true })); this one was created without it.",
    );
  });

  it('an adapter without it: a GpuError naming the GPU and the option, as --subgroups in the CLI and the knob in the studio', async () => {
    const ctx = await testContext();
    const adapter: AdapterSummary = { ...ctx.adapter, vendor: 'acme', description: 'GPU 9', hasSubgroups: false };
    const why = subgroupsUnavailable(ctx.device, adapter)!;
    expect(renderWorded(why)).toBe("Subgroup reductions need a GPU with the WebGPU 'subgroups' feature, and acme GPU 9 has none: turn off subgroup reductions.");
    const err = (() => {
      try {
        new GpuContext(ctx.device, adapter, ctx.shaders, { subgroups: true });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(GpuError);
    expect((err as GpuError).option).toBe('subgroups');
    expect(cliMessage(err)).toBe("Subgroup reductions need a GPU with the WebGPU 'subgroups' feature, and acme GPU 9 has none: turn off --subgroups.");
    expect(studioMessage(err)).toBe("Subgroup reductions need a GPU with the WebGPU 'subgroups' feature, and acme GPU 9 has none: turn off “Subgroup reductions”.");
    expect(new GpuContext(ctx.device, adapter, ctx.shaders).subgroups).toBe(false);
  });

  it('useSubgroups(true) throws the constructor\'s error and leaves the context off; useSubgroups(false) always works', async () => {
    const ctx = await testContext();
    const adapter: AdapterSummary = { ...ctx.adapter, vendor: 'acme', description: 'GPU 9', hasSubgroups: false };
    const c = new GpuContext(ctx.device, adapter, ctx.shaders);
    expect(() => c.useSubgroups(true)).toThrow(GpuError);
    expect(() => c.useSubgroups(true)).toThrow(/acme GPU 9 has none: turn off subgroup reductions/);
    expect(c.subgroups).toBe(false);
    c.useSubgroups(false);
    expect(c.subgroups).toBe(false);
  });

  it('a run config asking for them (applyRunDevice) throws the same error; one without the field leaves the context as it is', async () => {
    const ctx = await testContext();
    const adapter: AdapterSummary = { ...ctx.adapter, vendor: 'acme', description: 'GPU 9', hasSubgroups: false, hasF16: false };
    const c = new GpuContext(ctx.device, adapter, ctx.shaders);
    expect(() => applyRunDevice(c, { subgroups: true })).toThrow(/acme GPU 9 has none: turn off subgroup reductions/);
    applyRunDevice(c, {});
    applyRunDevice(c, { subgroups: false });
    expect(c.subgroups).toBe(false);
  });

  it('f16 matmul math on an adapter without shader-f16 (applyRunDevice): the option named with its value, per host', async () => {
    const ctx = await testContext();
    const adapter: AdapterSummary = { ...ctx.adapter, vendor: 'acme', description: 'GPU 9', hasF16: false };
    const c = new GpuContext(ctx.device, adapter, ctx.shaders);
    let err: unknown = null;
    try {
      applyRunDevice(c, { matmulMath: 'f16' });
    } catch (e) {
      err = e;
    }
    expect((err as GpuError).option).toBe('matmulMath');
    expect(cliMessage(err)).toBe("--matmul-math f16 needs a GPU with the WebGPU 'shader-f16' feature, and this one (acme GPU 9) has none: use --matmul-math f32.");
    expect(studioMessage(err)).toBe("“Matmul math”: f16 needs a GPU with the WebGPU 'shader-f16' feature, and this one (acme GPU 9) has none: use “Matmul math”: f32.");
    expect(() => applyRunDevice(c, { matmulMath: 'f32' })).not.toThrow();
  });
});

describe('useSubgroups: one device, many runs', () => {
  it.skipIf(!ctxSg)(`switches the kernels a norm op builds; both variants stay cached and usable${SKIP}`, async () => {
    const c = new GpuContext(ctxSg!.device, ctxSg!.adapter, ctxSg!.shaders);
    expect(c.subgroups).toBe(false);
    const C = 40;
    const N = 3;
    const r = rng(9);
    const inp = c.upload('inp', Float32Array.from(randn(N * C, r)));
    const weight = c.upload('w', Float32Array.from(randn(C, r)));
    const norm = () => {
      const out = c.createBuffer('out', N * C * 4);
      const rstd = c.createBuffer('rstd', N * 4);
      return { d: rmsnormForward(c, 'norm', { N, C, eps: 1e-5, inp, weight, out, rstd }), out };
    };
    const src = (d: { kernel: { spec: { shader: string; defines?: Record<string, unknown> } } }) =>
      preprocess(c.shaders, d.kernel.spec.shader, d.kernel.spec.defines as Parameters<typeof preprocess>[2]).replace(/\/\/.*$/gm, ''); // code only, without comments
    const tree = norm();
    expect(src(tree.d)).not.toContain('subgroupAdd(');
    c.useSubgroups(true);
    expect(c.subgroups).toBe(true);
    const sub = norm();
    expect(sub.d.kernel).not.toBe(tree.d.kernel);
    expect(src(sub.d)).toContain('subgroupAdd(');
    c.useSubgroups(false);
    expect(norm().d.kernel).toBe(tree.d.kernel); // the cached tree pipeline again
    // Both graphs still run after the switch, and agree within rounding.
    c.run(new Program('both').dispatch(tree.d).dispatch(sub.d));
    const a = await c.readF32(tree.out, 0, N * C);
    const b = await c.readF32(sub.out, 0, N * C);
    for (let i = 0; i < N * C; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(a[i])));
  });
});
