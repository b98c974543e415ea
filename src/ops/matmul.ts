// Wrapper for the matmul family: out[M,N] = alpha·op(A)·op(B) (+ bias) + beta·out.
// Names: M, N, K are the GEMM dimensions (out [M, N], op(A) [M, K], op(B) [K, N]) as in BLAS; here N
// is the output width, not the token count N = B·T of the other ops (callers say `rows` for that).
// Dense B (f32 / f16) and quantized B (QLoRA NF4 / INT8, QA-LoRA INT-N: matmul-quant.ts) run on the
// register-blocked vec4 core (shaders/matmul_vec4.wgsl) with a tile chosen per shape and per the
// device's limits; shaders/matmul.wgsl is the previous kernel (kernel 'legacy', benchmarks).
// matmulSplitK + splitKReduce: a deterministic split-K for products with a long K and a small output
// (the LoRA dA, dB reduced over B·T tokens).
import { GpuError, grid1d, type Bindable, type BindingKind, type Dispatch, type GpuContext } from '../gpu/context';
import type { WeightDType } from '../gpu/tensor';
import type { QuantWeight } from '../quant/weight';
import { fuseParts, MATMUL_MAX_SEGMENTS } from './matmul-fuse';

export { MATMUL_MAX_SEGMENTS };
import { mathDefines, type MatmulMath } from './matmul-math';
import { bindingsAfterOut, checkQuant, quantDefines } from './matmul-quant';

/**
 * out[M, N] = alpha·op(A)[M, K]·op(B)[K, N] (+ bias[N]) + beta·out, op = transpose when transA /
 * transB. Sizes in elements; A, out (and dense B) are f32 unless bDType says f16.
 */
export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  A: Bindable;
  /** Dense B; with bQuant omit it (or pass bQuant.codes). */
  B?: Bindable;
  out: Bindable;
  transA?: boolean;
  transB?: boolean;
  /** Storage of B: f32 or f16 packed in u32. */
  bDType?: WeightDType;
  /**
   * A quantized frozen matrix W[out, in] as B, dequantized in registers: transB (forward,
   * N = out, K = in) or not (input gradient, K = out, N = in). Whole matrix only: no offB, ldb = in.
   * Mutually exclusive with bDType 'f16'.
   */
  bQuant?: QuantWeight;
  /** Leading dimensions in elements; default to the dense row length of each stored matrix. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Element offsets into A, B, out (unaligned offsets are fine, unlike binding offsets). */
  offA?: number;
  offB?: number;
  offC?: number;
  alpha?: number;
  beta?: number;
  bias?: Bindable;
  biasDType?: WeightDType;
  offBias?: number;
  /**
   * LoRA dropout inside the product (the mask of ops/elementwise dropout: same seed, salt and
   * element index, so the same bits): 'A' masks op(A) [M, K] as it is loaded (index m·K + k; not
   * with transA), 'B' masks op(B) [K, N] (index k·N + n; dense B, not transB), 'second' masks
   * the second product's output (index m·N + n).
   */
  drop?: MatmulDropout;
  /** A second product added in the epilogue (not with split-K). */
  second?: MatmulSecond;
  /** out += addend[offAdd + m·ldAdd + n] in the epilogue (the residual; must not alias out). */
  addend?: Bindable;
  offAdd?: number;
  /** Default: ldc. */
  ldAdd?: number;
  /** 'legacy' runs B (dense or quantized) on the previous 4×4 kernel (matmul.wgsl); benchmark comparisons only. */
  kernel?: 'auto' | 'legacy';
  /** Tile of the vec4 core instead of matmulTileFor's choice (tests, benchmarks). */
  tile?: MatmulTile;
  /** The vec4 core's arithmetic (ops/matmul-math.ts; default 'f32'); a quantized or legacy B ignores it (f32). */
  math?: MatmulMath;
}

/** LoRA dropout applied by a matmul: seed (u32 [1]), salt (u32), p in [0, 1). */
export interface MatmulDropout {
  operand: 'A' | 'B' | 'second';
  seed: Bindable;
  salt: number;
  p: number;
}

