// Device acquisition for the engine. Works on any `GPU` object: `navigator.gpu` in the browser or
// worker, the `webgpu` package's `create()` in Node. Knows nothing of either host.

/**
 * What the engine needs to know of the chosen adapter: identity strings, software or not, optional
 * features, and the limits (bytes, except invocations) it raised the device's limits to.
 */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  /** True for a software rasterizer (SwiftShader) or an adapter the browser marks as fallback. */
  isSoftware: boolean;
  hasF16: boolean;
  hasSubgroups: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

/**
 * No WebGPU adapter, or the adapter refused to create a device (thrown by acquireDevice; the message
 * says what to install or enable).
 */
class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/** Options of acquireDevice. */
interface AcquireOptions {
  /** Ask for 'shader-f16' when the adapter has it (only f16 matmul math needs it: ops/matmul-math.ts). */
  wantF16?: boolean;
  /** Ask for 'subgroups' when the adapter has it (GpuContext's subgroup reductions need it). */
  wantSubgroups?: boolean;
  /** Ask for 'timestamp-query' when the adapter has it (the benchmark's --profile). */
  wantTimestamps?: boolean;
  /** Called once if the device is lost, with a message meant for the user. */
  onLost?: (message: string) => void;
}

function summarize(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.toLowerCase();
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || '',
    description: info.description || '',
    isSoftware: fallback || text.includes('swiftshader') || text.includes('llvmpipe') || text.includes('lavapipe'),
    hasF16: adapter.features.has('shader-f16'),
    hasSubgroups: adapter.features.has('subgroups'),
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
  };
}

/**
 * Picks an adapter (a real GPU first: high-performance, then any, then a fallback adapter) and
 * requests a device with the limits raised to what the adapter allows, since model weights
 * quickly exceed the 128 MiB default binding size. Throws GpuUnavailableError when no adapter is
 * found or requestDevice fails; a later device loss is reported once through `opts.onLost`.
 */
export async function acquireDevice(gpu: GPU, opts: AcquireOptions = {}): Promise<{ device: GPUDevice; adapter: AdapterSummary }> {
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) adapter = await gpu.requestAdapter();
  if (!adapter) adapter = await gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) {
    throw new GpuUnavailableError(
      'No WebGPU adapter is available. In a browser use a recent Chrome or Edge (or enable WebGPU under chrome://flags); ' +
        'on Linux without a GPU, install Chromium (its SwiftShader Vulkan driver) so the software adapter can be used.',
    );
  }
  const summary = summarize(adapter);
  const requiredFeatures: GPUFeatureName[] = [];
  if (opts.wantF16 && summary.hasF16) requiredFeatures.push('shader-f16');
  if (opts.wantSubgroups && summary.hasSubgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (opts.wantTimestamps && adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const lim = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
    maxBufferSize: lim.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(lim.maxStorageBuffersPerShaderStage, 10),
    maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: lim.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new GpuUnavailableError(`The GPU adapter refused to create a device: ${(e as Error).message}`);
  }
  device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    opts.onLost?.(
      `The GPU device was lost (${info.message || 'no reason given'}). This happens when the driver resets, ` +
        'the GPU runs out of memory, or the tab was in the background too long. Training resumes from the last checkpoint.',
    );
  });
  return { device, adapter: summary };
}
