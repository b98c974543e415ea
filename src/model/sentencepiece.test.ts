// SentencePiece-only tokenizers: tiny-llama-sp's tokenizer.model (Llama 2's BPE with byte fallback)
// against the ids SentencePiece itself gave (encodings.json), add_bos/add_eos/legacy settings, a
// hand-built Unigram ModelProto against hand-derived Viterbi segmentations, and corrupt files.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs/light';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { memorySource } from './source';
import { parseSentencePieceModel } from './sentencepiece';
import { loadTokenizer, TokenizerError } from './tokenizer';

const DIR = fileURLToPath(new URL('../../../shared/models/tiny-llama-sp/', import.meta.url));
const MODEL = new Uint8Array(readFileSync(DIR + 'tokenizer.model'));
const CFG = JSON.parse(readFileSync(DIR + 'tokenizer_config.json', 'utf8')) as Record<string, unknown>;
const ENCODINGS = JSON.parse(readFileSync(DIR + 'encodings.json', 'utf8')) as { text: string; ids: number[] }[];

function withConfig(name: string, cfg: Record<string, unknown> | null, model: Uint8Array = MODEL) {
  const files = new Map<string, Uint8Array | string>([['tokenizer.model', model]]);
  if (cfg) files.set('tokenizer_config.json', JSON.stringify(cfg));
  return loadTokenizer(memorySource(name, files));
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('SentencePiece BPE: tiny-llama-sp (tokenizer.model only)', () => {
  it('encodes every text of encodings.json to the ids SentencePiece gives, and decodes them back', async () => {
    const tok = await loadTokenizer(dirSource(DIR));
    expect(ENCODINGS.length).toBeGreaterThanOrEqual(10);
    for (const { text, ids } of ENCODINGS) {
      expect(tok.encode(text), text).toEqual(ids);
      expect(tok.encode(text, false), text).toEqual(ids.slice(1));
      expect(tok.decode(ids, true), text).toBe(text);
      expect(tok.decode(ids.slice(1)), text).toBe(text);
    }
    expect(tok.decode([1, 15043])).toBe('<s> Hello');
    expect(tok.bos).toBe(1);
    expect(tok.eos).toEqual([2]);
    expect(tok.vocabSize).toBe(32000);
  });

  it('add_bos_token / add_eos_token from tokenizer_config.json decide the special tokens', async () => {
    const text = 'Hello world';
    const body = [15043, 3186];
    const cases: [Record<string, unknown>, number[]][] = [
      [{ add_bos_token: true, add_eos_token: false }, [1, ...body]],
      [{ add_bos_token: false, add_eos_token: false }, body],
      [{ add_bos_token: true, add_eos_token: true }, [1, ...body, 2]],
      [{ add_bos_token: false, add_eos_token: true }, [...body, 2]],
      [{ add_bos_token: undefined, add_eos_token: undefined }, [1, ...body]], // LlamaTokenizer's defaults
    ];
    for (const [flags, want] of cases) {
      const tok = await withConfig('flags', { ...CFG, ...flags });
      expect(tok.encode(text), JSON.stringify(flags)).toEqual(want);
      expect(tok.encode(text, false)).toEqual(body);
      expect(tok.decode(want, true)).toBe(text);
    }
    // No tokenizer_config.json at all: the model file's own <s>, </s>, <unk>; BOS added.
    const bare = await withConfig('bare', null);
    expect(bare.encode(text)).toEqual([1, ...body]);
    expect(bare.bos).toBe(1);
    expect(bare.eos).toEqual([2]);
    // A special token the model lacks is added after its vocabulary, as transformers adds it.
    const extra = await withConfig('newbos', { ...CFG, bos_token: '<bos>' });
    expect(extra.encode(text)).toEqual([32000, ...body]);
    expect(extra.vocabSize).toBe(32001);
    // add_bos_token without any BOS is reported against tokenizer_config.json.
    const e = await rejects(withConfig('nobos', { ...CFG, bos_token: null }));
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e.message).toMatch(/^nobos\/tokenizer_config\.json: add_bos_token is true but no bos_token is named; set add_bos_token to false/);
  });

  it('legacy: text after a special token gets the "▁" prefix only when legacy is true', async () => {
    const ids = new Map(parseSentencePieceModel(MODEL, 'm').pieces.map((p, i) => [p.piece, i]));
    const the = ids.get('the')!;
    const spaceThe = ids.get('▁the')!;
    expect(spaceThe).toBe(278); // as in encodings.json ("for the following")
    expect(the).toBeGreaterThan(2);
    const legacy = await withConfig('legacy', { ...CFG, legacy: true });
    const modern = await withConfig('modern', { ...CFG, legacy: false });
    expect(legacy.encode('the</s>the', false)).toEqual([spaceThe, 2, spaceThe]);
    expect(modern.encode('the</s>the', false)).toEqual([spaceThe, 2, the]);
    // Text without special tokens is the same either way.
    for (const { text, ids: want } of ENCODINGS.slice(0, 2)) expect(modern.encode(text)).toEqual(want);
  });

  it('a corrupt tokenizer.model is one line naming the file and what to do', async () => {
    const bad = [
      new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      MODEL.slice(0, 1000), // truncated
      new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 499723\n'),
      new TextEncoder().encode('<html>404</html>'),
    ];
    for (const bytes of bad) {
      const e = await rejects(withConfig('broken', CFG, bytes));
      expect(e).toBeInstanceOf(TokenizerError);
      expect(e.message).toMatch(/^broken\/tokenizer\.model: not a valid SentencePiece model \(.+\); download tokenizer\.model again/);
      expect(e.message).not.toContain('\n');
    }
  });
});

