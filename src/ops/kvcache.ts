// Wrappers for shaders/kvcache.wgsl: writing k, v rows into a layer's KV cache, and the attention
// of one new query row against the cache (autoregressive decoding). See the shader header.
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

/** Sizes of the KV cache of one layer: kc, vc are [NKV, Tc, HS]; queries have NH heads of HS. */
export interface KvDims {
  NH: number;
  NKV: number;
  HS: number;
  /** Cache capacity in positions. */
  Tc: number;
  /** Score scale; default 1/sqrt(HS). */
  scale?: number;
}

/** Threads per workgroup of the decode kernel. */
const WG = 128;

function params(ctx: GpuContext, label: string, d: KvDims, N: number) {
  const { NH, NKV, HS, Tc } = d;
  for (const [k, v] of Object.entries({ N, NH, NKV, HS, Tc })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  if (NH % NKV !== 0) throw new Error(`${label}: NH (${NH}) is not a multiple of NKV (${NKV})`);
  return ctx.uniform('uuuuuf', [N, NH, NKV, (NH + 2 * NKV) * HS, Tc, d.scale ?? 1 / Math.sqrt(HS)]);
}

/** kc[g, pos[n], :], vc[g, pos[n], :] = the k, v of row n of qkv [N, QKVW], for n < N. */
export function kvWrite(ctx: GpuContext, label: string, d: KvDims, b: { N: number; qkv: Bindable; pos: Bindable; kc: Bindable; vc: Bindable }): Dispatch {
  const u = params(ctx, label, d, b.N);
  const k = ctx.kernel({ shader: 'kvcache', bindings: ['uniform', 'read', 'read', 'rw', 'rw'], defines: { KV_WRITE: true, DECODE: false, HS: d.HS, SUBGROUPS: false } });
  return ctx.dispatch(label, k, [u, b.qkv, b.pos, b.kc, b.vc], grid1d(Math.ceil((b.N * d.NKV * d.HS) / 256)));
}

/** out [1, NH·HS]: the query of row 0 of qkv attending cached positions 0..pos[0]. */
export function attentionDecode(ctx: GpuContext, label: string, d: KvDims, b: { qkv: Bindable; pos: Bindable; kc: Bindable; vc: Bindable; out: Bindable }): Dispatch {
  const u = params(ctx, label, d, 1);
  const k = ctx.kernel({ shader: 'kvcache', bindings: ['uniform', 'read', 'read', 'read', 'read', 'rw'], defines: { KV_WRITE: false, DECODE: true, HS: d.HS, WG, SUBGROUPS: ctx.subgroups } });
  return ctx.dispatch(label, k, [u, b.qkv, b.pos, b.kc, b.vc, b.out], [d.NH, 1, 1]);
}
