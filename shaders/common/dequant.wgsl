// Include: a quantized frozen matrix W[rows = out, cols = in] as the B operand of the matmul
// kernels (matmul_vec4.wgsl, matmul.wgsl), dequantized in registers; no dequantized copy exists.
// Formats (layouts and the CPU rules these loads match bit for bit: src/quant/nf4.ts, int8.ts,
// qalora.ts; src/quant/reference.ts dequantizeRef):
//   B_INT8  int8 code in byte i of the stream times fl(c[row]·INV127)
//   B_NF4   4-bit code (element 2j in the HIGH nibble of byte j), fl(NF4[q]·absmax[i / 64]);
//           B_NF4DQ: absmax' = fl(fl(DYN[q8]·absmax2[b / 256]) + c) from the u8 code q8 of block b
//   B_QA    QBITS-bit codes in a little-endian bit stream, fl(s·fl(q − z)) of group i / QG (QG = the
//           group size, a compile-time constant; groups tile each row, so i / QG = row·QL + col / QG)
// Provides: the bindings Bq (2, codes), Qs (5, scales) and Qx / Qz (6, B_NF4DQ extra / B_QA zeros);
//   dqAt(i) -> f32: element i of W in row-major order (i = row·cols + col);
//   dq4At(i) -> vec4<f32>: elements i..i+3, which must lie in one row with i % 4 = 0 (cols % 4 = 0):
//     one code word (two for QBITS = 3 across a word edge), one scale (and zero point when
//     QA_G4, QG % 4 = 0) for all four; the same f32 operations per element as dqAt, so the same bits.
//   DQ_WG: the NF4 code book (and B_NF4DQ's DYN table) in workgroup memory, filled by
//     dqInit(tid, nt) (every thread of the workgroup calls it, then a workgroupBarrier before the
//     first load: matmul.wgsl); else the code book is selected from constants in registers and DYN
//     read from Qx directly (matmul_vec4.wgsl, whose K loop starts loading before any barrier).
// Requires of the including file: a uniform `P` with field ldb (= cols); the defines B_INT8,
//   B_NF4, B_NF4DQ, B_QA, QZ_F32, QA_G4, DQ_WG and, for the active format, INV127 (B_INT8),
//   NF4_CODE (B_NF4), QBITS and QG (B_QA) (ops/matmul-quant.ts quantDefines).

#include "common/f16.wgsl"

@group(0) @binding(2) var<storage, read> Bq: array<u32>;

