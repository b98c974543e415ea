// Activations, forward and input gradient, one element per thread.
//
//   SwiGLU (Llama MLP) on a fused gate/up buffer gu [N, 2*FF]: gate = gu[:, 0:FF], up = gu[:, FF:2FF]
//     h = silu(gate) * up,  silu(g) = g * sigmoid(g);  h [N, FF]
//     backward: dgate = dh * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))),  dup = dh * silu(g)
//   GELU, tanh approximation (GPT-2 "gelu_new"), over n elements:
//     out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//     backward: dinp = dout * (0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3*0.044715 x^2))
//   tanh and sigmoid are written with exp of a non-positive argument so they cannot overflow to
//   inf/inf for large |x|.
//
// Variants (defines): SWIGLU (else GELU), BACKWARD (else forward). Entry points: swiglu_forward,
// swiglu_backward, gelu_forward, gelu_backward.
// Bindings (group 0):
//   swiglu_forward:  0 uniform P: { N, FF }  1 read gu f32 [N, 2FF]  2 rw h f32 [N, FF]
//   swiglu_backward: 0 uniform P: { N, FF }  1 read gu f32 [N, 2FF]  2 read dh f32 [N, FF]
//                    3 rw dgu f32 [N, 2FF] (both halves written)
//   gelu_forward:    0 uniform P: { n }  1 read inp f32 [n]  2 rw out f32 [n]
//   gelu_backward:   0 uniform P: { n }  1 read inp f32 [n]  2 read dout f32 [n]  3 rw dinp f32 [n]
// Dispatch: grid1d(ceil(count / 256)) workgroups of 256 threads, count = N*FF (SwiGLU) or n (GELU);
// linearId (common/linear_id.wgsl) = (wid.x + wid.y * nwg.x) * 256 + lid.x.

#include "common/linear_id.wgsl"

// 1 / (1 + exp(-x)) without overflow.
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// tanh without overflow (some drivers compute the builtin as (e^2x - 1) / (e^2x + 1)).
fn safeTanh(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

#if SWIGLU
struct Params {
  N: u32,
  FF: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
#if !BACKWARD
@group(0) @binding(2) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(256)
fn swiglu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.N * P.FF) { return; }
  let n = i / P.FF;
  let f = i - n * P.FF;
  let j = n * 2u * P.FF + f;
  let g = gu[j];
  h[i] = g * sigmoid(g) * gu[j + P.FF];
}
#else
@group(0) @binding(2) var<storage, read> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgu: array<f32>;

@compute @workgroup_size(256)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.N * P.FF) { return; }
  let n = i / P.FF;
  let f = i - n * P.FF;
  let j = n * 2u * P.FF + f;
  let g = gu[j];
  let u = gu[j + P.FF];
  let s = sigmoid(g);
  let d = dh[i];
  dgu[j] = d * u * s * (1.0 + g * (1.0 - s));
  dgu[j + P.FF] = d * g * s;
}
#endif
#else
struct Params {
  n: u32,
}
const GELU_K: f32 = 0.7978845608028654; // sqrt(2/pi)
const GELU_C: f32 = 0.044715;
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
#if !BACKWARD
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.n) { return; }
  let x = inp[i];
  out[i] = 0.5 * x * (1.0 + safeTanh(GELU_K * (x + GELU_C * x * x * x)));
}
#else
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dinp: array<f32>;

@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let i = linearId(wid, nwg, lid);
  if (i >= P.n) { return; }
  let x = inp[i];
  let t = safeTanh(GELU_K * (x + GELU_C * x * x * x));
  let local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
  dinp[i] = dout[i] * local;
}
#endif
#endif
