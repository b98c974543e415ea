// Generation in an EngineSession: the playground's and chat's `generate` (streamed tokens over a KV
// cache, from the base, a run's adapter or an opened folder), and the helpers training's samples
// share (window lengths, streaming text, adapters read back from a run's checkpoint).
import { CHAT_FORMAT, chatTurnEndText, encodeChat, encodePrompt, stopIdsFor, type PromptFormat } from '../data/format';
import type { GpuContext } from '../gpu/context';
import { LoraState } from '../lora/state';
import { generateTokens, Generator } from '../net/generate';
import type { LoadedModel } from '../model/load';
import { adapterFromFiles, runPlace } from '../train/resume';
import type { AdapterRef, GenerateReply, RequestMap } from './protocol';
import { BufferScope } from './scopes';
import type { Adapter, Emit, Engine, EngineSession, Model } from './session';

/** Generation graphs kept on the GPU (least recently used go first). */
const MAX_GRAPHS = 4;

/** Window length of a generation graph: a power of two ≥ 64 holding prompt + new tokens (capped at the model's maximum). */
export function windowFor(m: LoadedModel, n: number): number {
  let T = 64;
  while (T < n) T *= 2;
  return Math.min(T, m.spec.maxT);
}

/**
 * Generates from `ids`, yielding the text as it grows (whole characters only); returns the text,
 * the tokens generated, and whether `shouldStop` cut it short. Stops at the format's stop ids, or
 * where `stopText` (a template's plain-text end of turn, not kept) appears.
 */
export async function* streamText(
  c: GpuContext, m: LoadedModel, gen: Generator, ids: number[],
  opts: { maxNewTokens: number; temperature?: number; topP?: number; seed?: number; format?: PromptFormat; stopText?: string },
  shouldStop: () => boolean = () => false,
): AsyncGenerator<string, { text: string; tokens: number; stopped: boolean }> {
  const out: number[] = [];
  let printed = '';
  let stopped = false;
  for await (const id of generateTokens(c, gen, ids, { ...opts, stop: stopIdsFor(m.tokenizer, opts.format) })) {
    out.push(id);
    const text = m.tokenizer.decode(out, true);
    if (opts.stopText && text.includes(opts.stopText)) return { text: text.slice(0, text.indexOf(opts.stopText)).trimEnd(), tokens: out.length, stopped: false };
    if (text.startsWith(printed) && text.length > printed.length) {
      yield text.slice(printed.length);
      printed = text;
    }
    if (shouldStop()) {
      stopped = out.length < opts.maxNewTokens;
      break;
    }
  }
  return { text: m.tokenizer.decode(out, true), tokens: out.length, stopped };
}

/** The adapter a generate names: none, an opened folder, or a run's (in memory, or read back from its checkpoint). */
async function adapterFor(s: EngineSession, ref: AdapterRef, e: Engine, m: Model): Promise<{ key: string; adapter: Adapter | null }> {
  if (ref === 'base') return { key: 'base', adapter: null };
  if (typeof ref === 'object' && 'external' in ref) {
    const a = s.adapters.get(ref.external);
    if (!a) throw new Error('The opened adapter folder is no longer on the GPU (another model was loaded, or it was closed): open it again.');
    return { key: ref.external, adapter: a };
  }
  const runId = ref === 'trained' ? s.lastTrained : ref.runId;
  if (runId === null) throw new Error('No adapter has been trained yet.');
  let a = s.adapters.get(runId);
  if (!a) {
    const ck = await s.host.checkpoints.load(runId);
    if (!ck) throw new Error(`Run ${runId} has no saved adapter (its checkpoint is missing): train it again.`);
    let ad: ReturnType<typeof adapterFromFiles>;
    try {
      ad = adapterFromFiles(m.loaded.spec, ck.files, runPlace(runId));
    } catch (err) {
      throw new Error(`The adapter of run ${runId} does not fit the loaded model (${(err as Error).message}); load the base it was trained on.`);
    }
    const scope = new BufferScope(`adapter ${runId}`);
    const lora = e.tracker.run(scope, () => new LoraState(e.ctx, ad.modules, ad.h));
    lora.load(ad.weights);
    a = { lora, hyper: ad.h, baseModel: m.loaded.name, scope };
    s.adapters.set(runId, a);
  }
  return { key: runId, adapter: a };
}

/** The generation graph of an adapter and window length (kept, least recently used dropped beyond MAX_GRAPHS). */
function graphFor(s: EngineSession, e: Engine, m: Model, key: string, lora: LoraState | null, T: number): Generator {
  const k = `${key}|${T}`;
  const hit = s.graphs.get(k);
  if (hit) {
    s.graphs.delete(k);
    s.graphs.set(k, hit);
    return hit.gen;
  }
  const scope = new BufferScope(`generate ${k}`);
  const gen = e.tracker.run(scope, () => new Generator(e.ctx, m.loaded.spec, m.loaded.weights, lora, { T }));
  s.graphs.set(k, { gen, scope });
  while (s.graphs.size > MAX_GRAPHS) {
    const [oldest, g] = s.graphs.entries().next().value as [string, { gen: Generator; scope: BufferScope }];
    e.tracker.dispose(g.scope);
    s.graphs.delete(oldest);
  }
  return gen;
}

/** Prompt ids sent as they are: each an integer id of the vocabulary (V), at least one. */
function checkedIds(ids: number[], V: number): number[] {
  if (ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < V)) {
    throw new Error(`The prompt's token ids do not fit the loaded model (vocabulary of ${V}): draw the held-out prompts again with this model.`);
  }
  return ids;
}

/** The `generate` request: streams `token` events, replies with the whole text and the prompt as rendered. */
export async function generate(s: EngineSession, req: RequestMap['generate']['req'], emit: Emit): Promise<GenerateReply> {
  const epoch = s.generationEpoch;
  const e = await s.getEngine();
  const m = s.requireModel();
  if (s.busy) throw new Error(`The engine is busy ${s.busy}: the playground works once it has finished (or been stopped).`);
  s.generating++;
  try {
    const g = req.req;
    const { key, adapter } = await adapterFor(s, g.adapter, e, m);
    // A conversation (chat playground) is rendered with the chat template chat data trains with.
    const format = g.messages ? CHAT_FORMAT : g.format;
    const { ids, text: promptText } = g.messages
      ? encodeChat(m.loaded.tokenizer, g.messages, format)
      : g.promptIds
        ? { ids: checkedIds(g.promptIds, m.loaded.spec.V), text: m.loaded.tokenizer.decode(g.promptIds, false) }
        : encodePrompt(m.loaded.tokenizer, g.prompt, format);
    const graph = graphFor(s, e, m, key, adapter?.lora ?? null, windowFor(m.loaded, ids.length + g.maxNewTokens));
    const stopText = g.messages ? chatTurnEndText(m.loaded.tokenizer, format) : undefined;
    const gen = streamText(e.ctx, m.loaded, graph, ids, { maxNewTokens: g.maxNewTokens, temperature: g.temperature, topP: g.topP, seed: g.seed, format, stopText }, () => s.generationEpoch !== epoch);
    let r = await gen.next();
    while (!r.done) {
      emit({ kind: 'token', text: r.value });
      r = await gen.next();
    }
    return { ...r.value, prompt: promptText };
  } finally {
    s.generating--;
  }
}
