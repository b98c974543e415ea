// Matmul core, register-blocked with vec4 workgroup memory:
//   out[M,N] = alpha * op(A)[M,K] · op(B)[K,N] (+ bias[N]) + beta * out[M,N]
// (with SPLITK: a raw partial product over one chunk of K, reduced by matmul_splitk.wgsl).
// B dense (f32, or f16 pairs) or, with B_QUANT, a quantized frozen W dequantized in registers as it
// is fetched (common/dequant.wgsl: loadB4 = dq4At, loadB = dqAt); matmul.wgsl is the previous kernel.
//
// Bindings (group 0):
//   0 uniform P: { M, N, K, lda, ldb, ldc, offA, offB, offC, offBias, alpha, beta, KC, dropSalt,
//               dropThr, dropScale, K2, lda2, ldb2, offA2, offB2, alpha2, offAdd, ldAdd
//               [, GROUPED: grp: array<vec4<u32>, 8>, 2 per group]
//               [, SEG2: seg: array<vec4<u32>, 6>, the segments of the second product] }
//               (element units; KC = K elements per split-K chunk, a multiple of BK, else 0; the
//               rest: common/matmul_fuse.wgsl)
//   1 read    A: f32 (FIT: vec4<f32>). TRANS_A=0: op(A)[m,k] = A[offA + m*lda + k];
//               TRANS_A=1: A[offA + k*lda + m]
//   2 read    B: f32 (FIT: vec4<f32>), or with B_F16 f16 pairs packed in u32 (FIT: vec2<u32> =
//               4 halves). TRANS_B=0: op(B)[k,n] = B[offB + k*ldb + n]; TRANS_B=1: B[offB + n*ldb + k]
//   3 rw      out: f32 (FIT: vec4<f32>), out[offC + m*ldc + n]; SPLITK: chunk z writes its raw
//               partial at out[offC + z*M*ldc + m*ldc + n] (alpha = 1, beta = 0, no bias)
//   4 read    bias (HAS_BIAS only): f32, or f16-packed with BIAS_F16; bias[offBias + n]
//   with B_QUANT (ops/matmul-quant.ts): 2 = the packed codes (u32) of a whole W[out, in] (offB = 0,
//               ldb = in; TRANS_B=1: op(B)[k,n] = W[n,k], the forward; TRANS_B=0: W[k,n], dinp), so
//               both loads index W row-major and a FIT vec4 is 4 consecutive in-features of one row;
//               4 = bias, or without HAS_BIAS a placeholder (unused); 5 scales, 6 zeros / extra (the
//               layouts of matmul.wgsl's header and src/quant/formats.ts)
//   then, numbered by the wrapper (BIND_*): seed (HAS_SEED), A2 and B2 (SECOND), addend (ADDEND)
// GROUPED (ops/matmul-grouped.ts): 1 to 4 products ("groups") sharing the bindings, transA/transB,
//   lda/ldb/ldc, alpha/beta, N, dropout seed and p, and tile, each with its own M, K, offsets and
//   dropout salt from the table P.grp[2g..2g+1] = (M_g, K_g, offA_g, offB_g), (offC_g, salt_g,
//   KC_g, S_g) (P.M, P.K, P.offA/B/C and P.dropSalt unused; with SPLITK P.KC = S, the z stride of a
//   group, and group g's chunk z writes at out[offC_g + z*M_g*ldc + ...]). No epilogue fusion.
// Fusions (common/matmul_fuse.wgsl): DROP_A (TRANS_A=0 only) multiplies op(A)[m,k] by the LoRA
// dropout mask dropMul(m*K + k) as it is loaded, DROP_B (TRANS_B=0 only) op(B)[k,n] by
// dropMul(k*N + n) (the mask of ops/elementwise dropout over the dense [M,K] / [K,N] operand, so
// the loraA product and the dA product read dropout(x̃) without it being written; applied to the
// f32 value after any unpacking); SECOND / ADDEND add a second product (the LoRA B product, or the
// LoRA input gradient with DROP2) and the residual in the epilogue (not with SPLITK).
// Dispatch: (ceil(N/BN), ceil(M/BM), SPLITK ? ceil(K/KC) : 1) workgroups of (WX, WY) threads
//   (GROUPED: (ceil(N/BN), ceil(max M_g/BM), G*S); a workgroup past its group's M_g or S_g returns),
//   BN = 4*WX, BM = TM*WY; WX = {{WX}}, WY = {{WY}}, TM = {{TM}}, BK = {{BK}} (ops/matmul.ts picks them
//   per shape and per the adapter's workgroup storage / invocation limits).
// Each thread owns TM consecutive rows × 4 consecutive columns (one vec4 per row: coalesced vec4
// stores). Per K slab of BK the workgroup stages op(A) as As[m][k/4] (vec4 along k) and op(B) as
// Bs[k][n/4] (vec4 along n), each row padded by one vec4 against bank conflicts on the transposed
// writes; the inner step reads 4 vec4 of B and TM vec4 of A for 16·TM FMAs. The next slab is loaded
// into registers while the current one is multiplied (one barrier pair per slab).
// FIT (M % BM = N % BN = 0, K (or KC) % BK = 0, lda, ldb, ldc, offA, offB, offC multiples of 4;
// GROUPED: for every group):
// no bounds checks and vec4 global loads/stores. Otherwise every element is bounds-checked, so M,
// N, K, strides and offsets are arbitrary. Accumulation is f32; the summation order over k is
// fixed (ascending k within each thread), so results are bit-reproducible.
// HALF (MatmulArgs.math 'f16'): As/Bs hold vec4<half> (half the workgroup memory; op(A), op(B)
// rounded to half when staged, after any f16 unpacking and dropout), each 4-term dot
// a.x·b0 + a.y·b1 + a.z·b2 + a.w·b3 is formed in half (vec4 fma chain) and added to the f32 acc.
// Per 4-term dot rather than per term: the half→f32 conversion is paid once per 4 packed-half
// FMAs (per term it would cost one per FMA, leaving little for the half math to gain), while the
// error stays bounded per 4 terms (≈ 4·2^-11 of Σ|products|) instead of growing with K, and no
// running sum can overflow half's 65504. Limits: |values| above 65504 do not fit (implementation-
// defined, in practice ±inf), and below 6.1e-5 (subnormal) they keep fewer bits (tiny gradients).
// HALF_F16 selects the real build (`enable f16`, half = f16, needs the device's shader-f16); HALF
// without it is the emulation (half = f32) the tests run where the adapter has no shader-f16: the
// same staging, indexing and dot order, f32 rounding. The split-K partials use the same path; the
// epilogue (bias, SECOND, ADDEND) and matmul_splitk.wgsl's reduce stay f32.
#if HALF_F16
enable f16;
alias half = f16;
#else
alias half = f32;
#endif
alias hv = vec4<half>;

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offA: u32, offB: u32, offC: u32, offBias: u32,
  alpha: f32, beta: f32,
  KC: u32, dropSalt: u32, dropThr: u32, dropScale: f32,
  K2: u32, lda2: u32, ldb2: u32, offA2: u32, offB2: u32, alpha2: f32, offAdd: u32, ldAdd: u32,
