// Wrapper for shaders/rope.wgsl (rotary position embeddings, Hugging Face rotate_half convention)
// and the host-side inverse-frequency table, including rope_scaling variants.
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';

/** HF config.json `rope_scaling` (transformers' modeling_rope_utils.py): `rope_type` (or legacy `type`) and its fields. */
export interface RopeScaling {
  rope_type?: string;
  type?: string;
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

function need(s: RopeScaling, key: keyof RopeScaling, t: string): number {
  const v = s[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`rope_scaling type '${t}' needs a numeric "${key}"`);
  return v;
}

/**
 * inv_freq[i] = theta^(-2i/HS) (computed in float64), adjusted for rope_scaling: 'default'/none,
 * 'linear' (divide by factor), 'llama3' (Meta's wavelen-banded smoothing, as transformers'
 * _compute_llama3_parameters). Any other type throws.
 */
export function ropeInvFreq(HS: number, theta: number, scaling?: RopeScaling | null): Float32Array {
  if (!Number.isInteger(HS) || HS <= 0 || HS % 2 !== 0) throw new Error(`RoPE needs an even head size, got ${HS}`);
  const half = HS / 2;
  const f = new Float64Array(half);
  for (let i = 0; i < half; i++) f[i] = 1 / Math.pow(theta, (2 * i) / HS);
  const t = scaling ? (scaling.rope_type ?? scaling.type ?? 'default') : 'default';
  if (t === 'default') {
    // unchanged
  } else if (t === 'linear') {
    const factor = need(scaling!, 'factor', t);
    for (let i = 0; i < half; i++) f[i] /= factor;
  } else if (t === 'llama3') {
    const s = scaling!;
    const factor = need(s, 'factor', t);
    const low = need(s, 'low_freq_factor', t);
    const high = need(s, 'high_freq_factor', t);
    const orig = need(s, 'original_max_position_embeddings', t);
    const lowWavelen = orig / low;
    const highWavelen = orig / high;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / f[i];
      if (wavelen > lowWavelen) f[i] = f[i] / factor;
      else if (wavelen >= highWavelen) {
        const smooth = (orig / wavelen - low) / (high - low);
        f[i] = ((1 - smooth) * f[i]) / factor + smooth * f[i];
      }
    }
  } else {
    throw new Error(`rope_scaling type '${t}' is not supported (supported: default, linear, llama3)`);
  }
  return Float32Array.from(f);
}

/**
 * Rotary embedding in place on N rows of x: nHeads heads of HS columns from offX, rotating column
 * pairs (i, i + HS/2) by pos·invFreq[i] (the rotate_half convention of transformers' modeling_llama.py).
 */
interface RopeArgs {
  x: Bindable;
  /** u32 [N]: position id of each row. */
  pos: Bindable;
  /** f32 [HS/2]. */
  invFreq: Bindable;
  N: number;
  nHeads: number;
  HS: number;
  /** Row stride of x in elements. */
  ldx: number;
  /** Element offset of the first rotated column. */
  offX: number;
  inverse?: boolean;
}

/**
 * Rotates in place heads 0..nHeads-1 starting at column offX of every row (the transformer uses offX=0,
 * nHeads=NH+NKV: the q heads and the k heads that follow them, in one dispatch). inverse=true applies the backward
 * (transposed) rotation.
 * Throws Error for an odd HS, or when the rotated columns offX + nHeads·HS exceed the row stride
 * ldx.
 */
export function rope(ctx: GpuContext, label: string, a: RopeArgs): Dispatch {
  if (a.HS % 2 !== 0) throw new Error(`${label}: RoPE needs an even head size, got ${a.HS}`);
  if (a.offX + a.nHeads * a.HS > a.ldx) {
    throw new Error(`${label}: rotated columns [${a.offX}, ${a.offX + a.nHeads * a.HS}) exceed the row stride ${a.ldx}`);
  }
  const kernel = ctx.kernel({ shader: 'rope', bindings: ['uniform', 'read', 'read', 'rw'] });
  const half = a.HS / 2;
  const u = ctx.uniform('uuuuuf', [a.N, a.nHeads, half, a.ldx, a.offX, a.inverse ? -1 : 1]);
  return ctx.dispatch(label, kernel, [u, a.pos, a.invFreq, a.x], grid1d(Math.ceil((a.N * a.nHeads * half) / 256)));
}
