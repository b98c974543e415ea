// GPU memory ownership in the worker. The engine's objects (weights, Transformer graphs, LoRA
// states) create their buffers through GpuContext.createBuffer and have no destroy(); the worker
// records which buffers each of its long-lived things created, so loading another model, dropping
// an adapter or finishing a run frees exactly those. The context's own pools (staging buffers, the
// uniform arena) are shared and never attributed to a scope.

import type { GpuContext } from '../gpu/context';

const SHARED_LABELS = new Set(['staging', 'uniform-arena']);

/** A named set of GPU buffers (a model, an adapter, a run) that are destroyed together when the thing they belong to goes. */
export class BufferScope {
  readonly buffers = new Set<GPUBuffer>();
  constructor(readonly name: string) {}
}

/**
 * Attributes the buffers GpuContext.createBuffer makes to the innermost running BufferScope (run /
 * runAsync), so dispose(scope) frees exactly those; the context's shared pools (staging, the
 * uniform arena) are never attributed. It wraps ctx.createBuffer for the context's lifetime.
 */
export class BufferTracker {
  private readonly stack: BufferScope[] = [];

  constructor(private readonly ctx: GpuContext) {
    const create = ctx.createBuffer.bind(ctx);
    ctx.createBuffer = (label: string, size: number, usage?: number): GPUBuffer => {
      const b = usage === undefined ? create(label, size) : create(label, size, usage);
      const top = this.stack[this.stack.length - 1];
      if (top && !SHARED_LABELS.has(label)) top.buffers.add(b);
      return b;
    };
  }

  /** Runs a synchronous constructor with its buffers attributed to `scope`. */
  run<T>(scope: BufferScope, fn: () => T): T {
    this.stack.push(scope);
    try {
      return fn();
    } finally {
      this.stack.pop();
    }
  }

  /**
   * Runs an async task with its buffers attributed to `scope` (nested `run` calls attribute to
   * theirs). The caller keeps other buffer-creating work from overlapping it.
   */
  async runAsync<T>(scope: BufferScope, fn: () => Promise<T>): Promise<T> {
    this.stack.push(scope);
    try {
      return await fn();
    } finally {
      const i = this.stack.lastIndexOf(scope);
      if (i >= 0) this.stack.splice(i, 1);
    }
  }

  /** Destroys the scope's buffers except `keep`; returns the bytes freed. */
  dispose(scope: BufferScope, keep: Iterable<GPUBuffer> = []): number {
    const kept = new Set(keep);
    const before = this.ctx.stats.liveBytes;
    for (const b of scope.buffers) if (!kept.has(b)) this.ctx.destroyBuffer(b);
    scope.buffers.clear();
    for (const b of kept) scope.buffers.add(b);
    return before - this.ctx.stats.liveBytes;
  }
}
