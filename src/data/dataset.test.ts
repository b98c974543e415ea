// The dataset pipeline with the real stories260K tokenizer: record shapes (detected and forced),
// prompt templates and chat templates, label masks token by token, truncation, sampling, splits,
// stats, and every bad-input case with its own message.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { readSpec } from '../model/load';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { makeBatch } from './batch';
import { inspectDataset, loadDataset, prepareData, renderPreview, splitExamples, type DataOptions, type LoadedDataset } from './dataset';
import { alpacaPrompt, CHATML_TEMPLATE, makeFormatter } from './format';
import type { RecordShape } from './shapes';
import { bytesInput, DatasetError } from './input';
import { writeParquet } from './testutil';
import { cliMessage } from '../cli/options';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
let tok: TextTokenizer;
beforeAll(async () => {
  const src = dirSource(DIR);
  const spec = await readSpec(src);
  tok = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
  expect(tok.bos).toBe(1);
  expect(tok.eos).toEqual([2]);
  expect(tok.chatTemplate).toBeNull();
});

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const load = (name: string, data: string | Uint8Array, opts: Partial<DataOptions> = {}, t?: TextTokenizer) =>
  loadDataset(bytesInput(name, data), t ?? tok, { seqLen: 512, ...opts });

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return cliMessage(e); // the CLI's words: flags for the options a message names
  }
  throw new Error('expected a DatasetError');
}

/** Token indexes t (≥ 1) whose label is kept, i.e. targets[t-1] = ids[t]. */
const trainedIdx = (m: boolean[]) => m.flatMap((v, i) => (i > 0 && v ? [i] : []));

/** Decoded runs of trained tokens. */
function trainedRuns(ids: number[], mask: boolean[]): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (let i = 1; i <= ids.length; i++) {
    if (i < ids.length && mask[i]) cur.push(ids[i]);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}

/** The label check done by the engine: makeBatch's targets for one example. */
function checkTargets(ds: LoadedDataset, T: number) {
  let predicted = 0;
  for (const ex of ds.examples) {
    const b = makeBatch([ex], 1, T, 0);
    for (let t = 0; t < T; t++) {
      const want = t + 1 < ex.ids.length && ex.trainMask[t + 1] ? ex.ids[t + 1] : -100;
      expect(b.targets[t]).toBe(want);
    }
    predicted += b.predicted;
  }
  expect(predicted).toBe(ds.stats.trained_tokens);
}

