// Rotary position embedding (Hugging Face rotate_half convention), in place.
//
// For each row n, each head hd < nHeads and each i < HALF (= HS/2), with angle = pos[n]·invFreq[i]:
//   x[b+i]      ← x[b+i]·cos − x[b+i+HALF]·sin
//   x[b+i+HALF] ← x[b+i+HALF]·cos + x[b+i]·sin          where b = offX + n·ldx + hd·HS
// With sgn = −1 the inverse (transposed) rotation is applied instead: the backward of the above,
// mapping dout to dinp in place.
//
// Bindings (group 0):
//   0 uniform P: { N, nHeads, HALF, ldx, offX, sgn }  (element units; sgn is f32 +1 or −1)
//   1 read    pos: u32 [N], the position id of each row
//   2 read    invFreq: f32 [HALF]
//   3 rw      x: f32, rows of stride ldx; heads of HS = 2·HALF contiguous elements from column offX
// Dispatch: grid1d(ceil(N·nHeads·HALF / 256)) workgroups of 256 threads; one thread per rotated
// pair, i fastest (consecutive threads touch consecutive addresses). The angle is computed in f32
// like transformers does (angle = f32(pos)·invFreq). cos/sin are NOT the WGSL builtins: Vulkan
// only promises 2^-11 absolute error for those (SwiftShader is off by ~5e-4), so the angle is
// reduced to [−π/4, π/4] by Cody–Waite (π/2 in three parts; exact for angles below ~1e5) and
// evaluated with cephes' single-precision minimax polynomials (error ~1e-7).

struct Params {
  N: u32, nHeads: u32, HALF: u32, ldx: u32, offX: u32,
  sgn: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read> invFreq: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

const TWO_OVER_PI: f32 = 0.6366197723675814;
const PIO2_1: f32 = 1.5703125;                  // 8 significant bits: k·PIO2_1 is exact for k < 2^16
const PIO2_2: f32 = 4.837512969970703125e-4;
const PIO2_3: f32 = 7.54978995489188216e-8;     // PIO2_1 + PIO2_2 + PIO2_3 = π/2

/** (cos a, sin a) for a >= 0 with ~1e-7 absolute error (a < ~1e5). */
fn cosSin(a: f32) -> vec2f {
  let kf = round(a * TWO_OVER_PI);
  let x = fma(-kf, PIO2_3, fma(-kf, PIO2_2, fma(-kf, PIO2_1, a)));
  let z = x * x;
  let s = fma(x * z, fma(z, fma(z, -1.9515295891e-4, 8.3321608736e-3), -1.6666654611e-1), x);
  let c = fma(z * z, fma(z, fma(z, 2.443315711809948e-5, -1.388731625493765e-3), 4.166664568298827e-2), fma(-0.5, z, 1.0));
  let q = u32(i32(kf)) & 3u;
  if (q == 0u) { return vec2f(c, s); }
  if (q == 1u) { return vec2f(-s, c); }
  if (q == 2u) { return vec2f(-c, -s); }
  return vec2f(s, -c);
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let gid = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (gid >= P.N * P.nHeads * P.HALF) { return; }
  let i = gid % P.HALF;
  let rest = gid / P.HALF;
  let hd = rest % P.nHeads;
  let n = rest / P.nHeads;
  let b = P.offX + n * P.ldx + hd * 2u * P.HALF + i;

  let cs = cosSin(f32(pos[n]) * invFreq[i]);
  let c = cs.x;
  let s = P.sgn * cs.y;
  let x0 = x[b];
  let x1 = x[b + P.HALF];
  x[b] = x0 * c - x1 * s;
  x[b + P.HALF] = x1 * c + x0 * s;
}
