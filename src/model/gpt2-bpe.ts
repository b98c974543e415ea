// GPT-2-style vocab.json + merges.txt → the Hugging Face tokenizer.json object transformers'
// GPT2Converter (convert_slow_tokenizer.py) builds from a slow GPT2Tokenizer: byte-level BPE.

import { collectAddedTokens, flag, templateProcessing, tokenContent } from './hf-tokenizer-json';
import { TokenizerError } from './tokenizer-error';

/**
 * The merges of merges.txt, one "left right" pair a line, in rank order. Like GPT2Tokenizer
 * (tokenization_gpt2.py), a first "#version" line is skipped, and so are empty lines.
 * Throws TokenizerError naming the line that is not two tokens.
 */
export function parseMerges(text: string, file: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  lines.forEach((line, i) => {
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new TokenizerError(`${file}: line ${i + 1} is not a merge of two tokens ('left right'); download merges.txt again from the model's repository.`);
    }
    out.push([parts[0], parts[1]]);
  });
  return out;
}

/** Checks vocab.json: an object of token → non-negative integer id. Throws TokenizerError when it is not such an object. */
export function checkVocab(v: unknown, file: string): Record<string, number> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new TokenizerError(`${file}: not a JSON object of token → id; download vocab.json again from the model's repository.`);
  }
  for (const [k, id] of Object.entries(v as Record<string, unknown>)) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new TokenizerError(`${file}: token ${JSON.stringify(k)} has id ${JSON.stringify(id)}, not a non-negative integer; download vocab.json again.`);
    }
  }
  return v as Record<string, number>;
}

/**
 * tokenizer.json for GPT-2-style files, as GPT2Converter builds it: a BPE model (no unk token, empty
 * continuing-subword prefix and end-of-word suffix, no fuse_unk) over vocab.json and merges.txt, a
 * ByteLevel pre-tokenizer (add_prefix_space from tokenizer_config.json, default false), ByteLevel
 * decoder, and as post-processor TemplateProcessing "<bos> $A" when add_bos_token is set, else
 * ByteLevel (which adds nothing). Added and special tokens come from tokenizer_config.json
 * (added_tokens_decoder, bos/eos/unk/pad/additional_special_tokens; a special token missing from
 * vocab.json gets the next free id, as the slow tokenizer's add_special_tokens gives it).
 * Throws TokenizerError when add_bos_token is set and no bos_token is named (and as parseMerges /
 * checkVocab).
 */
export function gpt2ToTokenizerJson(
  vocab: Record<string, number>,
  merges: [string, string][],
  cfg: Record<string, unknown>,
  cfgFile: string,
): Record<string, unknown> {
  let size = 0;
  for (const id of Object.values(vocab)) size = Math.max(size, id + 1);
  const ids = new Map(Object.entries(vocab));
  const added = collectAddedTokens([], cfg, (c) => ids.get(c), size);
  const idOf = (c: string) => added.find((t) => t.content === c)?.id ?? ids.get(c);

  let postProcessor: unknown = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
  if (flag(cfg, 'add_bos_token', false)) {
    const content = tokenContent(cfg.bos_token);
    const id = content === null ? undefined : idOf(content);
    if (content === null || id === undefined) {
      throw new TokenizerError(`${cfgFile}: add_bos_token is true but no bos_token is named; set add_bos_token to false or name the bos_token.`);
    }
    postProcessor = templateProcessing({ content, id }, null);
  }
  const addPrefix = flag(cfg, 'add_prefix_space', false);
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefix, trim_offsets: true, use_regex: true },
    post_processor: postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}