/**
 * alpha2·A2[M, K2]·op(B2)[K2, N] added to the product in the epilogue, f32, ascending k: the LoRA B
 * product u·Bᵀ (transB, B2 = B [out, r]) in the frozen forward, or the LoRA input gradient gB·A
 * (B2 = A [r, in]) in the frozen input gradient. lda defaults to K2, ldb to K2 (transB) or N.
 */
interface MatmulSecond {
  A: Bindable;
  B: Bindable;
  /** K2 (unused with segments). */
  K: number;
  /**
   * The second product in segments (the vec4 core only): 'N' (with transB) adds segment j's
   * product to the columns [start, end) only, with B2 row (n - start) (the LoRA B products of a
   * product over concatenated weights, q|k|v); 'K' adds every segment's product to every column,
   * each masked with its own dropout salt (their input gradients). offA / offB of the
   * MatmulSecond are unused; 1 to MATMUL_MAX_SEGMENTS.
   */
  segments?: { mode: 'N' | 'K'; list: MatmulSegment[] };
  transB?: boolean;
  lda?: number;
  ldb?: number;
  offA?: number;
  offB?: number;
  alpha?: number;
}

/** One segment of a segmented second product: K2 terms from A2 at offA, B2 at offB; start/end: mode 'N' columns; salt: mode 'K' dropout salt. */
export interface MatmulSegment {
  K: number;
  offA: number;
  offB: number;
  start?: number;
  end?: number;
  salt?: number;
}

/** Tile of the vec4 core: WX×WY threads, each TM rows × 4 columns; BM = TM·WY, BN = 4·WX, K slab BK. */
export interface MatmulTile {
  WX: number;
  WY: number;
  TM: number;
  BK: number;
}

/** The device limits a matmul tile must fit (GPUSupportedLimits names; bytes for the storage size). */
export interface TileLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
}

/** Workgroup memory of a tile: As [BM][BK/4+1] and Bs [BK][BN/4+1] vec4 (one vec4 of padding per row). */
export function tileStorageBytes(t: MatmulTile): number {
  return (t.TM * t.WY * (t.BK / 4 + 1) + t.BK * (t.WX + 1)) * 16;
}

