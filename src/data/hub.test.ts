// Datasets by Hub id against a fake Hub: the viewer API's listing and Parquet files served with
// range support. A split stored as two shards reads to the same examples as the same rows in one
// local file; each failure is one message naming the dataset and what to do.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { readSpec } from '../model/load';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { inspectDataset, loadDataset } from './dataset';
import { hubParquetInput, listParquetFiles, openHubDataset, parseHubDataSpec, pickSplit, type HubDatasetOptions } from './hub';
import { bytesInput, DatasetError } from './input';
import { fakeHubFetch, writeParquet, type FakeHubFile } from './testutil';

const DIR = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
let tok: TextTokenizer;
beforeAll(async () => {
  const src = dirSource(DIR);
  const spec = await readSpec(src);
  tok = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
});

const ID = 'acme/tiny-instruct';
const RES = `https://huggingface.co/datasets/${ID}/resolve/refs%2Fconvert%2Fparquet`;
const rows = Array.from({ length: 30 }, (_, i) => ({ instruction: `Tell story ${i}`, output: `Once upon a time ${i} cats sat.` }));
const parquetOf = (rs: typeof rows) =>
  writeParquet([{ name: 'instruction', type: 'string', values: rs.map((r) => r.instruction) }, { name: 'output', type: 'string', values: rs.map((r) => r.output) }], 7);
const shard0 = parquetOf(rows.slice(0, 18));
const shard1 = parquetOf(rows.slice(18));
const whole = parquetOf(rows);
const testFile = parquetOf(rows.slice(0, 3));

const FILES: FakeHubFile[] = [
  { config: 'default', split: 'test', name: '0000.parquet', bytes: testFile },
  { config: 'default', split: 'train', name: '0001.parquet', bytes: shard1 },
  { config: 'default', split: 'train', name: '0000.parquet', bytes: shard0 },
  { config: 'extra', split: 'train', name: '0000.parquet', bytes: testFile },
];
const fakeHub = (answer?: { status: number; body: unknown }, fileStatus = 200) => fakeHubFetch(ID, FILES, { answer, fileStatus });
type Fake = ReturnType<typeof fakeHub>;

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('hub: data specs', () => {
  it('parses hub:OWNER/NAME[:config][:split]', () => {
    expect(parseHubDataSpec('hub:acme/tiny-instruct')).toEqual({ dataset: ID });
    expect(parseHubDataSpec('hub:acme/tiny-instruct:extra')).toEqual({ dataset: ID, config: 'extra' });
    expect(parseHubDataSpec('hub:acme/tiny-instruct:default:test')).toEqual({ dataset: ID, config: 'default', split: 'test' });
  });
  it('rejects malformed specs with the expected form', () => {
    for (const bad of ['hub:', 'hub:acme', 'hub:acme/x/y', 'hub:acme/x::train', 'hub:acme/x:a:b:c', 'hub:/x']) {
      expect(() => parseHubDataSpec(bad)).toThrow(/expected hub:OWNER\/NAME/);
    }
  });
});

