// A large dataset dropped in the studio streams through the worker: a progress bar and counts that
// grow while it is read and tokenized, then the final counts. The page's and the worker's JS heaps
// are printed as figures (not asserted). 50,000 rows (about 4 MB) keep it cheap; the 200,000-row
// memory bounds are checked on the CLI path by src/data/large.test.ts. The full size, by hand:
// LARGE_ROWS=200000 LARGE_ROW_BYTES=500 (about 92 MB of JSONL).
import { expect, test } from '@playwright/test';
import { loadLocalModel, openStudio, tab } from './studio-helpers';

const ROWS = Number(process.env.LARGE_ROWS ?? 50_000);
/** Each row's story repeated to about LARGE_ROW_BYTES (default: one sentence pair, about 75 bytes). */
const REPEAT = Math.max(1, Math.round(Number(process.env.LARGE_ROW_BYTES ?? 0) / 76));

test(`a ${ROWS.toLocaleString('en-US')}-row JSONL streams with a progress bar and growing counts, then the final counts`, async ({ page }) => {
  test.setTimeout(Math.max(120_000, ROWS * 8));
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  // Record every progress line the page shows (the counts change faster than a poll would see).
  await page.evaluate(() => {
    const seen: { counts: string; bar: string | null }[] = [];
    (window as unknown as { __progress: typeof seen }).__progress = seen;
    new MutationObserver(() => {
      const c = document.querySelector('[data-testid=dataset-progress-counts]');
      const bar = document.querySelector('[data-testid=dataset-progress-bar]');
      const counts = c?.textContent ?? '';
      if (counts && seen.at(-1)?.counts !== counts) seen.push({ counts, bar: bar?.getAttribute('aria-valuenow') ?? null });
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const t0 = Date.now();
  await page.getByTestId('dataset-dropzone').evaluate((el, [n, repeat]) => {
    const lines: string[] = [];
    const story = (i: number) => `Tom had a purple frog number ${i}. The frog ate ${i % 7} cakes and sang.`;
    for (let i = 0; i < n; i++) lines.push(JSON.stringify({ text: Array.from({ length: repeat }, (_, k) => story(i + k)).join(' ') }));
    const dt = new DataTransfer();
    dt.items.add(new File([lines.join('\n') + '\n'], 'large.jsonl'));
    for (const kind of ['dragenter', 'dragover', 'drop']) el.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, [ROWS, REPEAT]);
  await expect(page.getByTestId('dataset-progress-bar')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('dataset-examples')).toHaveText(ROWS.toLocaleString('en-US'), { timeout: Math.max(90_000, ROWS * 6) });
  const secs = (Date.now() - t0) / 1000;
  await expect(page.getByTestId('dataset-progress')).toHaveCount(0);
  const seen = await page.evaluate(() => (window as unknown as { __progress: { counts: string; bar: string | null }[] }).__progress);
  const rows = seen.map((s) => Number(/Read ([\d,]+) rows/.exec(s.counts)![1].replace(/,/g, '')));
  expect(seen.length).toBeGreaterThanOrEqual(3); // several updates while reading, not one at the end
  for (let i = 1; i < rows.length; i++) expect(rows[i]).toBeGreaterThanOrEqual(rows[i - 1]);
  expect(rows[0]).toBeLessThan(ROWS);
  expect(seen.some((s) => s.bar !== null && Number(s.bar) > 0)).toBe(true);

  const cdp = await page.context().newCDPSession(page);
  const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
  const worker = page.workers()[0];
  const workerHeap = worker ? await worker.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null) : null;
  const mb = (x: number | null) => (x === null ? 'n/a' : `${(x / 2 ** 20).toFixed(1)} MB`);
  console.log(
    `large dataset in the studio: ${ROWS} rows read in ${secs.toFixed(1)} s, ${seen.length} progress updates (rows ${rows.slice(0, 5).join(', ')}, ...); ` +
      `page JS heap ${mb(heap.usedSize)} used of ${mb(heap.totalSize)}; worker JS heap ${mb(workerHeap)}`,
  );
});
