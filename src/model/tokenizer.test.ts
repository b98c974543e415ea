import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { memorySource } from './source';
import { loadTokenizer, TokenizerError } from './tokenizer';
import { bytesToUnicode } from '../test/bytes-to-unicode';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}


/** A tiny GPT-2-style byte-level BPE: 256 byte tokens, two merges, <|endoftext|> = 258. */
function gpt2Like() {
  const b2u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  b2u.forEach((c, i) => (vocab[c] = i));
  vocab['Ġt'] = 256;
  vocab['Ġth'] = 257;
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 258, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: ['Ġ t', 'Ġt h'] },
  };
  const config = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', tokenizer_class: 'GPT2Tokenizer', add_prefix_space: false };
  return { tokenizer, config, b2u };
}

describe('tokenizer: stories260K (Llama-style SentencePiece BPE)', () => {
  it('encodes with BOS, decodes back, and reads bos/eos/vocab size', async () => {
    const cfg = JSON.parse(readFileSync(STORIES + 'config.json', 'utf8'));
    const tok = await loadTokenizer(dirSource(STORIES), cfg);
    const text = 'Once upon a time';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(1);
    expect(ids.length).toBeGreaterThan(2);
    expect(ids).toEqual([1, 403, 407, 261, 378]); // what the library gives for this tokenizer today
    expect(tok.encode(text, false)).toEqual(ids.slice(1));
    expect(tok.decode(ids, true)).toBe(text);
    expect(tok.decode(ids.slice(1))).toBe(text);
    expect(tok.decode(ids)).toMatch(/^<s>/);
    expect(tok.bos).toBe(cfg.bos_token_id);
    expect(tok.eos).toEqual([cfg.eos_token_id]);
    expect(tok.bos).toBe(1);
    expect(tok.eos).toEqual([2]);
    expect(tok.vocabSize).toBe(cfg.vocab_size);
    expect(tok.chatTemplate).toBeNull();
    for (const id of ids) expect(id).toBeLessThan(tok.vocabSize);
  });

  it('byte fallback round-trips non-ASCII text', async () => {
    const tok = await loadTokenizer(dirSource(STORIES));
    for (const s of ['héllo 日本 🙂', 'Tom said: "Hi!"\nThen he ran.', '  two spaces']) {
      const ids = tok.encode(s, false);
      expect(ids.every((i) => i >= 0 && i < 512)).toBe(true);
      expect(tok.decode(ids)).toBe(s);
    }
  });

  it('without a config, bos/eos come from tokenizer_config.json; config overrides them', async () => {
    const src = dirSource(STORIES);
    const plain = await loadTokenizer(src);
    expect(plain.bos).toBe(1);
    expect(plain.eos).toEqual([2]);
    const multi = await loadTokenizer(src, { bos_token_id: null, eos_token_id: [2, 0] });
    expect(multi.bos).toBeNull();
    expect(multi.eos).toEqual([2, 0]);
    await expect(loadTokenizer(src, { eos_token_id: -1 })).rejects.toThrow(TokenizerError);
  });
});

describe('tokenizer: other cases', () => {
  it('a GPT-2-style byte-level tokenizer adds no special tokens', async () => {
    const { tokenizer, config, b2u } = gpt2Like();
    const src = memorySource('gpt2-like', new Map([['tokenizer.json', JSON.stringify(tokenizer)], ['tokenizer_config.json', JSON.stringify(config)]]));
    const tok = await loadTokenizer(src, { bos_token_id: 258, eos_token_id: 258 });
    const text = 'Hi the';
    const ids = tok.encode(text);
    expect(ids).toEqual(tok.encode(text, false));
    const want = [...new TextEncoder().encode('Hi')].map((b) => b);
    expect(ids).toEqual([...want, 257, 'e'.charCodeAt(0)]);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.bos).toBe(258);
    expect(tok.eos).toEqual([258]);
    expect(tok.vocabSize).toBe(259);
    expect(b2u[32]).toBe('Ġ');
    expect(tok.decode([...ids, 258], true)).toBe(text);
  });

  it('chat_template from tokenizer_config.json (string or named list) or chat_template.jinja', async () => {
    const json = readFileSync(STORIES + 'tokenizer.json', 'utf8');
    const cfg = JSON.parse(readFileSync(STORIES + 'tokenizer_config.json', 'utf8'));
    const t1 = await loadTokenizer(memorySource('m1', new Map([['tokenizer.json', json], ['tokenizer_config.json', JSON.stringify({ ...cfg, chat_template: '{{ x }}' })]])));
    expect(t1.chatTemplate).toBe('{{ x }}');
    const named = [
      { name: 'tool_use', template: 'T' },
      { name: 'default', template: 'D' },
    ];
    const t2 = await loadTokenizer(memorySource('m2', new Map([['tokenizer.json', json], ['tokenizer_config.json', JSON.stringify({ ...cfg, chat_template: named })]])));
    expect(t2.chatTemplate).toBe('D');
    const t3 = await loadTokenizer(
      memorySource('m3', new Map([['tokenizer.json', json], ['tokenizer_config.json', JSON.stringify(cfg)], ['chat_template.jinja', '{{ y }}']])),
    );
    expect(t3.chatTemplate).toBe('{{ y }}');
    // tokenizer_config.json is optional
    const t4 = await loadTokenizer(memorySource('m4', new Map([['tokenizer.json', json]])));
    expect(t4.encode('Once', false).length).toBeGreaterThan(0);
    expect(t4.bos).toBeNull();
  });

  it('clear errors: missing tokenizer.json, corrupt tokenizer.model, bad JSON', async () => {
    let e = await rejects(loadTokenizer(memorySource('sp-only', new Map([['tokenizer.model', new Uint8Array(4)]]))));
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e.message).toMatch(/^sp-only\/tokenizer\.model: not a valid SentencePiece model .*download tokenizer\.model again/);
    e = await rejects(loadTokenizer(memorySource('empty', new Map())));
    expect(e.message).toMatch(/empty: no tokenizer\.json/);
    e = await rejects(loadTokenizer(memorySource('broken', new Map([['tokenizer.json', '{"model": ']]))));
    expect(e.message).toMatch(/broken\/tokenizer\.json: not valid JSON/);
  });
});
