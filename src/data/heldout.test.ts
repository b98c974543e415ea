// Held-out evaluation prompts with the real stories260K tokenizer: the rows are the run's eval split
// (splitIndices with the run's seed, packed or not), each prompt is the generation prompt of its
// record wrapped as the training data was (the same ids encodePrompt gives), and the reference is
// the record's response; chat data stops at the end of the first assistant turn.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { readSpec } from '../model/load';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { prepareData } from './dataset';
import { encodePrompt } from './format';
import { heldOutPrompts } from './heldout';
import { bytesInput, DatasetError } from './input';
import { splitIndices } from './sampling';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
let tok: TextTokenizer;
beforeAll(async () => {
  const src = dirSource(DIR);
  const spec = await readSpec(src);
  tok = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
});

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const NAMES = ['Tom', 'Lily', 'Ben', 'Sue', 'Max', 'Mia', 'Sam', 'Anna', 'Tim', 'Lucy', 'Jack', 'Kate'];
const ALPACA = NAMES.map((n, i) => ({ instruction: `Tell a story about ${n}.`, output: `${n} found ${i + 1} red balls in the park. ${n} was happy.` }));
const ALPACA_FORMAT = { shape: 'alpaca' as const, chatTemplate: 'auto' };

describe('held-out prompts', () => {
  it('are the eval split\'s records, their prompts as generation wraps them and their responses as references', async () => {
    for (const packing of [false, true]) {
      const d = await prepareData(bytesInput('stories.jsonl', jsonl(ALPACA)), tok, { seqLen: 256, evalSplit: 0.25, seed: 7, packing });
      const split = splitIndices(ALPACA.length, 0.25, 7);
      expect(split.eval.length).toBe(3);
      const got = heldOutPrompts(d.heldOut, 3, tok, ALPACA_FORMAT);
      // The eval split's rows, in split order (lines are 1-based).
      expect(got.map((h) => h.line - 1)).toEqual(Array.from(split.eval));
      for (const h of got) {
        const row = ALPACA[h.line - 1];
        expect(h.ids).toEqual(encodePrompt(tok, row.instruction, ALPACA_FORMAT).ids);
        expect(h.text).toBe(encodePrompt(tok, row.instruction, ALPACA_FORMAT).text);
        expect(h.reference).toBe(row.output);
      }
      // Fewer asked: the first of the same list; more asked than held out: all of them.
      expect(heldOutPrompts(d.heldOut, 1, tok, ALPACA_FORMAT)).toEqual(got.slice(0, 1));
      expect(heldOutPrompts(d.heldOut, 10, tok, ALPACA_FORMAT)).toEqual(got);
      expect(heldOutPrompts(d.heldOut, 0, tok, ALPACA_FORMAT)).toEqual([]);
    }
  });

  it('take a conversation\'s first assistant turn as the reference, without the end-of-turn text', async () => {
    const rows = NAMES.slice(0, 4).map((n) => ({
      messages: [
        { role: 'user', content: `Who is ${n}?` }, { role: 'assistant', content: `${n} is a kind girl.` },
        { role: 'user', content: 'And then?' }, { role: 'assistant', content: 'She went home.' },
      ],
    }));
    const d = await prepareData(bytesInput('chat.jsonl', jsonl(rows)), tok, { seqLen: 256, evalSplit: 0.5, seed: 3 });
    const format = { shape: 'messages' as const, chatTemplate: 'auto' };
    const got = heldOutPrompts(d.heldOut, 2, tok, format);
    expect(got.map((h) => h.line - 1)).toEqual(Array.from(splitIndices(4, 0.5, 3).eval));
    for (const h of got) {
      const n = NAMES[h.line - 1];
      expect(h.reference).toBe(`${n} is a kind girl.`);
      expect(h.text).toContain(`Who is ${n}?`);
      expect(h.text).not.toContain('kind girl');
    }
  });

  it('say what to do when there is nothing to draw from', async () => {
    const alpaca = await prepareData(bytesInput('stories.jsonl', jsonl(ALPACA)), tok, { seqLen: 256, evalSplit: 0, seed: 7 });
    expect(() => heldOutPrompts(alpaca.heldOut, 2, tok, ALPACA_FORMAT)).toThrow(/No rows are held out for evaluation/);
    const text = await prepareData(bytesInput('t.jsonl', jsonl(ALPACA.map((r) => ({ text: r.output })))), tok, { seqLen: 256, evalSplit: 0.25, seed: 7 });
    expect(() => heldOutPrompts(text.heldOut, 2, tok, null)).toThrow(DatasetError);
    expect(() => heldOutPrompts(text.heldOut, 2, tok, null)).toThrow(/every token of the data trains/);
    const onPrompt = await prepareData(bytesInput('stories.jsonl', jsonl(ALPACA)), tok, { seqLen: 256, evalSplit: 0.25, seed: 7, trainOnPrompt: true });
    expect(() => heldOutPrompts(onPrompt.heldOut, 2, tok, ALPACA_FORMAT)).toThrow(/training on the prompt/);
  });
});
