// SentencePiece tokenizer.model → the Hugging Face tokenizer.json object transformers' slow→fast
// converter builds from it (convert_slow_tokenizer.py: LlamaConverter for BPE with byte fallback,
// SpmConverter for Unigram), so a folder without tokenizer.json still runs through
// @huggingface/tokenizers like every other tokenizer. The ModelProto is read with protobufjs from a
// subset of sentencepiece_model.proto defined here.

import type { Tokenizer } from '@huggingface/tokenizers';
import protobuf from 'protobufjs/light';
import { collectAddedTokens, flag, templateProcessing, tokenContent, type AddedTokenJson } from './hf-tokenizer-json';
import { TokenizerError } from './tokenizer-error';

/** ModelProto.SentencePiece.Type (sentencepiece_model.proto). */
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
/** TrainerSpec.ModelType (sentencepiece_model.proto). */
export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;

// The fields of sentencepiece_model.proto the conversion reads, with their field numbers; every other
// field is skipped by the decoder. Enums are read as int32 (the same varint on the wire). Each message
// is marked proto2, as the .proto is, so a field present on the wire with value 0/false is kept
// (protobufjs' default, proto3 implicit presence, would drop it and leave the proto2 default unknowable).
const MODEL_PROTO = protobuf.Root.fromJSON({
  nested: {
    sentencepiece: {
      nested: {
        ModelProto: {
          edition: 'proto2',
          fields: {
            pieces: { rule: 'repeated', type: 'SentencePiece', id: 1 },
            trainer_spec: { type: 'TrainerSpec', id: 2 },
            normalizer_spec: { type: 'NormalizerSpec', id: 3 },
          },
        },
        SentencePiece: { edition: 'proto2', fields: { piece: { type: 'string', id: 1 }, score: { type: 'float', id: 2 }, type: { type: 'int32', id: 3 } } },
        TrainerSpec: {
          edition: 'proto2',
          fields: {
            model_type: { type: 'int32', id: 3 },
            byte_fallback: { type: 'bool', id: 35 },
            unk_id: { type: 'int32', id: 40 },
            bos_id: { type: 'int32', id: 41 },
            eos_id: { type: 'int32', id: 42 },
            pad_id: { type: 'int32', id: 43 },
          },
        },
        NormalizerSpec: {
          edition: 'proto2',
          fields: {
            name: { type: 'string', id: 1 },
            precompiled_charsmap: { type: 'bytes', id: 2 },
            add_dummy_prefix: { type: 'bool', id: 3 },
            remove_extra_whitespaces: { type: 'bool', id: 4 },
          },
        },
      },
    },
  },
}).lookupType('sentencepiece.ModelProto');

/** One vocabulary entry: ModelProto.SentencePiece {piece, score, type}. */
interface SpmPiece {
  piece: string;
  score: number;
  type: number;
}

/**
 * The parts of a SentencePiece ModelProto the conversion reads (sentencepiece_model.proto names,
 * camel-cased; absent fields hold the proto2 defaults the .proto declares).
 */
interface SpmModel {
  pieces: SpmPiece[];
  /** TrainerSpec.model_type: 1 UNIGRAM (default), 2 BPE, 3 WORD, 4 CHAR. */
  modelType: number;
  byteFallback: boolean;
  /** Special ids (TrainerSpec unk_id 0, bos_id 1, eos_id 2, pad_id -1 by default; -1 = none). */
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  normalizerName: string;
  precompiledCharsmap: Uint8Array;
  /** NormalizerSpec.add_dummy_prefix (default true): a "▁" before the text. */
  addDummyPrefix: boolean;
  /** NormalizerSpec.remove_extra_whitespaces (default true): strip, and collapse runs of spaces. */
  removeExtraWhitespaces: boolean;
}

