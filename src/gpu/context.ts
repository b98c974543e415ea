// The engine's handle on a GPUDevice: pipeline cache, buffer accounting and pool, a uniform
// arena, bind groups built once into Dispatches, readback. Programs (pre-built lists of
// dispatches, recorded each step without creating any GPU object) are in program.ts.
// Over 400 lines (~430) because it is one class: the pipeline cache, buffers and readback share the
// device's lifetime and its error state, and the subgroup switch (useSubgroups) belongs to it.

import type { AdapterSummary } from './device';
import { preprocess, type Defines, type ShaderLibrary } from './shaders';
import { OptionError, opt, type Worded } from '../options';
import type { Program } from './program';

/** How a shader binding is declared: `var<uniform>`, `var<storage, read>` or `var<storage, read_write>`. */
export type BindingKind = 'uniform' | 'read' | 'rw';

/**
 * A compute pipeline to build: a shader file, its entry point, its binding kinds and its preprocessor
 * defines (see preprocess). Two specs with the same shader, entry and defines share one pipeline.
 */
export interface KernelSpec {
  /** Path of the file under shaders/ without .wgsl (a key of the ShaderLibrary). */
  shader: string;
  entry?: string;
  /** Binding kinds for @group(0) @binding(0..n-1), in order. */
  bindings: BindingKind[];
  defines?: Defines;
}

/** A built pipeline with its bind group layout; `key` is the pipeline cache key (shader:entry:defines). */
export interface Kernel {
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  spec: KernelSpec;
}

/** A range of a buffer, as bound to a shader. Offsets must respect the device's binding alignment. */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}
/** A whole buffer or a slice of one, as passed to GpuContext.dispatch. */
export type Bindable = GPUBuffer | BufferSlice;

/** One compute dispatch with its bind group, built once; `workgroups` is [x, y, z], each at least 1. */
export interface Dispatch {
  label: string;
  kernel: Kernel;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

/**
 * Running counters of a GpuContext. Byte counts are of buffers created through createBuffer (padded
 * to 16 bytes); `peakBytes` is the highest `liveBytes` seen, `bytesReadBack` the total mapped by reads.
 */
interface GpuStats {
  buffersCreated: number;
  /** Buffers created and not yet destroyed through destroyBuffer (with liveBytes: what a long run must not grow). */
  liveBuffers: number;
  /** Bytes of the uniform arena (included in liveBytes). */
  uniformBytes: number;
  liveBytes: number;
  peakBytes: number;
  submissions: number;
  bytesReadBack: number;
}

/**
 * An engine GPU failure meant for the user: a missing shader, a wrong binding count, a buffer above
 * the device's limits, out of memory or a validation error inside `guard`, or a failed readback /
 * lost device. Carries option references (an OptionError) where it suggests what to lower.
 */
export class GpuError extends OptionError {
  override name = 'GpuError';
}

const MAX_WG_PER_DIM = 65535;

/**
 * Why subgroup reductions cannot run on `device` (null when they can), as a Worded message whose
 * option reference (RunOption 'subgroups') each host names its own way (the CLI --subgroups, the
 * studio its “Subgroup reductions” knob): the adapter has no 'subgroups' feature, or the device
 * was created without asking for it.
 */
export function subgroupsUnavailable(device: GPUDevice, adapter: AdapterSummary): Worded | null {
  if (device.features.has('subgroups')) return null;
  if (!adapter.hasSubgroups) {
    const name = `${adapter.vendor ?? ''} ${adapter.description ?? ''}`.trim() || 'this GPU';
    return [`Subgroup reductions need a GPU with the WebGPU 'subgroups' feature, and ${name} has none: turn off `, opt('subgroups'), '.'];
  }
  return ["Subgroup reductions need the device to be created with the 'subgroups' feature (acquireDevice(gpu, { wantSubgroups: true })); this one was created without it."];
}

/** Splits a 1-D workgroup count over x and y (shaders rebuild the linear id with num_workgroups). */
export function grid1d(workgroups: number): [number, number, number] {
  const n = Math.max(1, Math.ceil(workgroups));
  if (n <= MAX_WG_PER_DIM) return [n, 1, 1];
  const y = Math.ceil(n / MAX_WG_PER_DIM);
  return [Math.ceil(n / y), y, 1];
}

/**
 * The engine's handle on one GPUDevice: the pipeline cache (`kernel`), bind groups (`dispatch`),
 * buffers with byte accounting (`createBuffer`, `destroyBuffer`, `stats`), a 64 KiB uniform arena
 * (`uniform`), submission of Programs (`run`) and readback through pooled staging buffers (`read`,
 * `readLater`). Methods throw GpuError as described on each.
 */
export class GpuContext {
  readonly stats: GpuStats = { buffersCreated: 0, liveBuffers: 0, uniformBytes: 0, liveBytes: 0, peakBytes: 0, submissions: 0, bytesReadBack: 0 };
  private readonly pipelines = new Map<string, Kernel>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private arena: { buffer: GPUBuffer; used: number } | null = null;
  private readonly stagingPool: GPUBuffer[] = [];
  readonly uniformAlign: number;
  readonly storageAlign: number;
  /** The message of the last device loss, if any. */
  lostMessage: string | null = null;
  /** The first GPU error no error scope caught since the last readback (thrown by the next one). */
  private uncaptured: string | null = null;
  /**
   * Row reductions (norms, cross-entropy, gradient norm, quantization absmax, KV-cache decode) use
   * subgroup operations (shaders/common/wg_reduce.wgsl, define SUBGROUPS): fewer barriers,
   * deterministic on one device, different from the default tree by rounding. Set by the
   * constructor's option and by useSubgroups; the reduction ops' wrappers read it when they build
   * their kernels, so a graph keeps the variant it was built with.
   */
  get subgroups(): boolean {
    return this.subgroupsOn;
  }
  private subgroupsOn = false;

