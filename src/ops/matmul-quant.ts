// The quantized-B parts of the matmul wrapper (src/ops/matmul.ts): argument checks, the defines of
// shaders/common/dequant.wgsl (shared by the vec4 core matmul_vec4.wgsl and the legacy matmul.wgsl)
// and the bindings after `out` (bias, scales, zeros / extra). A quantized W stays quantized: the
// kernels dequantize it in registers as they load it.
import { GpuError, type Bindable, type BindingKind } from '../gpu/context';
import type { Defines } from '../gpu/shaders';
import { codeBits, isQalora } from '../quant/formats';
import { quantShaderConstants } from '../quant/reference';
import type { QuantWeight } from '../quant/weight';
import type { MatmulArgs } from './matmul';

/**
 * Throws GpuError unless quantized B `q` fits the product: no bDType f16, B omitted or q.codes,
 * [out, in] = [N, K] (transB, the forward) or [K, N] (the input gradient), offB = q.offset (0 unless
 * the weight is one of a concatenated group's, quant/concat.ts) and ldb = in.
 */
export function checkQuant(label: string, a: MatmulArgs, q: QuantWeight, transB: boolean): void {
  const [outF, inF] = q.shape;
  const bad = (why: string) => new GpuError(`${label}: quantized B ${q.name} [${outF}, ${inF}]: ${why}`);
  if (a.bDType === 'f16') throw bad('bDType f16 and bQuant are mutually exclusive');
  if (a.B !== undefined && a.B !== q.codes) throw bad('B must be omitted or be bQuant.codes');
  if (transB ? a.N !== outF || a.K !== inF : a.K !== outF || a.N !== inF) {
    throw bad(`shape does not match ${transB ? 'N = out, K = in' : 'K = out, N = in'} (got N=${a.N}, K=${a.K})`);
  }
  if ((a.offB ?? 0) !== (q.offset ?? 0) || (a.ldb ?? inF) !== inF) throw bad(`only whole matrices are supported (offB = the weight's offset ${q.offset ?? 0}, ldb = in)`);
}

/**
 * The defines of common/dequant.wgsl for quantized B `q` (every flag false for a dense B, so the
 * include's #if names are always defined); `wgTables`: the code book tables in workgroup memory
 * (DQ_WG, the legacy kernel, which fills them before its K loop).
 */
export function quantDefines(q: QuantWeight | undefined, wgTables: boolean): Defines {
  const qa = !!q && isQalora(q.mode);
  return {
    B_QUANT: !!q,
    B_INT8: q?.mode === 'int8',
    B_NF4: q?.mode === 'nf4' || q?.mode === 'nf4-dq',
    B_NF4DQ: q?.mode === 'nf4-dq',
    B_QA: qa,
    QZ_F32: qa && !!q.zerosF32,
    QA_G4: qa && q.groupSize % 4 === 0,
    DQ_WG: !!q && wgTables,
    ...(q ? { ...quantShaderConstants(), QBITS: qa ? codeBits(q.mode) : undefined, QG: qa ? q.groupSize : undefined } : {}),
  };
}

/**
 * Binding kinds and resources from binding 4 on: the bias (f32 or f16-packed) when given; with a
 * quantized B, binding 4 is the bias or a placeholder (the scales, unused), then scales (5) and the
 * zeros / extra buffer (6) when the format has one.
 */
export function bindingsAfterOut(a: MatmulArgs): { kinds: BindingKind[]; res: Bindable[] } {
  const q = a.bQuant;
  if (!q) return a.bias ? { kinds: ['read'], res: [a.bias] } : { kinds: [], res: [] };
  const aux = q.zeros ?? q.extra;
  const res: Bindable[] = [a.bias ?? q.scales, q.scales, ...(aux ? [aux] : [])];
  return { kinds: res.map(() => 'read' as const), res };
}