#if GROUPED
  grp: array<vec4<u32>, 8>,
#endif
#if SEG2
  seg: array<vec4<u32>, 6>,
#endif
}

#include "common/f16.wgsl"
#include "common/matmul_fuse.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
#if B_QUANT
#include "common/dequant.wgsl"
#endif
#if FIT
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
fn loadA4(i: u32) -> vec4<f32> { return A[i >> 2u]; }
#if B_QUANT
fn loadB4(i: u32) -> vec4<f32> { return dq4At(i); }
#else
#if B_F16
@group(0) @binding(2) var<storage, read> Bw: array<vec2<u32>>;
fn loadB4(i: u32) -> vec4<f32> {
  let w = Bw[i >> 2u];
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
#else
@group(0) @binding(2) var<storage, read> Bw: array<vec4<f32>>;
fn loadB4(i: u32) -> vec4<f32> { return Bw[i >> 2u]; }
#endif
#endif
#else
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#if B_QUANT
fn loadB(i: u32) -> f32 { return dqAt(i); }
#else
#if B_F16
@group(0) @binding(2) var<storage, read> Bw: array<u32>;
fn loadB(i: u32) -> f32 { return f16At(Bw[i >> 1u], i); }
#else
@group(0) @binding(2) var<storage, read> Bw: array<f32>;
fn loadB(i: u32) -> f32 { return Bw[i]; }
#endif
#endif
#endif
#if HAS_BIAS
#if BIAS_F16
@group(0) @binding(4) var<storage, read> bias: array<u32>;
fn loadBias(i: u32) -> f32 { return f16At(bias[i >> 1u], i); }
#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
fn loadBias(i: u32) -> f32 { return bias[i]; }
#endif
#endif

const WX: u32 = {{WX}}u;
const WY: u32 = {{WY}}u;
const TM: u32 = {{TM}}u;
const BK: u32 = {{BK}}u;
const BN: u32 = 4u * WX;
const BM: u32 = TM * WY;
const NT: u32 = WX * WY;
const SA: u32 = BK / 4u + 1u;           // As row stride in vec4 (one vec4 of padding)
const SB: u32 = BN / 4u + 1u;           // Bs row stride in vec4
const NA: u32 = BM * BK / 4u;           // vec4 per A slab
const NB: u32 = BK * BN / 4u;           // vec4 per B slab
const LA: u32 = (NA + NT - 1u) / NT;    // per thread
const LB: u32 = (NB + NT - 1u) / NT;

var<workgroup> As: array<hv, {{AS_LEN}}>; // BM * SA (hv = vec4<f32> unless HALF)
var<workgroup> Bs: array<hv, {{BS_LEN}}>; // BK * SB

// This workgroup's product: P.M, P.K, P.offA, P.offB, P.offC, or its GROUPED table row (set first in main).
var<private> cM: u32;
var<private> cK: u32;
var<private> cOffA: u32;
var<private> cOffB: u32;
var<private> cOffC: u32;

var<private> ra: array<vec4<f32>, LA>;
#if HAS_SEED
// The dropout factors of 4 consecutive elements i..i+3 of the masked operand.
fn drop4(i: u32) -> vec4<f32> { return vec4<f32>(dropMul(i), dropMul(i + 1u), dropMul(i + 2u), dropMul(i + 3u)); }
#endif
var<private> rb: array<vec4<f32>, LB>;

// Global → registers for the slab at k0 (k < kEnd valid). Element (r, c) of each vec4 as documented
// in stage(): A vec4s run along k (TRANS_A=0) or m (TRANS_A=1), B vec4s along n (TRANS_B=0) or k.
fn fetch(m0: u32, n0: u32, k0: u32, kEnd: u32, tid: u32) {
  for (var e = 0u; e < LA; e++) {
    let lin = tid + e * NT;
#if TRANS_A
    let k = k0 + lin / (BM / 4u);
    let m = m0 + 4u * (lin % (BM / 4u));
#if FIT
    ra[e] = loadA4(cOffA + k * P.lda + m);
#else
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (lin < NA && k < kEnd && m + c < cM) { v[c] = A[cOffA + k * P.lda + m + c]; }
    }
    ra[e] = v;
#endif
#else
    let m = m0 + lin / (BK / 4u);
    let k = k0 + 4u * (lin % (BK / 4u));
#if FIT
    ra[e] = loadA4(cOffA + m * P.lda + k);
#else
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (lin < NA && m < cM && k + c < kEnd) { v[c] = A[cOffA + m * P.lda + k + c]; }
    }
    ra[e] = v;
#endif
#if DROP_A
    ra[e] *= drop4(m * cK + k);
#endif
#endif
  }
  for (var e = 0u; e < LB; e++) {
    let lin = tid + e * NT;
#if TRANS_B
    let n = n0 + lin / (BK / 4u);
    let k = k0 + 4u * (lin % (BK / 4u));
#if FIT
    rb[e] = loadB4(cOffB + n * P.ldb + k);
#else
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (lin < NB && n < P.N && k + c < kEnd) { v[c] = loadB(cOffB + n * P.ldb + k + c); }
    }
    rb[e] = v;
