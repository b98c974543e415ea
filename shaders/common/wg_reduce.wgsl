// Include: reductions over one workgroup, in a fixed order. Two variants, chosen by the define
// SUBGROUPS (GpuContext.subgroups, picked once when the context is made):
//   tree (SUBGROUPS false): pairs tid, tid + s for s = WG/2 .. 1 in workgroup memory, a barrier
//     after each level (log2(WG) barriers). The summation order depends only on WG, so the
//     result is the same on every device.
//   subgroups (SUBGROUPS true): subgroupAdd / subgroupMax inside each subgroup, the per-subgroup
//     partials written to red, one barrier, then every subgroup combines all of red in the same
//     strided order (lane l sums red[l], red[l + S], ... with S = subgroup_size) and reduces that
//     with one more subgroup operation: 1 barrier instead of log2(WG). The order is fixed by the
//     hardware's subgroup layout, so the result is deterministic on one device but differs from
//     the tree (and between GPUs with different subgroup sizes) by rounding: hence opt-in.
//     Works for WG below, equal to or above the subgroup size; assumes what every driver does
//     for a 1-D workgroup whose size is a power of two: subgroups are full (or one subgroup
//     holds the whole workgroup when WG < S) and lanes are numbered 0 .. n-1.
//
// Requires from the including file:
//   const WG: u32                          threads per workgroup, a power of two
//   var<workgroup> red: array<f32, WG>     the scratch (the including file sizes it)
//   with SUBGROUPS: `enable subgroups;` as the module's first line. Nothing else: the lane and
//   the subgroup size are counted where they are needed (subgroupExclusiveAdd(1u) and
//   subgroupAdd(1u), in the same uniform control flow as the reduction), so entry points take
//   no subgroup builtins.
// Provides (call from uniform control flow, every thread of the workgroup):
//   wgReduceSum(tid) -> f32   red[0..WG) summed; returned to every thread. The caller fills red
//                             and places a barrier before the call, and a barrier after it
//                             before writing red again (the tree leaves the sum in red[0]; the
//                             subgroup variant does not: use the return value).
//   wgReduceMax(tid) -> f32   the same with max.
//   wgSum(tid, v) -> f32      the sum of v over the workgroup, returned to every thread; ends
//                             with a barrier, so red may be reused right after.
//   wgMax(tid, v) -> f32      the same with max.
//   sgLaneSize() -> vec2u     (SUBGROUPS only) the invocation's lane and the subgroup size, for
//                             an including file's own combine (norm.wgsl's vec2 wgSum2).
// No bindings.

#if SUBGROUPS
// (lane, size): the invocation's rank in its subgroup and the subgroup's size, counted with
// subgroup operations. All invocations are active where it is called (uniform control flow),
// so ranks are 0 .. size-1, as subgroup_invocation_id would be on every driver we know; any
// numbering would do, since each rank reads a fixed set of slots.
fn sgLaneSize() -> vec2u {
  return vec2u(subgroupExclusiveAdd(1u), subgroupAdd(1u));
}

// Every subgroup sums red[0..WG) in the same strided order (the partials were written there).
fn sgCombineSum() -> f32 {
  let ls = sgLaneSize();
  let sgLane = ls.x;
  let sgSize = ls.y;
  var acc = 0.0;
  let n = (WG + sgSize - 1u) / sgSize;
  for (var k = 0u; k < n; k++) {
    let i = sgLane + k * sgSize;
    if (i < WG) { acc += red[i]; }
  }
  return subgroupAdd(acc);
}

fn sgCombineMax() -> f32 {
  let ls = sgLaneSize();
  let sgLane = ls.x;
  let sgSize = ls.y;
  var acc = red[sgLane % WG];
  let n = (WG + sgSize - 1u) / sgSize;
  for (var k = 1u; k < n; k++) {
    let i = sgLane + k * sgSize;
    if (i < WG) { acc = max(acc, red[i]); }
  }
  return subgroupMax(acc);
}

// Each thread overwrites only its own slot red[tid], which only it has read: no barrier before.
fn wgSum(tid: u32, v: f32) -> f32 {
  let s = subgroupAdd(v);
  red[tid] = select(0.0, s, subgroupElect());
  workgroupBarrier();
  let r = sgCombineSum();
  workgroupBarrier();
  return r;
}

fn wgMax(tid: u32, v: f32) -> f32 {
  red[tid] = subgroupMax(v);
  workgroupBarrier();
  let r = sgCombineMax();
  workgroupBarrier();
  return r;
}

fn wgReduceSum(tid: u32) -> f32 {
  let s = subgroupAdd(red[tid]);
  red[tid] = select(0.0, s, subgroupElect());
  workgroupBarrier();
  return sgCombineSum();
}

fn wgReduceMax(tid: u32) -> f32 {
  red[tid] = subgroupMax(red[tid]);
  workgroupBarrier();
  return sgCombineMax();
}
#else
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

fn wgMax(tid: u32, v: f32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  let r = wgReduceMax(tid);
  workgroupBarrier();
  return r;
}
#endif
