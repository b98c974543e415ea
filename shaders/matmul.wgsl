// Matmul family: out[M,N] = alpha * op(A)[M,K] · op(B)[K,N] (+ bias[N]) + beta * out[M,N]
//
// Used for every dense product of the model: the frozen-weight forward (A = inp [N_tok, in],
// B = W [out, in] with TRANS_B), the input gradient of the backward (A = dout, B = W, no
// transpose), and the LoRA products (u = x·Aᵀ, y += s·u·Bᵀ, dB = s·goutᵀ·u, dA = s·gBᵀ·x).
//
// Bindings (group 0):
//   0 uniform P: { M, N, K, lda, ldb, ldc, offA, offB, offC, offBias, alpha, beta, dropSalt,
//               dropThr, dropScale, K2, lda2, ldb2, offA2, offB2, alpha2, offAdd, ldAdd, 0 }
//               (element units; the B_QA group size is the define QG of common/dequant.wgsl; the
//               rest: common/matmul_fuse.wgsl)
//   1 read    A: f32. TRANS_A=0: op(A)[m,k] = A[offA + m*lda + k]; TRANS_A=1: A[offA + k*lda + m]
//   2 read    B: f32, or with B_F16 f16 pairs packed in u32 (element i = half (i & 1) of word i >> 1).
//               TRANS_B=0: op(B)[k,n] = B[offB + k*ldb + n]; TRANS_B=1: B[offB + n*ldb + k]
//             With a quantized B (B_INT8, B_NF4, B_QA; layouts in src/quant/formats.ts): the packed
//               codes (u32) of a whole matrix W[rows = out, cols = in], ldb = cols, offB = 0:
//               TRANS_B=1: op(B)[k,n] = W[n,k] (forward), TRANS_B=0: op(B)[k,n] = W[k,n] (dinp).
//   3 rw      out: f32, out[offC + m*ldc + n]
//   4 read    bias (HAS_BIAS only): f32, or f16-packed with BIAS_F16; bias[offBias + n]. With a
//               quantized B and no bias a placeholder (the scales buffer) is bound here, unused.
//   5 read    (quantized B) scales: B_INT8 f32 c per row; B_NF4 f32 absmax per 64-block;
//               B_NF4DQ u8 absmax codes per 64-block, 4 per word; B_QA f16 s pairs per group
//   6 read    (B_NF4DQ) extra: f32 [DYN table (256), c, absmax2 per 256 blocks];
//             (B_QA) zeros: f16 z pairs per group, or with QZ_F32 one f32 per group (merged
//               QA-LoRA models, whose zero points z' = z − Δ/s are not integers)
//   then, numbered by the wrapper (BIND_*): seed (HAS_SEED), A2 and B2 (SECOND), addend (ADDEND):
//   the epilogue fusions of common/matmul_fuse.wgsl (the LoRA B product inside a QLoRA forward,
//   the LoRA input gradient with its dropout mask inside the frozen input gradient, the residual).
// Quantized elements are dequantized in registers while staging the B tile (loadQ, from
// common/dequant.wgsl, which also declares bindings 2, 5, 6); no dequantized copy of W exists.
// B_NF4 keeps the 16-entry code book (and B_NF4DQ the 256-entry dynamic table) in workgroup memory
// (DQ_WG), filled once per workgroup before the K loop.
// Dispatch: (ceil(N/TILE), ceil(M/TILE), 1) workgroups of (TILE/4)x(TILE/4) threads, TILE = {{TILE}}
// (64, or 32 for small outputs so that more workgroups share the work). Each workgroup computes a
// TILE x TILE tile of out, stepping over K in slabs of 16 staged in workgroup memory; each thread
// holds a 4x4 register block at rows ty+WT*i and columns tx+WT*j (WT = TILE/4, so stores are
// coalesced). All bounds are checked, so M, N, K need not be multiples of anything. Accumulation
// is f32.

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offA: u32, offB: u32, offC: u32, offBias: u32,
  alpha: f32, beta: f32,
  dropSalt: u32, dropThr: u32, dropScale: f32,
  K2: u32, lda2: u32, ldb2: u32, offA2: u32, offB2: u32, alpha2: f32, offAdd: u32, ldAdd: u32, p0: u32,
}

