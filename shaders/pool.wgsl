// Group average pooling along channels, for QA-LoRA's adapter input, and its backward.
//
//   forward  (entry pool):    out[n, l] = (1/g) · Σ_{j<g} inp[n, l·g + j]            out [N, C/g]
//   backward (entry unpool):  dinp[n, c] (+)= scale · dout[n, floor(c/g)]            dinp [N, C]
//                             (scale = 1/g for the exact adjoint of the average)
//
// Bindings (group 0):
//   0 uniform P: { N, C, g, accumulate (unpool: 0 → dinp =, 1 → dinp +=), scale (f32) }
//   pool:   1 read inp f32 [N, C]        2 rw out f32 [N, C/g]
//   unpool: 1 read dout f32 [N, C/g]     2 rw dinp f32 [N, C]
// Dispatch: one thread per output element, 256 per workgroup, grid1d(ceil(count/256)), the
// element linearId (common/linear_id.wgsl) (pool: count = N·C/g; unpool: count = N·C). C must be a
// multiple of g (the caller checks).

struct Params { N: u32, C: u32, g: u32, accumulate: u32, scale: f32 }

#include "common/linear_id.wgsl"

@group(0) @binding(0) var<uniform> P: Params;

#if UNPOOL
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dinp: array<f32>;

@compute @workgroup_size(256)
fn unpool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.N * P.C) { return; }
  let n = i / P.C;
  let c = i % P.C;
  let L = P.C / P.g;
  var v = P.scale * dout[n * L + c / P.g];
  if (P.accumulate != 0u) { v += dinp[i]; }
  dinp[i] = v;
}
#else
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let L = P.C / P.g;
  let i = linearId(wid, nwg, lid);
  if (i >= P.N * L) { return; }
  let n = i / L;
  let l = i % L;
  let base = n * P.C + l * P.g;
  var s = 0.0;
  for (var j = 0u; j < P.g; j++) { s += inp[base + j]; }
  out[i] = s / f32(P.g);
}
#endif
