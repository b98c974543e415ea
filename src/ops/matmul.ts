// Wrapper for shaders/matmul.wgsl: out[M,N] = alpha·op(A)·op(B) (+ bias) + beta·out.
import { GpuError, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';
import type { QuantWeight, WeightDType } from '../gpu/tensor';
import { codeBits, isQalora, quantShaderConstants } from '../quant/formats';

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
}

/** 64×64 tiles, or 32×32 when the output has too few 64×64 tiles to keep a GPU's cores busy. */
export function matmulTile(M: number, N: number): number {
  return Math.ceil(M / 64) * Math.ceil(N / 64) >= 32 ? 64 : 32;
}

function checkQuant(label: string, a: MatmulArgs, q: QuantWeight, transB: boolean): void {
  const [rows, cols] = q.shape;
  const bad = (why: string) => new GpuError(`${label}: quantized B ${q.name} [${rows}, ${cols}]: ${why}`);
  if (a.bDType === 'f16') throw bad('bDType f16 and bQuant are mutually exclusive');
  if (a.B !== undefined && a.B !== q.codes) throw bad('B must be omitted or be bQuant.codes');
  if (transB ? a.N !== rows || a.K !== cols : a.K !== rows || a.N !== cols) {
    throw bad(`shape does not match ${transB ? 'N = out, K = in' : 'K = out, N = in'} (got N=${a.N}, K=${a.K})`);
  }
  if ((a.offB ?? 0) !== 0 || (a.ldb ?? cols) !== cols) throw bad('only whole matrices are supported (offB = 0, ldb = in)');
}

export function matmul(ctx: GpuContext, label: string, a: MatmulArgs): Dispatch {
  const tile = matmulTile(a.M, a.N);
  const transA = !!a.transA;
  const transB = !!a.transB;
  const q = a.bQuant;
  if (q) checkQuant(label, a, q, transB);
  else if (a.B === undefined) throw new GpuError(`${label}: matmul needs B or bQuant`);
  const lda = a.lda ?? (transA ? a.M : a.K);
  const ldb = a.ldb ?? (transB ? a.K : a.N);
  const ldc = a.ldc ?? a.N;
  const qa = !!q && isQalora(q.mode);
  const kernel = ctx.kernel({
    shader: 'matmul',
    bindings: q
      ? ['uniform', 'read', 'read', 'rw', 'read', 'read', ...(q.zeros || q.extra ? (['read'] as const) : [])]
      : a.bias
        ? ['uniform', 'read', 'read', 'rw', 'read']
        : ['uniform', 'read', 'read', 'rw'],
    defines: {
      TRANS_A: transA,
      TRANS_B: transB,
      B_F16: a.bDType === 'f16',
      HAS_BIAS: !!a.bias,
      BIAS_F16: a.biasDType === 'f16',
      TILE: tile,
      ...(q
        ? {
            ...quantShaderConstants(),
            B_QUANT: true,
            B_INT8: q.mode === 'int8',
            B_NF4: q.mode === 'nf4' || q.mode === 'nf4-dq',
            B_NF4DQ: q.mode === 'nf4-dq',
            B_QA: qa,
            QZ_F32: qa && !!q.zerosF32,
            QBITS: qa ? codeBits(q.mode) : undefined,
          }
        : {}),
    },
  });
  const u = ctx.uniform('uuuuuuuuuuffuu', [
    a.M, a.N, a.K, lda, ldb, ldc, a.offA ?? 0, a.offB ?? 0, a.offC ?? 0, a.offBias ?? 0, a.alpha ?? 1, a.beta ?? 0,
    qa ? q.groupSize : 0, qa ? q.shape[1] / q.groupSize : 0,
  ]);
  const res: Bindable[] = [u, a.A, q ? q.codes : a.B!, a.out];
  if (q) {
    res.push(a.bias ?? q.scales, q.scales);
    const aux = q.zeros ?? q.extra;
    if (aux) res.push(aux);
  } else if (a.bias) {
    res.push(a.bias);
  }
  return ctx.dispatch(label, kernel, res, [Math.ceil(a.N / tile), Math.ceil(a.M / tile), 1]);
}