describe('Alpaca', () => {
  it('the Stanford Alpaca templates, with and without input', () => {
    expect(alpacaPrompt('Add', '2+2')).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nAdd\n\n### Input:\n2+2\n\n### Response:\n',
    );
    expect(alpacaPrompt('Say $& hi', '  ')).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay $& hi\n\n### Response:\n',
    );
  });

  it('detected; prompt tokens labelled -100, response + EOS trained, token by token', async () => {
    const rows = [
      { instruction: 'Say hi', input: '', output: 'Hi there!' },
      { instruction: 'Add the numbers', input: '2 and 2', output: 'They make 4.' },
    ];
    const ds = await load('a.jsonl', jsonl(rows));
    expect(ds.stats.format).toBe('alpaca');
    expect(ds.stats.prompt_format).toBe('alpaca');
    rows.forEach((r, i) => {
      const prompt = alpacaPrompt(r.instruction, r.input);
      const ex = ds.examples[i];
      const promptIds = tok.encode(prompt, true);
      expect(ex.ids).toEqual([...tok.encode(prompt + r.output, true), 2]);
      expect(ex.ids[0]).toBe(1);
      expect(ex.ids.at(-1)).toBe(2);
      expect(ex.trainMask).toEqual(ex.ids.map((_, t) => t >= promptIds.length));
      expect(tok.decode(ex.ids.slice(promptIds.length))).toBe(`${r.output}</s>`);
      expect(ex.line).toBe(i + 1);
    });
    expect(ds.stats.trained_tokens).toBe(ds.examples.reduce((a, e) => a + trainedIdx(e.trainMask).length, 0));
    checkTargets(ds, 512);
  });

  it('--train-on-prompt trains every token but the first', async () => {
    const ds = await load('a.jsonl', jsonl([{ instruction: 'Say hi', output: 'Hi' }]), { trainOnPrompt: true });
    const ex = ds.examples[0];
    expect(ex.trainMask.every((m) => m)).toBe(true);
    expect(ds.stats.trained_tokens).toBe(ex.ids.length - 1);
    checkTargets(ds, 512);
  });

  it('from CSV and Parquet alike (same examples)', async () => {
    const rows = [{ instruction: 'Name a color', input: '', output: 'Blue' }, { instruction: 'Echo', input: 'a, "b"\nc', output: 'a, "b"\nc' }];
    const csv = 'instruction,input,output\n' + rows.map((r) => [r.instruction, r.input, r.output].map((v) => `"${v.replace(/"/g, '""')}"`).join(',')).join('\n');
    const pq = writeParquet([
      { name: 'instruction', type: 'string', values: rows.map((r) => r.instruction) },
      { name: 'input', type: 'string', values: [null, rows[1].input] },
      { name: 'output', type: 'string', values: rows.map((r) => r.output) },
    ]);
    const a = await load('a.jsonl', jsonl(rows));
    const b = await load('a.csv', csv);
    const c = await load('a.parquet', pq);
    expect(b.stats.file_format).toBe('csv');
    expect(c.stats.file_format).toBe('parquet');
    for (const d of [b, c]) {
      expect(d.stats.format).toBe('alpaca');
      expect(d.examples.map((e) => e.ids)).toEqual(a.examples.map((e) => e.ids));
      expect(d.examples.map((e) => e.trainMask)).toEqual(a.examples.map((e) => e.trainMask));
    }
  });
});

describe('prompt/completion', () => {
  it('detected from a TSV; --chat-template none joins prompt and completion as they are', async () => {
    const ds = await load('p.tsv', 'prompt\tcompletion\nThe cat\ts sat.\n', { chatTemplate: 'none' });
    expect(ds.stats.format).toBe('prompt-completion');
    expect(ds.stats.prompt_format).toBe('none');
    const ex = ds.examples[0];
    expect(ex.ids).toEqual([...tok.encode('The cats sat.', true), 2]);
    const p = tok.encode('The cat', true).length;
    expect(ex.trainMask).toEqual(ex.ids.map((_, t) => t >= p));
  });

  it('a token that straddles the prompt/response boundary: the whole text is tokenized once, the straddling token is trained', async () => {
    // "He said: " + "hello": the trailing space joins "hello" when tokenized together.
    const whole = tok.encode('He said: hello', true);
    const prompt = tok.encode('He said: ', true);
    expect(prompt.every((x, i) => whole[i] === x)).toBe(false);
    const ds = await load('p.jsonl', jsonl([{ prompt: 'He said: ', completion: 'hello' }]), { chatTemplate: 'none' });
    const ex = ds.examples[0];
    expect(ex.ids).toEqual([...whole, 2]);
    expect(tok.decode(ex.ids.filter((_, t) => !ex.trainMask[t]))).toBe('<s> He said:');
    expect(trainedRuns(ex.ids, ex.trainMask)).toEqual(['hello</s>']);
    expect(ex.trainMask.lastIndexOf(false)).toBe(ex.trainMask.indexOf(true) - 1); // masked, then trained: one boundary
  });

  it('--response-column picks another column', async () => {
    const ds = await load('p.jsonl', jsonl([{ prompt: 'Q', completion: 'A', better: 'B' }]), { format: 'prompt-completion', responseColumn: 'better', chatTemplate: 'none' });
    expect(trainedRuns(ds.examples[0].ids, ds.examples[0].trainMask)).toEqual(['B</s>']);
  });
});

