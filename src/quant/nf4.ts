// The 4-bit NormalFloat formats of QLoRA, bit for bit as the GPU kernels compute them: code book,
// scalar rule, double quantization of the absmax values, reference quantize / dequantize.
//
// nf4 (QLoRA): blocks of NF4_BLOCK = 64 consecutive elements of the flattened matrix (the last
//   block may be partial); absmax[b] = max |w| (f32). Code q = #{k : w > fl(absmax·NF4_MID[k])},
//   NF4_MID[k] = fl((NF4[k] + NF4[k+1]) / 2): the nearest code book value of w/absmax with ties to
//   the LOWER code (bitsandbytes compares with `>` too), evaluated division-free so that CPU and
//   GPU agree bit for bit (WGSL division is only accurate to 2.5 ulp). An all-zero block gets
//   code 7 (0.0). Dequant ŵ = fl(NF4[q]·absmax).
//   codes: u32 words = the bitsandbytes byte stream: byte i>>1 holds elements 2j (HIGH nibble) and
//     2j+1 (low nibble); byte b is bits 8(b&3).. of word b>>2 (little-endian). Word count
//     ceil(numel/8); padding nibbles are 0.
//   scales: f32 [nBlocks] absmax.
// nf4-dq: nf4 codes computed with the exact absmax, then double quantization of the absmax values
//   (runs on the CPU, also in the GPU path, from the absmax read back): c = fl(mean(absmax))
//   (float64 sum), v = fl(absmax − c), blocks of DQ_BLOCK = 256 with absmax2 = max |v| (f32),
//   q8 = nearest entry of bitsandbytes' signed dynamic code DYN (dynamicMap(), below) to
//   v/absmax2 (ties to the lower index; all-zero block → index 127, the 0.0 entry).
//   Dequant absmax' = fl(fl(DYN[q8]·absmax2) + c), ŵ = fl(NF4[q]·absmax').
//   codes: as nf4. scales: u32 words, q8 of block b in byte b (word b>>2, bits 8(b&3)).
//   extra: f32 [256 + 1 + nBlocks2] = DYN table (256), c, absmax2 per 256-block.
// fl(·) = round to float32 (Math.fround).

import { DQ_BLOCK, NF4_BLOCK, type QuantizedHost } from './formats';

const fr = Math.fround;

/** QLoRA's NF4 code book (index = 4-bit code), literal float32 values. */
export const NF4 = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** f32 midpoints between consecutive NF4 values (the quantization thresholds, relative to absmax). */
export const NF4_MID = Float32Array.from({ length: 15 }, (_, k) => Math.fround((NF4[k] + NF4[k + 1]) / 2));

/**
 * bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), rebuilt by its
 * algorithm in float32 arithmetic: for i = 0..6, b = torch.linspace(0.1, 1, 2^i + 1) (float32;
 * torch's scalar formula: step = fl(fl(1 − fl(0.1))/(steps − 1)), b[j] = start + step·j for
 * j < steps/2, else end − step·(steps − 1 − j)), means m = fl(fl(b[j] + b[j+1])/2), values
 * ±fl(fl(10^(i−6))·m) (2^i positive and 2^i negative); then 0 and 1.0; 256 values sorted ascending.
 * DYN[0] ≈ −0.99296875, DYN[126] ≈ −5.5e-7 (the smallest-magnitude negative), DYN[127] = 0,
 * DYN[128] ≈ 5.5e-7, DYN[254] ≈ 0.99296875, DYN[255] = 1.0.
 * Caveat: torch's vectorized CPU linspace computes some entries as base + k·step in a vector and
 * may differ from this scalar formula by an ulp in a few entries; the table used here is fixed (it
 * travels with each quantized weight in `extra`), so CPU and GPU always agree.
 */
function dynamicMap(): Float32Array {
  const f = Math.fround;
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const steps = 2 ** i + 1;
    const start = f(0.1);
    const end = 1;
    const step = f(f(end - start) / (steps - 1));
    const half = Math.floor(steps / 2);
    const b: number[] = [];
    for (let j = 0; j < steps; j++) b.push(j < half ? f(start + f(step * j)) : f(end - f(step * (steps - j - 1))));
    const scale = f(10 ** (i - 6));
    for (let j = 0; j + 1 < steps; j++) {
      const m = f(f(b[j] + b[j + 1]) / 2);
      data.push(f(scale * m));
      data.push(f(-scale * m));
    }
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  return Float32Array.from(data);
}
/** The 256-entry signed dynamic code of the NF4-DQ absmax quantization (dynamicMap()). */
export const DYN = dynamicMap();

