// Supervised fine-tuning that ends where it should (../shared/cases/sft-stop): one BOS, one EOS,
// the whole text tokenized once with labels from the prompt/response boundary, chat turns closed
// with a token generation stops on, and generation that stops on every stop id.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import type { LoraState } from '../lora/state';
import { generateTokens, Generator } from '../net/generate';
import { loadModel, readSpec } from '../model/load';
import { memorySource, type ModelSource } from '../model/source';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { Transformer } from '../net/transformer';
import { testContext } from '../test/gpu';
import { runTraining, type RunConfig } from '../train/run';
import { evaluate } from '../train/trainer';
import { batches } from './batch';
import { loadDataset, type LoadedDataset } from './dataset';
import { encodePrompt, makeFormatter, stopIdsFor, type PromptFormat } from './format';
import { bytesInput } from './input';
import { packExamples } from './pack';
import { toSample, type RecordShape } from './shapes';

const MODELS = fileURLToPath(new URL('../../../shared/models/', import.meta.url));
const CASES = fileURLToPath(new URL('../../../shared/cases/sft-stop/', import.meta.url));
const STORIES = MODELS + 'stories260K/';
const ADD_EOS = MODELS + 'stories260K-add-eos/';

async function tokenizerOf(src: ModelSource): Promise<TextTokenizer> {
  const spec = await readSpec(src);
  return loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
}

/** The stories260K folder in memory with some files replaced (JSON values are serialized). */
function storiesWith(changes: Record<string, unknown>): ModelSource {
  const files = new Map<string, Uint8Array | string>();
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) files.set(f, readFileSync(STORIES + f, 'utf8'));
  for (const [f, v] of Object.entries(changes)) files.set(f, typeof v === 'string' ? v : JSON.stringify(v));
  return memorySource('stories260K-variant', files);
}
const storiesJson = (f: string) => JSON.parse(readFileSync(STORIES + f, 'utf8')) as Record<string, unknown>;

const labelsOf = (ex: { ids: number[]; trainMask: boolean[] }) => ex.ids.map((id, t) => (t > 0 && ex.trainMask[t] ? id : -100));