describe('user templates ({column} placeholders)', () => {
  const csv =
    'product,category,description,price\n' +
    'Kettle,Kitchen,"Boils water fast, quietly.",20\n' +
    '"Desk ""Pro""",Office,A sturdy desk.,150\n';
  const template = 'Create a detailed description for the following product: {product}, belonging to category: {category}';
  it('product + category → description (the issue example)', async () => {
    const ds = await load('products.csv', csv, { template, responseColumn: 'description', chatTemplate: 'none' });
    expect(ds.stats.format).toBe('template');
    const ex = ds.examples[1];
    const prompt = 'Create a detailed description for the following product: Desk "Pro", belonging to category: Office';
    expect(ex.ids).toEqual([...tok.encode(prompt + 'A sturdy desk.', true), 2]);
    expect(trainedRuns(ex.ids, ex.trainMask)).toEqual(['A sturdy desk.</s>']);
    expect(ds.examples[0].line).toBe(2);
    expect(ds.examples[1].line).toBe(3);
  });
  it('formatted with the Alpaca template by default (the model has no chat template); literal braces', async () => {
    const ds = await load('products.csv', csv, { template: '{{json}} {product} costs {price}', responseColumn: 'description' });
    expect(ds.stats.prompt_format).toBe('alpaca');
    const ex = ds.examples[0];
    const prompt = alpacaPrompt('{json} Kettle costs 20');
    expect(ex.ids).toEqual([...tok.encode(prompt + 'Boils water fast, quietly.', true), 2]);
  });
  it('a missing column names the columns that exist', async () => {
    const msg = await failure(load('products.csv', csv, { template: 'Describe {name}', responseColumn: 'description' }));
    expect(msg).toBe(
      'products.csv:2: missing column "name" (columns present: product, category, description, price). To skip such rows instead (they are counted and listed), set --on-bad-rows skip.',
    );
    const msg2 = await failure(load('products.csv', csv, { template, responseColumn: 'desc' }));
    expect(msg2).toMatch(/^products\.csv:2: missing column "desc" \(columns present: product, category, description, price\)/);
  });
  it('template mistakes are caught up front', async () => {
    expect(await failure(load('p.csv', csv, { template: 'no placeholder', responseColumn: 'description' }))).toMatch(/has no \{column\} placeholder/);
    expect(await failure(load('p.csv', csv, { template: 'bad {product', responseColumn: 'description' }))).toMatch(/unmatched brace/);
    expect(await failure(load('p.csv', csv, { template }))).toMatch(/needs the column that holds the response: --response-column/);
    expect(await failure(load('p.csv', csv, { format: 'template', responseColumn: 'description' }))).toMatch(/needs a prompt template: --template/);
  });
});