/**
 * The 4-bit NF4 code (index into NF4) of w in a block of absmax `absmax`: the count of midpoints
 * fl(absmax·NF4_MID[k]) below w (ties to the lower code, as bitsandbytes); 7 (0.0) when absmax is 0.
 */
export function nf4Code(w: number, absmax: number): number {
  if (absmax === 0) return 7;
  let q = 0;
  for (let k = 0; k < 15; k++) if (w > fr(absmax * NF4_MID[k])) q++;
  return q;
}

/** The NF4 code (0..15) of element i of a code stream (high nibble first, as bitsandbytes). */
export function nf4CodeAt(codes: Uint32Array, i: number): number {
  return (codes[i >> 3] >>> (((i >> 1) & 3) * 8 + (i & 1 ? 0 : 4))) & 15;
}

/** Double quantization of NF4 absmax values (used by quantizeRef and by the GPU path, on the CPU). */
export function doubleQuantize(absmax: Float32Array): { q8: Uint32Array; extra: Float32Array } {
  const nb = absmax.length;
  const nb2 = Math.ceil(nb / DQ_BLOCK);
  let sum = 0;
  for (let j = 0; j < nb; j++) sum += absmax[j];
  const c = fr(sum / nb);
  const extra = new Float32Array(256 + 1 + nb2);
  extra.set(DYN, 0);
  extra[256] = c;
  const q8 = new Uint32Array(Math.ceil(nb / 4));
  for (let b2 = 0; b2 < nb2; b2++) {
    const j0 = b2 * DQ_BLOCK;
    const j1 = Math.min(nb, j0 + DQ_BLOCK);
    const v = new Float64Array(j1 - j0);
    let a2 = 0;
    for (let j = j0; j < j1; j++) {
      v[j - j0] = fr(absmax[j] - c);
      a2 = Math.max(a2, Math.abs(v[j - j0]));
    }
    extra[257 + b2] = a2;
    for (let j = j0; j < j1; j++) {
      let code = 127;
      if (a2 > 0) {
        const x = v[j - j0] / a2;
        let best = Infinity;
        for (let k = 0; k < 256; k++) {
          const d = Math.abs(x - DYN[k]);
          if (d < best) {
            best = d;
            code = k;
          }
        }
      }
      q8[j >> 2] = (q8[j >> 2] | (code << ((j & 3) * 8))) >>> 0;
    }
  }
  return { q8, extra };
}

/** The absmax values an nf4-dq weight dequantizes with. */
export function dqAbsmax(q8: Uint32Array, extra: Float32Array, nBlocks: number): Float32Array {
  const out = new Float32Array(nBlocks);
  const c = extra[256];
  for (let j = 0; j < nBlocks; j++) {
    const code = (q8[j >> 2] >>> ((j & 3) * 8)) & 0xff;
    out[j] = fr(fr(extra[code] * extra[257 + Math.floor(j / DQ_BLOCK)]) + c);
  }
  return out;
}

/**
 * nf4 / nf4-dq buffers of the first `numel` elements of W: absmax per NF4_BLOCK block, codes
 * written into `codes` (zeroed, ceil(numel/8) words); nf4-dq double-quantizes the absmax values.
 */
export function quantizeNf4(dq: boolean, W: Float32Array, numel: number, codes: Uint32Array): Pick<QuantizedHost, 'scales' | 'zeros' | 'extra'> {
  const nb = Math.ceil(numel / NF4_BLOCK);
  const absmax = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    let m = 0;
    for (let i = b * NF4_BLOCK; i < Math.min(numel, (b + 1) * NF4_BLOCK); i++) m = Math.max(m, Math.abs(W[i]));
    absmax[b] = m;
  }
  for (let i = 0; i < numel; i++) {
    const q = nf4Code(W[i], absmax[i >> 6]);
    const shift = ((i >> 1) & 3) * 8 + (i & 1 ? 0 : 4);
    codes[i >> 3] = (codes[i >> 3] | (q << shift)) >>> 0;
  }
  if (!dq) return { scales: absmax, zeros: null, extra: null };
  const { q8, extra } = doubleQuantize(absmax);
  return { scales: q8, zeros: null, extra };
}

/** ŵ of an nf4 / nf4-dq matrix as the fused matmul kernels compute it (f32 arithmetic). */
export function dequantizeNf4(q: QuantizedHost): Float32Array {
  const numel = q.rows * q.cols;
  const out = new Float32Array(numel);
  const nb = Math.ceil(numel / NF4_BLOCK);
  const absmax = q.mode === 'nf4' ? (q.scales as Float32Array) : dqAbsmax(q.scales as Uint32Array, q.extra!, nb);
  for (let i = 0; i < numel; i++) out[i] = fr(NF4[nf4CodeAt(q.codes, i)] * absmax[i >> 6]);
  return out;
}