#endif
#else
    let k = k0 + lin / (BN / 4u);
    let n = n0 + 4u * (lin % (BN / 4u));
#if FIT
    rb[e] = loadB4(cOffB + k * P.ldb + n);
#else
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (lin < NB && k < kEnd && n + c < P.N) { v[c] = loadB(cOffB + k * P.ldb + n + c); }
    }
    rb[e] = v;
#endif
#if DROP_B
    rb[e] *= drop4(k * P.N + n);
#endif
#endif
  }
}

// Registers → workgroup memory: As[m*SA + k/4] holds op(A)[m, k..k+3], Bs[k*SB + n/4] op(B)[k, n..n+3].
fn stage(tid: u32) {
  for (var e = 0u; e < LA; e++) {
    let lin = tid + e * NT;
    if (NA % NT != 0u && lin >= NA) { break; }
#if TRANS_A
    let k = lin / (BM / 4u);
    let m = 4u * (lin % (BM / 4u));
    for (var c = 0u; c < 4u; c++) { As[(m + c) * SA + k / 4u][k % 4u] = half(ra[e][c]); }
#else
    As[(lin / (BK / 4u)) * SA + lin % (BK / 4u)] = hv(ra[e]);
#endif
  }
  for (var e = 0u; e < LB; e++) {
    let lin = tid + e * NT;
    if (NB % NT != 0u && lin >= NB) { break; }
#if TRANS_B
    let n = lin / (BK / 4u);
    let k = 4u * (lin % (BK / 4u));
    for (var c = 0u; c < 4u; c++) { Bs[(k + c) * SB + n / 4u][n % 4u] = half(rb[e][c]); }
#else
    Bs[(lin / (BN / 4u)) * SB + lin % (BN / 4u)] = hv(rb[e]);
#endif
  }
}

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * WX + tx;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
#if GROUPED
  // Product g of the table (z = g*S + chunk with SPLITK, S = P.KC; else z = g). The early returns
  // read only the uniform P and workgroup_id, so they are uniform per workgroup (before any barrier).
