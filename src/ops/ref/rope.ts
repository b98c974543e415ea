// float64 reference for rotary position embeddings (Hugging Face rotate_half convention), same
// argument names as ops/rope.ts. Rotates x in place.
//
// For head vector x[0..HS) of row n at position p = pos[n], half = HS/2, angle_i = p * invFreq[i]:
//   forward:  out[i] = x[i]·cos − x[i+half]·sin,  out[i+half] = x[i+half]·cos + x[i]·sin
//   backward: the transposed (= inverse) rotation, i.e. the same with sin negated, applied to dout.

/** As RopeArgs: rotation of column pairs (i, i + HS/2) by pos[n]·invFreq[i], on a float64 array in place. */
export interface RopeRefArgs {
  /** Rotated in place: heads 0..nHeads-1 at columns offX + h*HS .. of each row (row stride ldx). */
  x: Float64Array;
  pos: ArrayLike<number>;
  invFreq: ArrayLike<number>;
  N: number;
  nHeads: number;
  HS: number;
  ldx: number;
  offX: number;
}

function rotate(a: RopeRefArgs, sgn: number): void {
  const { x, pos, invFreq, N, nHeads, HS, ldx, offX } = a;
  const half = HS / 2;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < nHeads; h++) {
      const base = offX + n * ldx + h * HS;
      for (let i = 0; i < half; i++) {
        const ang = pos[n] * invFreq[i];
        const c = Math.cos(ang);
        const s = sgn * Math.sin(ang);
        const x0 = x[base + i];
        const x1 = x[base + i + half];
        x[base + i] = x0 * c - x1 * s;
        x[base + i + half] = x1 * c + x0 * s;
      }
    }
  }
}

/** Applies the rotation (the forward pass). */
export function ropeForwardRef(a: RopeRefArgs): void {
  rotate(a, 1);
}

/** a.x holds dout on entry and dinp on return. */
export function ropeBackwardRef(a: RopeRefArgs): void {
  rotate(a, -1);
}
