// Split-K reduction for the matmul core (matmul_vec4.wgsl with SPLITK), for up to 16 products in
// one dispatch (every LoRA dA and dB of one decoder layer, or of one head chunk):
//   out[offC_j + m*N_j + n] = alpha * Σ_{z = 0..S_j-1, ascending} part[offP_j + z*M_j*N_j + m*N_j + n]
//                             + beta * out[...]
// The chunk partials are summed in a fixed order, so the same inputs give the same bits.
//
// Bindings (group 0):
//   0 uniform P: { count, alpha, beta, 0, prod[16] } with prod[j] = (n_j, S_j, offP_j, offC_j):
//               product j has n_j = M_j*N_j outputs (dense rows, ldc = N_j), S_j chunks, element
//               offsets of its partials and of its output; j < count
//   1 read    part: f32 scratch written by the split-K matmuls
//   2 rw      out: f32
// Dispatch: grid1d(ceil(Σ n_j / 256)) workgroups of 256 threads (one output element each, products
// one after another, linearId of common/linear_id.wgsl).

struct Params {
  count: u32, alpha: f32, beta: f32, p0: u32,
  prod: array<vec4<u32>, 16>,
}

#include "common/linear_id.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var i = linearId(wid, nwg, lid.x);
  var j = 0u;
  loop {
    if (j >= P.count) { return; }
    if (i < P.prod[j].x) { break; }
    i -= P.prod[j].x;
    j++;
  }
  let q = P.prod[j];
  let n = q.x;
  var s = 0.0;
  for (var z = 0u; z < q.y; z++) { s += part[q.z + z * n + i]; }
  var v = P.alpha * s;
  if (P.beta != 0.0) { v += P.beta * out[q.w + i]; }
  out[q.w + i] = v;
}
