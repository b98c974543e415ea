// The key/value cache of autoregressive decoding: per layer, the k and v of every position seen so
// far, kc, vc [NKV, Tc, HS] f32 (layout of shaders/kvcache.wgsl). Filled by a prefill pass over
// the prompt (all rows at once) and then one row per decoded token.
import type { GpuContext } from '../gpu/context';
import type { ModelSpec } from '../model/config';

/**
 * The k, v caches of generation: per layer l, k[l] and v[l] f32 [NKV, Tc, HS] (Tc = `capacity`
 * positions), i.e. the post-RoPE keys and the values of the grouped KV heads, as in transformers'
 * DynamicCache but preallocated to a fixed capacity. Written by ops/kvcache.ts kvWrite from the
 * Transformer's packed q|k|v rows, read by attentionDecode. 2·L·NKV·Tc·HS·4 bytes in all.
 */
export class KvCache {
  /** Per layer: keys [NKV, Tc, HS] f32. */
  readonly k: GPUBuffer[] = [];
  /** Per layer: values [NKV, Tc, HS] f32. */
  readonly v: GPUBuffer[] = [];

  /** `capacity`: positions held (Tc). Throws Error when it is not a positive integer. */
  constructor(ctx: GpuContext, spec: ModelSpec, readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`KV cache capacity must be a positive integer, got ${capacity}`);
    const bytes = spec.NKV * capacity * spec.HS * 4;
    for (let l = 0; l < spec.L; l++) {
      this.k.push(ctx.createBuffer(`kv.k.${l}`, bytes));
      this.v.push(ctx.createBuffer(`kv.v.${l}`, bytes));
    }
  }

  /** Bytes of a cache of this capacity for a model. */
  static bytes(spec: ModelSpec, capacity: number): number {
    return 2 * spec.L * spec.NKV * capacity * spec.HS * 4;
  }
}
