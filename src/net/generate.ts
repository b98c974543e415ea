// Autoregressive decoding with a KV cache: greedy, or temperature / top-p sampling with a seeded
// generator. A prefill pass runs the prompt through a (1, T) window graph, writing every layer's
// k, v into the cache; each new token then runs a one-row decode graph that appends its k, v and
// attends the cache. Both graphs are built once (nothing is created per token) and only the logits
// row of the newest position is read back. When the cache is full, the context restarts from its
// most recent half (one prefill) and decoding goes on.
import type { GpuContext } from '../gpu/context';
import { type LoraState } from '../lora/state';

import type { ModelSpec } from '../model/config';
import { KvCache } from './kvcache';
import { Transformer } from './transformer';
import type { ModelWeights } from '../model/weights';
import { mulberry32 } from '../util/random';

interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Stop tokens (the model's EOS). */
  stop?: number[];
}

/**
 * Picks the next token id from one row of logits [V] (f32, unnormalised). temperature ≤ 0 (or NaN)
 * is greedy: the argmax, lowest id on ties. Otherwise softmax(logits / temperature), then nucleus
 * (top-p) filtering in the manner of transformers' TopPLogitsWarper (Holtzman et al. 2019, "The Curious Case
 * of Neural Text Degeneration"): keep the most probable tokens until their mass reaches `topP`
 * (always at least one; topP ≥ 1 keeps all), renormalise, and draw with `rand` (uniform [0, 1),
 * e.g. util/random mulberry32, so a seed reproduces the text). Throws nothing; an empty row
 * returns 0 when greedy.
 */
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

/** The two graphs of generation over one KV cache, for a model (+ adapter) and a context length. */
export class Generator {
  /** Context length: positions the cache holds (at most the model's maximum and attention window). */
  readonly T: number;
  /** The cache both graphs share: per layer k, v [NKV, T, HS] f32. */
  readonly cache: KvCache;
  /** (1, T) window: fills the cache from a prompt. */
  readonly prefill: Transformer;
  /** One-row decode step against the cache. */
  readonly step: Transformer;

  constructor(readonly ctx: GpuContext, readonly spec: ModelSpec, weights: ModelWeights, lora: LoraState | null, opts: { T: number }) {
    this.T = Math.max(1, Math.min(opts.T, spec.maxT, spec.slidingWindow ?? Infinity));
    this.cache = new KvCache(ctx, spec, this.T);
    // The window only ever needs one row of logits: keep its head chunk small.
    const headChunkBytes = 64 * spec.V * 4;
    this.prefill = new Transformer(ctx, spec, weights, lora, { B: 1, T: this.T, training: false, kv: this.cache, headChunkBytes });
    this.step = new Transformer(ctx, spec, weights, lora, { B: 1, T: 1, training: false, kv: this.cache, decode: true });
  }

  /** Fills the cache with `ids` (at most T) at positions 0.. and returns the next-token logits. */
  async prefillLogits(ids: ArrayLike<number>): Promise<Float32Array> {
    const { ctx, prefill: m, T } = this;
    const n = ids.length;
    if (n < 1 || n > T) throw new Error(`internal: prefill of ${n} tokens into a context of ${T}`);
    const tokens = new Uint32Array(T);
    tokens.set(ids);
    m.writeBatch({ tokens, targets: new Int32Array(T).fill(-100), pos: Uint32Array.from({ length: T }, (_, i) => i), segStart: new Uint32Array(T), predicted: 0 });
    // Hidden states of the window (rows past the prompt write cache positions that decoding
    // overwrites before reading), then the head on the last prompt row only.
    const enc = ctx.device.createCommandEncoder();
    m.hiddenProgram.encode(enc);
    const C = this.spec.C;
    enc.copyBufferToBuffer(m.hidden, (n - 1) * C * 4, m.lastHidden, 0, C * 4);
    m.headRowProgram.encode(enc);
    ctx.submit(enc);
    return new Float32Array(await ctx.read(m.logits, 0, this.spec.V * 4));
  }

  /** Appends token `id` at position `at` (the cache holds positions 0..at-1) and returns the next-token logits. */
  async stepLogits(id: number, at: number): Promise<Float32Array> {
    const { ctx, step: m } = this;
    if (!(at >= 0 && at < this.T)) throw new Error(`internal: decode position ${at} outside the context of ${this.T}`);
    m.writeBatch({ tokens: Uint32Array.of(id), targets: Int32Array.of(-100), pos: Uint32Array.of(at), segStart: Uint32Array.of(0), predicted: 0 });
    const enc = ctx.device.createCommandEncoder();
    m.logitsProgram!.encode(enc);
    ctx.submit(enc);
    return new Float32Array(await ctx.read(m.logits, 0, this.spec.V * 4));
  }
}

/**
 * Yields new token ids one at a time after `prompt` (token ids, BOS first): prefill, then one
 * decode step per token; when the cache is full the context restarts from the most recent T/2
 * tokens. Stops after `maxNewTokens` or before yielding a `stop` id (which is not yielded).
 * Throws Error when the prompt is empty, and GPU errors from the context (device lost).
 */
export async function* generateTokens(ctx: GpuContext, gen: Generator, prompt: number[], opts: GenerateOptions): AsyncGenerator<number> {
  if (prompt.length === 0) throw new Error('generation needs at least one prompt token (BOS)');
  if (gen.ctx !== ctx) throw new Error('internal: the generator belongs to another GPU context');
  const T = gen.T;
  const rand = mulberry32(opts.seed ?? 0);
  const ids = [...prompt];
  /** Tokens at the end of `ids` whose k, v are in the cache (at positions 0..cached-1); 0 = none yet. */
  let cached = 0;
  for (let n = 0; n < opts.maxNewTokens; n++) {
    let logits: Float32Array;
    if (cached === 0 || cached >= T) {
      // First token, or the cache is full: (re)start the context from the most recent tokens.
      const keep = cached === 0 ? Math.min(ids.length, T) : Math.max(1, Math.floor(T / 2));
      logits = await gen.prefillLogits(ids.slice(ids.length - keep));
      cached = keep;
    } else {
      logits = await gen.stepLogits(ids[ids.length - 1], cached);
      cached++;
    }
    const next = sampleToken(logits, opts.temperature ?? 0, opts.topP ?? 1, rand);
    if (opts.stop?.includes(next)) return;
    ids.push(next);
    yield next;
  }
}
