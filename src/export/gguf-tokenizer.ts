// The tokenizer embedded in a GGUF model, as llama.cpp's convert_hf_to_gguf.py writes it
// (_set_vocab_sentencepiece / _set_vocab_llama_hf / _set_vocab_gpt2, gguf-py's SpecialVocab):
// tokenizer.ggml.model "llama" (SentencePiece: tokens, scores, token types) or "gpt2" (byte-level
// BPE: tokens, token types, merges, tokenizer.ggml.pre), special ids, add_bos/add_eos, and
// tokenizer.chat_template. No Node or DOM APIs here.
//
// Token types are llama.cpp's (= SentencePiece's): 1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED,
// 5 UNUSED, 6 BYTE. Ids the tokenizer lacks below the model's vocab_size become "[PAD<id>]" UNUSED.

import type { ModelSpec } from '../model/config';
import { tokenContent } from '../model/hf-tokenizer-json';
import { ModelType, parseSentencePieceModel, PieceType } from '../model/sentencepiece';
import { convertSlowTokenizer } from '../model/slow-tokenizer';
import type { ModelSource } from '../model/source';
import type { GgufMetadata } from './gguf';

interface Vocab {
  model: 'llama' | 'gpt2';
  tokens: string[];
  scores: number[] | null;
  types: number[];
  merges: string[] | null;
  pre: string | null;
  unk: number | null;
}

type Json = Record<string, unknown>;

async function readJson(src: ModelSource, file: string): Promise<Json> {
  try {
    return JSON.parse(await src.text(file)) as Json;
  } catch (e) {
    throw new Error(`${src.name}/${file}: not valid JSON (${(e as Error).message}); re-download the model's ${file}`);
  }
}

/** Every occurrence of a {"type": ...} node in a tokenizer.json component (Sequence members too). */
function nodes(v: unknown): Json[] {
  if (!v || typeof v !== 'object') return [];
  const o = v as Json;
  const kids = [o.pretokenizers, o.normalizers, o.decoders].filter(Array.isArray).flat() as unknown[];
  return [o, ...kids.flatMap(nodes)];
}

/**
 * tokenizer.ggml.pre for a byte-level BPE: llama.cpp picks it by hashing the tokenizer's output on a
 * test text (get_vocab_base_pre); here it follows from the pre-tokenizer itself, for the families
 * this engine trains. Unknown patterns get "default" (llama.cpp's GPT-2-like split).
 */
function preTokenizerName(spec: ModelSpec, json: Json): string {
  if (spec.arch === 'gpt2') return 'gpt-2';
  if (spec.modelType === 'qwen2') return 'qwen2';
  const pre = nodes(json.pre_tokenizer);
  const text = JSON.stringify(json.pre_tokenizer ?? null);
  if (text.includes("(?i:'s|'t|'re|'ve|'m|'ll|'d)") && text.includes('\\\\p{N}{1,3}')) return 'llama-bpe';
  if (pre.some((n) => n.type === 'Digits' && n.individual_digits === true) && pre.some((n) => n.type === 'ByteLevel')) return 'smollm';
  if (pre.length === 1 && pre[0].type === 'ByteLevel') return 'gpt2';
  return 'default';
}

function fromSentencePiece(bytes: Uint8Array, file: string): Vocab {
  const m = parseSentencePieceModel(bytes, file);
  if (m.modelType !== ModelType.BPE && m.modelType !== ModelType.UNIGRAM) {
    throw new Error(`${file}: a SentencePiece WORD/CHAR model has no llama.cpp tokenizer; export a model whose tokenizer is BPE or Unigram`);
  }
  return {
    model: 'llama',
    tokens: m.pieces.map((p) => p.piece),
    scores: m.pieces.map((p) => p.score),
    types: m.pieces.map((p) => p.type || PieceType.NORMAL),
    merges: null,
    pre: null,
    unk: m.unkId >= 0 ? m.unkId : null,
  };
}

function fromTokenizerJson(json: Json, spec: ModelSpec, file: string): Vocab {
  const model = (json.model ?? {}) as Json;
  const added = (Array.isArray(json.added_tokens) ? json.added_tokens : []) as { id: number; content: string; special?: boolean }[];
  const tokens: string[] = [];
  const put = (id: number, s: string) => {
    while (tokens.length <= id) tokens.push('');
    tokens[id] = s;
  };
  const isByteLevel = [...nodes(json.pre_tokenizer), ...nodes(json.decoder)].some((n) => n.type === 'ByteLevel');
  let scores: number[] | null = null;
  let merges: string[] | null = null;
  let unk: number | null = null;
  if (model.type === 'BPE') {
    const vocab = model.vocab as Record<string, number>;
    for (const [s, id] of Object.entries(vocab)) put(id, s);
    const list = ((model.merges ?? []) as (string | [string, string])[]).map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
    if (isByteLevel) merges = list;
    else {
      // SentencePiece-style BPE (Llama 1/2 tokenizer.json): llama.cpp's SPM tokenizer merges the pair
      // whose result scores highest, so a token's score is minus the rank of the merge that makes it.
      const rank = new Map<string, number>();
      list.forEach((m, i) => {
        const sp = m.indexOf(' ', 1);
        const t = m.slice(0, sp) + m.slice(sp + 1);
        if (!rank.has(t)) rank.set(t, i);
      });
      scores = tokens.map((t) => -(rank.get(t) ?? 0));
    }
    if (typeof model.unk_token === 'string' && model.unk_token in vocab) unk = vocab[model.unk_token];
  } else if (model.type === 'Unigram') {
    const vocab = model.vocab as [string, number][];
    scores = [];
    vocab.forEach(([s, score], id) => {
      put(id, s);
      scores![id] = score;
    });
    if (typeof model.unk_id === 'number') unk = model.unk_id;
  } else {
    throw new Error(`${file}: a ${String(model.type)} tokenizer has no llama.cpp GGUF form here (BPE and Unigram do)`);
  }
  for (const t of added) put(t.id, t.content);
  const byteFallback = model.byte_fallback === true;
  const types = tokens.map((t, id) => {
    const a = added.find((x) => x.id === id);
    if (a) return a.special ? PieceType.CONTROL : PieceType.USER_DEFINED;
    if (id === unk) return PieceType.UNKNOWN;
    if (byteFallback && /^<0x[0-9A-F]{2}>$/.test(t)) return PieceType.BYTE;
    return PieceType.NORMAL;
  });
  if (scores) while (scores.length < tokens.length) scores.push(0);
  return { model: isByteLevel ? 'gpt2' : 'llama', tokens, scores, types, merges, pre: isByteLevel ? preTokenizerName(spec, json) : null, unk };
}

