// Row normalizations over N rows of C channels (row-major), forward and input-gradient backward.
// Base weights are frozen: no weight/bias gradients.
//
//   Llama RMSNorm:   rstd = 1/sqrt(mean(inp^2) + eps);  out = inp * rstd * weight
//   GPT-2 LayerNorm: mean = mean(inp); rstd = 1/sqrt(mean((inp-mean)^2) + eps)  (biased variance,
//                    two-pass for stability);  out = (inp - mean) * rstd * weight + bias
//
// Variants (defines): LAYERNORM (else RMSNorm), BACKWARD (else forward), W_F16 (weight and bias
// stored as f16 pairs packed in u32: element i = half (i & 1) of word i >> 1). One entry point per
// variant: rmsnorm_forward, rmsnorm_backward, layernorm_forward, layernorm_backward. SUBGROUPS:
// the row sums use subgroup operations (common/wg_reduce.wgsl; the entries take the subgroup
// builtins), deterministic on one device but not bitwise equal to the tree.
//
// Bindings (group 0):
//   0 uniform P: { N, C, eps, accumulate }  (eps unused by backward; accumulate unused by forward)
//   1 read    inp: f32 [N, C]
//   2 read    weight: f32 [C] (or f16-packed)
//   rmsnorm_forward:    3 rw out f32 [N, C]    4 rw rstd f32 [N]
//   rmsnorm_backward:   3 read rstd f32 [N]    4 read dout f32 [N, C]   5 rw dinp f32 [N, C]
//   layernorm_forward:  3 read bias [C] (f32 or f16-packed)  4 rw out [N, C]  5 rw mean [N]  6 rw rstd [N]
//   layernorm_backward: 3 read mean [N]  4 read rstd [N]  5 read dout [N, C]  6 rw dinp [N, C]
//   Backward: dinp = grad when accumulate == 0, dinp += grad otherwise.
// Dispatch: one workgroup of WG threads per row ({{WG}}: a power of two from 32 to 256 that the
// wrapper picks from C, so narrow rows do not pay for idle threads and long barrier trees),
// grid1d(N) (row = wid.x + wid.y * nwg.x). Each thread strides over the row (c = tid, tid+WG, ...:
// coalesced) and the per-row sums are reduced
// in workgroup memory with a fixed-order tree (deterministic; common/wg_reduce.wgsl). Any C works (C up to 8192 is 32
// elements per thread at WG 256).

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  N: u32,
  C: u32,
  eps: f32,
  accumulate: u32,
}

const WG: u32 = {{WG}}u;

#include "common/linear_id.wgsl"
#include "common/f16.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
#if W_F16
@group(0) @binding(2) var<storage, read> weight: array<u32>;
fn loadW(i: u32) -> f32 { return f16At(weight[i >> 1u], i); }
#else
@group(0) @binding(2) var<storage, read> weight: array<f32>;
fn loadW(i: u32) -> f32 { return weight[i]; }
#endif

var<workgroup> red: array<f32, {{WG}}>;
#include "common/wg_reduce.wgsl"

#if !LAYERNORM
#if !BACKWARD
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size({{WG}})
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) tid: u32) {
  let row = linearWorkgroup(wid, nwg);
  if (row >= P.N) { return; }
  let base = row * P.C;
  var ss = 0.0;
  for (var c = tid; c < P.C; c += WG) {
    let x = inp[base + c];
    ss = fma(x, x, ss);
  }
  let total = wgSum(tid, ss);
  let r = 1.0 / sqrt(total / f32(P.C) + P.eps);
  for (var c = tid; c < P.C; c += WG) {
    out[base + c] = (inp[base + c] * r) * loadW(c);
  }
  if (tid == 0u) { rstd[row] = r; }
}
#else
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dinp: array<f32>;

