// `npm run data` as a user runs it (one JSON line of stats, then the rendered examples; one-line
// errors, no stack trace), and `npm run train` reading a CSV through a template with packing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

function cli(tool: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(TSX, [join(ROOT, 'src', 'cli', `${tool}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error:'));

let tmp = '';
const file = (name: string, text: string | Uint8Array) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'data-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PRODUCTS =
  'product,category,description\n' +
  Array.from({ length: 10 }, (_, i) => `Item ${i},"Cat, ${i % 3}","A fine item number ${i}.\nIt is good."`).join('\n') +
  '\nBroken,row\n';
const TEMPLATE = 'Create a detailed description for the following product: {product}, belonging to category: {category}';

describe('npm run data', () => {
  it('prints the stats as one JSON line, then the first examples with the masked part marked', () => {
    const r = cli('data', ['--model', STORIES, '--data', file('products.csv', PRODUCTS), '--template', TEMPLATE, '--response-column', 'description',
      '--on-bad-rows', 'skip', '--seq-len', '200', '--preview', '2']);
    expect(r.code).toBe(0);
    const [first, ...rest] = r.stdout.split('\n');
    const s = JSON.parse(first);
    expect(s).toMatchObject({ format: 'template', file_format: 'csv', prompt_format: 'alpaca', examples: 10, truncated: 0, rows: 11 });
    expect(s.skipped).toEqual([{ line: 22, reason: 'has 2 fields but the header has 3 (columns: product, category, description)' }]);
    expect(s.tokens).toBeGreaterThan(s.trained_tokens);
    expect(s.trained_tokens).toBeGreaterThan(10 * 10);
    expect(s.train_examples + s.eval_examples).toBe(10);
    const text = rest.join('\n');
    expect(text).toContain('── example 1 · line 2');
    expect(text).toContain('── example 2 · line 4');
    expect(text).not.toContain('── example 3');
    expect(text).toMatch(/\[masked: label -100\]\n<s> Below is an instruction[^]*Create a detailed description for the following product: Item 0, belonging to category: Cat, 0[^]*### Response:\n\n\[trained\]\nA fine item number 0\.\nIt is good\.<\/s>/);
  });

  it('warns when little will be trained, naming the flag that fixes it (a seq-len within the model maximum)', () => {
    const rows = [
      ...Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Dog ${i}:`, completion: ' Yes.' })),
      ...Array.from({ length: 3 }, (_, i) => JSON.stringify({ prompt: `Once upon a time there was a little dog number ${i} who liked to run in the park.`, completion: ' The end.' })),
    ];
    const r = cli('data', ['--model', STORIES, '--data', file('cut.jsonl', rows.join('\n') + '\n'), '--chat-template', 'none', '--seq-len', '16', '--on-bad-rows', 'skip']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout.split('\n')[0]);
    expect(s.warnings.map((w: { kind: string }) => w.kind)).toEqual(['cut_by_seq_len']);
    expect(r.stderr).toMatch(/^warning: 27% of the examples do not fit the sequence length of 16 tokens \(0 truncated, 3 skipped because the prompt alone fills it\); 64 tokens hold 95% of them\. Use --seq-len 64\.$/m);
    const ok = cli('data', ['--model', STORIES, '--data', file('cut.jsonl', rows.join('\n') + '\n'), '--chat-template', 'none', '--seq-len', '64', '--train-on-prompt']);
    expect(ok.stderr).not.toMatch(/^warning:/m);
    expect(JSON.parse(ok.stdout.split('\n')[0]).warnings).toEqual([]);
  });

  it('chat data with a --chat-template file, --packing and an eval split', () => {
    const conv = (i: number) => ({ messages: [{ role: 'user', content: `Count to ${i}.` }, { role: 'assistant', content: Array.from({ length: i }, (_, k) => k + 1).join(' ') }] });
    const data = file('chat.jsonl', Array.from({ length: 12 }, (_, i) => JSON.stringify(conv(i + 1))).join('\n'));
    const tpl = file('chatml.jinja', "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
    const r = cli('data', ['--model', STORIES, '--data', data, '--chat-template', tpl, '--packing', '--seq-len', '128', '--eval-split', '0.25']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout.split('\n')[0]);
    expect(s).toMatchObject({ format: 'messages', prompt_format: 'chat template (custom)', examples: 12, train_examples: 9, eval_examples: 3, packing: true });
    expect(s.train_rows).toBeLessThan(9);
    expect(r.stdout).toMatch(/\[trained\]\n1<\|im_end\|>\n/);
  });

  const bad: [string, () => string[], RegExp][] = [
    ['an empty file', () => ['--data', file('empty.jsonl', '')], /^error: .*empty\.jsonl: the file is empty \(0 bytes\)\.$/],
    ['a bad row (stop is the default)', () => ['--data', file('bad.jsonl', '{"text": "ok"}\n{"text": "no end}\n')], /^error: .*bad\.jsonl:2: not valid JSON \(.*--on-bad-rows skip\.$/],
    ['a missing column', () => ['--data', file('p.csv', PRODUCTS), '--template', 'Describe {name}', '--response-column', 'description'],
      /^error: .*p\.csv:2: missing column "name" \(columns present: product, category, description\)/],
    ['every prompt longer than seq-len', () => ['--data', file('long.jsonl', '{"instruction": "a", "output": "b"}\n'), '--seq-len', '20'],
      /^error: .*long\.jsonl: every example is longer than the sequence length 20 after its prompt/],
    ['UTF-16', () => ['--data', file('u16.txt', Buffer.from('\ufeffhello\n', 'utf16le'))], /u16\.txt: the file is UTF-16 \(little-endian\) text; only UTF-8 is supported/],
    ['an unknown --format', () => ['--data', file('x.jsonl', '{"text": "a"}\n'), '--format', 'dolly'], /^error: --format must be auto, alpaca, prompt-completion, messages, sharegpt, text, template; got 'dolly'$/],
    ['a missing data file', () => ['--data', join(tmp, 'nope.jsonl')], /^error: data file .*nope\.jsonl does not exist\.$/],
  ];
  for (const [name, args, re] of bad) {
    it(`${name}: one error line, non-zero exit, no stack trace`, () => {
      const r = cli('data', ['--model', STORIES, ...args()]);
      expect(r.code).not.toBe(0);
      const errs = errorLines(r.stderr);
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatch(re);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
    });
  }
});

describe('npm run train with the data options', () => {
  it('trains on a CSV through a template with packing; the options are recorded for --resume', () => {
    const out = join(tmp, 'run');
    const t = cli('train', ['--model', STORIES, '--data', file('products2.csv', PRODUCTS), '--template', TEMPLATE, '--response-column', 'description',
      '--on-bad-rows', 'skip', '--packing', '--chat-template', 'none', '--out', out, '--steps', '1', '--seq-len', '128', '--batch-size', '2', '--log-every', '1']);
    expect(t.stderr).toMatch(/data: template \(csv, none\); 10 examples, \d+ tokens, \d+ trained; packed into \d+ \+ 1 rows/);
    expect(t.stderr).toMatch(/1 rows skipped \(first: line 22: has 2 fields/);
    expect(t.stderr).toMatch(/step 1\/1 {2}loss \d/);
    expect(t.code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).config;
    expect(cfg).toMatchObject({ template: TEMPLATE, responseColumn: 'description', packing: true, chatTemplate: 'none', onBadRows: 'skip', dataFormat: 'auto' });
  });
});
