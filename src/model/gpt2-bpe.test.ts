// GPT-2-style vocab.json + merges.txt without tokenizer.json: the same tokenizer as the byte-level
// tokenizer.json fixture of tokenizer.test.ts, given as slow-tokenizer files.
import { describe, expect, it } from 'vitest';
import { memorySource } from './source';
import { loadTokenizer, TokenizerError } from './tokenizer';
import { bytesToUnicode } from '../test/bytes-to-unicode';


/** 256 byte tokens, "Ġt" = 256, "Ġth" = 257; <|endoftext|> is only a special token of the config. */
function files(cfg: Record<string, unknown>) {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((c, i) => (vocab[c] = i));
  vocab['Ġt'] = 256;
  vocab['Ġth'] = 257;
  const merges = '#version: 0.2\nĠ t\nĠt h\n';
  const tokenizerJson = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 258, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: ['Ġ t', 'Ġt h'] },
  };
  const config = JSON.stringify({ tokenizer_class: 'GPT2Tokenizer', add_prefix_space: false, clean_up_tokenization_spaces: false, ...cfg });
  return {
    slow: memorySource('gpt2-slow', new Map([['vocab.json', JSON.stringify(vocab)], ['merges.txt', merges], ['tokenizer_config.json', config]])),
    fast: memorySource('gpt2-fast', new Map([['tokenizer.json', JSON.stringify(tokenizerJson)], ['tokenizer_config.json', config]])),
  };
}

const SPECIALS = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
const TEXTS = ['Hi the', ' the the  thin', "it's 3 apples\nthe end", 'héllo 日本 🙂', 'a<|endoftext|>the'];

describe('GPT-2 vocab.json + merges.txt', () => {
  it('encodes and decodes like the same tokenizer given as tokenizer.json', async () => {
    const { slow, fast } = files(SPECIALS);
    const s = await loadTokenizer(slow);
    const f = await loadTokenizer(fast);
    for (const t of TEXTS) {
      expect(s.encode(t), t).toEqual(f.encode(t));
      expect(s.decode(s.encode(t)), t).toBe(t);
    }
    expect(s.encode('Hi the')).toEqual([72, 105, 257, 101]); // H i Ġth e
    expect(s.encode('a<|endoftext|>the')).toEqual([97, 258, 116, 104, 101]); // the special token gets the next free id
    expect(s.decode([97, 258, 257], true)).toBe('a th');
    expect(s.bos).toBe(258);
    expect(s.eos).toEqual([258]);
    expect(s.vocabSize).toBe(259);
  });

  it('special tokens from special_tokens_map.json, add_bos_token and add_prefix_space', async () => {
    const { slow } = files({});
    const map = memorySource(
      'gpt2-map',
      new Map([
        ['vocab.json', await slow.text('vocab.json')], ['merges.txt', await slow.text('merges.txt')],
        ['tokenizer_config.json', JSON.stringify({ add_bos_token: true, add_prefix_space: true })],
        ['special_tokens_map.json', JSON.stringify({ bos_token: { content: '<|endoftext|>' }, eos_token: '<|endoftext|>' })],
      ]),
    );
    const tok = await loadTokenizer(map);
    expect(tok.bos).toBe(258);
    expect(tok.encode('the')).toEqual([258, 257, 101]); // BOS, then " the" (prefix space) -> Ġth e
    expect(tok.encode('the', false)).toEqual([257, 101]);
  });

  it('errors name the file and what to do', async () => {
    const { slow } = files(SPECIALS);
    const vocab = await slow.text('vocab.json');
    const cases: [Map<string, string>, RegExp][] = [
      [new Map([['vocab.json', vocab]]), /^g: vocab\.json is there but merges\.txt is missing; download merges\.txt/],
      [new Map([['vocab.json', vocab], ['merges.txt', '#version: 0.2\nĠ t\nĠt\n']]), /^g\/merges\.txt: line 3 is not a merge/],
      [new Map([['vocab.json', '{"a": -1}'], ['merges.txt', '']]), /^g\/vocab\.json: token "a" has id -1/],
      [new Map([['vocab.json', vocab], ['merges.txt', ''], ['tokenizer_config.json', '{"tokenizer_class": "Qwen2Tokenizer"}']]), /^g\/tokenizer_config\.json: tokenizer_class Qwen2Tokenizer .* not supported/],
      [new Map([['config.json', '{}']]), /^g: no tokenizer\.json, tokenizer\.model .* or vocab\.json \+ merges\.txt found/],
    ];
    for (const [m, re] of cases) {
      const e = await loadTokenizer(memorySource('g', m)).then(() => null, (x: Error) => x);
      expect(e).toBeInstanceOf(TokenizerError);
      expect(e!.message).toMatch(re);
    }
  });
});