describe('chat data and chat templates', () => {
  const conv = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Bye' },
    { role: 'assistant', content: 'See you.' },
  ];
  const chatml = (m: { role: string; content: string }) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  const withTemplate = (t: string): TextTokenizer => ({ ...tok, chatTemplate: t });

  it('messages: the model chat template; only the assistant turns (and their end marker, closed with EOS) are trained, token by token', async () => {
    const t = withTemplate(CHATML_TEMPLATE);
    const ds = await load('c.jsonl', jsonl([{ messages: conv }]), {}, t);
    expect(ds.stats.format).toBe('messages');
    expect(ds.stats.prompt_format).toBe('chat template (model)');
    const ex = ds.examples[0];
    // <|im_end|> is not a token of this vocabulary, so each assistant turn is closed with EOS (trained).
    const turn = (m: { role: string; content: string }) => chatml(m) + (m.role === 'assistant' ? '</s>' : '');
    const full = conv.map(turn).join('');
    expect(ex.ids).toEqual([1, ...tok.encode(full, false)]); // one BOS (the tokenizer's), the whole text tokenized once
    expect(ex.ids).toEqual(tok.encode(full, true));
    const want = new Array(ex.ids.length).fill(false);
    let text = '';
    for (const m of conv) {
      const before = text + (m.role === 'assistant' ? '<|im_start|>assistant\n' : '');
      text += turn(m);
      if (m.role === 'assistant') want.fill(true, tok.encode(before, true).length, tok.encode(text, true).length);
    }
    expect(ex.trainMask).toEqual(want);
    expect(trainedRuns(ex.ids, ex.trainMask)).toEqual(['Hello!<|im_end|>\n</s>', 'See you.<|im_end|>\n</s>']);
    checkTargets(ds, 512);
  });

  it('the playground prompt is exactly what training showed before an answer (Alpaca, none, chat templates, text)', () => {
    const pair = { kind: 'pair' as const, prompt: 'Name a colour.', response: 'Blue.' };
    const cases: [RecordShape, TextTokenizer, string, string][] = [
      ['alpaca', tok, 'auto', alpacaPrompt('Name a colour.')], // no model template: Alpaca
      ['prompt-completion', tok, 'none', 'Name a colour.'],
      ['alpaca', withTemplate(CHATML_TEMPLATE), 'auto', '<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n'],
      ['messages', tok, 'chatml', '<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n'],
    ];
    for (const [shape, t, choice, text] of cases) {
      const f = makeFormatter(shape, t, choice);
      expect(f.promptText('Name a colour.'), `${shape} ${choice}`).toBe(text);
      if (shape !== 'messages') {
        // The untrained part of a formatted training pair is the same text.
        const seg = f.format(pair, false).segments;
        expect(seg[0]).toEqual({ text, train: false });
      }
    }
    const chat = makeFormatter('messages', withTemplate(CHATML_TEMPLATE), 'auto');
    const turn = chat.format({ kind: 'chat', messages: [{ role: 'user', content: 'Name a colour.' }, { role: 'assistant', content: 'Blue.' }] }, false).segments;
    expect(turn[0]).toEqual({ text: chat.promptText('Name a colour.'), train: false });
    expect(makeFormatter('text', tok, 'auto').promptText('Once')).toBe('Once');
  });

  it('ShareGPT (from/value) gives the same example as messages', async () => {
    const t = withTemplate(CHATML_TEMPLATE);
    const from: Record<string, string> = { system: 'system', user: 'human', assistant: 'gpt' };
    const sg = await load('s.json', JSON.stringify([{ conversations: conv.map((m) => ({ from: from[m.role], value: m.content })) }]), {}, t);
    const ms = await load('c.jsonl', jsonl([{ messages: conv }]), {}, t);
    expect(sg.stats.format).toBe('sharegpt');
    expect(sg.examples[0].ids).toEqual(ms.examples[0].ids);
    expect(sg.examples[0].trainMask).toEqual(ms.examples[0].trainMask);
  });

  it('without a model template, chat data uses the built-in ChatML; bos_token/eos_token reach the template', async () => {
    const d = await load('c.jsonl', jsonl([{ messages: conv }]));
    expect(d.stats.prompt_format).toBe('chat template (chatml; the model has none)');
    const llama2 =
      "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}";
    const ds = await load('c.jsonl', jsonl([{ messages: conv.slice(1) }]), { chatTemplate: llama2 });
    expect(ds.stats.prompt_format).toBe('chat template (custom)');
    const ex = ds.examples[0];
    expect(ex.ids[0]).toBe(1); // "<s>" from bos_token is the BOS special token
    expect(ex.ids.filter((x) => x === 1)).toHaveLength(1); // the template's BOS, not doubled by the tokenizer's
    expect(ex.ids.filter((x) => x === 2)).toHaveLength(2); // "</s>" after each answer (the template's own, no EOS added)
    expect(trainedRuns(ex.ids, ex.trainMask)).toEqual(['Hello!</s>', 'See you.</s>']); // (the decoder drops a run's leading space)
  });

  it('prompt/response data through a chat template: user turn masked, assistant turn trained', async () => {
    const t = withTemplate(CHATML_TEMPLATE);
    const ds = await load('a.jsonl', jsonl([{ instruction: 'Add', input: '1 and 2', output: '3' }]), {}, t);
    expect(ds.stats.prompt_format).toBe('chat template (model)');
    const ex = ds.examples[0];
    expect(ex.ids).toEqual(tok.encode(chatml({ role: 'user', content: 'Add\n\n1 and 2' }) + chatml({ role: 'assistant', content: '3' }) + '</s>', true));
    expect(trainedRuns(ex.ids, ex.trainMask)).toEqual(['3<|im_end|>\n</s>']);
    // --chat-template alpaca overrides the model's template.
    const al = await load('a.jsonl', jsonl([{ instruction: 'Add', input: '1 and 2', output: '3' }]), { chatTemplate: 'alpaca' }, t);
    expect(al.examples[0].ids).toEqual([...tok.encode(alpacaPrompt('Add', '1 and 2') + '3', true), 2]);
  });

  it('a template that rewrites earlier turns is a bad row (trainable with --train-on-prompt); template errors too', async () => {
    const t = withTemplate("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% if loop.last %} [END]{% endif %}\n{% endfor %}");
    const msg = await failure(load('c.jsonl', jsonl([{ messages: conv }]), {}, t));
    expect(msg).toMatch(/^c\.jsonl:1: the chat template does not render this conversation turn by turn \(at message 3\)/);
    const ok = await load('c.jsonl', jsonl([{ messages: conv }]), { trainOnPrompt: true }, t);
    expect(ok.examples[0].trainMask.every((m) => m)).toBe(true);
    const raising = withTemplate("{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversations must start with a user turn') }}{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}");
    expect(await failure(load('c.jsonl', jsonl([{ messages: conv }]), {}, raising))).toMatch(/c\.jsonl:1: the chat template fails on this conversation: .*must start with a user turn/);
  });

  it('chat rows without an assistant turn, with bad messages, or formatted with alpaca', async () => {
    const ds = await load(
      'c.jsonl',
      jsonl([
        { messages: [{ role: 'user', content: 'Hi' }] },
        { messages: [{ from: 'human', value: 'Hi' }] },
        { messages: 'Hi' },
        { messages: conv },
      ]),
      { onBadRows: 'skip' },
    );
    expect(ds.examples).toHaveLength(1);
    expect(ds.stats.skipped).toEqual([
      { line: 1, reason: 'the conversation has no "assistant" turn with text, so there is nothing to learn' },
      { line: 2, reason: 'message 1 of "messages" has no "role" (fields present: from, value) (from/value messages are ShareGPT: set the record shape “sharegpt”)' },
      { line: 3, reason: 'column "messages" is string, not a list of messages' },
    ]);
    expect(await failure(load('c.jsonl', jsonl([{ messages: conv }]), { chatTemplate: 'alpaca' }))).toMatch(/--chat-template alpaca cannot format chat \(messages\) data/);
    expect(await failure(load('c.jsonl', jsonl([{ messages: conv }]), { chatTemplate: 'model' }))).toMatch(/the model has no chat template/);
    expect(await failure(load('c.jsonl', jsonl([{ messages: conv }]), { chatTemplate: 'chatmlx' }))).toMatch(/--chat-template must be auto, model, alpaca, none, chatml or a Jinja template/);
    const unk = await failure(load('s.jsonl', jsonl([{ conversations: [{ from: 'narrator', value: 'x' }] }])));
    expect(unk).toMatch(/s\.jsonl:1: message 1 has unknown sender "narrator"/);
  });
});

