// The epilogue and load fusions of the matmul kernels (shaders/common/matmul_fuse.wgsl) as the
// wrappers bind them: defines, extra bindings and uniform words, shared by ops/matmul.ts and
// ops/matmul-grouped.ts.
import { GpuError, type Bindable, type BindingKind } from '../gpu/context';
import type { MatmulArgs } from './matmul';

/** The integer threshold on the hash's top 24 bits: keep iff (hash >>> 8) >= ceil(p * 2^24) (as ops/elementwise). */
function dropThreshold(p: number): number {
  return Math.min(2 ** 24, Math.ceil(p * 2 ** 24));
}

/**
 * Defines, extra bindings (numbered from `first`) and the 11 uniform words (types: the letters for
 * ctx.uniform) of common/matmul_fuse.wgsl for `a`'s drop / second / addend. Throws GpuError for a
 * dropout p outside [0, 1), a salt that is not a u32, or a mask on an operand that cannot take it.
 */
export function fuseParts(label: string, a: MatmulArgs, first: number) {
  const d = a.drop;
  const sec = a.second;
  if (d) {
    if (!(d.p >= 0 && d.p < 1)) throw new GpuError(`${label}: dropout p must be in [0, 1), got ${d.p}`);
    if (!Number.isInteger(d.salt) || d.salt < 0 || d.salt > 0xffffffff) throw new GpuError(`${label}: dropout salt must be a u32, got ${d.salt}`);
    if (d.operand === 'A' && a.transA) throw new GpuError(`${label}: dropout on A needs A untransposed`);
    if (d.operand === 'B' && (a.transB || a.bQuant)) throw new GpuError(`${label}: dropout on B needs a dense, untransposed B`);
    if (d.operand === 'second' && !sec) throw new GpuError(`${label}: dropout on the second product needs one`);
  }
  const bindings: BindingKind[] = [];
  const res: Bindable[] = [];
  let next = first;
  const bind = (r: Bindable) => {
    bindings.push('read');
    res.push(r);
    return next++;
  };
  const defines = {
    HAS_SEED: !!d, DROP_A: d?.operand === 'A', DROP_B: d?.operand === 'B', DROP2: d?.operand === 'second',
    SECOND: !!sec, TRANS_B2: !!sec?.transB, ADDEND: !!a.addend, FUSE: !!sec || !!a.addend,
    BIND_SEED: d ? bind(d.seed) : undefined,
    BIND_A2: sec ? bind(sec.A) : undefined,
    BIND_B2: sec ? bind(sec.B) : undefined,
    BIND_ADD: a.addend ? bind(a.addend) : undefined,
  };
  const words = [
    d?.salt ?? 0, d ? dropThreshold(d.p) : 0, d ? 1 / (1 - d.p) : 1,
    sec?.K ?? 0, sec?.lda ?? sec?.K ?? 0, sec?.ldb ?? (sec?.transB ? sec.K : a.N), sec?.offA ?? 0, sec?.offB ?? 0, sec?.alpha ?? 1,
    a.offAdd ?? 0, a.ldAdd ?? a.ldc ?? a.N,
  ];
  return { defines, bindings, res, words, types: 'uufuuuuufuu' };
}
