// GpuContext's readbacks on a device that reported an error no error scope caught.
import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';

describe('GpuContext: uncaught GPU errors', () => {
  it('a shader that does not compile makes the next readback throw its message, once', async () => {
    const ctx = await testContext();
    const buf = ctx.createBuffer('context.test.buf', 16);
    ctx.write(buf, new Float32Array([1, 2, 3, 4]));
    expect(Array.from(await ctx.readF32(buf))).toEqual([1, 2, 3, 4]);
    const module = ctx.device.createShaderModule({ label: 'broken', code: 'fn main( { }' });
    ctx.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    await expect(ctx.readF32(buf)).rejects.toThrow(/GPU error before this readback.*WGSL/);
    // Reported once: the readback after it succeeds.
    expect(Array.from(await ctx.readF32(buf))).toEqual([1, 2, 3, 4]);
  });
});