  /**
   * `opts.subgroups` turns on the subgroup reductions (see `subgroups`); it throws a GpuError when
   * the device was created without the WebGPU 'subgroups' feature, saying whether the adapter
   * lacks it (turn the option off: RunOption 'subgroups') or the device was not asked for it
   * (acquireDevice's wantSubgroups).
   */
  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly shaders: ShaderLibrary,
    opts: { subgroups?: boolean } = {},
  ) {
    this.useSubgroups(opts.subgroups ?? false);
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.storageAlign = device.limits.minStorageBufferOffsetAlignment;
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lostMessage = info.message || 'device lost';
    });
    // An error no error scope caught (a shader that did not compile, a pipeline or bind group the
    // device rejected) would otherwise only reach the console, and the work after it would read
    // stale buffers; the first one is kept and the next readback throws it.
    device.addEventListener('uncapturederror', (e) => {
      this.uncaptured ??= (e as GPUUncapturedErrorEvent).error.message || 'GPU error';
    });
  }

  /**
   * Turns the subgroup reductions on or off for the graphs built from now on (one device, many
   * runs: a host sets each run's RunConfig.subgroups before building its graph). Graphs built
   * earlier keep their kernels: pipelines are cached per define (SUBGROUPS is in the key), so both
   * variants coexist and switching never breaks generation or evaluation built under the other.
   * Turning them on throws the constructor's GpuError when the device lacks 'subgroups'; the
   * setting is then left as it was.
   */
  useSubgroups(on: boolean): void {
    const unavailable = on ? subgroupsUnavailable(this.device, this.adapter) : null;
    if (unavailable) throw new GpuError(unavailable);
    this.subgroupsOn = on;
  }

  // ---- pipelines ----------------------------------------------------------------------------

  /**
   * The pipeline for `spec`, built on first use and cached by shader, entry and defines.
   * Throws GpuError when the shader is not in the library; preprocess errors (bad #if, missing
   * {{NAME}}) propagate as Error.
   */
  kernel(spec: KernelSpec): Kernel {
    const entry = spec.entry ?? 'main';
    const defs = spec.defines ?? {};
    const key = `${spec.shader}:${entry}:${JSON.stringify(Object.entries(defs).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    if (this.shaders[spec.shader] === undefined) throw new GpuError(`shader '${spec.shader}.wgsl' is not in the shader library`);
    const code = preprocess(this.shaders, spec.shader, defs);
    const module = this.device.createShaderModule({ label: key, code });
    const layout = this.device.createBindGroupLayout({
      label: key,
      entries: spec.bindings.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry },
    });
    const k: Kernel = { key, pipeline, layout, spec };
    this.pipelines.set(key, k);
    return k;
  }

  /**
   * A bind group for `resources` (one per binding of `kernel`, in order) and the workgroup counts
   * (missing y/z default to 1, each at least 1). Throws GpuError when the count of resources differs
   * from the kernel's bindings, or when a storage binding is larger than maxStorageBufferBindingSize.
   */
  dispatch(label: string, kernel: Kernel, resources: Bindable[], workgroups: [number, number?, number?]): Dispatch {
    if (resources.length !== kernel.spec.bindings.length) {
      throw new GpuError(`${label}: ${kernel.spec.shader} expects ${kernel.spec.bindings.length} bindings, got ${resources.length}`);
    }
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    const bindGroup = this.device.createBindGroup({
      label,
      layout: kernel.layout,
      entries: resources.map((r, binding) => {
        const s: BufferSlice = 'buffer' in r ? r : { buffer: r as GPUBuffer };
        const size = s.size ?? s.buffer.size - (s.offset ?? 0);
        if (kernel.spec.bindings[binding] !== 'uniform' && size > maxBinding) {
          throw new GpuError(
            `${label}: ${s.buffer.label || 'a buffer'} is ${fmtBytes(size)}, above this GPU's ${fmtBytes(maxBinding)} limit for one shader binding. ` +
              'Use a smaller batch size or sequence length, or a quantized base.',
          );
        }
        return { binding, resource: { buffer: s.buffer, offset: s.offset ?? 0, size: s.size } };
      }),
    });
    const wg: [number, number, number] = [Math.max(1, workgroups[0]), Math.max(1, workgroups[1] ?? 1), Math.max(1, workgroups[2] ?? 1)];
    return { label, kernel, bindGroup, workgroups: wg };
  }

  // ---- buffers ------------------------------------------------------------------------------

  /**
   * A buffer of `size` bytes rounded up to a multiple of 16 (at least 16), counted in `stats`;
   * storage + copy usage by default. Throws GpuError when it exceeds the device's maxBufferSize.
   */
  createBuffer(label: string, size: number, usage: number = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    const padded = Math.max(16, Math.ceil(size / 16) * 16);
    if (padded > this.device.limits.maxBufferSize) {
      throw new GpuError(
        `${label} needs ${fmtBytes(padded)} in one buffer, above this GPU's limit of ${fmtBytes(this.device.limits.maxBufferSize)}. ` +
          'Use a smaller batch size or sequence length, or a quantized base.',
      );
    }
    const buffer = this.device.createBuffer({ label, size: padded, usage });
    this.sizes.set(buffer, padded);
    this.stats.buffersCreated++;
    this.stats.liveBuffers++;
    this.stats.liveBytes += padded;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.liveBytes);
    return buffer;
  }

  /** Destroys a buffer and removes its bytes from `stats.liveBytes`. */
  destroyBuffer(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size !== undefined) {
      this.stats.liveBytes -= size;
      this.stats.liveBuffers--;
      this.sizes.delete(buffer);
    }
    buffer.destroy();
  }

  /** Creates a storage buffer holding `data`. */
  upload(label: string, data: ArrayBufferView, usage?: number): GPUBuffer {
    const buf = this.createBuffer(label, data.byteLength, usage);
    this.write(buf, data);
    return buf;
  }

  /** queue.writeBuffer at `offset` bytes; data whose byte length is not a multiple of 4 is zero-padded. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    // writeBuffer wants a size that is a multiple of 4.
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, offset, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, offset, padded);
    }
  }

  /**
   * Packs scalars (packUniform) into a slot of the shared uniform arena. types: one letter per
   * value, u/i/f, in the order of the fields of the shader's uniform struct (checked against every
   * shader's struct by src/ops/uniform-layout.test.ts).
   */
  uniform(types: string, values: number[]): BufferSlice {
    const data = packUniform(types, values);
    const size = data.byteLength;
    const ARENA = 64 * 1024;
    const stride = Math.ceil(size / this.uniformAlign) * this.uniformAlign;
    if (!this.arena || this.arena.used + stride > ARENA) {
      this.arena = { buffer: this.createBuffer('uniform-arena', ARENA, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST), used: 0 };
      this.stats.uniformBytes += ARENA;
    }
    const offset = this.arena.used;
    this.arena.used += stride;
    this.device.queue.writeBuffer(this.arena.buffer, offset, data);
    return { buffer: this.arena.buffer, offset, size };
  }

  // ---- submission and readback ---------------------------------------------------------------

  /** Finishes and submits `enc` (one submission, counted in stats). */
  submit(enc: GPUCommandEncoder): void {
    this.device.queue.submit([enc.finish()]);
    this.stats.submissions++;
  }

  /** Records the programs, in order, into one command encoder and submits it. */
  run(...programs: Program[]): void {
    const enc = this.device.createCommandEncoder();
    for (const p of programs) p.encode(enc);
    this.submit(enc);
  }

  private staging(size: number): GPUBuffer {
    const i = this.stagingPool.findIndex((b) => b.size >= size);
    if (i >= 0) return this.stagingPool.splice(i, 1)[0];
    return this.createBuffer('staging', Math.max(size, 256), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  }

  /**
   * Copies `size` bytes from byte `offset` to a pooled staging buffer and maps it; the promise
   * resolves with a copy. Rejects with GpuError when the map fails (naming the device loss, if any)
   * or when a GPU error that no error scope caught happened since the last readback (a shader that
   * did not compile, a rejected pipeline): the work recorded after it read stale buffers.
   */
  async read(src: GPUBuffer, offset = 0, size = src.size - offset): Promise<ArrayBuffer> {
    const st = this.staging(size);
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, st, 0, size);
    this.submit(enc);
    return this.mapCopy(st, size);
  }

  /** Records a copy into a staging buffer in `enc`; returns a function to call after submit. */
  readLater(enc: GPUCommandEncoder, src: GPUBuffer, offset: number, size: number): () => Promise<ArrayBuffer> {
    const st = this.staging(size);
    enc.copyBufferToBuffer(src, offset, st, 0, size);
    return () => this.mapCopy(st, size);
  }

  private async mapCopy(st: GPUBuffer, size: number): Promise<ArrayBuffer> {
    try {
      await st.mapAsync(GPUMapMode.READ, 0, Math.ceil(size / 4) * 4);
    } catch (e) {
      throw new GpuError(this.lostMessage ? `GPU device lost: ${this.lostMessage}` : `GPU readback failed: ${(e as Error).message}`);
    }
    const copy = st.getMappedRange(0, Math.ceil(size / 4) * 4).slice(0, size);
    st.unmap();
    this.stagingPool.push(st);
    this.stats.bytesReadBack += size;
    const uncaught = this.uncaptured;
    if (uncaught) {
      this.uncaptured = null;
      throw new GpuError(`GPU error before this readback (its results are not valid): ${uncaught.split('\n')[0]}`);
    }
    return copy;
  }

  /** Reads `count` f32 values (default: to the end of the buffer) from byte `offset`. Throws as `read`. */
  async readF32(src: GPUBuffer, offset = 0, count?: number): Promise<Float32Array> {
    const size = count === undefined ? src.size - offset : count * 4;
    return new Float32Array(await this.read(src, offset, size));
  }

  /**
   * Runs `fn` (which creates buffers) and turns a GPU out-of-memory or validation error into a
   * GpuError naming `what`.
   */
  async guard<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = await fn();
    } finally {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (oom) {
        throw new GpuError(
          [`Out of GPU memory while ${what} (${fmtBytes(this.stats.liveBytes)} allocated). Lower `, opt('batchSize'), ' or ', opt('seqLen'),
            ', keep the saved activations in f16 (', opt('saveActivations', 'f16'), '), target fewer modules, or use a quantized base (',
            opt('quant', 'nf4'), ').'],
        );
      }
      if (validation) throw new GpuError(`GPU validation error while ${what}: ${validation.message}`);
    }
    return result!;
  }

  /** Destroys the device (every buffer and pipeline with it). */
  destroy(): void {
    this.device.destroy();
  }
}

/**
 * The bytes of a uniform struct of 4-byte scalars: `types` has one letter per value (u = u32,
 * i = i32, f = f32), little-endian, padded to a multiple of 16 bytes (at least 16). Throws a
 * GpuError when the counts differ or a letter is unknown.
 */
export function packUniform(types: string, values: number[]): ArrayBuffer {
  if (types.length !== values.length) throw new GpuError(`uniform: ${types.length} types for ${values.length} values`);
  const data = new ArrayBuffer(Math.max(16, Math.ceil((values.length * 4) / 16) * 16));
  const dv = new DataView(data);
  values.forEach((v, i) => {
    const t = types[i];
    if (t === 'u') dv.setUint32(i * 4, v >>> 0, true);
    else if (t === 'i') dv.setInt32(i * 4, v | 0, true);
    else if (t === 'f') dv.setFloat32(i * 4, v, true);
    else throw new GpuError(`uniform: unknown type letter '${t}'`);
  });
  return data;
}

/** A byte count for messages: "1.50 GiB", "12.0 MiB", "3.0 KiB" or "512 B" (binary units). */
function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