/**
 * The tokenizer.* metadata of a GGUF model for the tokenizer files in `src` (tokenizer.model when
 * present, else tokenizer.json, else vocab.json + merges.txt converted as transformers would).
 * Special ids come from tokenizer_config.json's tokens (as SpecialVocab reads them), else config.json.
 * Throws when the tokenizer holds more tokens than the model's vocab_size, or has no GGUF form.
 */
export async function tokenizerMetadata(src: ModelSource, spec: ModelSpec): Promise<{ metadata: GgufMetadata; notes: string[] }> {
  const notes: string[] = [];
  const cfg = (await src.has('tokenizer_config.json')) ? await readJson(src, 'tokenizer_config.json') : {};
  let v: Vocab;
  if (await src.has('tokenizer.model')) {
    v = fromSentencePiece(await src.range('tokenizer.model', 0, await src.size('tokenizer.model')), `${src.name}/tokenizer.model`);
    // tokenizer_config.json's added_tokens_decoder may name tokens past the SentencePiece pieces.
    const dec = (cfg.added_tokens_decoder ?? {}) as Record<string, { content?: string; special?: boolean }>;
    for (const [k, t] of Object.entries(dec)) {
      const id = Number(k);
      if (!Number.isInteger(id) || typeof t.content !== 'string') continue;
      while (v.tokens.length <= id) (v.tokens.push(''), v.scores!.push(-1000), v.types.push(PieceType.UNUSED));
      v.tokens[id] = t.content;
      v.types[id] = t.special ? PieceType.CONTROL : PieceType.USER_DEFINED;
    }
  } else {
    const json = (await src.has('tokenizer.json')) ? await readJson(src, 'tokenizer.json') : (await convertSlowTokenizer(src, cfg)).json;
    v = fromTokenizerJson(json, spec, `${src.name}/tokenizer.json`);
  }
  if (v.tokens.length > spec.V) {
    throw new Error(`${src.name}: the tokenizer has ${v.tokens.length} tokens but config.json's vocab_size is ${spec.V}; use the tokenizer files that belong to this model`);
  }
  for (let id = 0; id < spec.V; id++) {
    if (id < v.tokens.length && v.tokens[id] !== '') continue;
    v.tokens[id] = `[PAD${id}]`;
    v.types[id] = PieceType.UNUSED;
    if (v.scores) v.scores[id] = -1000;
  }
  const md: GgufMetadata = new Map();
  md.set('tokenizer.ggml.model', { type: 'string', value: v.model });
  if (v.pre) {
    md.set('tokenizer.ggml.pre', { type: 'string', value: v.pre });
    if (v.pre === 'default') notes.push('tokenizer.ggml.pre is "default": the pre-tokenizer matches none of the known llama.cpp families; llama.cpp will warn');
  }
  md.set('tokenizer.ggml.tokens', { type: 'string[]', value: v.tokens });
  if (v.scores) md.set('tokenizer.ggml.scores', { type: 'f32[]', value: v.scores });
  md.set('tokenizer.ggml.token_type', { type: 'i32[]', value: v.types });
  if (v.merges) md.set('tokenizer.ggml.merges', { type: 'string[]', value: v.merges });
  const idOf = (key: string): number | null => {
    const s = tokenContent(cfg[key]);
    const id = s === null ? -1 : v.tokens.indexOf(s);
    return id >= 0 ? id : null;
  };
  const ids: [string, number | null][] = [
    ['bos', idOf('bos_token') ?? spec.bos],
    ['eos', idOf('eos_token') ?? spec.eos[0] ?? null],
    ['unknown', idOf('unk_token') ?? v.unk],
    ['padding', idOf('pad_token')],
  ];
  for (const [k, id] of ids) if (id !== null) md.set(`tokenizer.ggml.${k}_token_id`, { type: 'u32', value: id });
  for (const k of ['add_bos_token', 'add_eos_token'] as const) if (typeof cfg[k] === 'boolean') md.set(`tokenizer.ggml.${k}`, { type: 'bool', value: cfg[k] as boolean });
  let tmpl: string | null = null;
  const t = cfg.chat_template;
  if (typeof t === 'string') tmpl = t;
  else if (Array.isArray(t)) {
    const d = (t as { name?: unknown; template?: unknown }[]).find((x) => x?.name === 'default') ?? t[0];
    if (typeof d?.template === 'string') tmpl = d.template;
  }
  if (tmpl === null && (await src.has('chat_template.jinja'))) tmpl = await src.text('chat_template.jinja');
  if (tmpl !== null) md.set('tokenizer.chat_template', { type: 'string', value: tmpl });
  return { metadata: md, notes };
}
