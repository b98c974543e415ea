// Hub models through the cache: huggingface.co is served by a test route (from the stories260K
// folder), the first load downloads and caches, the cache lists the files, a second load after a
// reload makes no request at all, and clearing the cache empties it. Only huggingface.co and the
// local server are ever contacted.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Route } from '@playwright/test';
import { isLocal, MODEL_DIR, openStudio, shot, tab } from './studio-helpers';

const REPO = 'test-org/stories260K';

test('studio: a Hub model downloads once, is cached, reloads offline, and the cache clears', async ({ page, context }, info) => {
  const hubHits: string[] = [];
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  await context.route('https://huggingface.co/**', async (route: Route) => {
    const url = new URL(route.request().url());
    hubHits.push(`${route.request().method()} ${url.pathname}`);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'x-error-code, x-error-message, content-length, content-range' };
    if (!m || m[1] !== REPO) return route.fulfill({ status: 404, headers: { ...cors, 'x-error-code': 'RepoNotFound' }, body: '' });
    const file = join(MODEL_DIR, decodeURIComponent(m[3]));
    if (!existsSync(file) || m[3] === 'README.md') return route.fulfill({ status: 404, headers: { ...cors, 'x-error-code': 'EntryNotFound' }, body: '' });
    const body = readFileSync(file);
    if (m[3] === 'model.safetensors') await new Promise((r) => setTimeout(r, 1500)); // long enough to see the progress bar
    return route.fulfill({ status: 200, headers: { ...cors, 'content-length': String(body.length), 'content-type': 'application/octet-stream' }, body: route.request().method() === 'HEAD' ? '' : body });
  });

  await openStudio(page);
  await tab(page, 'Model');
  await page.getByLabel('Repo id').fill(REPO);
  await page.getByRole('button', { name: 'Check' }).click();
  // Checking reads config.json only; the memory estimate is there before the weights are fetched.
  await expect(page.getByTestId('memory-verdict').first()).toHaveText('Fits');
  expect(hubHits.some((h) => h.endsWith('/model.safetensors'))).toBe(false);
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('load-progress')).toBeVisible();
  // The bar counts the whole model: the weights' size is known before their bytes arrive.
  await expect(page.getByTestId('load-progress')).toContainText(/Downloading: .* of 1\.\d MiB/);
  await expect(page.getByTestId('loaded-name')).toHaveText(`hf://${REPO}`, { timeout: 120_000 });
  await expect(page.getByTestId('cache-table')).toContainText(REPO);
  await expect(page.getByTestId('cache-table')).toContainText('1.0 MiB');
  const firstLoad = hubHits.length;
  expect(hubHits.filter((h) => h.startsWith('GET') && h.endsWith('/model.safetensors'))).toHaveLength(1);
  await shot(page, info, 'hub-1-cached');

  // After a reload the same model loads with no request to the Hub.
  await page.reload();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
  await tab(page, 'Model');
  await expect(page.getByTestId('cache-table')).toContainText(REPO);
  await page.getByLabel('Repo id').fill(REPO);
  await page.getByRole('button', { name: 'Check' }).click();
  await expect(page.getByTestId('memory-verdict').first()).toHaveText('Fits');
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('loaded-name')).toHaveText(`hf://${REPO}`, { timeout: 120_000 });
  expect(hubHits.slice(firstLoad)).toEqual([]);

  // Clear it: the list empties.
  await page.getByRole('button', { name: `Clear the cache of ${REPO}` }).click();
  await expect(page.getByTestId('cache-empty')).toBeVisible();
  await shot(page, info, 'hub-2-cleared');

  // A repo that does not exist gives a one-line error.
  await page.getByLabel('Repo id').fill('nobody/nothing-here');
  await page.getByRole('button', { name: 'Check' }).click();
  await expect(page.getByTestId('candidate-error')).toContainText("the repository 'nobody/nothing-here' does not exist");

  const elsewhere = requests.filter((u) => !isLocal(u, info.project.use.baseURL) && !u.startsWith('https://huggingface.co/'));
  expect(elsewhere).toEqual([]);
});
