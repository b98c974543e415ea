// Quantization of frozen base matrices W[rows = out, cols = in] (row-major, flat element
// i = o*cols + c) into the packed formats of src/quant/formats.ts (its header defines every rule
// and layout; the CPU reference there must agree with these kernels bit for bit, so no kernel
// decides a code with a division: divisions only give estimates that exact comparisons correct).
//
// The host uploads W in chunks through one reusable f32 staging buffer; a chunk is elements
// [e0, e0 + n) of the flat matrix. NF4 chunks start at a multiple of 64 elements; int8 / QA chunks
// are whole rows [r0, r0 + nr), and their starts are word-aligned in the code stream (and, for
// QA, start at an even group), so no output word is shared by two chunks.
//
// Define SUBGROUPS: nf4_absmax / int8_absmax take their max with subgroup operations
// (common/wg_reduce.wgsl; those entries take the subgroup builtins). A max is exact, so the codes
// are the same either way.
//
// Bindings (group 0), shared by all entries (an entry may leave some unused):
//   0 uniform P: { rows, cols, e0, n, r0, nr, g, L, qmax, invq }  (g = group size, L = cols / g,
//               qmax = 2^N - 1, invq = fl(1/qmax); unused fields are 0)
//   1 read    src: f32 [n], src[i - e0] = W[i] (the staging buffer)
//   2 rw      codes: u32, the packed code stream of the whole matrix
//   3 rw      scales: u32 words — f32 bits (nf4 absmax per 64-block, int8 c per row) or f16 pairs
//               (QA s per group j = i / g, half j&1 of word j>>1)
//   4 rw      zeros (QA only): f16 pairs, as scales
//
// Entry nf4_absmax: scales[e0/64 + b] = bits(max |w| over block b of the chunk).
//   Dispatch grid1d(ceil(n/64)) workgroups of 64 threads (block = wid.x + wid.y*nwg.x), one
//   element per thread, then a tree max in workgroup memory.
// Entry nf4_codes: one thread per code word (8 elements, all in one 64-block):
//   codes[e0/8 + t] for t < ceil(n/8). q = #{k : w > absmax·NF4_MID[k]}, 7 when absmax = 0.
//   Dispatch grid1d(ceil(ceil(n/8)/64)) workgroups of 64 threads.
// Entry int8_absmax: scales[r0 + r] = bits(max_c |W[r0 + r, c]|), one workgroup of 64 threads
//   per row (strided loop over the row, then a tree max). Dispatch grid1d(nr).
// Entry int8_codes: one thread per code word (4 elements, possibly in two rows):
//   codes[e0/4 + t] for t < ceil(n/4). Dispatch grid1d(ceil(ceil(n/4)/64)) x 64 threads.
// Entry qa_params: one thread per pair of groups (one word of scales and zeros): groups
//   j = r0*L + 2t, +1 for t < ceil(nr*L/2); each thread loops over its 2·g elements (g is small).
//   Dispatch grid1d(ceil(ceil(nr*L/2)/64)) x 64 threads.
// Entry qa_codes: one thread per word of the QBITS-bit code stream: words [e0*N/32, ...) for
//   t < ceil(n*N/32); the thread gathers every element whose bits overlap its word (an INT3
//   element straddling two words is computed by both threads). s and z are read back from the
//   scales / zeros written by qa_params. Dispatch grid1d(ceil(words/64)) x 64 threads.

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  rows: u32, cols: u32,
  e0: u32, n: u32,
  r0: u32, nr: u32,
  g: u32, L: u32,
  qmax: u32, invq: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> codes: array<u32>;
@group(0) @binding(3) var<storage, read_write> scales: array<u32>;
#if QA
@group(0) @binding(4) var<storage, read_write> zeros: array<u32>;
#endif

#include "common/linear_id.wgsl"

const WG: u32 = 64u;
const NF4_MID = array<f32, 15>({{NF4_MID}});
const INV254: f32 = {{INV254}};

var<workgroup> red: array<f32, 64>;

#include "common/wg_reduce.wgsl"

// ---- NF4 ----------------------------------------------------------------------------------------

