// Grouped products on the dense vec4 matmul core (shaders/matmul_vec4.wgsl with GROUPED): 1 to
// MATMUL_MAX_GROUPS products that share their bindings (A, B, out, dropout seed), transposes,
// leading dimensions, alpha/beta, output width N, dropout p and tile, each with its own M, K,
// offsets and dropout salt, in ONE dispatch. The LoRA products of modules that read the same
// input (q|k|v, gate|up: lora/linear.ts) run this way. Every output element is summed exactly as
// the separate matmul / matmulSplitK dispatch would sum it (ascending k; the same split-K chunks),
// so the results are the same bits.
// Names: M, N, K are the GEMM dimensions (out [M, N]) as in ops/matmul.ts.
import { GpuError, type Bindable, type BindingKind, type Dispatch, type GpuContext } from '../gpu/context';
import type { WeightDType } from '../gpu/tensor';
import { fuseParts } from './matmul-fuse';
import type { MatmulMath } from './matmul-math';
import { matmulTileFor, minGroupsFor, tileLimits, vec4Defines, type MatmulArgs, type MatmulDropout, type MatmulTile, type SplitKPlan } from './matmul';

/** Products one grouped dispatch takes (the shader's table: 2 vec4 per group, 8 vec4). */
export const MATMUL_MAX_GROUPS = 4;

/** One product of a group: out[offC + m·ldc + n] = alpha·Σ_k op(A)[m, k]·op(B)[k, n] + beta·out, m < M, k < K (elements). */
export interface MatmulGroup {
  M: number;
  K: number;
  offA?: number;
  offB?: number;
  offC?: number;
  /** Dropout salt of this product (with `drop`); u32. */
  salt?: number;
}

/**
 * The shared part of a grouped matmul (see MatmulArgs in ops/matmul.ts for the meaning of each
 * field): dense B only, no bias and no epilogue fusion. lda, ldb, ldc are required (a default
 * would depend on a group's M or K).
 */
interface GroupedMatmulArgs {
  N: number;
  A: Bindable;
  B: Bindable;
  out: Bindable;
  transA?: boolean;
  transB?: boolean;
  bDType?: WeightDType;
  lda: number;
  ldb: number;
  ldc: number;
  alpha?: number;
  beta?: number;
  /** LoRA dropout on op(A) (not transA; index m·K_g + k) or op(B) (dense, not transB; index k·N + n), each group with its own salt. */
  drop?: Omit<MatmulDropout, 'salt' | 'operand'> & { operand: 'A' | 'B' };
  groups: MatmulGroup[];
  /** Tile instead of matmulTileFor's choice for the largest M and K (tests). */
  tile?: MatmulTile;
  /** The arithmetic (MatmulArgs.math); default 'f32'. */
  math?: MatmulMath;
}

/**
 * One dispatch computing every group's product (as `matmul` would, one dispatch each). Throws
 * GpuError for 0 or more than MATMUL_MAX_GROUPS groups, or what fuseParts throws for the dropout.
 */
export function matmulGrouped(ctx: GpuContext, label: string, a: GroupedMatmulArgs): Dispatch {
  const Mmax = Math.max(...a.groups.map((g) => g.M));
  const Kmax = Math.max(...a.groups.map((g) => g.K));
  const t = a.tile ?? matmulTileFor(Mmax, a.N, Kmax, tileLimits(ctx), minGroupsFor(ctx));
  return groupedDispatch(ctx, label, a, t, a.groups.map(() => ({ KC: 0, S: 1 })));
}

/**
 * Split-K partials of grouped products (no alpha/beta: splitKReduce applies them, as after
 * matmulSplitK): group g's chunk z writes its raw [M_g, N] product at scratch[offP[g] + z·M_g·N ..],
 * with plans[g] = splitKPlan(M_g, N, K_g) (the chunks the separate matmulSplitK would take, so the
 * same bits). The tile is the plan of the largest M's. Throws GpuError when a plan has fewer than
 * 2 chunks, a chunk length is not a multiple of the tile's K slab, or the counts differ.
 */
export function matmulSplitKGrouped(ctx: GpuContext, label: string, a: GroupedMatmulArgs, plans: SplitKPlan[], scratch: Bindable, offP: number[]): Dispatch {
  if (plans.length !== a.groups.length || offP.length !== a.groups.length) throw new GpuError(`${label}: one split-K plan and offset per group`);
  let big = 0;
  a.groups.forEach((g, i) => {
    if (g.M > a.groups[big].M) big = i;
  });
  const t = plans[big].tile;
  for (const pl of plans) {
    if (pl.S < 2) throw new GpuError(`${label}: split-K plan has one chunk; use matmulGrouped`);
    if (pl.KC % t.BK !== 0) throw new GpuError(`${label}: split-K chunk ${pl.KC} is not a multiple of the tile's K slab ${t.BK}`);
  }
  const groups = a.groups.map((g, i) => ({ ...g, offC: offP[i] }));
  return groupedDispatch(ctx, label, { ...a, groups, out: scratch, ldc: a.N, alpha: 1, beta: 0 }, t, plans);
}