#if SPLITK
  let g = wid.z / P.KC;
  let chunk = wid.z % P.KC;
#else
  let g = wid.z;
#endif
  let e0 = P.grp[2u * g];
  let e1 = P.grp[2u * g + 1u];
  if (m0 >= e0.x) { return; }
#if SPLITK
  if (chunk >= e1.w) { return; }
  let kBeg = chunk * e1.z;
  let kEnd = min(e0.y, kBeg + e1.z);
#else
  let kBeg = 0u;
  let kEnd = e0.y;
#endif
  cM = e0.x;
  cK = e0.y;
  cOffA = e0.z;
  cOffB = e0.w;
  cOffC = e1.x;
#if HAS_SEED
  dropInit(e1.y);
#endif
#else
#if SPLITK
  let chunk = wid.z;
  let kBeg = wid.z * P.KC;
  let kEnd = min(P.K, kBeg + P.KC);
#else
  let kBeg = 0u;
  let kEnd = P.K;
#endif
  cM = P.M;
  cK = P.K;
  cOffA = P.offA;
  cOffB = P.offB;
  cOffC = P.offC;
#if HAS_SEED
  dropInit(P.dropSalt);
#endif
#endif

  var acc: array<vec4<f32>, TM>;
  for (var i = 0u; i < TM; i++) { acc[i] = vec4<f32>(0.0); }

  fetch(m0, n0, kBeg, kEnd, tid);
  for (var k0 = kBeg; k0 < kEnd; k0 += BK) {
    stage(tid);
    workgroupBarrier();
    // Prefetch the next slab into registers while this one is multiplied.
    if (k0 + BK < kEnd) { fetch(m0, n0, k0 + BK, kEnd, tid); }
    for (var kq = 0u; kq < BK / 4u; kq++) {
      let b0 = Bs[(4u * kq) * SB + tx];
      let b1 = Bs[(4u * kq + 1u) * SB + tx];
      let b2 = Bs[(4u * kq + 2u) * SB + tx];
      let b3 = Bs[(4u * kq + 3u) * SB + tx];
      for (var i = 0u; i < TM; i++) {
        let a = As[(ty * TM + i) * SA + kq];
#if HALF
        acc[i] += vec4<f32>(fma(b3, hv(a.w), fma(b2, hv(a.z), fma(b1, hv(a.y), b0 * hv(a.x)))));
#else
        acc[i] = fma(b3, vec4<f32>(a.w), fma(b2, vec4<f32>(a.z), fma(b1, vec4<f32>(a.y), fma(b0, vec4<f32>(a.x), acc[i]))));
#endif
      }
    }
    workgroupBarrier();
  }

  let n = n0 + 4u * tx;
#if SPLITK
  let base = cOffC + chunk * cM * P.ldc;
#else
  let base = cOffC;
#endif
  var bv = vec4<f32>(0.0);
#if HAS_BIAS
  for (var c = 0u; c < 4u; c++) { if (n + c < P.N) { bv[c] = loadBias(P.offBias + n + c); } }
#endif
  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty * TM + i;
#if FIT
    let idx = (base + m * P.ldc + n) >> 2u;
    var v = P.alpha * acc[i] + bv;
    if (P.beta != 0.0) { v += P.beta * out[idx]; }
#if FUSE
    for (var c = 0u; c < 4u; c++) { v[c] = fuseEpilogue(m, n + c, v[c]); }
#endif
    out[idx] = v;
#else
    if (m >= cM) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (n + c >= P.N) { break; }
      let idx = base + m * P.ldc + n + c;
      var v = P.alpha * acc[i][c] + bv[c];
      if (P.beta != 0.0) { v += P.beta * out[idx]; }
#if FUSE
      v = fuseEpilogue(m, n + c, v);
#endif
      out[idx] = v;
    }
#endif
  }
}