@compute @workgroup_size(64, 1, 1)
fn nf4_absmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) tid: u32) {
  let b = linearWorkgroup(wid, nwg);
  if (b * 64u >= P.n) { return; }
  let e = b * 64u + tid;
  var v = 0.0;
  if (e < P.n) { v = abs(src[e]); }
  red[tid] = v;
  workgroupBarrier();
  let mx = wgReduceMax(tid);
  if (tid == 0u) { scales[P.e0 / 64u + b] = bitcast<u32>(mx); }
}

fn nf4Code(w: f32, absmax: f32) -> u32 {
  if (absmax == 0.0) { return 7u; }
  var q = 0u;
  for (var k = 0u; k < 15u; k++) {
    if (w > absmax * NF4_MID[k]) { q += 1u; }
  }
  return q;
}

@compute @workgroup_size(64, 1, 1)
fn nf4_codes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) tid: u32) {
  let t = linearWorkgroup(wid, nwg) * WG + tid;
  if (t * 8u >= P.n) { return; }
  let absmax = bitcast<f32>(scales[(P.e0 + t * 8u) / 64u]);
  var word = 0u;
  for (var j = 0u; j < 8u; j++) {
    let e = t * 8u + j;
    if (e < P.n) {
      // Element 2m in the high nibble of byte m, 2m+1 in the low nibble.
      let shift = (j >> 1u) * 8u + select(4u, 0u, (j & 1u) == 1u);
      word |= nf4Code(src[e], absmax) << shift;
    }
  }
  codes[P.e0 / 8u + t] = word;
}

// ---- int8 ---------------------------------------------------------------------------------------

@compute @workgroup_size(64, 1, 1)
fn int8_absmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) tid: u32) {
  let r = linearWorkgroup(wid, nwg);
  if (r >= P.nr) { return; }
  var v = 0.0;
  for (var c = tid; c < P.cols; c += WG) { v = max(v, abs(src[r * P.cols + c])); }
  red[tid] = v;
  workgroupBarrier();
  let mx = wgReduceMax(tid);
  if (tid == 0u) { scales[P.r0 + r] = bitcast<u32>(mx); }
}

fn int8Thr(k: i32, c: f32) -> f32 { return c * (f32(2 * k + 1) * INV254); }

// round(127·w/c), ties to even, on the thresholds of formats.ts (int8Code there).
fn int8Code(w: f32, c: f32) -> i32 {
  if (c == 0.0) { return 0; }
  let a = abs(w);
  var q = i32(clamp(round(a / c * 127.0), 0.0, 127.0));
  loop {
    if (q < 127 && a > int8Thr(q, c)) { q += 1; } else { break; }
  }
  loop {
    if (q > 0 && a <= int8Thr(q - 1, c)) { q -= 1; } else { break; }
  }
  if (q < 127 && a == int8Thr(q, c) && (q & 1) == 1) { q += 1; }
  return select(q, -q, w < 0.0);
}

@compute @workgroup_size(64, 1, 1)
fn int8_codes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) tid: u32) {
  let t = linearWorkgroup(wid, nwg) * WG + tid;
  if (t * 4u >= P.n) { return; }
  var word = 0u;
  for (var j = 0u; j < 4u; j++) {
    let e = t * 4u + j;
    if (e < P.n) {
      let row = (P.e0 + e) / P.cols;
      let q = int8Code(src[e], bitcast<f32>(scales[row]));
      word |= (bitcast<u32>(q) & 0xffu) << (j * 8u);
    }
  }
  codes[P.e0 / 4u + t] = word;
}

// ---- QA-LoRA INT-N ------------------------------------------------------------------------------

// f32 -> IEEE binary16 bits, round to nearest even (mirrors f32ToF16Bits in src/gpu/half.ts;
// integer arithmetic only, so no GPU-specific conversion rounding or denormal flushing).
fn f16Bits(v: f32) -> u32 {
  let x = bitcast<u32>(v);
  let sign = (x >> 16u) & 0x8000u;
  let ex = i32((x >> 23u) & 0xffu);
  var mant = x & 0x7fffffu;
  if (ex == 255) { return sign | 0x7c00u | select(0u, 0x200u, mant != 0u); }
  let e = ex - 127 + 15;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    mant |= 0x800000u;
    let shift = u32(14 - e);
    var h = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u) == 1u)) { h += 1u; }
    return sign | h;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) { h += 1u; }
  return sign | h;
}

