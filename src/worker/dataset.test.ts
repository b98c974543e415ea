// The studio's dataset seam over the pipeline: inspection without a tokenizer, the panel's options
// mapped to the pipeline, messages worded for the studio, the run's split and packing.
import { describe, expect, it } from 'vitest';
import type { TextTokenizer } from '../model/tokenizer';
import { DEFAULT_DATASET_OPTIONS as O } from './protocol';
import { inspectFile, loadFile, trainEval, trainWithEvalFile } from './dataset';
import { studioMessage } from '../plan/knobs';

/** One token per character (+3) after BOS; no chat template. */
const tok: TextTokenizer = {
  encode: (t: string, addSpecial = true) => [...(addSpecial ? [1] : []), ...Array.from(t, (c) => (c.charCodeAt(0) % 250) + 3)],
  decode: (ids: number[]) => ids.filter((i) => i > 2).map((i) => String.fromCharCode(i - 3)).join(''),
  bos: 1, eos: [2], stop: [2], isSpecial: (id: number) => id <= 2, vocabSize: 256, chatTemplate: null,
};
const blob = (s: string) => new Blob([s]);

describe('dataset seam', () => {
  it('inspects columns and shape without a tokenizer', async () => {
    expect(await inspectFile(blob('{"instruction":"a","output":"b"}\n'), 'a.jsonl')).toEqual({ fileFormat: 'jsonl', columns: ['instruction', 'output'], shape: 'alpaca', reason: undefined });
    const unknown = await inspectFile(blob('product,description\nlamp,Warm.\n'), 'p.csv');
    expect(unknown).toMatchObject({ fileFormat: 'csv', columns: ['product', 'description'], shape: null });
    expect(unknown.reason).toMatch(/set “Record shape”: template, write “Prompt template”: \.\.\. \{column\} \.\.\. and choose “Response column”/);
    expect(unknown.reason).not.toMatch(/--/);
    expect(unknown.reason).not.toMatch(/--/);
  });

  it('a template with a response column prepares the examples; the prompt is masked', async () => {
    const d = await loadFile(blob('product,description\nlamp,Warm.\nmug,Tea.\n'), 'p.csv', tok, { ...O, template: 'Describe {product}: ', responseColumn: 'description', chatTemplate: 'none' }, 64);
    expect(d.stats).toMatchObject({ format: 'template', examples: 2, rows: 2 });
    expect(d.preview[0].segments).toEqual([{ text: 'Describe lamp: ', trained: false }, { text: 'Warm.', trained: true }]);
    const all = await loadFile(blob('product,description\nlamp,Warm.\n'), 'p.csv', tok, { ...O, template: 'Describe {product}: ', responseColumn: 'description', chatTemplate: 'none', trainOnPrompt: true }, 64);
    expect(all.preview[0].segments.filter((s) => s.trained).map((s) => s.text).join('')).toBe('Describe lamp: Warm.');
  });

  it('bad rows stop with file:line, or are skipped and listed', async () => {
    const bad = '{"text": "fine one"}\n{"text": "oops"\n{"text": "fine two"}\n';
    await expect(loadFile(blob(bad), 'bad.jsonl', tok, O, 64)).rejects.toThrow(/^bad\.jsonl:2: not valid JSON/);
    const d = await loadFile(blob(bad), 'bad.jsonl', tok, { ...O, onBadRows: 'skip' }, 64);
    expect(d.stats.examples).toBe(2);
    expect(d.stats.skipped.map((s) => s.line)).toEqual([2]);
  });

  it('names the panel\'s fields in a data error, with the option as data', async () => {
    const bad = '{"text": "fine one"}\n{"text": "oops"\n';
    const err = await loadFile(blob(bad), 'bad.jsonl', tok, O, 64).catch((e: unknown) => e);
    expect((err as { option?: string }).option).toBe('onBadRows');
    expect(studioMessage(err)).toMatch(/^bad\.jsonl:2: not valid JSON .*To skip such rows instead \(they are counted and listed\), set “Bad rows”: skip\.$/);
  });

  it('splits with the run seed and packs when asked', async () => {
    const texts = Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `example ${i}` })).join('\n');
    const d = await loadFile(blob(texts), 't.jsonl', tok, O, 64);
    const a = trainEval(d.examples, 0.2, 5, false, 64);
    expect([a.train.length, a.eval.length]).toEqual([8, 2]);
    expect(trainEval(d.examples, 0.2, 5, false, 64)).toEqual(a);
    const packed = trainEval(d.examples, 0.2, 5, true, 64);
    expect(packed.train.length).toBeLessThan(8);
    expect(packed.train.reduce((n, e) => n + e.ids.length, 0)).toBe(a.train.reduce((n, e) => n + e.ids.length, 0));
  });

  it('with an evaluation file trains on every example and evaluates on the file (packed when asked)', async () => {
    const texts = Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `example ${i}` })).join('\n');
    const evalTexts = Array.from({ length: 3 }, (_, i) => JSON.stringify({ text: `held out ${i}` })).join('\n');
    const d = await loadFile(blob(texts), 't.jsonl', tok, O, 64);
    const ev = await loadFile(blob(evalTexts), 'e.jsonl', tok, O, 64);
    const s = trainWithEvalFile(d.examples, ev.examples, false, 64);
    expect(s.train.map((e) => e.ids)).toEqual(d.examples.map((e) => e.ids));
    expect(s.eval.map((e) => e.ids)).toEqual(ev.examples.map((e) => e.ids));
    const packed = trainWithEvalFile(d.examples, ev.examples, true, 64);
    expect(packed.train.length).toBeLessThan(10);
    expect(packed.eval.reduce((n, e) => n + e.ids.length, 0)).toBe(ev.examples.reduce((n, e) => n + e.ids.length, 0));    // The worker's stores give the same rows.
    const fromStore = trainWithEvalFile(d.store, ev.store, true, 64);
    const idsOf = (l: { length: number; at(i: number): { ids: ArrayLike<number> } | undefined }) => Array.from({ length: l.length }, (_, i) => Array.from(l.at(i)!.ids));
    expect(idsOf(fromStore.train)).toEqual(idsOf(packed.train));
    expect(idsOf(fromStore.eval)).toEqual(idsOf(packed.eval));
    expect(idsOf(trainWithEvalFile(d.store, ev.store, false, 64).eval)).toEqual(ev.examples.map((e) => e.ids));
  });
});