describe('one example, one text (../shared/cases/sft-stop/prompt-completion)', () => {
  it('a tokenizer that appends EOS: exactly the expected ids and labels, one BOS, one EOS, the ids of the whole text', async () => {
    const tok = await tokenizerOf(dirSource(ADD_EOS));
    expect(tok.encode('Tom had a', true)).toEqual([1, 274, 287, 381, 261, 2]); // the tokenizer itself appends EOS
    const ds = await loadDataset(bytesInput('prompt-completion.jsonl', readFileSync(CASES + 'prompt-completion.jsonl')), tok, { seqLen: 512, chatTemplate: 'none' });
    const want = readFileSync(CASES + 'prompt-completion.expected.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[] });
    const rows = readFileSync(CASES + 'prompt-completion.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; completion: string });
    expect(ds.examples).toHaveLength(2);
    ds.examples.forEach((ex, i) => {
      expect(ex.ids).toEqual(want[i].input_ids);
      expect(labelsOf(ex)).toEqual(want[i].labels);
      expect(ex.ids).toEqual(tok.encode(rows[i].prompt + rows[i].completion, true));
      expect(ex.ids.filter((x) => x === 1)).toEqual([1]);
      expect(ex.ids.filter((x) => x === 2)).toEqual([2]);
    });
    expect(ds.stats.trained_tokens).toBe(41);
  });

  it('its eval loss with the stories260K weights is the PyTorch reference 2.735657 over 41 tokens', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(ADD_EOS));
    const ds = await loadDataset(bytesInput('prompt-completion.jsonl', readFileSync(CASES + 'prompt-completion.jsonl')), m.tokenizer, { seqLen: 64, chatTemplate: 'none' });
    const model = new Transformer(ctx, m.spec, m.weights, null, { B: 2, T: 64, training: false });
    const r = await evaluate(ctx, model, batches(ds.examples, 2, 64, 0));
    expect(r.tokens).toBe(41);
    expect(Math.abs(r.loss - 2.735657)).toBeLessThan(2e-5);
  });

  describe('every record shape: the ids are the tokenizer encoding of the whole formatted text', () => {
    const rec: Record<string, unknown> = {
      alpaca: { instruction: 'Name a toy.', input: 'For a cat', output: 'A red ball.' },
      'prompt-completion': { prompt: 'Tom had a', completion: ' red ball.' },
      messages: { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Bye' }, { role: 'assistant', content: 'See you.' }] },
      sharegpt: { conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello!' }] },
      text: { text: 'Once upon a time there was a cat.' },
      template: { product: 'Kettle', description: 'Boils water.' },
    };
    for (const folder of [STORIES, ADD_EOS]) {
      for (const shape of Object.keys(rec) as RecordShape[]) {
        it(`${shape} (${folder.includes('add-eos') ? 'tokenizer appends EOS' : 'tokenizer adds BOS'}), with and without packing`, async () => {
          const tok = await tokenizerOf(dirSource(folder));
          const opts = { seqLen: 256, format: shape, ...(shape === 'template' ? { template: 'Describe {product}: ', responseColumn: 'description' } : {}) };
          const ds = await loadDataset(bytesInput('d.jsonl', JSON.stringify(rec[shape]) + '\n'), tok, opts);
          const ex = ds.examples[0];
          const f = makeFormatter(shape, tok, 'auto');
          // The whole text, encoded by the tokenizer with its own specials, is the example.
          const sample = f.format(toSample(rec[shape], shape, opts), false);
          const joined = sample.segments.map((s) => s.text).join('');
          const closed = sample.eos && tok.encode(joined, true).at(-1) !== 2 ? joined + '</s>' : joined;
          // (a text that ends in EOS is not given a second one by a tokenizer that appends EOS)
          const whole = tok.encode(closed, true);
          expect(ex.ids).toEqual(whole.at(-1) === 2 && whole.at(-2) === 2 ? whole.slice(0, -1) : whole);
          expect(ex.ids.filter((x) => x === 1)).toEqual([1]); // one BOS
          if (shape !== 'text' || folder === ADD_EOS) expect(ex.ids.at(-1)).toBe(2); // ends in EOS
          expect(ex.ids.slice(0, -1).filter((x) => x === 2).length).toBe(shape === 'messages' ? 1 : 0); // EOS inside: only closing the first of two chat turns
          // Packing keeps every example's ids as they are.
          const packed = packExamples([ex, ex], 2 * ex.ids.length);
          expect(packed).toHaveLength(1);
          expect(packed[0].ids).toEqual([...ex.ids, ...ex.ids]);
        });
      }
    }
  });
});

describe('one BOS with chat templates that write {{ bos_token }}', () => {
  const llama2 =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}";
  const conv = { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] };
  it('a tokenizer that adds BOS and one that does not (add_bos_token: false) each give exactly one BOS', async () => {
    const noBos = storiesJson('tokenizer.json');
    noBos.post_processor = { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }], pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: {} };
    const withBos = await tokenizerOf(dirSource(STORIES));
    const without = await tokenizerOf(storiesWith({ 'tokenizer.json': noBos, 'tokenizer_config.json': { ...storiesJson('tokenizer_config.json'), add_bos_token: false } }));
    expect(without.encode('Hi', true)[0]).not.toBe(1);
    expect(withBos.encode('Hi', true)[0]).toBe(1);
    for (const tok of [withBos, without]) {
      const ds = await loadDataset(bytesInput('c.jsonl', JSON.stringify(conv) + '\n'), tok, { seqLen: 64, chatTemplate: llama2 });
      const ex = ds.examples[0];
      expect(ex.ids[0]).toBe(1);
      expect(ex.ids.filter((x) => x === 1)).toHaveLength(1);
      expect(ex.ids.filter((x) => x === 2)).toEqual([2]); // the template's EOS closes the turn: none added
      expect(ex.ids.at(-1)).toBe(2);
      // The playground's prompt: one BOS, no EOS.
      const p = encodePrompt(tok, 'Hi', { shape: 'messages', chatTemplate: llama2 });
      expect(p.ids.filter((x) => x === 1)).toEqual([1]);
      expect(p.ids.at(-1)).not.toBe(2);
    }
  });

  it('a prompt sent to the model never ends in EOS, even when the tokenizer appends one', async () => {
    const tok = await tokenizerOf(dirSource(ADD_EOS));
    for (const format of [undefined, { shape: 'alpaca', chatTemplate: 'auto' }, { shape: 'messages', chatTemplate: 'chatml' }] as (PromptFormat | undefined)[]) {
      const { ids } = encodePrompt(tok, 'Tom had a', format);
      expect(ids[0]).toBe(1);
      expect(ids.includes(2)).toBe(false);
    }
    expect(encodePrompt(tok, '').ids).toEqual([1]);
  });
});

