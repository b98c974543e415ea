// Include: the lowest allowed key of a query tile, for the kernels that walk key tiles per query
// tile (attention_fwd.wgsl, attention_bwd_dq.wgsl).
//
// Provides: queryTileLo(b, q0, tid) -> u32: fills loS[r] = first allowed key of query row q0 + r
//   (T past the end) and returns the lowest over the tile, workgroup-uniform (the call is a barrier;
//   call from uniform control flow).
// Requires (after common/attention.wgsl): var<workgroup> loS: array<u32, BQ>, var<workgroup> kLoS: u32.
// No bindings of its own.

/**
 * loS[r] = first allowed key of query row q0 + r (T past the end); returns the
 * lowest over the tile, workgroup-uniform (the call is a barrier).
 */
fn queryTileLo(b: u32, q0: u32, tid: u32) -> u32 {
  if (tid < BQ) {
    let t = q0 + tid;
    var lo = P.T;
    if (t < P.T) { lo = rowLo(b, t); }
    loS[tid] = lo;
  }
  workgroupBarrier();
  if (tid == 0u) {
    var lo = P.T;
    for (var r = 0u; r < BQ; r++) { lo = min(lo, loS[r]); }
    kLoS = lo;
  }
  return workgroupUniformLoad(&kLoS);
}