// ---- a hand-built Unigram model -----------------------------------------------------------------
// Written with protobufjs' Writer and the field numbers of sentencepiece_model.proto, independently
// of the reader's own schema.

type P = [string, number, number]; // piece, score, type (1 normal, 2 unknown, 3 control, 6 byte)
function unigramModel(pieces: P[], trainer: { modelType?: number; byteFallback?: boolean } = {}): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [piece, score, type] of pieces) {
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(piece).uint32((2 << 3) | 5).float(score).uint32((3 << 3) | 0).int32(type);
    w.ldelim();
  }
  w.uint32((2 << 3) | 2).fork();
  w.uint32((3 << 3) | 0).int32(trainer.modelType ?? 1); // model_type
  if (trainer.byteFallback) w.uint32((35 << 3) | 0).bool(true); // byte_fallback
  w.uint32((40 << 3) | 0).int32(0).uint32((41 << 3) | 0).int32(1).uint32((42 << 3) | 0).int32(2); // unk/bos/eos ids
  w.ldelim();
  return w.finish(); // no normalizer_spec: add_dummy_prefix and remove_extra_whitespaces default to true
}

const UNIGRAM: P[] = [
  ['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3],
  ['▁', -1, 1], // 3
  ['a', -2, 1], // 4
  ['b', -2, 1], // 5
  ['c', -2, 1], // 6
  ['ab', -3, 1], // 7
  ['bc', -1.5, 1], // 8
  ['abc', -5, 1], // 9
  ['▁a', -1.5, 1], // 10
  ['<0xC3>', 0, 6], // 11
  ['<0xA9>', 0, 6], // 12
];

describe('SentencePiece Unigram (hand-built ModelProto)', () => {
  it('encodes to the best Viterbi segmentation, with SentencePiece whitespace handling', async () => {
    const tok = await withConfig('uni', { add_bos_token: true }, unigramModel(UNIGRAM));
    // "▁abc": ▁a+bc = -3.0 beats ▁+a+bc = -4.5, ▁a+b+c = -5.5, ▁+ab+c = -6, ▁+abc = -6.
    expect(tok.encode('abc')).toEqual([1, 10, 8]);
    // "▁bab": ▁+b+ab = -6 beats ▁+b+a+b = -7.
    expect(tok.encode('bab', false)).toEqual([3, 5, 7]);
    // remove_extra_whitespaces: "  ab  c " -> "▁ab▁c": ▁a+b+▁+c = -6.5 beats ▁+ab+▁+c = -7.
    expect(tok.encode('  ab  c ', false)).toEqual([10, 5, 3, 6]);
    expect(tok.decode([1, 10, 8], true)).toBe('abc');
    expect(tok.decode([10, 5, 3, 6])).toBe('ab c');
    // Without byte fallback an unknown character is <unk>, consecutive ones fused into one.
    expect(tok.encode('aéé', false)).toEqual([10, 0]);
    expect(tok.vocabSize).toBe(UNIGRAM.length);
  });

  it('byte fallback turns unknown characters into their UTF-8 byte pieces', async () => {
    const tok = await withConfig('uni-bytes', { add_bos_token: false }, unigramModel(UNIGRAM, { byteFallback: true }));
    expect(tok.encode('aé')).toEqual([10, 11, 12]);
    expect(tok.encode('éé')).toEqual([3, 11, 12, 11, 12]);
    expect(tok.decode([10, 11, 12])).toBe('aé');
  });

  it('WORD and CHAR models are refused with one line naming the file', async () => {
    const e = await rejects(withConfig('word', {}, unigramModel(UNIGRAM, { modelType: 3 })));
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e.message).toMatch(/^word\/tokenizer\.model: SentencePiece model type WORD is not supported/);
  });
});
