// Fused softmax + cross-entropy over N rows of V logits, and the deterministic loss sum.
//
//   cross_entropy: losses[n] = logsumexp(logits[n]) - logits[n, t], t = targets[n]; rows with a
//     target outside [0, V) (-100 = ignore index) get loss 0. With BACKWARD the logits are
//     overwritten in place with dlogits = (softmax(logits[n]) - onehot(t)) * scale[0], an all-zero
//     row when ignored. Computed as loss = (max - logits[t]) + log(sum exp(logits - max)), so large
//     logits neither overflow nor lose the small difference.
//   loss_reduce: out[outIndex] = (accumulate ? out[outIndex] : 0) + sum(losses[0..N)).
//
// Variants (defines): LOSS_REDUCE (entry loss_reduce; else entry cross_entropy), BACKWARD,
// SUBGROUPS (common/wg_reduce.wgsl's subgroup reductions; the entries take the subgroup builtins;
// cross_entropy then reduces the row max first and the sums rescaled to it second, instead of
// merging (max, sum) pairs in a tree).
// Bindings (group 0):
//   cross_entropy: 0 uniform P: { N, V }
//                  1 logits: f32 [N, V] (read; rw with BACKWARD: receives dlogits)
//                  2 read targets: i32 [N]
//                  3 rw   losses: f32 [N]
//                  4 read scale: f32 [1] (the trainer's 1 / number of predicted tokens; BACKWARD only reads it)
//   loss_reduce:   0 uniform P: { N, outIndex, accumulate }  1 read losses f32 [N]  2 rw out f32
// Dispatch: cross_entropy: one workgroup of 256 threads per row, grid1d(N) (row = wid.x + wid.y *
//   nwg.x). Each thread keeps an online (max, sum of exp) over v = tid, tid+256, ... (coalesced,
//   one exp per element); the 256 pairs are merged by a fixed-order tree in workgroup memory. An
//   ignored row skips the reduction (the target is made workgroup-uniform with workgroupUniformLoad).
//   loss_reduce: a single workgroup of 256 threads (strided partial sums, then a fixed-order tree,
//   common/wg_reduce.wgsl).

#if SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 256u;

#include "common/linear_id.wgsl"

var<workgroup> red: array<f32, 256>;
#include "common/wg_reduce.wgsl"

#if !LOSS_REDUCE
struct Params {
  N: u32,
  V: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#if BACKWARD
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
#else
@group(0) @binding(1) var<storage, read> logits: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;

#if !SUBGROUPS
var<workgroup> redM: array<f32, 256>;
var<workgroup> redS: array<f32, 256>;
#endif
var<workgroup> wgTarget: i32;

const LOWEST: f32 = -3.0e38; // finite, so exp(LOWEST - LOWEST) is 1, never NaN

@compute @workgroup_size(256)
fn cross_entropy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) tid: u32) {
  let row = linearWorkgroup(wid, nwg);
  if (row >= P.N) { return; }
  let base = row * P.V;
  if (tid == 0u) { wgTarget = targets[row]; }
  let t = workgroupUniformLoad(&wgTarget);
  if (t < 0 || u32(t) >= P.V) {
    if (tid == 0u) { losses[row] = 0.0; }
#if BACKWARD
    for (var v = tid; v < P.V; v += WG) { logits[base + v] = 0.0; }
#endif
    return;
  }
  // Read the target logit before any thread can overwrite it (the barriers below order this).
  let xt = logits[base + u32(t)];

  var m = LOWEST;
  var s = 0.0;
  for (var v = tid; v < P.V; v += WG) {
    let x = logits[base + v];
    if (x > m) {
      s = fma(s, exp(m - x), 1.0);
      m = x;
    } else {
      s += exp(x - m);
    }
  }
#if SUBGROUPS
  // The row max first, then each thread's sum rescaled to it (a thread without elements has
  // s = 0, so its exp(LOWEST - mx) = 0 factor adds nothing).
  let mx = wgMax(tid, m);
  let sum = wgSum(tid, s * exp(m - mx));
#else
  redM[tid] = m;
  redS[tid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (tid < k) {
      let m1 = redM[tid];
      let m2 = redM[tid + k];
      let mm = max(m1, m2);
      redS[tid] = redS[tid] * exp(m1 - mm) + redS[tid + k] * exp(m2 - mm);
      redM[tid] = mm;
    }
    workgroupBarrier();
  }
  let mx = redM[0];
  let sum = redS[0];
#endif
  if (tid == 0u) { losses[row] = (mx - xt) + log(sum); }
#if BACKWARD
  let inv = 1.0 / sum;
  let sc = scale[0];
  for (var v = tid; v < P.V; v += WG) {
    let p = exp(logits[base + v] - mx) * inv;
    logits[base + v] = (p - select(0.0, 1.0, v == u32(t))) * sc;
  }
#endif
}
#else
struct Params {
  N: u32,
  outIndex: u32,
  accumulate: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn loss_reduce(
               @builtin(local_invocation_index) tid: u32) {
  var s = 0.0;
  for (var i = tid; i < P.N; i += WG) { s += losses[i]; }
  red[tid] = s;
  workgroupBarrier();
  let total = wgReduceSum(tid);
  if (tid == 0u) {
    var prev = 0.0;
    if (P.accumulate != 0u) { prev = out[P.outIndex]; }
    out[P.outIndex] = prev + total;
  }
}
#endif