function groupedDispatch(ctx: GpuContext, label: string, a: GroupedMatmulArgs, t: MatmulTile, split: { KC: number; S: number }[]): Dispatch {
  const G = a.groups.length;
  if (G < 1 || G > MATMUL_MAX_GROUPS) throw new GpuError(`${label}: a grouped matmul takes 1 to ${MATMUL_MAX_GROUPS} groups, got ${G}`);
  const splitK = split[0].KC > 0;
  const S = Math.max(...split.map((s) => s.S));
  const BM = t.TM * t.WY;
  const fit =
    [a.lda, a.ldb, a.ldc].every((v) => v % 4 === 0) && a.N % (4 * t.WX) === 0 &&
    a.groups.every((g, i) => g.M % BM === 0 && g.K % t.BK === 0 && split[i].KC % t.BK === 0 && [g.offA ?? 0, g.offB ?? 0, g.offC ?? 0].every((v) => v % 4 === 0));
  const base: BindingKind[] = ['uniform', 'read', 'read', 'rw'];
  const drop = a.drop && { ...a.drop, salt: 0 };
  const fuse = fuseParts(label, { M: 0, N: a.N, K: 0, A: a.A, B: a.B, out: a.out, transA: a.transA, transB: a.transB, drop }, base.length);
  const kernel = ctx.kernel({ shader: 'matmul_vec4', bindings: [...base, ...fuse.bindings], defines: vec4Defines(ctx, label, a, t, fuse.defines, fit, splitK, true) });
  const table = new Array<number>(8 * MATMUL_MAX_GROUPS).fill(0);
  a.groups.forEach((g, i) => {
    const salt = g.salt ?? 0;
    if (!Number.isInteger(salt) || salt < 0 || salt > 0xffffffff) throw new GpuError(`${label}: dropout salt must be a u32, got ${salt}`);
    table.splice(8 * i, 8, g.M, g.K, g.offA ?? 0, g.offB ?? 0, g.offC ?? 0, salt, split[i].KC, split[i].S);
  });
  const u = ctx.uniform(`uuuuuuuuuuffu${fuse.types}${'u'.repeat(table.length)}`, [
    0, a.N, 0, a.lda, a.ldb, a.ldc, 0, 0, 0, 0, a.alpha ?? 1, a.beta ?? 0, splitK ? S : 0, ...fuse.words, ...table,
  ]);
  const Mmax = Math.max(...a.groups.map((g) => g.M));
  return ctx.dispatch(label, kernel, [u, a.A, a.B, a.out, ...fuse.res], [Math.ceil(a.N / (4 * t.WX)), Math.ceil(Mmax / BM), G * S]);
}

/**
 * The grouped form of products given as separate MatmulArgs (each as `matmul` takes it): the
 * shared fields from the first, M, K, offA, offB, offC and the dropout salt per product. Throws
 * GpuError when the products differ in anything a group shares (bindings, transposes, leading
 * dimensions with their defaults, alpha, beta, N, dropout seed, p and operand, math) or use what a group
 * cannot take (quantized B, bias, second product, addend, legacy kernel, a tile).
 */
export function groupArgs(label: string, list: MatmulArgs[]): GroupedMatmulArgs {
  const lds = (a: MatmulArgs) => [a.lda ?? (a.transA ? a.M : a.K), a.ldb ?? (a.transB ? a.K : a.N), a.ldc ?? a.N];
  const key = (a: MatmulArgs) => {
    if (a.bQuant || a.bias || a.second || a.addend || a.kernel === 'legacy' || a.tile || a.drop?.operand === 'second') {
      throw new GpuError(`${label}: a grouped product takes a dense B and no bias, epilogue fusion or tile`);
    }
    return [a.A, a.B, a.out, !!a.transA, !!a.transB, a.bDType ?? 'f32', ...lds(a), a.alpha ?? 1, a.beta ?? 0, a.N, a.drop?.seed, a.drop?.p, a.drop?.operand, a.math ?? 'f32'];
  };
  const k0 = key(list[0]);
  for (const a of list) {
    const k = key(a);
    if (k.some((v, i) => v !== k0[i])) throw new GpuError(`${label}: the products of a group must share bindings, transposes, strides, alpha, beta, N and dropout`);
  }
  const a = list[0];
  const [lda, ldb, ldc] = lds(a);
  const d = a.drop;
  return {
    N: a.N, A: a.A, B: a.B!, out: a.out, transA: a.transA, transB: a.transB, bDType: a.bDType, lda, ldb, ldc, alpha: a.alpha, beta: a.beta, math: a.math,
    drop: d && { operand: d.operand as 'A' | 'B', seed: d.seed, p: d.p },
    groups: list.map((g) => ({ M: g.M, K: g.K, offA: g.offA, offB: g.offB, offC: g.offC, salt: g.drop?.salt })),
  };
}
