// Wrapper for the attention kernels (shaders/attention_fwd.wgsl, attention_bwd_dq.wgsl,
// attention_bwd_dkv.wgsl, sharing shaders/common/attention.wgsl): causal grouped-query attention
// with example boundaries, flash-attention style (online softmax forward; two-pass backward
// recomputing the probabilities from lse, so memory stays O(N·width)). See the shader headers for
// layouts.
import type { Bindable, Dispatch, GpuContext } from '../gpu/context';

/**
 * Sizes of causal (grouped-query) attention over qkv rows [B·T, (NH + 2·NKV)·HS]: B sequences of T
 * tokens, NH query heads, NKV key/value heads (NH a multiple of NKV), HS the head size.
 */
export interface AttentionDims {
  B: number;
  T: number;
  NH: number;
  NKV: number;
  HS: number;
  /** Score scale; default 1/sqrt(HS). */
  scale?: number;
  /**
   * Workgroup storage budget for the tiles in bytes. Default: min(device limit, 32 KiB) on a real
   * GPU; 16 KiB (the WebGPU default limit) on a software adapter, where SwiftShader's pipeline
   * compile time grows with workgroup storage (~2 s per kernel at 32 KiB) and tile size buys nothing.
   */
  wgMemBytes?: number;
}

/** Threads per workgroup of every attention kernel. */
const WG = 128;
const MAX_TILE = 64;

/** Tile sizes (rows) of the three attention kernels, chosen by attentionTiles to fit the workgroup storage budget. */
interface AttentionTiles {
  /** Forward: query rows per workgroup, key rows per tile. */
  fwd: { BQ: number; BK: number };
  /** dq pass: query rows per workgroup, key rows per tile. */
  dq: { BQ: number; BK: number };
  /** dk/dv pass: key rows per workgroup, query rows per tile. */
  dkv: { BK: number; BQ: number };
}

/** Bytes of workgroup storage; each variable rounded up to 16 bytes as Dawn accounts it. */
function wgBytes(...floats: number[]): number {
  return floats.reduce((s, n) => s + Math.ceil((n * 4) / 16) * 16, 0);
}

/** Largest power-of-two pair (a, b) with fits(a, b), maximizing a·b, ties to the larger a. */
function pick(fits: (a: number, b: number) => boolean, what: string): [number, number] {
  let best: [number, number] | null = null;
  for (let a = 1; a <= MAX_TILE; a *= 2) {
    for (let b = 1; b <= MAX_TILE; b *= 2) {
      if (!fits(a, b)) continue;
      if (!best || a * b > best[0] * best[1] || (a * b === best[0] * best[1] && a > best[0])) best = [a, b];
    }
  }
  if (!best) throw new Error(`attention: no ${what} tile fits the workgroup storage budget`);
  return best;
}

/** The tile sizes used for head size HS under a workgroup storage budget (bytes). */
export function attentionTiles(HS: number, budget: number): AttentionTiles {
  const P = HS + 1;
  const [fq, fk] = pick((bq, bk) => bq * HS <= 32 * WG && wgBytes(bq * P, bk * P, bq * bk, bq, bq, bq, bq, 1) <= budget, 'forward');
  const [dq, dk] = pick(
    (bq, bk) => bq * HS <= 32 * WG && wgBytes(bq * P, bq * P, bk * P, bk * P, bq * bk, bq, bq, bq, 1) <= budget,
    'dq',
  );
  const [kk, kq] = pick(
    (bk, bq) => bk * HS <= 16 * WG && wgBytes(bk * P, bk * P, bq * P, bq * P, bk * bq, bk * bq, bq, bq, bq, bq, 1) <= budget,
    'dk/dv',
  );
  return { fwd: { BQ: fq, BK: fk }, dq: { BQ: dq, BK: dk }, dkv: { BK: kk, BQ: kq } };
}

function setup(ctx: GpuContext, label: string, d: AttentionDims) {
  const { B, T, NH, NKV, HS } = d;
  for (const [k, v] of Object.entries({ B, T, NH, NKV, HS })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  if (NH % NKV !== 0) throw new Error(`${label}: NH (${NH}) is not a multiple of NKV (${NKV})`);
  const limit = ctx.device.limits.maxComputeWorkgroupStorageSize;
  const budget = Math.min(limit, d.wgMemBytes ?? (ctx.adapter.isSoftware ? 16384 : 32768));
  const tiles = attentionTiles(HS, budget);
  const QKVW = (NH + 2 * NKV) * HS;
  const u = ctx.uniform('uuuuf', [T, NH, NKV, QKVW, d.scale ?? 1 / Math.sqrt(HS)]);
  return { tiles, u };
}

/** One dispatch: out [N, NH·HS] and lse [B·NH·T]. */
export function attentionForward(
  ctx: GpuContext,
  label: string,
  d: AttentionDims,
  b: { qkv: Bindable; segStart: Bindable; out: Bindable; lse: Bindable },
): Dispatch[] {
  const { tiles, u } = setup(ctx, label, d);
  const { BQ, BK } = tiles.fwd;
  const kernel = ctx.kernel({
    shader: 'attention_fwd',
    bindings: ['uniform', 'read', 'read', 'rw', 'rw'],
    defines: { HS: d.HS, WG, BQ, BK },
  });
  return [ctx.dispatch(label, kernel, [u, b.qkv, b.segStart, b.out, b.lse], [Math.ceil(d.T / BQ), d.NH, d.B])];
}

/**
 * Two dispatches: the dq pass (also writes D = rowsum(dout ⊙ out) [B·NH·T]) and the dk/dv pass.
 * dqkv [N, QKVW] is overwritten entirely.
 */
export function attentionBackward(
  ctx: GpuContext,
  label: string,
  d: AttentionDims,
  b: { qkv: Bindable; segStart: Bindable; out: Bindable; lse: Bindable; dout: Bindable; dqkv: Bindable; D: Bindable },
): Dispatch[] {
  const { tiles, u } = setup(ctx, label, d);
  const kq = ctx.kernel({
    shader: 'attention_bwd_dq',
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'],
    defines: { HS: d.HS, WG, BQ: tiles.dq.BQ, BK: tiles.dq.BK },
  });
  const kkv = ctx.kernel({
    shader: 'attention_bwd_dkv',
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'rw'],
    defines: { HS: d.HS, WG, BQ: tiles.dkv.BQ, BK: tiles.dkv.BK },
  });
  return [
    ctx.dispatch(`${label}.dq`, kq, [u, b.qkv, b.segStart, b.out, b.lse, b.dout, b.dqkv, b.D], [Math.ceil(d.T / tiles.dq.BQ), d.NH, d.B]),
    ctx.dispatch(`${label}.dkv`, kkv, [u, b.qkv, b.segStart, b.lse, b.dout, b.D, b.dqkv], [Math.ceil(d.T / tiles.dkv.BK), d.NKV, d.B]),
  ];
}