// dinp = r * (w*dout - inp * r^2 * sum(dout*w*inp) / C)
@compute @workgroup_size({{WG}})
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) tid: u32) {
  let row = linearWorkgroup(wid, nwg);
  if (row >= P.N) { return; }
  let base = row * P.C;
  var acc = 0.0;
  for (var c = tid; c < P.C; c += WG) {
    acc = fma(dout[base + c] * loadW(c), inp[base + c], acc);
  }
  let total = wgSum(tid, acc);
  let r = rstd[row];
  let k = r * r * total / f32(P.C);
  for (var c = tid; c < P.C; c += WG) {
    let g = r * (dout[base + c] * loadW(c) - inp[base + c] * k);
    if (P.accumulate != 0u) {
      dinp[base + c] += g;
    } else {
      dinp[base + c] = g;
    }
  }
}
#endif
#endif

#if LAYERNORM
#if !BACKWARD
#if W_F16
@group(0) @binding(3) var<storage, read> bias: array<u32>;
fn loadBias(i: u32) -> f32 { return f16At(bias[i >> 1u], i); }
#else
@group(0) @binding(3) var<storage, read> bias: array<f32>;
fn loadBias(i: u32) -> f32 { return bias[i]; }
#endif
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size({{WG}})
fn layernorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) tid: u32) {
  let row = linearWorkgroup(wid, nwg);
  if (row >= P.N) { return; }
  let base = row * P.C;
  let invC = 1.0 / f32(P.C);
  var s = 0.0;
  for (var c = tid; c < P.C; c += WG) { s += inp[base + c]; }
  let mu = wgSum(tid, s) * invC;
  var v = 0.0;
  for (var c = tid; c < P.C; c += WG) {
    let d = inp[base + c] - mu;
    v = fma(d, d, v);
  }
  let r = 1.0 / sqrt(wgSum(tid, v) * invC + P.eps);
  for (var c = tid; c < P.C; c += WG) {
    out[base + c] = fma((inp[base + c] - mu) * r, loadW(c), loadBias(c));
  }
  if (tid == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
}
#else
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read_write> dinp: array<f32>;

var<workgroup> red2: array<vec2f, {{WG}}>;

#if SUBGROUPS
// The vec2 form of wg_reduce's subgroup wgSum (same order, same contract).
fn wgSum2(tid: u32, v: vec2f) -> vec2f {
  let s = subgroupAdd(v);
  red2[tid] = select(vec2f(0.0), s, subgroupElect());
  workgroupBarrier();
  let ls = sgLaneSize();
  var acc = vec2f(0.0);
  let n = (WG + ls.y - 1u) / ls.y;
  for (var k = 0u; k < n; k++) {
    let i = ls.x + k * ls.y;
    if (i < WG) { acc += red2[i]; }
  }
  let r = subgroupAdd(acc);
  workgroupBarrier();
  return r;
}
#else
fn wgSum2(tid: u32, v: vec2f) -> vec2f {
  red2[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red2[tid] += red2[tid + s]; }
    workgroupBarrier();
  }
  let r = red2[0];
  workgroupBarrier();
  return r;
}
#endif

// norm = (inp - mean) * rstd; dnorm = w * dout;
// dinp = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
@compute @workgroup_size({{WG}})
fn layernorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) tid: u32) {
  let row = linearWorkgroup(wid, nwg);
  if (row >= P.N) { return; }
  let base = row * P.C;
  let mu = mean[row];
  let r = rstd[row];
  var acc = vec2f(0.0);
  for (var c = tid; c < P.C; c += WG) {
    let norm = (inp[base + c] - mu) * r;
    let dnorm = loadW(c) * dout[base + c];
    acc += vec2f(dnorm, dnorm * norm);
  }
  let m = wgSum2(tid, acc) / f32(P.C);
  for (var c = tid; c < P.C; c += WG) {
    let norm = (inp[base + c] - mu) * r;
    let dnorm = loadW(c) * dout[base + c];
    let g = r * (dnorm - m.x - norm * m.y);
    if (P.accumulate != 0u) {
      dinp[base + c] += g;
    } else {
      dinp[base + c] = g;
    }
  }
}
#endif
#endif