describe('hub: reading a split', () => {
  it('reads both shards of the train split, by range requests, to the examples of the same rows read locally', async () => {
    const hub = fakeHub();
    const progress: number[] = [];
    const { input, config, split, listing: l } = await openHubDataset({ dataset: ID }, { fetch: hub.fetch, token: 'hf_x', onProgress: (p) => progress.push(p.loaded) });
    expect([config, split]).toEqual(['default', 'train']);
    expect(l.configs).toEqual([{ config: 'default', splits: ['test', 'train'] }, { config: 'extra', splits: ['train'] }]);
    expect(input.parts?.map((p) => p.name)).toEqual([`${ID}/default/train/0000.parquet`, `${ID}/default/train/0001.parquet`]);
    const fromHub = await loadDataset(input, tok, { seqLen: 256, previewCount: 5 });
    const local = await loadDataset(bytesInput('local.parquet', whole), tok, { seqLen: 256, previewCount: 5 });
    expect(fromHub.examples.length).toBe(30);
    expect(fromHub.examples.map((e) => [e.ids, e.trainMask, e.line])).toEqual(local.examples.map((e) => [e.ids, e.trainMask, e.line]));
    expect(fromHub.preview).toEqual(local.preview);
    expect(fromHub.stats.format).toBe('alpaca');
    const fileReqs = hub.requests.filter((r) => r.url.startsWith(RES));
    expect(fileReqs.length).toBeGreaterThan(0);
    expect(fileReqs.every((r) => r.range !== null && r.auth === 'Bearer hf_x')).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    const inspected = await inspectDataset(input);
    expect(inspected).toMatchObject({ file_format: 'parquet', columns: ['instruction', 'output'], shape: 'alpaca' });
  });

  it('picks a config and split by name, and names the choices when one is wrong', async () => {
    const l = await listParquetFiles(ID, { fetch: fakeHub().fetch });
    expect(pickSplit(l, 'default', 'test').files.map((f) => f.filename)).toEqual(['0000.parquet']);
    expect(pickSplit(l, 'extra').split).toBe('train');
    expect(() => pickSplit(l, 'nope')).toThrow(`${ID}: no config 'nope'; its configs are default, extra.`);
    expect(() => pickSplit(l, 'test')).toThrow(/'test' is a split of config 'default': name the config first/);
    expect(() => pickSplit(l, 'default', 'validation')).toThrow(`${ID}: config 'default' has no split 'validation'; its splits are test, train.`);
    const d = await loadDataset(hubParquetInput(ID, pickSplit(l, 'default', 'test').files, { fetch: fakeHub().fetch }), tok, { seqLen: 256 });
    expect(d.examples.length).toBe(3);
  });

  it('refuses Parquet URLs outside the dataset repository', () => {
    const f = { config: 'default', split: 'train', url: 'https://evil.example/x.parquet', filename: 'x.parquet', size: 10 };
    expect(() => hubParquetInput(ID, [f])).toThrow(/not in the dataset's repository/);
  });
});

describe('hub: errors name the dataset and what to do', () => {
  const opts = (f: Fake, extra: Partial<HubDatasetOptions> = {}) => ({ fetch: f.fetch, ...extra });
  it('404: no such dataset', async () => {
    const m = await message(listParquetFiles(ID, opts(fakeHub({ status: 404, body: { error: 'The dataset does not exist.' } }))));
    expect(m).toMatch(new RegExp(`^${ID}: HTTP 404, the Hub has no dataset '${ID}' \\(the Hub says: The dataset does not exist.\\); check the spelling on https://huggingface.co/datasets/${ID}`));
  });
  it('401/403: gated or private, accept the conditions and give a token', async () => {
    for (const status of [401, 403]) {
      const m = await message(listParquetFiles(ID, opts(fakeHub({ status, body: {} }))));
      expect(m).toContain(`${ID}: HTTP ${status}, access denied`);
      expect(m).toContain(`open https://huggingface.co/datasets/${ID} while logged in, accept its access conditions, then give an access token`);
      expect(m).toContain('no token was given');
    }
    const withToken = await message(listParquetFiles(ID, opts(fakeHub({ status: 403, body: {} }), { token: 'hf_bad' })));
    expect(withToken).toContain('the token given was rejected');
  });
  it('a gated Parquet file names the dataset page', async () => {
    const { input } = await openHubDataset({ dataset: ID }, { fetch: fakeHub(undefined, 403).fetch });
    const m = await message(loadDataset(input, tok, { seqLen: 256 }));
    expect(m).toContain(`hf://datasets/${ID}@refs/convert/parquet: HTTP 403`);
    expect(m).toContain(`The dataset is gated or private: open https://huggingface.co/datasets/${ID} while logged in, accept its access conditions`);
  });
  it('no Parquet export: an empty list, a failed or a pending conversion', async () => {
    const none = await message(listParquetFiles(ID, opts(fakeHub({ status: 200, body: { parquet_files: [], pending: [], failed: [], partial: false } }))));
    expect(none).toBe(`${ID}: the Hub has no Parquet export of it, so it cannot be read by id; download its data files from https://huggingface.co/datasets/${ID}/tree/main and open one as a file instead.`);
    const failed = await message(listParquetFiles(ID, opts(fakeHub({ status: 200, body: { parquet_files: [], pending: [], failed: [{ config: 'default' }], partial: false } }))));
    expect(failed).toMatch(/the Hub failed to convert it to Parquet/);
    const pending = await message(listParquetFiles(ID, opts(fakeHub({ status: 200, body: { parquet_files: [], pending: [{ config: 'default' }], failed: [] } }))));
    expect(pending).toMatch(/still running, so it cannot be read by id: try again in a few minutes/);
  });
  it('network errors', async () => {
    const down = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    const m = await message(listParquetFiles(ID, { fetch: down }));
    expect(m).toMatch(new RegExp(`^${ID}: network error while asking https://datasets-server.huggingface.co for the dataset's files \\(Failed to fetch\\); check your internet connection`));
  });
  it('a malformed dataset id', async () => {
    expect(await message(listParquetFiles('not a dataset', { fetch: fakeHub().fetch }))).toMatch(/'not a dataset' is not a Hugging Face dataset id: expected OWNER\/NAME/);
  });
});
