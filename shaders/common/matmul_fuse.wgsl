// Include: the fusions the matmul kernels share (matmul_vec4.wgsl, matmul.wgsl), each off unless
// its define is set by ops/matmul.ts:
//   HAS_SEED  the LoRA dropout mask of common/dropout.wgsl: dropMul(i) = keep(i) ? dropScale : 0
//             (dropScale = 1/(1-p)), over the logical element index i of the masked matrix;
//             call dropInit(salt) first in main (P.dropSalt, or a grouped product's own salt).
//   SECOND    a second product in the epilogue: second1(m, n) = alpha2·Σ_{k<K2} A2[m,k]·op(B2)[k,n]
//             (A2[offA2 + m*lda2 + k]; TRANS_B2: op(B2)[k,n] = B2[offB2 + n*ldb2 + k], else
//             B2[offB2 + k*ldb2 + n]; ascending k, f32), times dropMul(m*N + n) with DROP2.
//   SEG2      (with SECOND) the second product in up to 4 segments, P.seg = array<vec4<u32>, 6>:
//             seg[j] = (start_j, end_j, offA2_j, offB2_j) for j < 4, seg[4] = (K2_0..K2_3),
//             seg[5] = (salt_0..salt_3) (P.K2, P.offA2, P.offB2 unused; K2_j = 0: no segment j).
//             SEG2_N (one product over the concatenated rows of several weights, the forward of
//             q|k|v or gate|up): column n in [start_j, end_j) gets segment j's product
//             alpha2·Σ_k A2[offA2_j + m*lda2 + k]·B2[offB2_j + (n - start_j)*ldb2 + k] (TRANS_B2),
//             other columns nothing. Otherwise (the input gradient of such a product) every
//             segment adds alpha2·Σ_k A2[offA2_j + m*lda2 + k]·B2[offB2_j + k*ldb2 + n], times
//             its own mask (DROP2: salt_j), in ascending j.
//   ADDEND    addendAt(m, n) = addend[offAdd + m*ldAdd + n] (the residual).
// Provides: dropInit(salt), dropMul(i) (HAS_SEED), second1(m, n) (SECOND), the `addend` binding
// (ADDEND) and fuseEpilogue(m, n, v), where
// fuseEpilogue(m, n, v) = v + second1(m, n) + addendAt(m, n) (each when on), in that order: the
// order of the separate dispatches it replaces (frozen product, then LoRA B or dx.lora, then the
// residual accumulate), so the result is the same bits.
// Requires of the including file: a uniform `P` with fields N, dropSalt, dropThr, dropScale, K2,
// lda2, ldb2, offA2, offB2, alpha2, offAdd, ldAdd (and seg with SEG2); the defines HAS_SEED, SECOND, TRANS_B2, DROP2,
// SEG2, SEG2_N, ADDEND and, for the bindings present, BIND_SEED (u32 seed [1]), BIND_A2, BIND_B2 (f32), BIND_ADD (f32).

#include "common/dropout.wgsl"

#if HAS_SEED
@group(0) @binding({{BIND_SEED}}) var<storage, read> dropSeed: array<u32>;
var<private> dropKey: u32;
fn dropInit(salt: u32) { dropKey = dropKeyOf(dropSeed[0], salt); }
fn dropMul(i: u32) -> f32 { return select(0.0, P.dropScale, dropKeep(dropKey, P.dropThr, i)); }
#endif

#if SECOND
@group(0) @binding({{BIND_A2}}) var<storage, read> A2: array<f32>;
@group(0) @binding({{BIND_B2}}) var<storage, read> B2: array<f32>;
#if SEG2
fn second1(m: u32, n: u32) -> f32 {
  var r = 0.0;
  for (var j = 0u; j < 4u; j++) {
    let K2 = P.seg[4][j];
    let e = P.seg[j];
#if SEG2_N
    if (K2 == 0u || n < e.x || n >= e.y) { continue; }
    var s = 0.0;
    for (var k = 0u; k < K2; k++) {
      s = fma(A2[e.z + m * P.lda2 + k], B2[e.w + (n - e.x) * P.ldb2 + k], s);
    }
    r = P.alpha2 * s;
#else
    if (K2 == 0u) { continue; }
    var s = 0.0;
    for (var k = 0u; k < K2; k++) {
      s = fma(A2[e.z + m * P.lda2 + k], B2[e.w + k * P.ldb2 + n], s);
    }
    var v = P.alpha2 * s;
#if DROP2
    dropInit(P.seg[5][j]);
    v = v * dropMul(m * P.N + n);
#endif
    r += v;
#endif
  }
  return r;
}
#else
fn second1(m: u32, n: u32) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < P.K2; k++) {
#if TRANS_B2
    s = fma(A2[P.offA2 + m * P.lda2 + k], B2[P.offB2 + n * P.ldb2 + k], s);
#else
    s = fma(A2[P.offA2 + m * P.lda2 + k], B2[P.offB2 + k * P.ldb2 + n], s);
#endif
  }
  var v = P.alpha2 * s;
#if DROP2
  v = v * dropMul(m * P.N + n);
#endif
  return v;
}
#endif
#endif

#if ADDEND
@group(0) @binding({{BIND_ADD}}) var<storage, read> addend: array<f32>;
#endif

fn fuseEpilogue(m: u32, n: u32, v: f32) -> f32 {
  var r = v;
#if SECOND
  r += second1(m, n);
#endif
#if ADDEND
  r += addend[P.offAdd + m * P.ldAdd + n];
#endif
  return r;
}
