// The CLI's data arguments: `hub:OWNER/NAME[:config][:split]` resolved against a fake Hub (the
// examples equal those of the same rows in a local file; HF_TOKEN's words in errors), and a
// malformed spec as the one-line error of `npm run data`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/dataset';
import { fakeHubFetch, writeParquet } from '../data/testutil';
import { readSpec } from '../model/load';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { UsageError } from './common';
import { nodeFileInput, openDataArg, parseDataArg } from './data-input';
import { dirSource } from './fs-source';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const texts = Array.from({ length: 9 }, (_, i) => `Tom had a purple frog number ${i}. The frog ate cake.`);
const pq = (t: string[]) => writeParquet([{ name: 'text', type: 'string', values: t }], 4);
const hub = () =>
  fakeHubFetch('acme/frogs', [
    { config: 'default', split: 'train', name: '0000.parquet', bytes: pq(texts.slice(0, 5)) },
    { config: 'default', split: 'train', name: '0001.parquet', bytes: pq(texts.slice(5)) },
    { config: 'default', split: 'validation', name: '0000.parquet', bytes: pq(texts.slice(0, 2)) },
  ]);

let tok: TextTokenizer;
let tmp = '';
beforeAll(async () => {
  const src = dirSource(STORIES);
  const spec = await readSpec(src);
  tok = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
  tmp = mkdtempSync(join(tmpdir(), 'data-input-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('--data hub:OWNER/NAME[:config][:split]', () => {
  it('resolves to the split read over range requests, the same examples as the rows in one local file', async () => {
    const h = hub();
    const input = await openDataArg(parseDataArg('hub:acme/frogs'), { fetch: h.fetch, token: 'hf_t' });
    const local = join(tmp, 'frogs.parquet');
    writeFileSync(local, pq(texts));
    const a = await loadDataset(input, tok, { seqLen: 64 });
    const b = await loadDataset(nodeFileInput(local), tok, { seqLen: 64 });
    expect(a.examples.length).toBe(9);
    expect(a.examples.map((e) => [e.ids, e.trainMask, e.line])).toEqual(b.examples.map((e) => [e.ids, e.trainMask, e.line]));
    expect(h.requests.filter((r) => r.url.includes('/resolve/')).every((r) => r.range && r.auth === 'Bearer hf_t')).toBe(true);
    const val = await openDataArg(parseDataArg('hub:acme/frogs:default:validation'), { fetch: h.fetch });
    expect((await loadDataset(val, tok, { seqLen: 64 })).examples.length).toBe(2);
  });

  it('errors speak of HF_TOKEN and name the dataset', async () => {
    const gated = fakeHubFetch('acme/frogs', [], { answer: { status: 401, body: {} } });
    await expect(openDataArg(parseDataArg('hub:acme/frogs'), { fetch: gated.fetch, token: '' })).rejects.toThrow(
      /^acme\/frogs: HTTP 401, access denied\. The dataset is gated or private: open https:\/\/huggingface\.co\/datasets\/acme\/frogs while logged in, accept its access conditions, then give an access token in HF_TOKEN with read permission/,
    );
    await expect(openDataArg(parseDataArg('hub:acme/frogs:nope'), { fetch: hub().fetch })).rejects.toThrow("acme/frogs: no config 'nope'; its configs are default.");
  });

  it('a malformed spec is a usage error naming the flag', () => {
    expect(() => parseDataArg('hub:acme')).toThrow(UsageError);
    expect(() => parseDataArg('hub:acme/x:a:b:c', '--eval-file')).toThrow(/^--eval-file 'hub:acme\/x:a:b:c' is not a Hub dataset: expected hub:OWNER\/NAME/);
  });

  it('npm run data prints one error line for a malformed hub: spec, before loading anything', () => {
    const r = spawnSync(TSX, [join(ROOT, 'src', 'cli', 'data.ts'), '--model', STORIES, '--data', 'hub:acme'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(2);
    const errs = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errs).toEqual([
      "error: --data 'hub:acme' is not a Hub dataset: 'acme' is not a dataset id OWNER/NAME; expected hub:OWNER/NAME, hub:OWNER/NAME:CONFIG or hub:OWNER/NAME:CONFIG:SPLIT (for example hub:tatsu-lab/alpaca or hub:nyu-mll/glue:mrpc:validation).",
    ]);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