describe('plain text and forced formats', () => {
  it('text: BOS + tokens, all trained, no EOS (the engine\'s first format, unchanged)', async () => {
    const ds = await load('t.txt', 'Once upon a time.\n\nThe end.\n');
    expect(ds.stats.format).toBe('text');
    expect(ds.examples.map((e) => e.ids)).toEqual([tok.encode('Once upon a time.', true), tok.encode('The end.', true)]);
    expect(ds.examples.map((e) => e.line)).toEqual([1, 3]);
    expect(ds.stats.trained_tokens).toBe(ds.examples.reduce((a, e) => a + e.ids.length - 1, 0));
  });
  it('--format forces a shape; the old text errors keep their wording', async () => {
    const rows = jsonl([{ text: 'a b' }, { prompt: 'x' }]);
    expect(await failure(load('notext.jsonl', rows))).toMatch(/^notext\.jsonl:2: no "text" string field \(fields present: prompt\)/);
    const f = await failure(load('x.jsonl', jsonl([{ instruction: 'a', output: 'b' }]), { format: 'text' }));
    expect(f).toMatch(/x\.jsonl:1: no "text" string field \(fields present: instruction, output\)/);
    const g = await failure(load('x.jsonl', jsonl([{ instruction: 'a', output: 'b' }]), { format: 'prompt-completion' }));
    expect(g).toMatch(/x\.jsonl:1: missing column "prompt" \(columns present: instruction, output\)/);
  });
  it('an unknown shape suggests the template format', async () => {
    const msg = await failure(load('x.csv', 'question,answer\nq,a\n'));
    expect(msg).toMatch(/^x\.csv:2: cannot tell the record shape from its columns \(question, answer\).*set --format template, write --template "\.\.\. \{column\} \.\.\." and choose --response-column COLUMN/);
    const ds = await load('x.csv', 'question,answer\nq,a\n', { template: 'Q: {question}\nA: ', responseColumn: 'answer', chatTemplate: 'none' });
    expect(trainedRuns(ds.examples[0].ids, ds.examples[0].trainMask)).toEqual(['a</s>']);
  });
});

