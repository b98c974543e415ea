// Split-K reduction for the matmul core (matmul_vec4.wgsl with SPLITK), for up to two products in
// one dispatch (a LoRA module's dA and dB):
//   out[offC_j + m*N_j + n] = alpha * Σ_{z = 0..S_j-1, ascending} part[offP_j + z*M_j*N_j + m*N_j + n]
//                             + beta * out[...]
// The chunk partials are summed in a fixed order, so the same inputs give the same bits.
//
// Bindings (group 0):
//   0 uniform P: { n0, S0, offP0, offC0, n1, S1, offP1, offC1, alpha, beta, 0, 0 }
//               (product j: n_j = M_j*N_j outputs (dense rows, ldc = N_j), S_j chunks, element
//               offsets of its partials and of its output; n1 = 0 for a single product)
//   1 read    part: f32 scratch written by the split-K matmuls
//   2 rw      out: f32
// Dispatch: grid1d(ceil((n0 + n1) / 256)) workgroups of 256 threads (one output element each,
// linearId of common/linear_id.wgsl).

struct Params {
  n0: u32, S0: u32, offP0: u32, offC0: u32,
  n1: u32, S1: u32, offP1: u32, offC1: u32,
  alpha: f32, beta: f32, p0: u32, p1: u32,
}

#include "common/linear_id.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let gid = linearId(wid, nwg, lid.x);
  var i = gid;
  var n = P.n0;
  var S = P.S0;
  var offP = P.offP0;
  var offC = P.offC0;
  if (gid >= P.n0) {
    i = gid - P.n0;
    n = P.n1;
    S = P.S1;
    offP = P.offP1;
    offC = P.offC1;
  }
  if (i >= n) { return; }
  var s = 0.0;
  for (var z = 0u; z < S; z++) { s += part[offP + z * n + i]; }
  var v = P.alpha * s;
  if (P.beta != 0.0) { v += P.beta * out[offC + i]; }
  out[offC + i] = v;
}