/** Parses tokenizer.model bytes; `file` names it in errors. Throws TokenizerError for anything that is not a usable ModelProto. */
export function parseSentencePieceModel(bytes: Uint8Array, file: string): SpmModel {
  const bad = (why: string) =>
    new TokenizerError(`${file}: not a valid SentencePiece model (${why}); download tokenizer.model again from the model's repository.`);
  const head = new TextDecoder().decode(bytes.subarray(0, 64));
  if (head.startsWith('version https://git-lfs')) throw bad('it is a Git LFS pointer, not the file itself');
  let msg: Record<string, unknown>;
  try {
    msg = MODEL_PROTO.decode(bytes) as unknown as Record<string, unknown>;
  } catch (e) {
    throw bad((e as Error).message);
  }
  // The decoder sets a field as an own property only when it is on the wire (even when it holds
  // false or 0); an absent field takes the default sentencepiece_model.proto declares.
  const get = <T,>(o: unknown, key: string, dflt: T): T =>
    o !== null && typeof o === 'object' && Object.hasOwn(o, key) ? ((o as Record<string, unknown>)[key] as T) : dflt;
  const raw = get<unknown[]>(msg, 'pieces', []);
  if (raw.length === 0) throw bad('it holds no pieces');
  const pieces: SpmPiece[] = raw.map((p) => ({ piece: get(p, 'piece', ''), score: get(p, 'score', 0), type: get(p, 'type', PieceType.NORMAL) }));
  const seen = new Set<string>();
  for (const [i, p] of pieces.entries()) {
    if (p.piece === '' || p.type < 1 || p.type > 6 || !Number.isFinite(p.score)) throw bad(`piece ${i} is malformed`);
    if (seen.has(p.piece)) throw bad(`piece '${p.piece}' appears twice`);
    seen.add(p.piece);
  }
  const ts = msg.trainer_spec;
  const ns = msg.normalizer_spec;
  const m: SpmModel = {
    pieces,
    modelType: get(ts, 'model_type', ModelType.UNIGRAM),
    byteFallback: get(ts, 'byte_fallback', false),
    unkId: get(ts, 'unk_id', 0),
    bosId: get(ts, 'bos_id', 1),
    eosId: get(ts, 'eos_id', 2),
    padId: get(ts, 'pad_id', -1),
    normalizerName: get(ns, 'name', ''),
    precompiledCharsmap: get(ns, 'precompiled_charsmap', new Uint8Array(0)),
    addDummyPrefix: get(ns, 'add_dummy_prefix', true),
    removeExtraWhitespaces: get(ns, 'remove_extra_whitespaces', true),
  };
  for (const [what, id] of [['unk_id', m.unkId], ['bos_id', m.bosId], ['eos_id', m.eosId], ['pad_id', m.padId]] as const) {
    if (id >= pieces.length || id < (what === 'unk_id' ? 0 : -1)) throw bad(`${what} ${id} is outside its ${pieces.length} pieces`);
  }
  return m;
}

/**
 * BPE merges derived from the vocabulary by score, as transformers' generate_merges
 * (convert_slow_tokenizer.py, used by SentencePieceExtractor for LlamaConverter) derives them: every
 * split of every piece into two pieces of the vocabulary (splits of one piece ordered by the ids of
 * their halves), all ordered by (piece score, left length, right length) descending, stable. Lengths
 * count code points, as Python's len does.
 */
function mergesFromScores(pieces: SpmPiece[]): [string, string][] {
  const ids = new Map<string, number>();
  pieces.forEach((p, i) => ids.set(p.piece, i));
  const all: { l: string; r: string; score: number; nl: number; nr: number }[] = [];
  for (const p of pieces) {
    const cps = Array.from(p.piece);
    const local: { l: string; r: string; score: number; nl: number; nr: number; il: number; ir: number }[] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join('');
      const r = cps.slice(k).join('');
      const il = ids.get(l);
      const ir = ids.get(r);
      if (il !== undefined && ir !== undefined) local.push({ l, r, score: p.score, nl: k, nr: cps.length - k, il, ir });
    }
    local.sort((a, b) => a.il - b.il || a.ir - b.ir);
    for (const x of local) all.push(x);
  }
  all.sort((a, b) => b.score - a.score || b.nl - a.nl || b.nr - a.nr);
  return all.map((x) => [x.l, x.r]);
}

function base64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * The special tokens a slow LlamaTokenizer / SentencePiece tokenizer names when tokenizer_config.json
 * does not: the pieces at the model's unk/bos/eos/pad ids. Keys as in tokenizer_config.json.
 */
export function spmSpecialTokens(m: SpmModel): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, id] of [['unk_token', m.unkId], ['bos_token', m.bosId], ['eos_token', m.eosId], ['pad_token', m.padId]] as const) {
    if (id >= 0) out[key] = m.pieces[id].piece;
  }
  return out;
}

/**
 * tokenizer.json for a SentencePiece model, as convert_slow_tokenizer.py builds it: for BPE,
 * LlamaConverter (BPE model with the pieces as vocabulary, merges from mergesFromScores, fuse_unk,
 * byte_fallback; decoder Replace("▁"→" "), ByteFallback, Fuse, Strip(1 leading space)); for Unigram,
 * SpmConverter's Unigram model (same decoder). Text handling: with `legacy` (tokenizer_config.json,
 * default true) the normalizer Prepend("▁") + Replace(" "→"▁"); with legacy false a Metaspace
 * pre-tokenizer (prepend_scheme "first", split false), as transformers builds both. Where the model
 * file says so, a Precompiled normalizer (precompiled_charsmap) comes first and, with
 * remove_extra_whitespaces, leading/trailing spaces are removed and runs of spaces collapsed, as
 * SentencePiece's normalizer does. The dummy prefix follows add_prefix_space, else the model's
 * add_dummy_prefix. Post-processor: TemplateProcessing from add_bos_token (default true) and
 * add_eos_token (default false), as LlamaTokenizerFast builds it. `cfgFile` names tokenizer_config.json in errors.
 */
