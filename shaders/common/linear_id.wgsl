// Include: the linear ids of a 1-D launch spread over x and y by grid1d (src/gpu/context.ts), which
// splits a workgroup count above 65535 into (x, y) workgroups.
//
// Provides:
//   linearWorkgroup(wid, nwg) -> u32   wid.x + wid.y * nwg.x (rows / blocks of one-workgroup-per-item
//                                      kernels; may run past the item count: callers bound it)
//   linearId(wid, nwg, lid) -> u32     linearWorkgroup(wid, nwg) * 256 + lid, the element of a thread in
//                                      a 256-thread workgroup (lid = local_invocation_index)
// Requires nothing from the including file. No bindings.

fn linearWorkgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn linearId(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return linearWorkgroup(wid, nwg) * 256u + lid;
}
