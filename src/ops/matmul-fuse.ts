// The epilogue and load fusions of the matmul kernels (shaders/common/matmul_fuse.wgsl) as the
// wrappers bind them: defines, extra bindings and uniform words, shared by ops/matmul.ts and
// ops/matmul-grouped.ts.
import { GpuError, type Bindable, type BindingKind } from '../gpu/context';
import type { MatmulArgs } from './matmul';

/** Segments a segmented second product can have (common/matmul_fuse.wgsl SEG2). */
export const MATMUL_MAX_SEGMENTS = 4;

/** The integer threshold on the hash's top 24 bits: keep iff (hash >>> 8) >= ceil(p * 2^24) (as ops/elementwise). */
function dropThreshold(p: number): number {
  return Math.min(2 ** 24, Math.ceil(p * 2 ** 24));
}

/**
 * Defines, extra bindings (numbered from `first`) and the 11 uniform words (35 with segments) (types: the letters for
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
  const seg = sec?.segments;
  if (seg) {
    if (seg.list.length < 1 || seg.list.length > MATMUL_MAX_SEGMENTS) throw new GpuError(`${label}: a segmented second product takes 1 to ${MATMUL_MAX_SEGMENTS} segments, got ${seg.list.length}`);
    if (seg.mode === 'N' && !sec.transB) throw new GpuError(`${label}: column segments need the second product's B transposed`);
  }
  const defines = {
    HAS_SEED: !!d, DROP_A: d?.operand === 'A', DROP_B: d?.operand === 'B', DROP2: d?.operand === 'second',
    SECOND: !!sec, TRANS_B2: !!sec?.transB, ADDEND: !!a.addend, FUSE: !!sec || !!a.addend, SEG2: !!seg, SEG2_N: seg?.mode === 'N',
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
  let types = 'uufuuuuufuu';
  if (seg) {
    // seg[j] = (start, end, offA2, offB2), seg[4] = K2 per segment, seg[5] = salt per segment.
    const table = new Array<number>(24).fill(0);
    seg.list.forEach((g, j) => {
      table.splice(4 * j, 4, g.start ?? 0, g.end ?? 0, g.offA, g.offB);
      table[16 + j] = g.K;
      table[20 + j] = g.salt ?? 0;
    });
    words.push(...table);
    types += 'u'.repeat(24);
  }
  return { defines, bindings, res, words, types };
}