describe('stop tokens', () => {
  it('the union of config.json, generation_config.json and a template end-of-turn that is one special token', async () => {
    const tj = storiesJson('tokenizer.json');
    const vocab = (tj.model as { vocab: Record<string, number> }).vocab;
    const imEnd = Math.max(...Object.values(vocab), ...(tj.added_tokens as { id: number }[]).map((t) => t.id)) + 1;
    tj.added_tokens = [...(tj.added_tokens as object[]), { id: imEnd, content: '<|im_end|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }];
    const chatml = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const tok = await tokenizerOf(storiesWith({
      'tokenizer.json': tj, 'tokenizer_config.json': { ...storiesJson('tokenizer_config.json'), chat_template: chatml }, 'generation_config.json': { eos_token_id: [2, 7] },
    }));
    expect(tok.eos).toEqual([2]);
    expect(tok.stop).toEqual([2, 7]);
    expect(stopIdsFor(tok)).toEqual([2, 7, imEnd]); // the model's template ends turns with <|im_end|>, a special token
    expect(stopIdsFor(tok, { shape: 'alpaca', chatTemplate: 'alpaca' })).toEqual([2, 7]);
    // Such a turn is trained up to its end-of-turn token; no EOS is added after it.
    const ds = await loadDataset(bytesInput('c.jsonl', JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Yo.' }] }) + '\n'), tok, { seqLen: 64 });
    const ex = ds.examples[0];
    expect(ex.ids.includes(2)).toBe(false);
    const trained = ex.ids.filter((_, t) => t > 0 && ex.trainMask[t]);
    expect(trained).toContain(imEnd);
    expect(tok.decode(trained).startsWith('Yo.<|im_end|>')).toBe(true);
  });

  it('generation stops on a generation_config.json stop id that config.json does not list', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(STORIES));
    const gen = new Generator(ctx, m.spec, m.weights, null, { T: 64 });
    const free: number[] = [];
    for await (const id of generateTokens(ctx, gen, [1], { maxNewTokens: 16, stop: stopIdsFor(m.tokenizer) })) free.push(id);
    expect(free).toHaveLength(16);
    const k = free.findIndex((id, i) => i >= 4 && !free.slice(0, i).includes(id));
    expect(k).toBeGreaterThan(3);
    const tok = await tokenizerOf(storiesWith({ 'generation_config.json': { bos_token_id: 1, eos_token_id: [2, free[k]] } }));
    expect(tok.eos).toEqual([2]);
    const got: number[] = [];
    for await (const id of generateTokens(ctx, gen, [1], { maxNewTokens: 16, stop: stopIdsFor(tok) })) got.push(id);
    expect(got).toEqual(free.slice(0, k));
  });
});

describe('../shared/cases/sft-stop/chat-no-template: a chat fine-tune ends its answer', () => {
  it('ChatML on a model without <|im_end|>: turns are closed with EOS, and after training generation stops there', async () => {
    const ctx = await testContext();
    const m = await loadModel(ctx, dirSource(STORIES));
    const tok = m.tokenizer;
    const ds: LoadedDataset = await loadDataset(bytesInput('chat-no-template.jsonl', readFileSync(CASES + 'chat-no-template.jsonl')), tok, { seqLen: 64 });
    expect(ds.stats.prompt_format).toBe('chat template (chatml; the model has none)');
    for (const ex of ds.examples) {
      expect(ex.ids.at(-1)).toBe(2);
      expect(ex.trainMask.at(-1)).toBe(true);
      expect(ex.ids.filter((x) => x === 1)).toEqual([1]);
    }
    const format: PromptFormat = { shape: 'messages', chatTemplate: 'auto' };
    const { ids } = encodePrompt(tok, 'Name a toy.', format);
    const maxNewTokens = 20;
    const answer = async (lora: LoraState | null) => {
      const gen = new Generator(ctx, m.spec, m.weights, lora, { T: 64 });
      const out: number[] = [];
      for await (const id of generateTokens(ctx, gen, ids, { maxNewTokens, stop: stopIdsFor(tok, format) })) out.push(id);
      return out;
    };
    expect(await answer(null)).toHaveLength(maxNewTokens); // the base model runs to the limit
    // stories260K never saw EOS or '<', '|', '>' in pretraining: their output rows are alike, so the
    // head needs an adapter too to tell them apart (LoRA on all linear layers alone plateaus).
    const cfg: RunConfig = {
      baseModel: 'stories260K', r: 8, loraAlpha: 16, loraDropout: 0, useRslora: false, targetModules: 'all-linear,lm_head', loraplusLrRatio: 1,
      lr: 1e-2, schedule: 'constant', warmup: 0, epochs: 1, steps: 24, batchSize: 4, gradAccum: 1, seqLen: 64, seed: 1, saveEvery: 0,
      maxGradNorm: 1, weightDecay: 0,
    };
    const res = await runTraining(ctx, m, ds.examples, [], cfg);
    const out = await answer(res.lora);
    expect(out.length).toBeLessThan(maxNewTokens); // it stopped by itself, on the EOS it was trained to write
    expect(tok.decode(out, true)).toMatch(/^Ball\.<\|im_end/);
  });
});

describe('warnings when little will be trained', () => {
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  it('few trained tokens (long masked prompts): the fix is to train on the prompt, and it clears the warning', async () => {
    const tok = await tokenizerOf(dirSource(STORIES));
    const rows = Array.from({ length: 5 }, (_, i) => ({ instruction: `Tell me whether the cat number ${i} likes the big red ball in the garden.`, output: 'Yes.' }));
    const ds = await loadDataset(bytesInput('a.jsonl', jsonl(rows)), tok, { seqLen: 256 });
    expect(ds.stats.trained_tokens / ds.stats.tokens).toBeLessThan(0.1);
    expect(ds.stats.warnings).toEqual([
      { kind: 'few_trained', message: expect.stringMatching(/^only \d+% of the tokens are trained: the prompts are masked/), fix: { option: 'trainOnPrompt', value: true } },
    ]);
    const all = await loadDataset(bytesInput('a.jsonl', jsonl(rows)), tok, { seqLen: 256, trainOnPrompt: true });
    expect(all.stats.warnings).toEqual([]);
  });

  it('rows cut by the sequence length: the advice is a sequence length that holds 95% of them, never above the model maximum', async () => {
    const tok = await tokenizerOf(dirSource(STORIES));
    const rows = [
      ...Array.from({ length: 8 }, (_, i) => ({ prompt: `Dog ${i}:`, completion: ' Yes.' })),
      ...Array.from({ length: 3 }, (_, i) => ({ prompt: `Once upon a time there was a little dog number ${i} who liked to run in the park with his friends every day.`, completion: ' The end.' })),
    ];
    const ds = await loadDataset(bytesInput('p.jsonl', jsonl(rows)), tok, { seqLen: 16, chatTemplate: 'none', onBadRows: 'skip', maxSeqLen: 512 });
    expect(ds.stats.too_long).toBe(3);
    const cut = ds.stats.warnings.find((w) => w.kind === 'cut_by_seq_len')!;
    expect(cut.message).toMatch(/^27% of the examples do not fit the sequence length of 16 tokens \(0 truncated, 3 skipped/);
    expect(cut.fix).toEqual({ option: 'seqLen', value: 64 });
    const longest = Math.max(...rows.map((r) => tok.encode(r.prompt + r.completion, true).length + 1));
    expect(longest).toBeLessThanOrEqual(64);
    // The advice respects the model: with a maximum of 32 positions it says so and offers 32.
    const capped = await loadDataset(bytesInput('p.jsonl', jsonl(rows)), tok, { seqLen: 16, chatTemplate: 'none', onBadRows: 'skip', maxSeqLen: 32 });
    expect(capped.stats.warnings.find((w) => w.kind === 'cut_by_seq_len')!.fix).toEqual({ option: 'seqLen', value: 32 });
    const atMax = await loadDataset(bytesInput('p.jsonl', jsonl(rows)), tok, { seqLen: 16, chatTemplate: 'none', onBadRows: 'skip', maxSeqLen: 16 });
    const w = atMax.stats.warnings.find((x) => x.kind === 'cut_by_seq_len')!;
    expect(w.fix).toBeNull();
    expect(w.message).toMatch(/the model takes no more: shorten the prompts\.$/);
    // Nothing to say about data that fits.
    const fits = await loadDataset(bytesInput('p.jsonl', jsonl(rows)), tok, { seqLen: 64, chatTemplate: 'none', trainOnPrompt: true });
    expect(fits.stats.warnings).toEqual([]);
  });
});
