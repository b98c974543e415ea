// Wrapper for shaders/matmul.wgsl: out[M,N] = alpha·op(A)·op(B) (+ bias) + beta·out.
import type { Bindable, Dispatch, GpuContext } from '../gpu/context';
import type { WeightDType } from '../gpu/tensor';

export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  A: Bindable;
  B: Bindable;
  out: Bindable;
  transA?: boolean;
  transB?: boolean;
  /** Storage of B: f32 or f16 packed in u32. */
  bDType?: WeightDType;
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
}

/** 64×64 tiles, or 32×32 when the output has too few 64×64 tiles to keep a GPU's cores busy. */
export function matmulTile(M: number, N: number): number {
  return Math.ceil(M / 64) * Math.ceil(N / 64) >= 32 ? 64 : 32;
}

export function matmul(ctx: GpuContext, label: string, a: MatmulArgs): Dispatch {
  const tile = matmulTile(a.M, a.N);
  const transA = !!a.transA;
  const transB = !!a.transB;
  const lda = a.lda ?? (transA ? a.M : a.K);
  const ldb = a.ldb ?? (transB ? a.K : a.N);
  const ldc = a.ldc ?? a.N;
  const kernel = ctx.kernel({
    shader: 'matmul',
    bindings: a.bias ? ['uniform', 'read', 'read', 'rw', 'read'] : ['uniform', 'read', 'read', 'rw'],
    defines: {
      TRANS_A: transA,
      TRANS_B: transB,
      B_F16: a.bDType === 'f16',
      HAS_BIAS: !!a.bias,
      BIAS_F16: a.biasDType === 'f16',
      TILE: tile,
    },
  });
  const u = ctx.uniform('uuuuuuuuuuff', [
    a.M, a.N, a.K, lda, ldb, ldc, a.offA ?? 0, a.offB ?? 0, a.offC ?? 0, a.offBias ?? 0, a.alpha ?? 1, a.beta ?? 0,
  ]);
  const res: Bindable[] = [u, a.A, a.B, a.out];
  if (a.bias) res.push(a.bias);
  return ctx.dispatch(label, kernel, res, [Math.ceil(a.N / tile), Math.ceil(a.M / tile), 1]);
}
