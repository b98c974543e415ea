// Autoregressive decoding: greedy, or temperature / top-p sampling with a seeded generator.
// Runs the forward over a fixed (1, T) window (the same program every token, nothing created per
// token) and reads back only the logits row of the last position.
import type { GpuContext } from '../gpu/context';
import { mulberry32 } from '../lora/state';
import type { Transformer } from './transformer';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Stop tokens (the model's EOS). */
  stop?: number[];
}

export function sampleToken(logits: Float32Array, temperature: number, topP: number, rand: () => number): number {
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const probs = Array.from(logits, (v, i) => ({ i, p: Math.exp((v - max) / temperature) }));
  const z = probs.reduce((a, b) => a + b.p, 0);
  probs.sort((a, b) => b.p - a.p);
  const keep: typeof probs = [];
  let mass = 0;
  for (const e of probs) {
    keep.push(e);
    mass += e.p / z;
    if (mass >= topP) break;
  }
  const kz = keep.reduce((a, b) => a + b.p, 0);
  let u = rand() * kz;
  for (const e of keep) {
    u -= e.p;
    if (u <= 0) return e.i;
  }
  return keep[keep.length - 1].i;
}

/** Yields new token ids one at a time. `model` must be built with B = 1. */
export async function* generateTokens(ctx: GpuContext, model: Transformer, prompt: number[], opts: GenerateOptions): AsyncGenerator<number> {
  const T = model.opts.T;
  const V = model.spec.V;
  if (model.opts.B !== 1) throw new Error('generation needs a model built with batch size 1');
  if (prompt.length === 0) throw new Error('generation needs at least one prompt token (BOS)');
  const rand = mulberry32(opts.seed ?? 0);
  const ids = [...prompt];
  const tokens = new Uint32Array(T);
  const pos = new Uint32Array(T).map((_, i) => i);
  const zerosI = new Int32Array(T).fill(-100);
  const zerosU = new Uint32Array(T);
  for (let n = 0; n < opts.maxNewTokens; n++) {
    // Slide the window when the context is full (keeps the most recent T tokens).
    const ctxIds = ids.length > T ? ids.slice(ids.length - T) : ids;
    tokens.fill(0);
    tokens.set(ctxIds);
    model.writeBatch({ tokens, targets: zerosI, pos, segStart: zerosU, predicted: 0 });
    // Hidden states of the window, then the head on the last position only.
    const enc = ctx.device.createCommandEncoder();
    model.hiddenProgram.encode(enc);
    const C = model.spec.C;
    enc.copyBufferToBuffer(model.hidden, (ctxIds.length - 1) * C * 4, model.lastHidden, 0, C * 4);
    model.headRowProgram.encode(enc);
    ctx.submit(enc);
    const row = new Float32Array(await ctx.read(model.logits, 0, V * 4));
    const next = sampleToken(row, opts.temperature ?? 0, opts.topP ?? 1, rand);
    if (opts.stop?.includes(next)) return;
    ids.push(next);
    yield next;
  }
}
