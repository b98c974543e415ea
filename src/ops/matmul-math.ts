// The arithmetic of the dense matmul core (shaders/matmul_vec4.wgsl): f32, or f16 tiles and products
// with f32 accumulation where the device has 'shader-f16' (the HALF / HALF_F16 defines), and the
// check that a device can run the f16 path.
import { GpuError, type GpuContext } from '../gpu/context';

/**
 * How the dense matmul core computes: 'f32' (default); 'f16': op(A), op(B) rounded to f16 in
 * workgroup memory, each 4-term dot formed in f16, accumulated in f32 (needs a device created with
 * 'shader-f16'); 'f16-emulated': the f16 path's code with f32 in place of f16 (its indexing and
 * staging, proven by tests on adapters without the feature; f32 accuracy).
 */
export type MatmulMath = 'f32' | 'f16' | 'f16-emulated';

/** True when the device was created with 'shader-f16' (the f16 path can compile). */
export function deviceHasF16(ctx: GpuContext): boolean {
  return ctx.device.features.has('shader-f16');
}

/**
 * Why `ctx` cannot run f16 matmul math, in words that say what to do; null when it can (the
 * device was created with 'shader-f16'). `setting` names the option that asked for it.
 */
export function f16MathUnavailable(ctx: GpuContext, setting: string): string | null {
  if (deviceHasF16(ctx)) return null;
  const gpu = `${ctx.adapter.vendor} ${ctx.adapter.description}`.trim();
  return ctx.adapter.hasF16
    ? `${setting} needs the device to be created with the 'shader-f16' feature (acquireDevice(gpu, { wantF16: true })); this one was created without it`
    : `${setting} needs a GPU with the WebGPU 'shader-f16' feature, and this adapter (${gpu}) has none; use f32 matmul math`;
}

/** The shader defines of `math`; throws GpuError (labelled) for 'f16' on a device without 'shader-f16'. */
export function mathDefines(ctx: GpuContext, label: string, math: MatmulMath = 'f32'): { HALF: boolean; HALF_F16: boolean } {
  if (math === 'f16') {
    const why = f16MathUnavailable(ctx, "matmul math 'f16'");
    if (why) throw new GpuError(`${label}: ${why}`);
  }
  return { HALF: math !== 'f32', HALF_F16: math === 'f16' };
}