export function sentencePieceToTokenizerJson(m: SpmModel, cfg: Record<string, unknown>, file: string, cfgFile: string): Record<string, unknown> {
  if (m.modelType !== ModelType.BPE && m.modelType !== ModelType.UNIGRAM) {
    const name = Object.entries(ModelType).find(([, v]) => v === m.modelType)?.[0] ?? String(m.modelType);
    throw new TokenizerError(`${file}: SentencePiece model type ${name} is not supported (only BPE and Unigram); use the model's tokenizer.json instead.`);
  }
  const legacy = flag(cfg, 'legacy', true);
  const addPrefix = flag(cfg, 'add_prefix_space', m.addDummyPrefix);
  const { pieces } = m;
  const ids = new Map<string, number>();
  pieces.forEach((p, i) => ids.set(p.piece, i));

  const model =
    m.modelType === ModelType.BPE
      ? {
          type: 'BPE', dropout: null, unk_token: pieces[m.unkId].piece, continuing_subword_prefix: null, end_of_word_suffix: null,
          fuse_unk: true, byte_fallback: m.byteFallback, ignore_merges: false,
          vocab: Object.fromEntries(pieces.map((p, i) => [p.piece, i])), merges: mergesFromScores(pieces),
        }
      : { type: 'Unigram', unk_id: m.unkId, vocab: pieces.map((p) => [p.piece, p.score]), byte_fallback: m.byteFallback };

  const normalizers: unknown[] = [];
  if (m.precompiledCharsmap.length > 0) normalizers.push({ type: 'Precompiled', precompiled_charsmap: base64(m.precompiledCharsmap) });
  if (m.removeExtraWhitespaces) {
    normalizers.push({ type: 'Replace', pattern: { Regex: '^ +| +$' }, content: '' });
    normalizers.push({ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
  }
  let preTokenizer: unknown = null;
  if (legacy) {
    if (addPrefix) normalizers.push({ type: 'Prepend', prepend: '▁' });
    normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: '▁' });
  } else {
    preTokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: addPrefix ? 'first' : 'never', split: false };
  }
  const decoder = {
    type: 'Sequence',
    decoders: [
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
      ...(addPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
    ],
  };

  // Control pieces are special added tokens, user-defined ones plain added tokens (SpmConverter.tokenizer).
  const base: AddedTokenJson[] = [];
  pieces.forEach((p, id) => {
    if (p.type === PieceType.CONTROL || p.type === PieceType.USER_DEFINED) {
      base.push({ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: p.type === PieceType.CONTROL });
    }
  });
  const added = collectAddedTokens(base, cfg, (c) => ids.get(c), pieces.length);
  const idOf = (c: string) => added.find((t) => t.content === c)?.id ?? ids.get(c);
  const special = (key: 'bos' | 'eos', on: boolean) => {
    if (!on) return null;
    const content = tokenContent(cfg[`${key}_token`]);
    const id = content === null ? undefined : idOf(content);
    if (content === null || id === undefined) {
      throw new TokenizerError(
        `${cfgFile}: add_${key}_token is true but ${content === null ? `no ${key}_token is named` : `${key}_token '${content}' is not in ${file}`}; set add_${key}_token to false or name the right ${key}_token.`,
      );
    }
    return { content, id };
  };
  const postProcessor = templateProcessing(special('bos', flag(cfg, 'add_bos_token', true)), special('eos', flag(cfg, 'add_eos_token', false)));

  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: normalizers.length > 0 ? { type: 'Sequence', normalizers } : null,
    pre_tokenizer: preTokenizer, post_processor: postProcessor, decoder, model,
  };
}

/**
 * @huggingface/tokenizers' Unigram model ignores byte_fallback, which SentencePiece and the Rust
 * `tokenizers` Unigram (models/unigram/model.rs, tokenize) honour: a piece the vocabulary lacks
 * becomes its UTF-8 bytes as <0xXX> pieces. This wraps the model's encode to do the same; it does
 * nothing unless `json` is a Unigram model with byte_fallback.
 */
export function applyUnigramByteFallback(tok: Tokenizer, json: Record<string, unknown>): void {
  const spec = json.model as { type?: unknown; byte_fallback?: unknown } | undefined;
  if (spec?.type !== 'Unigram' || spec.byte_fallback !== true) return;
  const model = (tok as unknown as { model: { encode(tokens: string[]): string[]; tokens_to_ids: Map<string, number> } }).model;
  const encode = model.encode.bind(model);
  const utf8 = new TextEncoder();
  model.encode = (tokens: string[]) =>
    encode(tokens).flatMap((t) => {
      if (model.tokens_to_ids.has(t)) return [t];
      const bytes = Array.from(utf8.encode(t), (b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      return bytes.every((b) => model.tokens_to_ids.has(b)) ? bytes : [t];
    });
}
