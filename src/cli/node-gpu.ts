// Node host for the engine: the `webgpu` package (Dawn) plus shaders read from disk.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, sep } from 'node:path';
import { GpuContext } from '../gpu/context';
import { acquireDevice } from '../gpu/device';
import { libraryFromFiles, type ShaderLibrary } from '../gpu/shaders';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const liveInstances: GPU[] = [];

const SHADER_DIR = fileURLToPath(new URL('../../shaders/', import.meta.url));

/** Every .wgsl under `dir` (subfolders included: common/ holds the includes), keyed by its path under `dir`. */
export function loadShaderLibrary(dir = SHADER_DIR): ShaderLibrary {
  const files: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (f.endsWith('.wgsl')) files[f.split(sep).join('/')] = readFileSync(join(dir, f), 'utf8');
  }
  return libraryFromFiles(files);
}

/**
 * Dawn's WebGPU entry point (the Node counterpart of navigator.gpu). A real GPU's
 * Vulkan/Metal/D3D driver is preferred; Chromium's SwiftShader Vulkan driver is added beside the
 * system drivers (not instead of them) as a fallback for machines without a GPU.
 */
export async function nodeGpu(): Promise<GPU> {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD)) {
    const prev = process.env.VK_ADD_DRIVER_FILES;
    process.env.VK_ADD_DRIVER_FILES = prev ? `${prev}:${SWIFTSHADER_ICD}` : SWIFTSHADER_ICD;
  }
  // Mesa's lavapipe is too old for Dawn, which rejects it with a multi-line warning on every start;
  // keep it out of the Vulkan loader's driver list (the user's own setting wins).
  process.env.VK_LOADER_DRIVERS_DISABLE ??= '*lvp_icd*';
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  // Keep the Dawn instance reachable for the life of the process: if it is garbage-collected,
  // Dawn tears down the instance under the live device and SwiftShader's threads crash.
  const gpu = create([]);
  liveInstances.push(gpu);
  return gpu;
}

/**
 * Creates a GpuContext on Dawn (nodeGpu) with the shaders read from disk; `wantF16` asks for
 * 'shader-f16' where the adapter has it (f16 matmul math; check ctx.device.features).
 * `subgroups` asks for the 'subgroups' feature and turns on GpuContext.subgroups; it throws an
 * Error (GpuContext's) when the adapter has no 'subgroups'.
 */
export async function createNodeContext(onLost?: (msg: string) => void, wantTimestamps = false, wantF16 = false, subgroups = false): Promise<GpuContext> {
  const { device, adapter } = await acquireDevice(await nodeGpu(), { onLost, wantTimestamps, wantF16, wantSubgroups: subgroups });
  return new GpuContext(device, adapter, loadShaderLibrary(), { subgroups });
}
