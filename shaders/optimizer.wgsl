// Optimizer kernels over the flat f32 LoRA parameter buffer: global gradient norm (two passes)
// and decoupled-weight-decay AdamW with torch clip_grad_norm_ clipping.
//
// Define SUBGROUPS: the two norm passes reduce with subgroup operations (common/wg_reduce.wgsl;
// those entries take the subgroup builtins): deterministic on one device, not bitwise equal to
// the tree.
//
// Entry sumsq_partial: partial[w] = sum of grads[i]^2 over the elements this workgroup visits.
//   0 uniform P: { n, numPartials }
//   1 read    grads: f32, elements [0, n)
//   2 rw      partial: f32 [numPartials], one sum per workgroup
//   Dispatch: numPartials workgroups (grid1d over x/y; linear id = wid.x + wid.y * nwg.x) of 256
//   threads. Grid-stride loop: thread gid (of numPartials*256) sums i = gid, gid + stride, ... in
//   order (consecutive threads read consecutive addresses), then a fixed tree reduction in
//   workgroup memory. Workgroups past numPartials (grid1d rounding) do nothing.
//
// Entry norm_final: stats[outIndex] = sqrt(sum of partial[0, numPartials)).
//   0 uniform P: { numPartials, outIndex }
//   1 read    partial: f32 [numPartials]
//   2 rw      stats: f32, only stats[outIndex] is written
//   Dispatch: (1, 1, 1), 256 threads: thread j sums partial[j], partial[j+256], ... in order, then
//   the same fixed tree reduction. Both passes' orders depend only on n, so the norm is bitwise
//   deterministic.
//
// Entry adamw: torch.optim.AdamW on elements [offset, offset + n) of params/grads/m/v.
//   0 uniform P: { n, offset, normIndex, lrMul, beta1, beta2, eps, weightDecay, maxNorm }
//   1 rw      params: f32
//   2 read    grads: f32
//   3 rw      m: f32 (first moment, same layout as params)
//   4 rw      v: f32 (second moment)
//   5 read    step: f32 [lr, t] (t = 1-based step count), written by the trainer per step
//   6 read    stats: f32, stats[normIndex] = global gradient norm (read only when maxNorm > 0)
//   Dispatch: min(ceil(n/256), 4096) workgroups (grid1d) of 256 threads, grid-stride over the
//   range. Per thread (uniform values, computed once): clip = maxNorm > 0 ?
//   min(1, maxNorm / (norm + 1e-6)) : 1, lr = step[0] * lrMul, and the bias corrections
//   1 - beta^t, evaluated by binary powering on (1 - b^k, b^k) pairs so that no step subtracts
//   two nearly equal numbers (1 - pow(0.999, t) in f32 would lose ~4 digits). Per element:
//   g = grads*clip; p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

#if SUBGROUPS
enable subgroups;
#endif

#include "common/linear_id.wgsl"

// ---- sum of squares, pass 1 -----------------------------------------------------------------

struct PartialParams {
  n: u32,
  numPartials: u32,
}

@group(0) @binding(0) var<uniform> PP: PartialParams;
@group(0) @binding(1) var<storage, read> sqGrads: array<f32>;
@group(0) @binding(2) var<storage, read_write> sqPartial: array<f32>;

const WG: u32 = 256u;
var<workgroup> red: array<f32, 256>;

#include "common/wg_reduce.wgsl"

@compute @workgroup_size(256, 1, 1)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) tid: u32) {
  let w = linearWorkgroup(wid, nwg);
  if (w >= PP.numPartials) { return; }
  let stride = PP.numPartials * WG;
  var acc = 0.0;
  for (var i = w * WG + tid; i < PP.n; i += stride) {
    let g = sqGrads[i];
    acc = fma(g, g, acc);
  }
  red[tid] = acc;
  workgroupBarrier();
  let total = wgReduceSum(tid);
  if (tid == 0u) { sqPartial[w] = total; }
}

// ---- sum of squares, pass 2 -----------------------------------------------------------------

struct FinalParams {
  numPartials: u32,
  outIndex: u32,
}

@group(0) @binding(0) var<uniform> FP: FinalParams;
@group(0) @binding(1) var<storage, read> fnPartial: array<f32>;
@group(0) @binding(2) var<storage, read_write> fnStats: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn norm_final(
              @builtin(local_invocation_index) tid: u32) {
  var acc = 0.0;
  for (var i = tid; i < FP.numPartials; i += WG) { acc += fnPartial[i]; }
  red[tid] = acc;
  workgroupBarrier();
  let total = wgReduceSum(tid);
  if (tid == 0u) { fnStats[FP.outIndex] = sqrt(total); }
}

// ---- AdamW ----------------------------------------------------------------------------------

struct AdamParams {
  n: u32,
  offset: u32,
  normIndex: u32,
  lrMul: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weightDecay: f32,
  maxNorm: f32,
}

@group(0) @binding(0) var<uniform> AP: AdamParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> step: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;

// 1 - b^t for integer t >= 0 without cancellation. With c_k = 1 - b^k and p_k = b^k:
// c_{r+s} = c_r + p_r c_s and p_{r+s} = p_r p_s, so square-and-multiply only ever adds positive
// terms; 1 - b itself is exact in f32 for b in [0.5, 1] (Sterbenz).
fn oneMinusPow(b: f32, t: u32) -> f32 {
  var cR = 0.0;
  var pR = 1.0;
  var cB = 1.0 - b;
  var pB = b;
  var e = t;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) == 1u) {
      cR = cR + pR * cB;
      pR = pR * pB;
    }
    cB = cB + pB * cB;
    pB = pB * pB;
    e = e >> 1u;
  }
  return cR;
}

@compute @workgroup_size(256, 1, 1)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) tid: u32) {
  let stride = nwg.x * nwg.y * WG;
  let first = linearWorkgroup(wid, nwg) * WG + tid;
  if (first >= AP.n) { return; }

  var clip = 1.0;
  if (AP.maxNorm > 0.0) { clip = min(1.0, AP.maxNorm / (stats[AP.normIndex] + 1e-6)); }
  let lr = step[0] * AP.lrMul;
  let t = u32(max(round(step[1]), 0.0));
  let bc1 = oneMinusPow(AP.beta1, t);
  let bc2 = oneMinusPow(AP.beta2, t);
  let decay = lr * AP.weightDecay;
  let d1 = 1.0 - AP.beta1;
  let d2 = 1.0 - AP.beta2;

  for (var k = first; k < AP.n; k += stride) {
    let i = AP.offset + k;
    let g = grads[i] * clip;
    var p = params[i];
    p = p - decay * p;
    let mi = AP.beta1 * m[i] + d1 * g;
    let vi = AP.beta2 * v[i] + d2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    p = p - lr * (mi / bc1) / (sqrt(vi / bc2) + AP.eps);
    params[i] = p;
  }
}