#include "common/f16.wgsl"
#include "common/matmul_fuse.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
#if B_QUANT
#include "common/dequant.wgsl"
#else
#if B_F16
@group(0) @binding(2) var<storage, read> Bw: array<u32>;
fn loadB(i: u32) -> f32 { return f16At(Bw[i >> 1u], i); }
#else
@group(0) @binding(2) var<storage, read> Bw: array<f32>;
fn loadB(i: u32) -> f32 { return Bw[i]; }
#endif
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#if HAS_BIAS
#if BIAS_F16
@group(0) @binding(4) var<storage, read> bias: array<u32>;
fn loadBias(i: u32) -> f32 { return f16At(bias[i >> 1u], i); }
#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
fn loadBias(i: u32) -> f32 { return bias[i]; }
#endif
#endif

#if B_QUANT
// W[o, c] (common/dequant.wgsl, with its code book tables in workgroup memory: DQ_WG).
fn loadQ(o: u32, c: u32) -> f32 { return dqAt(o * P.ldb + c); }
#endif

const TM: u32 = {{TILE}}u;
const TN: u32 = {{TILE}}u;
const TK: u32 = 16u;
const WT: u32 = {{TILE}}u / 4u;       // threads per side
const NT: u32 = WT * WT;             // threads per workgroup
const LOADS: u32 = TM * TK / NT;     // staged elements per thread per slab (4 or 8)

var<workgroup> As: array<array<f32, {{TILE}}>, 16>; // [k][m]
var<workgroup> Bs: array<array<f32, {{TILE}}>, 16>; // [k][n]

@compute @workgroup_size({{TILE}} / 4, {{TILE}} / 4, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * WT + tx;
#if HAS_SEED
  dropInit(P.dropSalt);
#endif
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;

#if B_QUANT
  dqInit(tid, NT);
  workgroupBarrier();
#endif

  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }

  for (var k0 = 0u; k0 < P.K; k0 += TK) {
    // Stage op(A)[m0.., k0..] and op(B)[k0.., n0..]: TILE*16 elements each, LOADS per thread,
    // with the thread-to-element map chosen so consecutive threads read consecutive addresses.
    for (var e = 0u; e < LOADS; e++) {
      let lin = tid + e * NT;
#if TRANS_A
      let mm = lin % TM; let kk = lin / TM;
      let gm = m0 + mm; let gk = k0 + kk;
      var av = 0.0;
      if (gm < P.M && gk < P.K) { av = A[P.offA + gk * P.lda + gm]; }
#else
      let kk = lin % TK; let mm = lin / TK;
      let gm = m0 + mm; let gk = k0 + kk;
      var av = 0.0;
      if (gm < P.M && gk < P.K) { av = A[P.offA + gm * P.lda + gk]; }
#endif
      As[kk][mm] = av;
#if TRANS_B
      let bk = lin % TK; let bn = lin / TK;
      let gbn = n0 + bn; let gbk = k0 + bk;
      var bv = 0.0;
#if B_QUANT
      if (gbn < P.N && gbk < P.K) { bv = loadQ(gbn, gbk); }
#else
      if (gbn < P.N && gbk < P.K) { bv = loadB(P.offB + gbn * P.ldb + gbk); }
#endif
#else
      let bn = lin % TN; let bk = lin / TN;
      let gbn = n0 + bn; let gbk = k0 + bk;
      var bv = 0.0;
#if B_QUANT
      if (gbn < P.N && gbk < P.K) { bv = loadQ(gbk, gbn); }
#else
      if (gbn < P.N && gbk < P.K) { bv = loadB(P.offB + gbk * P.ldb + gbn); }
#endif
#endif
      Bs[bk][bn] = bv;
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[k][ty + WT * i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = Bs[k][tx + WT * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty + WT * i;
    if (m >= P.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx + WT * j;
      if (n >= P.N) { continue; }
      let idx = P.offC + m * P.ldc + n;
      var v = P.alpha * acc[i][j];
#if HAS_BIAS
      v += loadBias(P.offBias + n);
#endif
      if (P.beta != 0.0) { v += P.beta * out[idx]; }
#if FUSE
      v = fuseEpilogue(m, n, v);
#endif
      out[idx] = v;
    }
  }
}
