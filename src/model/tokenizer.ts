// The tokenizer: a thin wrapper over @huggingface/tokenizers (tokenizer.json + tokenizer_config.json;
// tokenizer.json converted from slow-tokenizer files when a folder has none).

import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelSource } from './source';
import { applyUnigramByteFallback } from './sentencepiece';
import { convertSlowTokenizer } from './slow-tokenizer';
import { TokenizerError } from './tokenizer-error';

/**
 * Text ↔ token ids as transformers' tokenizer for the folder would do it (tokenizer.json through
 * @huggingface/tokenizers, or one converted from the slow tokenizer's files).
 */
export interface TextTokenizer {
  /** With addSpecial (default true, as in transformers) the tokenizer's own post-processing applies (Llama: BOS prepended; GPT-2: nothing). */
  encode(text: string, addSpecial?: boolean): number[];
  /** skipSpecial defaults to false, as in transformers. */
  decode(ids: number[], skipSpecial?: boolean): string;
  readonly bos: number | null;
  /** config.json's eos_token_id (one or several); eos[0] is the EOS appended to training examples. */
  readonly eos: number[];
  /**
   * Ids that end generation: `eos` ∪ generation_config.json's eos_token_id (models such as Llama 3
   * list their end-of-turn tokens there). Chat templates may add their end-of-turn token: see
   * data/format.ts stopIdsFor.
   */
  readonly stop: number[];
  /** A special added token (BOS, EOS, <|im_end|>, ...): such tokens are matched whole in text and skipped by decode(ids, true). */
  isSpecial(id: number): boolean;
  /** One past the largest token id of the tokenizer (vocabulary plus added tokens). */
  readonly vocabSize: number;
  /** tokenizer_config.json chat_template if present (or chat_template.jinja). */
  readonly chatTemplate: string | null;
}

export { TokenizerError };

async function readJson(src: ModelSource, file: string): Promise<Record<string, unknown>> {
  const text = await src.text(file);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${src.name}/${file}: not valid JSON (${(e as Error).message}); re-download the file.`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerError(`${src.name}/${file}: not a JSON object; re-download the file.`);
  return v as Record<string, unknown>;
}

/** A special token in tokenizer_config.json: "<s>" or {"content": "<s>", ...}. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

function chatTemplateOf(cfg: Record<string, unknown>): string | null {
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    // Older multi-template format: [{name, template}], the one named 'default' is used.
    const named = t as { name?: unknown; template?: unknown }[];
    const d = named.find((x) => x?.name === 'default') ?? named[0];
    return typeof d?.template === 'string' ? d.template : null;
  }
  return null;
}

/**
 * generation_config.json's eos_token_id (a number or a list; transformers' GenerationConfig), or []
 * when the file or the field is absent. A file that is not valid JSON is an error naming it.
 */
async function generationEosIds(src: ModelSource): Promise<number[]> {
  if (!(await src.has('generation_config.json'))) return [];
  const e = (await readJson(src, 'generation_config.json')).eos_token_id;
  if (e === undefined || e === null) return [];
  return Array.isArray(e) ? (e as number[]) : [e as number];
}

/**
 * Loads tokenizer.json (+ tokenizer_config.json when present); a folder without tokenizer.json gets
 * it converted from tokenizer.model or vocab.json + merges.txt (slow-tokenizer.ts). bos/eos come from `config` (the
 * model's config.json ids) when given, else from tokenizer_config.json's bos_token/eos_token.
 * Throws TokenizerError for unreadable JSON, a tokenizer @huggingface/tokenizers cannot build,
 * invalid bos/eos ids, or a slow tokenizer that cannot be converted; ModelSourceError for
 * unreadable files.
 */
export async function loadTokenizer(
  src: ModelSource,
  config?: { bos_token_id?: number | null; eos_token_id?: number | number[] | null },
): Promise<TextTokenizer> {
  let json: Record<string, unknown>;
  let cfg = (await src.has('tokenizer_config.json')) ? await readJson(src, 'tokenizer_config.json') : {};
  // Without tokenizer.json, it is converted from tokenizer.model or vocab.json + merges.txt.
  if (await src.has('tokenizer.json')) json = await readJson(src, 'tokenizer.json');
  else ({ json, cfg } = await convertSlowTokenizer(src, cfg));
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, cfg);
  } catch (e) {
    throw new TokenizerError(`${src.name}/tokenizer.json: this tokenizer is not supported (${(e as Error).message}).`);
  }
  applyUnigramByteFallback(tok, json);

  let maxId = -1;
  for (const id of tok.get_vocab(true).values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;

  const idOf = (v: unknown): number | null => {
    const s = tokenString(v);
    if (s === null) return null;
    return tok.token_to_id(s) ?? null;
  };
  const checkId = (what: string, id: number): number => {
    if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`${src.name}: ${what} ${id} is not a valid token id.`);
    return id;
  };
  let bos: number | null;
  if (config && config.bos_token_id !== undefined) bos = config.bos_token_id === null ? null : checkId('bos_token_id', config.bos_token_id);
  else bos = idOf(cfg.bos_token);
  let eos: number[];
  if (config && config.eos_token_id !== undefined) {
    const e = config.eos_token_id;
    eos = e === null ? [] : (Array.isArray(e) ? e : [e]).map((x) => checkId('eos_token_id', x));
  } else {
    const e = idOf(cfg.eos_token);
    eos = e === null ? [] : [e];
  }

  const stop = [...eos];
  for (const id of await generationEosIds(src)) if (!stop.includes(checkId('generation_config.json eos_token_id', id))) stop.push(id);
  const special = new Set<number>();
  for (const [id, t] of tok.get_added_tokens_decoder()) if (t.special) special.add(id);

  let chatTemplate = chatTemplateOf(cfg);
  if (chatTemplate === null && (await src.has('chat_template.jinja'))) chatTemplate = await src.text('chat_template.jinja');

  return {
    bos,
    eos,
    stop,
    isSpecial: (id: number) => special.has(id),
    vocabSize,
    chatTemplate,
    encode(text: string, addSpecial = true): number[] {
      return tok.encode(text, { add_special_tokens: addSpecial }).ids;
    },
    decode(ids: number[], skipSpecial = false): string {
      return tok.decode(ids, { skip_special_tokens: skipSpecial });
    },
  };
}