// f32 value of finite f16 bits, built exactly with integer operations (scales are normal f16,
// >= 2^-14; zero points are integers in [0, qmax]; subnormals are handled for completeness).
fn f16Value(h: u32) -> f32 {
  let ex = (h >> 10u) & 0x1fu;
  if (ex == 0u) { // subnormal: m * 2^-24 (exact)
    let v = f32(h & 0x3ffu) * 5.9604644775390625e-8f;
    return select(v, -v, (h & 0x8000u) != 0u);
  }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((ex + 112u) << 23u) | ((h & 0x3ffu) << 13u));
}

// round(x/s), ties to even, exact (formats.ts roundDivExact): (k ± 1/2)·s is exact in f32.
fn roundDivExact(x: f32, s: f32) -> i32 {
  var k = i32(round(x / s));
  for (var it = 0; it < 4; it++) {
    if (x > (f32(k) + 0.5) * s) { k += 1; } else if (x < (f32(k) - 0.5) * s) { k -= 1; } else { break; }
  }
  if (x == (f32(k) + 0.5) * s && (k & 1) != 0) { k += 1; }
  else if (x == (f32(k) - 0.5) * s && (k & 1) != 0) { k -= 1; }
  return k;
}

#if QA
const QBITS: u32 = {{QBITS}}u;

// f16 bits of (s, z) for the group of local elements [e, e + g).
fn qaParams(e: u32) -> vec2u {
  var mn = 0.0;
  var mx = 0.0;
  for (var i = 0u; i < P.g; i++) {
    let w = src[e + i];
    mn = min(mn, w);
    mx = max(mx, w);
  }
  var sb = f16Bits((mx - mn) * P.invq);
  if (sb < 0x0400u) { sb = 0x0400u; } // s >= 2^-14 (also the s = 0 guard)
  let s = f16Value(sb);
  let z = clamp(roundDivExact(-mn, s), 0, i32(P.qmax));
  return vec2u(sb, f16Bits(f32(z)));
}

@compute @workgroup_size(64, 1, 1)
fn qa_params(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) tid: u32) {
  let t = linearWorkgroup(wid, nwg) * WG + tid;
  let groups = P.nr * P.L;
  if (2u * t >= groups) { return; }
  let p0 = qaParams(2u * t * P.g);
  var p1 = vec2u(0u, 0u);
  if (2u * t + 1u < groups) { p1 = qaParams((2u * t + 1u) * P.g); }
  let word = (P.r0 * P.L) / 2u + t;
  scales[word] = p0.x | (p1.x << 16u);
  zeros[word] = p0.y | (p1.y << 16u);
}

fn halfOf(words: u32, j: u32) -> u32 { return (words >> ((j & 1u) * 16u)) & 0xffffu; }

@compute @workgroup_size(64, 1, 1)
fn qa_codes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) tid: u32) {
  let t = linearWorkgroup(wid, nwg) * WG + tid;
  let nwords = (P.n * QBITS + 31u) / 32u;
  if (t >= nwords) { return; }
  let w = P.e0 * QBITS / 32u + t;          // global word
  let first = (w * 32u) / QBITS;          // first element with bits in this word
  let last = (w * 32u + 31u) / QBITS;     // last one
  var word = 0u;
  for (var i = first; i <= last; i++) {
    if (i < P.e0 || i >= P.e0 + P.n) { continue; }
    let j = i / P.g;
    let s = f16Value(halfOf(scales[j >> 1u], j));
    let z = i32(f16Value(halfOf(zeros[j >> 1u], j)));
    let q = u32(clamp(roundDivExact(src[i - P.e0], s) + z, 0, i32(P.qmax)));
    let bit = i * QBITS;
    if (bit < w * 32u) {
      word |= q >> (w * 32u - bit);       // high bits of an element that starts in the previous word
    } else {
      word |= q << (bit - w * 32u);       // bits past 32 fall off (they go to the next word)
    }
  }
  codes[w] = word;
}
#endif