describe('sequence length', () => {
  it('long examples are truncated to seq-len and counted; labels stop at the cut', async () => {
    const long = 'Tom ran to the park and played with a big red ball. '.repeat(3);
    const ds = await load('t.jsonl', jsonl([{ text: long }, { text: 'Hi.' }]), { seqLen: 16 });
    expect(ds.stats.truncated).toBe(1);
    expect(ds.examples[0].ids).toEqual(tok.encode(long, true).slice(0, 16));
    expect(ds.stats.tokens).toBe(16 + tok.encode('Hi.', true).length);
    expect(ds.stats.length.max).toBe(tok.encode(long, true).length);
    checkTargets(ds, 16);
    const h = ds.stats.length_histogram;
    expect(h.at(-1)).toEqual({ from: 17, to: null, count: 1 });
    expect(h.reduce((a, b) => a + b.count, 0)).toBe(2);
  });
  it('an example whose prompt fills seq-len is skipped with its reason; if all are, one message says so', async () => {
    const rows = [{ instruction: 'Say hi', output: 'Hi' }, { instruction: 'x', output: 'y' }];
    const promptLen = tok.encode(alpacaPrompt('Say hi'), true).length;
    const mixed = await load('a.jsonl', jsonl(rows), { seqLen: promptLen });
    expect(mixed.examples.map((e) => e.line)).toEqual([2]);
    expect(mixed.stats.too_long).toBe(1);
    expect(mixed.stats.skipped).toEqual([{ line: 1, reason: `the prompt is ${promptLen} tokens, so nothing of the response fits in seq-len ${promptLen}` }]);
    // One more token of room and the first response token is trained.
    const fits = await load('a.jsonl', jsonl(rows), { seqLen: promptLen + 1 });
    expect(fits.examples.map((e) => e.line)).toEqual([1, 2]);
    expect(trainedIdx(fits.examples[0].trainMask)).toEqual([promptLen]);
    const msg = await failure(load('a.jsonl', jsonl(rows), { seqLen: 40 }));
    expect(msg).toMatch(/^a\.jsonl: every example is longer than the sequence length 40 after its prompt \(the shortest prompt is \d+ tokens\).*raise --seq-len/);
  });
});