const pow2ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Tile for the vec4 core. Square-ish outputs take the largest of 128×64 (256 threads, 26.5 KiB),
 * 64×64, 64×32, 32×32 that the limits allow and that still yields `minGroups` workgroups (so a big
 * GPU's cores are all busy); skinny outputs (N ≤ 32: x·Aᵀ, g·B with N = r; M ≤ 32: dA with M = r)
 * get a tile as narrow as the output so no lanes compute padding; K ≤ 16 (u·Bᵀ, gB·A with K = r)
 * uses a K slab of 16.
 */
export function matmulTileFor(M: number, N: number, K: number, lim: TileLimits, minGroups = 128): MatmulTile {
  const BK = K <= 16 ? 16 : 32;
  const fits = (t: MatmulTile) =>
    t.WX * t.WY <= lim.maxComputeInvocationsPerWorkgroup && t.WX <= lim.maxComputeWorkgroupSizeX && t.WY <= lim.maxComputeWorkgroupSizeY &&
    tileStorageBytes(t) <= lim.maxComputeWorkgroupStorageSize;
  const groups = (t: MatmulTile) => Math.ceil(M / (t.TM * t.WY)) * Math.ceil(N / (4 * t.WX));
  let cands: MatmulTile[];
  if (N <= 32) {
    const WX = pow2ceil(Math.ceil(N / 4));
    const WY = Math.min(32, 128 / WX);
    cands = [{ WX, WY, TM: 8, BK }, { WX, WY, TM: 4, BK }, { WX, WY: WY / 2, TM: 4, BK }];
  } else if (M <= 32) {
    const WY = pow2ceil(Math.ceil(M / 4));
    cands = [{ WX: 16, WY, TM: 4, BK }, { WX: 8, WY, TM: 4, BK }];
  } else {
    cands = [
      { WX: 16, WY: 16, TM: 8, BK }, { WX: 16, WY: 8, TM: 8, BK }, { WX: 8, WY: 16, TM: 4, BK }, { WX: 8, WY: 8, TM: 4, BK },
    ];
  }
  const ok = cands.filter(fits);
  if (!ok.length) return { WX: 4, WY: 4, TM: 4, BK: 16 }; // 16×16: within WebGPU's default limits
  return ok.find((t) => groups(t) >= minGroups) ?? ok[ok.length - 1];
}

/** Device limits of a context, for matmulTileFor. */
export function tileLimits(ctx: GpuContext): TileLimits {
  return ctx.device.limits;
}

/** Workgroups the tile chooser aims for: many on a real GPU, a few per CPU thread on a software one. */
export function minGroupsFor(ctx: GpuContext): number {
  return minGroupsForAdapter(ctx.adapter.isSoftware);
}

/** minGroupsFor from what the page knows of the adapter (AdapterSummary.isSoftware). */
export function minGroupsForAdapter(isSoftware: boolean): number {
  return isSoftware ? 8 : 128;
}

/** The legacy kernel (matmul.wgsl): 64×64 tiles, or 32×32 when the output has too few 64×64 tiles to keep a GPU's cores busy. */
export function matmulTile(M: number, N: number): number {
  return Math.ceil(M / 64) * Math.ceil(N / 64) >= 32 ? 64 : 32;
}

let defaultKernel: 'auto' | 'legacy' = 'auto';
/** Process-wide default for MatmulArgs.kernel (the benchmark's before/after comparison only). */
export function setDefaultMatmulKernel(k: 'auto' | 'legacy'): void {
  defaultKernel = k;
}
/** The process-wide default set by setDefaultMatmulKernel ('auto' unless the benchmark changed it). */
export function defaultMatmulKernel(): 'auto' | 'legacy' {
  return defaultKernel;
}

/**
 * One dispatch computing MatmulArgs' product (the register-blocked matmul_vec4 kernel with a tile
 * for the shape and device; kernel 'legacy': matmul.wgsl, unless the dropout is on A or the second product has segments). Throws GpuError
 * when neither B nor bQuant is given, or a bQuant does not fit (bDType f16, shape not [out, in] as
 * transB says, offB/ldb not a whole matrix); GpuContext.dispatch's binding-size errors propagate.
 */
export function matmul(ctx: GpuContext, label: string, a: MatmulArgs): Dispatch {
  const tile = matmulTile(a.M, a.N);
  const transA = !!a.transA;
  const transB = !!a.transB;
  const q = a.bQuant;
  if (q) checkQuant(label, a, q, transB);
  else if (a.B === undefined) throw new GpuError(`${label}: matmul needs B or bQuant`);
  const loadDrop = a.drop && a.drop.operand !== 'second';
  if ((a.kernel ?? defaultKernel) !== 'legacy' || loadDrop || a.second?.segments) return denseMatmul(ctx, label, a, a.tile ?? matmulTileFor(a.M, a.N, a.K, tileLimits(ctx), minGroupsFor(ctx)), 0);
  const lda = a.lda ?? (transA ? a.M : a.K);
  const ldb = a.ldb ?? (transB ? a.K : a.N);
  const ldc = a.ldc ?? a.N;
  const tail = bindingsAfterOut(a);
  const base: BindingKind[] = ['uniform', 'read', 'read', 'rw', ...tail.kinds];
  const fuse = fuseParts(label, a, base.length);
  const kernel = ctx.kernel({
    shader: 'matmul',
    bindings: [...base, ...fuse.bindings],
    defines: {
      ...fuse.defines,
      TRANS_A: transA,
      TRANS_B: transB,
      B_F16: a.bDType === 'f16',
      HAS_BIAS: !!a.bias,
      BIAS_F16: a.biasDType === 'f16',
      TILE: tile,
      ...quantDefines(q, true),
    },
  });
  const u = ctx.uniform(`uuuuuuuuuuff${fuse.types}u`, [
    a.M, a.N, a.K, lda, ldb, ldc, a.offA ?? 0, a.offB ?? 0, a.offC ?? 0, a.offBias ?? 0, a.alpha ?? 1, a.beta ?? 0,
    ...fuse.words, 0,
  ]);
  const res: Bindable[] = [u, a.A, q ? q.codes : a.B!, a.out, ...tail.res, ...fuse.res];
  return ctx.dispatch(label, kernel, res, [Math.ceil(a.N / tile), Math.ceil(a.M / tile), 1]);
}

/** True when the vec4 core can run without bounds checks and with vec4 global loads and stores. */
export function fitsTile(a: MatmulArgs, t: MatmulTile, kc: number): boolean {
  const transA = !!a.transA, transB = !!a.transB;
  const lda = a.lda ?? (transA ? a.M : a.K);
  const ldb = a.ldb ?? (transB ? a.K : a.N);
  const ldc = a.ldc ?? a.N;
  const al4 = [lda, ldb, ldc, a.offA ?? 0, a.offB ?? 0, a.offC ?? 0].every((v) => v % 4 === 0);
  return al4 && a.M % (t.TM * t.WY) === 0 && a.N % (4 * t.WX) === 0 && a.K % t.BK === 0 && kc % t.BK === 0;
}

/** The defines of a matmul_vec4 variant (fuse: fuseParts' defines; grouped: ops/matmul-grouped.ts). */
export function vec4Defines(ctx: GpuContext, label: string, a: Pick<MatmulArgs, 'transA' | 'transB' | 'bDType' | 'bias' | 'biasDType' | 'math' | 'bQuant'>, t: MatmulTile, fuse: object, fit: boolean, splitK: boolean, grouped: boolean) {
  return {
    ...fuse, ...mathDefines(ctx, label, a.math), ...quantDefines(a.bQuant, false),
    TRANS_A: !!a.transA, TRANS_B: !!a.transB, B_F16: a.bDType === 'f16', HAS_BIAS: !!a.bias, BIAS_F16: a.biasDType === 'f16',
    FIT: fit, SPLITK: splitK, GROUPED: grouped, WX: t.WX, WY: t.WY, TM: t.TM, BK: t.BK,
    AS_LEN: t.TM * t.WY * (t.BK / 4 + 1), BS_LEN: t.BK * (t.WX + 1),
  };
}

/** The vec4 core; kc > 0: split-K chunk length (partials, see matmulSplitK). */
function denseMatmul(ctx: GpuContext, label: string, a: MatmulArgs, t: MatmulTile, kc: number): Dispatch {
  const transA = !!a.transA;
  const transB = !!a.transB;
  const lda = a.lda ?? (transA ? a.M : a.K);
  const ldb = a.ldb ?? (transB ? a.K : a.N);
  const ldc = a.ldc ?? a.N;
  const fit = fitsTile(a, t, kc);
  if (kc > 0 && (a.second || a.addend)) throw new GpuError(`${label}: split-K takes no epilogue fusion`);
  const tail = bindingsAfterOut(a);
  const base: BindingKind[] = ['uniform', 'read', 'read', 'rw', ...tail.kinds];
  const fuse = fuseParts(label, a, base.length);
  const kernel = ctx.kernel({ shader: 'matmul_vec4', bindings: [...base, ...fuse.bindings], defines: vec4Defines(ctx, label, a, t, fuse.defines, fit, kc > 0, false) });
  const u = ctx.uniform(`uuuuuuuuuuffu${fuse.types}`, [
    a.M, a.N, a.K, lda, ldb, ldc, a.offA ?? 0, a.offB ?? 0, a.offC ?? 0, a.offBias ?? 0, a.alpha ?? 1, a.beta ?? 0, kc, ...fuse.words,
  ]);
  const res: Bindable[] = [u, a.A, a.B ?? a.bQuant!.codes, a.out, ...tail.res, ...fuse.res];
  const splits = kc > 0 ? Math.ceil(a.K / kc) : 1;
  return ctx.dispatch(label, kernel, res, [Math.ceil(a.N / (4 * t.WX)), Math.ceil(a.M / (t.TM * t.WY)), splits]);
}

/** How a split-K product is cut: S chunks of KC (a multiple of the tile's BK) elements of K. */
export interface SplitKPlan {
  tile: MatmulTile;
  S: number;
  KC: number;
  /** Scratch elements the partials take: S·M·N. */
  scratch: number;
}

/**
 * Fixed partition of K for a product with few output tiles: enough chunks to reach `minGroups`
 * workgroups, each at least 4 slabs long (S = 1 when K is short: no split, no scratch).
 */
export function splitKPlan(M: number, N: number, K: number, lim: TileLimits, minGroups = 128): SplitKPlan {
  const tile = matmulTileFor(M, N, K, lim, minGroups);
  const tiles = Math.ceil(M / (tile.TM * tile.WY)) * Math.ceil(N / (4 * tile.WX));
  const want = Math.max(1, Math.min(64, Math.ceil(K / (4 * tile.BK)), Math.ceil(minGroups / tiles)));
  const KC = Math.ceil(K / want / tile.BK) * tile.BK;
  const S = Math.ceil(K / KC);
  return { tile, S, KC, scratch: S > 1 ? S * M * N : 0 };
}

/**
 * f32 elements of scratch the LoRA gradients' split-K needs (0: no module splits): the partials of
 * dA [r, aIn] + dB [outF, r] of every module of one group (a decoder layer, or the output head),
 * each reduced over its `rows` tokens (B·T, or the head's row chunk), for the largest group: the
 * backward keeps a group's partials until one reduce (lora/linear.ts reduceGrads). The Transformer
 * allocates exactly this and the memory estimate counts it.
 */
export function loraSplitKScratch(modules: { aIn: number; outF: number; rows: number; group: number }[], r: number, lim: TileLimits, minGroups: number): number {
  const perGroup = new Map<number, number>();
  for (const m of modules) {
    const need = splitKPlan(r, m.aIn, m.rows, lim, minGroups).scratch + splitKPlan(m.outF, r, m.rows, lim, minGroups).scratch;
    perGroup.set(m.group, (perGroup.get(m.group) ?? 0) + need);
  }
  return Math.max(0, ...perGroup.values());
}

/**
 * Split-K partials of op(A)·op(B) (no bias; alpha, beta and offC/ldc of `a` are applied by
 * splitKReduce): chunk z of the plan writes its raw product to scratch[offP + z·M·N ..] ([M, N] dense).
 * Throws GpuError for a quantized B or a bias, or a plan with fewer than 2 chunks.
 */
export function matmulSplitK(ctx: GpuContext, label: string, a: MatmulArgs, plan: SplitKPlan, scratch: Bindable, offP: number): Dispatch {
  if (a.bQuant || a.bias) throw new GpuError(`${label}: split-K takes a dense B and no bias`);
  if (plan.S < 2) throw new GpuError(`${label}: split-K plan has one chunk; use matmul`);
  return denseMatmul(ctx, label, { ...a, out: scratch, offC: offP, ldc: a.N, alpha: 1, beta: 0 }, plan.tile, plan.KC);
}

/** One product reduced by splitKReduce: its S partial results of n elements each in the scratch buffer. */
export interface SplitKProduct {
  /** Outputs M·N (dense rows), chunks S, partials at offP, output at offC of `out`. */
  n: number;
  S: number;
  offP: number;
  offC: number;
}

/** Products one splitKReduce dispatch can take (its uniform table). */
export const SPLITK_MAX_PRODUCTS = 16;

/**
 * out[offC + i] = alpha·Σ_z part[offP + z·n + i] (fixed order) + beta·out, for 1 to
 * SPLITK_MAX_PRODUCTS products in one dispatch. Throws GpuError for none or more.
 */
export function splitKReduce(ctx: GpuContext, label: string, products: SplitKProduct[], scratch: Bindable, out: Bindable, alpha = 1, beta = 0): Dispatch {
  if (products.length < 1 || products.length > SPLITK_MAX_PRODUCTS) throw new GpuError(`${label}: split-K reduce takes 1 to ${SPLITK_MAX_PRODUCTS} products, got ${products.length}`);
  const kernel = ctx.kernel({ shader: 'matmul_splitk', bindings: ['uniform', 'read', 'rw'] });
  const table = new Array<number>(4 * SPLITK_MAX_PRODUCTS).fill(0);
  products.forEach((p, j) => table.splice(4 * j, 4, p.n, p.S, p.offP, p.offC));
  const u = ctx.uniform(`uffu${'u'.repeat(table.length)}`, [products.length, alpha, beta, 0, ...table]);
  const total = products.reduce((a, p) => a + p.n, 0);
  return ctx.dispatch(label, kernel, [u, scratch, out], grid1d(Math.ceil(total / 256)));
}
