// A Hub dataset by id in the studio: the dataset viewer API and the Parquet files are served by
// test routes (two shards for train, one for test); the preview, stats and column mapping appear
// as for a dropped file, the split can be changed, and errors name the dataset and what to do in
// the studio's words. Only the local server and the Hub's hosts are contacted.
import { expect, test, type Route } from '@playwright/test';
import { writeParquet } from '../src/data/testutil';
import { isLocal, loadLocalModel, openStudio, shot, tab } from './studio-helpers';

const ID = 'test-org/frog-tales';
const RES = `/datasets/${ID}/resolve/refs%2Fconvert%2Fparquet`;
const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ prompt: `Tell me about frog ${from + i}.`, completion: ` Frog ${from + i} ate cake with Tom.` }));
const pq = (r: { prompt: string; completion: string }[]) =>
  Buffer.from(writeParquet([{ name: 'prompt', type: 'string', values: r.map((x) => x.prompt) }, { name: 'completion', type: 'string', values: r.map((x) => x.completion) }], 4));
const FILES: Record<string, Buffer> = {
  'default/train/0000.parquet': pq(rows(0, 10)),
  'default/train/0001.parquet': pq(rows(10, 16)),
  'default/test/0000.parquet': pq(rows(100, 103)),
};
const CORS = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'content-length, content-range, x-error-code' };

test('studio: a Hub dataset by id previews like a dropped file, splits switch, errors say what to do', async ({ page, context }, info) => {
  const requests: string[] = [];
  const fileHits: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  await context.route('https://datasets-server.huggingface.co/**', (route: Route) => {
    const url = new URL(route.request().url());
    const dataset = url.searchParams.get('dataset');
    const json = (status: number, body: unknown) => route.fulfill({ status, headers: { ...CORS, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (url.pathname !== '/parquet') return json(400, { error: 'unexpected' });
    if (dataset === 'test-org/gated') return json(401, { error: 'The dataset is gated.' });
    if (dataset !== ID) return json(404, { error: 'The dataset does not exist.' });
    return json(200, {
      parquet_files: Object.entries(FILES).map(([path, b]) => {
        const [config, split, filename] = path.split('/');
        return { dataset: ID, config, split, url: `https://huggingface.co${RES}/${path}`, filename, size: b.length };
      }),
      pending: [], failed: [], partial: false,
    });
  });
  await context.route('https://huggingface.co/**', (route: Route) => {
    const url = new URL(route.request().url());
    const path = url.pathname.startsWith(`${RES}/`) ? url.pathname.slice(RES.length + 1) : null;
    const body = path ? FILES[path] : undefined;
    if (!body) return route.fulfill({ status: 404, headers: CORS, body: '' });
    fileHits.push(path!);
    const m = /^bytes=(\d+)-(\d*)$/.exec(route.request().headers()['range'] ?? '');
    if (!m) return route.fulfill({ status: 200, headers: { ...CORS, 'content-length': String(body.length) }, body });
    const a = Number(m[1]);
    const b = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
    return route.fulfill({ status: 206, headers: { ...CORS, 'content-range': `bytes ${a}-${b}/${body.length}`, 'content-length': String(b - a + 1) }, body: body.subarray(a, b + 1) });
  });

  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  await page.getByLabel('Hub dataset').fill(ID);
  await page.getByTestId('hub-dataset-open').click();
  await expect(page.getByTestId('dataset-name')).toHaveText(`${ID} (default/train)`);
  await expect(page.getByTestId('hub-config')).toHaveValue('default');
  await expect(page.getByTestId('hub-split')).toHaveValue('train');
  // Both shards, one after another: 16 examples, in the prompt/completion shape.
  await expect(page.getByTestId('dataset-examples')).toHaveText('16', { timeout: 120_000 });
  await expect(page.getByTestId('dataset-preview')).toContainText('Tell me about frog 0.');
  await expect(page.getByTestId('ds-format')).toContainText('auto (prompt-completion)');
  await expect(page.getByTestId('ds-response')).toContainText('completion');
  expect(new Set(fileHits)).toEqual(new Set(['default/train/0000.parquet', 'default/train/0001.parquet']));
  await shot(page, info, 'hubdata-1-preview');

  // Another split: its own rows.
  await page.getByTestId('hub-split').selectOption('test');
  await expect(page.getByTestId('dataset-name')).toHaveText(`${ID} (default/test)`);
  await expect(page.getByTestId('dataset-examples')).toHaveText('3', { timeout: 120_000 });
  await expect(page.getByTestId('dataset-preview')).toContainText('Tell me about frog 100.');

  // Errors: a missing dataset, a gated one (the token is asked for in the studio's words).
  await page.getByLabel('Hub dataset').fill('nobody/nothing-here');
  await page.getByTestId('hub-dataset-open').click();
  await expect(page.getByTestId('dataset-error')).toContainText("nobody/nothing-here: HTTP 404, the Hub has no dataset 'nobody/nothing-here'");
  await page.getByLabel('Hub dataset').fill('test-org/gated');
  await page.getByTestId('hub-dataset-open').click();
  const gated = page.getByTestId('dataset-error');
  await expect(gated).toContainText('accept its access conditions, then give an access token (Model tab → Access token)');
  await expect(gated).not.toContainText('--');
  await expect(gated).not.toContainText('HF_TOKEN');

  const elsewhere = requests.filter((u) => !isLocal(u, info.project.use.baseURL) && !/^https:\/\/(datasets-server\.)?huggingface\.co\//.test(u));
  expect(elsewhere).toEqual([]);
});