describe('bad rows, empty files', () => {
  const rows = '{"text": "good one"}\n{"text": \n{"text": ""}\n{"txt": "x"}\n{"text": "good two"}\n[1]\n';
  it('stop (default): the first bad row is an error with file, line and reason', async () => {
    expect(await failure(load('b.jsonl', rows))).toMatch(/^b\.jsonl:2: not valid JSON \(.*\).*--on-bad-rows skip/);
  });
  it('skip: every bad row is counted and listed with its line and reason; nothing is dropped silently', async () => {
    const ds = await load('b.jsonl', rows, { onBadRows: 'skip' });
    expect(ds.examples.map((e) => e.line)).toEqual([1, 5]);
    expect(ds.stats.rows).toBe(6);
    expect(ds.stats.skipped_count).toBe(4);
    expect(ds.stats.rows).toBe(ds.stats.examples + ds.stats.skipped_count);
    expect(ds.stats.skipped.map((s) => s.line)).toEqual([2, 3, 4, 6]);
    expect(ds.stats.skipped[1].reason).toBe('the "text" field is empty. Remove the line or give it text');
    expect(ds.stats.skipped[2].reason).toBe('no "text" string field (fields present: txt). Give each line a "text" field');
    expect(ds.stats.skipped[3].reason).toMatch(/expected a JSON object like \{"text": "..."\} \(it is an array/);
  });
  it('an empty file, a file of blank lines, and a file with no usable row each get their own message', async () => {
    expect(await failure(load('e.jsonl', ''))).toBe('e.jsonl: the file is empty (0 bytes).');
    expect(await failure(load('e.jsonl', '\n \n\n'))).toMatch(/^e\.jsonl: the file has no examples: it holds only blank lines/);
    expect(await failure(load('e.csv', 'a,b\n'))).toMatch(/^e\.csv: the file has no examples: it holds no rows/);
    expect(await failure(load('e.json', '{"data": []}'))).toMatch(/^e\.json: the file has no examples: its records array is empty/);
    const msg = await failure(load('bad.jsonl', '{"text": 1}\n{"text": ""}\n', { onBadRows: 'skip' }));
    expect(msg).toBe('bad.jsonl: no usable rows: all 2 were skipped (2 bad) (first: bad.jsonl:1: no "text" string field (fields present: text). Give each line a "text" field).');
  });
});

describe('inspectDataset (the studio\'s column picker)', () => {
  it('file format, columns of the first records, suggested shape', async () => {
    expect(await inspectDataset(bytesInput('p.csv', 'product,category,description\na,b,c\n'))).toEqual({
      file_format: 'csv', columns: ['product', 'category', 'description'], shape: null,
      reason: expect.arrayContaining([expect.stringMatching(/cannot tell the record shape from its columns \(product, category, description\)/), { option: 'format', value: 'template' }]),
    });
    expect(await inspectDataset(bytesInput('a.jsonl', jsonl([{ instruction: 'a', output: 'b' }, { instruction: 'c', input: 'd', output: 'e' }])))).toEqual({
      file_format: 'jsonl', columns: ['instruction', 'output', 'input'], shape: 'alpaca',
    });
  });
});

describe('sampling, splits, duplicates, stats, preview', () => {
  const rows = Array.from({ length: 40 }, (_, i) => ({ prompt: `Question ${i}?`, completion: `Answer ${i}.` }));
  const data = jsonl(rows);
  it('--max-samples: the first N, or a seeded random subset kept in file order', async () => {
    const first = await load('p.jsonl', data, { maxSamples: 5 });
    expect(first.examples.map((e) => e.line)).toEqual([1, 2, 3, 4, 5]);
    expect(first.stats.sampled).toEqual({ from: null, kept: 5, mode: 'first' });
    const r1 = await load('p.jsonl', data, { maxSamples: 8, sample: 'random', seed: 1 });
    const r1b = await load('p.jsonl', data, { maxSamples: 8, sample: 'random', seed: 1 });
    const r2 = await load('p.jsonl', data, { maxSamples: 8, sample: 'random', seed: 2 });
    const lines = r1.examples.map((e) => e.line);
    expect(lines).toHaveLength(8);
    expect([...lines].sort((a, b) => a - b)).toEqual(lines);
    expect(r1b.examples.map((e) => e.line)).toEqual(lines);
    expect(r2.examples.map((e) => e.line)).not.toEqual(lines);
    expect(lines).not.toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r1.stats.sampled).toEqual({ from: 40, kept: 8, mode: 'random' });
    expect((await load('p.jsonl', data, { maxSamples: 100 })).stats.sampled).toBeUndefined();
  });
  it('train/eval split by fraction with a seed, or a separate eval file', async () => {
    const p = await prepareData(bytesInput('p.jsonl', data), tok, { seqLen: 512, evalSplit: 0.25, seed: 7 });
    expect(p.stats.train_examples).toBe(30);
    expect(p.stats.eval_examples).toBe(10);
    const key = (e: { ids: ArrayLike<number> & { join(s: string): string } }) => e.ids.join(',');
    const all = new Set([...p.train, ...p.eval].map(key));
    expect(all.size).toBe(40);
    const again = await prepareData(bytesInput('p.jsonl', data), tok, { seqLen: 512, evalSplit: 0.25, seed: 7 });
    expect(again.eval.map(key)).toEqual(p.eval.map(key));
    const other = await prepareData(bytesInput('p.jsonl', data), tok, { seqLen: 512, evalSplit: 0.25, seed: 8 });
    expect(other.eval.map(key)).not.toEqual(p.eval.map(key));
    expect(splitExamples([1], 0.5, 1)).toEqual({ train: [1], eval: [] });
    expect(splitExamples([1, 2], 0.9, 1).train).toHaveLength(1);
    const sep = await prepareData(bytesInput('p.jsonl', data), tok, { seqLen: 512, evalSplit: 0.25, evalInput: bytesInput('e.csv', 'prompt,completion\nq,a\n') });
    expect(sep.train).toHaveLength(40);
    expect(sep.eval).toHaveLength(1);
    expect(sep.evalStats?.file_format).toBe('csv');
  });
  it('duplicates are reported with the line they repeat', async () => {
    const ds = await load('d.jsonl', jsonl([{ text: 'same' }, { text: 'other' }, { text: 'same' }, { text: 'same' }]));
    expect(ds.stats.duplicates).toBe(2);
    expect(ds.stats.duplicate_lines).toEqual([{ line: 3, same_as: 1 }, { line: 4, same_as: 1 }]);
    expect(ds.examples).toHaveLength(4); // reported, not removed
  });
  it('stats add up; the preview marks masked and trained text', async () => {
    const ds = await load('p.jsonl', data, { chatTemplate: 'none', previewCount: 2 });
    const s = ds.stats;
    expect(s.examples).toBe(40);
    expect(s.tokens).toBe(ds.examples.reduce((a, e) => a + e.ids.length, 0));
    expect(s.length_histogram.reduce((a, b) => a + b.count, 0)).toBe(40);
    expect(s.length.min).toBeLessThanOrEqual(s.length.p50);
    expect(s.length.p50).toBeLessThanOrEqual(s.length.max);
    expect(ds.preview).toHaveLength(2);
    const p = ds.preview[0];
    expect(p.segments.map((x) => x.trained)).toEqual([false, true]);
    expect(p.segments[1].text).toBe('Answer 0.</s>');
    expect(p.trained).toBe(ds.examples[0].trainMask.filter((m, i) => i > 0 && m).length);
    const text = renderPreview(ds.preview);
    expect(text).toContain('── example 1 · line 1');
    expect(text).toMatch(/\[masked: label -100\]\n<s> Question 0\?\n\[trained\]\nAnswer 0\.<\/s>/);
  });
});