#if B_INT8
@group(0) @binding(5) var<storage, read> Qs: array<f32>;
const INV127: f32 = {{INV127}};
fn dqAt(i: u32) -> f32 {
  let q = bitcast<i32>(Bq[i >> 2u] << (24u - (i & 3u) * 8u)) >> 24u;
  return f32(q) * (Qs[i / P.ldb] * INV127);
}
fn dq4At(i: u32) -> vec4<f32> {
  let q = bitcast<vec4<i32>>(vec4<u32>(Bq[i >> 2u]) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
  return vec4<f32>(q) * (Qs[i / P.ldb] * INV127);
}
#endif

#if B_NF4
const NF4_CODE = array<f32, 16>({{NF4_CODE}});
#if B_NF4DQ
@group(0) @binding(5) var<storage, read> Qs: array<u32>;
@group(0) @binding(6) var<storage, read> Qx: array<f32>;
#if DQ_WG
var<workgroup> DYNL: array<f32, 256>;
fn dynAt(q8: u32) -> f32 { return DYNL[q8]; }
#else
fn dynAt(q8: u32) -> f32 { return Qx[q8]; }
#endif
fn absmaxOf(b: u32) -> f32 {
  let q8 = (Qs[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
  return dynAt(q8) * Qx[257u + (b >> 8u)] + Qx[256];
}
#else
@group(0) @binding(5) var<storage, read> Qs: array<f32>;
fn absmaxOf(b: u32) -> f32 { return Qs[b]; }
#endif
#if DQ_WG
var<workgroup> NF4L: array<f32, 16>;
fn nf4At(q: u32) -> f32 { return NF4L[q]; }
#else
// NF4[q] for four codes at once: a 4-level select tree over the constants (no indexed memory).
fn nf4x4(q: vec4<u32>) -> vec4<f32> {
  let b0 = (q & vec4<u32>(1u)) != vec4<u32>(0u);
  let b1 = (q & vec4<u32>(2u)) != vec4<u32>(0u);
  let b2 = (q & vec4<u32>(4u)) != vec4<u32>(0u);
  let b3 = (q & vec4<u32>(8u)) != vec4<u32>(0u);
  let l0 = select(vec4<f32>(NF4_CODE[0]), vec4<f32>(NF4_CODE[1]), b0);
  let l1 = select(vec4<f32>(NF4_CODE[2]), vec4<f32>(NF4_CODE[3]), b0);
  let l2 = select(vec4<f32>(NF4_CODE[4]), vec4<f32>(NF4_CODE[5]), b0);
  let l3 = select(vec4<f32>(NF4_CODE[6]), vec4<f32>(NF4_CODE[7]), b0);
  let l4 = select(vec4<f32>(NF4_CODE[8]), vec4<f32>(NF4_CODE[9]), b0);
  let l5 = select(vec4<f32>(NF4_CODE[10]), vec4<f32>(NF4_CODE[11]), b0);
  let l6 = select(vec4<f32>(NF4_CODE[12]), vec4<f32>(NF4_CODE[13]), b0);
  let l7 = select(vec4<f32>(NF4_CODE[14]), vec4<f32>(NF4_CODE[15]), b0);
  let h0 = select(select(l0, l1, b1), select(l2, l3, b1), b2);
  let h1 = select(select(l4, l5, b1), select(l6, l7, b1), b2);
  return select(h0, h1, b3);
}
fn nf4At(q: u32) -> f32 { return nf4x4(vec4<u32>(q)).x; }
#endif
fn dqAt(i: u32) -> f32 {
  let shift = ((i >> 1u) & 3u) * 8u + select(4u, 0u, (i & 1u) == 1u);
  let q = (Bq[i >> 3u] >> shift) & 15u;
  return nf4At(q) * absmaxOf(i >> 6u);
}
#if !DQ_WG
fn dq4At(i: u32) -> vec4<f32> {
  // i % 4 = 0: bytes (i >> 1) & 3 = 0 or 2 of the word hold elements i, i+1 (HIGH, low nibble), i+2, i+3.
  let s = ((i >> 1u) & 3u) * 8u;
  let q = (vec4<u32>(Bq[i >> 3u]) >> vec4<u32>(s + 4u, s, s + 12u, s + 8u)) & vec4<u32>(15u);
  return nf4x4(q) * absmaxOf(i >> 6u);
}
#endif
#endif

#if B_QA
@group(0) @binding(5) var<storage, read> Qs: array<u32>;
#if QZ_F32
@group(0) @binding(6) var<storage, read> Qz: array<f32>;
fn zeroAt(j: u32) -> f32 { return Qz[j]; }
#else
@group(0) @binding(6) var<storage, read> Qz: array<u32>;
fn zeroAt(j: u32) -> f32 { return f16At(Qz[j >> 1u], j); }
#endif
const QBITS: u32 = {{QBITS}}u;
const QMASK: u32 = (1u << QBITS) - 1u;
const QG: u32 = {{QG}}u;
fn dqAt(i: u32) -> f32 {
  let bit = i * QBITS;
  let sh = bit & 31u;
  var q = Bq[bit >> 5u] >> sh;
  if (sh + QBITS > 32u) { q |= Bq[(bit >> 5u) + 1u] << (32u - sh); }
  q &= QMASK;
  let j = i / QG;
  return f16At(Qs[j >> 1u], j) * (f32(q) - zeroAt(j));
}
fn dq4At(i: u32) -> vec4<f32> {
  // 4·QBITS ≤ 12 bits from bit i·QBITS, across a word edge when QBITS = 3.
  let bit = i * QBITS;
  let sh = bit & 31u;
  var w = Bq[bit >> 5u] >> sh;
  if (sh + 4u * QBITS > 32u) { w |= Bq[(bit >> 5u) + 1u] << (32u - sh); }
  let q = vec4<f32>((vec4<u32>(w) >> (vec4<u32>(0u, 1u, 2u, 3u) * QBITS)) & vec4<u32>(QMASK));
#if QA_G4
  let j = i / QG;
  return f16At(Qs[j >> 1u], j) * (q - zeroAt(j));
#else
  var v: vec4<f32>;
  for (var c = 0u; c < 4u; c++) {
    let j = (i + c) / QG;
    v[c] = f16At(Qs[j >> 1u], j) * (q[c] - zeroAt(j));
  }
  return v;
#endif
}
#endif

#if DQ_WG
fn dqInit(tid: u32, nt: u32) {
#if B_NF4
  if (tid < 16u) { NF4L[tid] = NF4_CODE[tid]; }
#endif
#if B_NF4DQ
  for (var t = tid; t < 256u; t += nt) { DYNL[t] = Qx[t]; }
#endif
}
#endif
