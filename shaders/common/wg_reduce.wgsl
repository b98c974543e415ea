// Include: fixed-order tree reductions over one workgroup's scratch array (deterministic: the
// summation order depends only on WG).
//
// Requires from the including file:
//   const WG: u32                          threads per workgroup, a power of two
//   var<workgroup> red: array<f32, WG>     the scratch (the including file sizes it)
// Provides (call from uniform control flow, every thread of the workgroup):
//   wgReduceSum(tid) -> f32   red[0..WG) summed into red[0] (pairs tid, tid + s for s = WG/2 .. 1,
//                             a barrier after each level); returns red[0]. The caller fills red
//                             and places a barrier before the call.
//   wgReduceMax(tid) -> f32   the same with max.
//   wgSum(tid, v) -> f32      stores v in red[tid], reduces, and returns the sum to every thread;
//                             ends with a barrier, so red may be reused right after.
// No bindings.

fn wgReduceSum(tid: u32) -> f32 {
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  return red[0];
}

fn wgReduceMax(tid: u32) -> f32 {
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = max(red[tid], red[tid + s]); }
    workgroupBarrier();
  }
  return red[0];
}

fn wgSum(tid: u32, v: f32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  let r = wgReduceSum(tid);
  workgroupBarrier();
  return r;
}
