// Element-wise kernels over n f32 elements, one element per thread.
//
//   add:        out = a + b
//   accumulate: out += scale * inp                       (out bound once, read_write)
//   dropout:    out = keep ? inp * scale : 0  (inverted dropout, scale = 1/(1-p) from the host)
//               keep = dropKeep(dropKeyOf(seed[0], salt), thr, i) of common/dropout.wgsl (the
//               mask the matmul kernels also apply in their loads), thr = ceil(p * 2^24).
//               The same seed/salt applied to a gradient applies the identical mask (the backward).
//               p = 0: thr = 0, scale = 1, an exact copy.
//
// Variants (defines, exactly one): OP_ADD (entry add), OP_ACCUMULATE (entry accumulate),
// OP_DROPOUT (entry dropout).
// Bindings (group 0):
//   add:        0 uniform P: { n }                        1 read a   2 read b   3 rw out
//   accumulate: 0 uniform P: { n, scale }                 1 read inp 2 rw out
//   dropout:    0 uniform P: { n, salt, thr, scale }      1 read inp 2 rw out   3 read seed: u32 [1]
// Dispatch: grid1d(ceil(n / 256)) workgroups of 256 threads; linearId (common/linear_id.wgsl).

#include "common/linear_id.wgsl"
#include "common/dropout.wgsl"

#if OP_ADD
struct Params {
  n: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.n) { return; }
  out[i] = a[i] + b[i];
}
#endif

#if OP_ACCUMULATE
struct Params {
  n: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.n) { return; }
  out[i] = fma(P.scale, inp[i], out[i]);
}
#endif

#if OP_DROPOUT
struct Params {
  n: u32,
  salt: u32,
  thr: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> seed: array<u32>;

@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.n) { return; }
  let keep = dropKeep(dropKeyOf(seed[0], P.salt), P.thr, i);
  out[i] = select(0.0, inp[i] * P.scale, keep);
}
#endif
