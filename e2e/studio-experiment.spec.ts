// An experiment of three runs (rank 2 / 4 / 8) on stories260K: expanded and reviewed, interrupted by
// a reload during run 2, resumed at that run and its checkpoint, finished with one report — the
// comparison table (one row per run, the r column varied), the answers grid (base + 3 runs, equal to
// the playground's greedy answer for the same adapter and prompt) and its downloads (Markdown, CSV,
// SVG, PNG).
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { MODEL_DIR, openStudio, setUpFrogRun, shot, tab } from './studio-helpers';

async function download(page: Page, testId: string): Promise<{ name: string; text: string; bytes: number; head: string; head2: string }> {
  const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = await d.path();
  const buf = readFileSync(path!);
  return { name: d.suggestedFilename(), text: buf.toString('utf8'), bytes: buf.length, head: buf.subarray(0, 8).toString('hex'), head2: buf.subarray(16, 24).toString('hex') };
}

test('studio: an experiment of three runs survives a reload mid-run and ends in one report', async ({ page }, info) => {
  test.setTimeout(300_000);
  await openStudio(page);
  await setUpFrogRun(page, { steps: '4', batchSize: '2', seqLen: '32', lr: '0.003', evalEvery: '2', evalSplit: '0.25' });

  await tab(page, 'Experiment');
  await page.getByTestId('exp-name').fill('rank-sweep');
  await page.getByTestId('axis-r').fill('2 4 8');
  await page.getByTestId('exp-prompts').fill('Tom had a');
  await page.getByTestId('exp-tokens').fill('8');
  // Plain text has no prompt to hold out: the held-out count is shown, and none is drawn.
  await expect(page.getByTestId('exp-heldout')).toHaveValue('3');
  await expect(page.getByTestId('exp-heldout-note')).toContainText('None drawn: plain text data has no prompt to hold out');
  await page.getByTestId('exp-expand').click();
  const plan = page.getByTestId('exp-plan-row');
  await expect(plan).toHaveCount(3);
  expect(await plan.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))).toEqual(['r2', 'r4', 'r8']);
  await expect(page.getByTestId('exp-total')).toContainText('Whole experiment');
  await shot(page, info, 'experiment-1-plan');
  await page.getByTestId('exp-start').click();

  // Run 2 reaches its checkpoint of step 2; then the page goes away.
  const exp = page.getByTestId('experiment');
  await expect(exp).toHaveAttribute('data-current', '1', { timeout: 120_000 });
  await tab(page, 'Train');
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-checkpoint', '2', { timeout: 60_000 });
  const run2 = await view.getAttribute('data-run-id');
  await page.reload();

  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 60_000 });
  const banner = page.getByTestId('resume-banner');
  await expect(banner).toHaveAttribute('data-run-id', run2!);
  await expect(banner).toContainText('Experiment “rank-sweep”, run 2 of 3');
  await tab(page, 'Experiment');
  await expect(exp).toHaveAttribute('data-status', 'interrupted');
  await expect(page.getByTestId('exp-where')).toHaveText(/^run 2 of 3 \(r4\), step [234] of 4$/);
  // The base came from a local folder: opened again, then the experiment resumes where it stopped.
  await tab(page, 'Model');
  await page.getByTestId('model-folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  await page.getByTestId('banner-resume').click();
  await expect(exp).toHaveAttribute('data-status', 'running');
  await tab(page, 'Train');
  await expect(view).toHaveAttribute('data-run-id', run2!); // the same run continues, from its checkpoint
  await tab(page, 'Experiment');
  await expect(exp).toHaveAttribute('data-status', 'done', { timeout: 180_000 });

  // One report: three runs (run 2 once), r varied, the base and every run answering.
  await page.getByTestId('exp-compare').click();
  await expect(page.getByTestId('run-row')).toHaveCount(3);
  const rows = page.getByTestId('cmp-row');
  await expect(rows).toHaveCount(3);
  const rCol = () => rows.locator('td[data-col="r"]').allTextContents();
  expect(await rCol()).toEqual(['2', '4', '8']);
  await expect(page.locator('th[data-col="r"]')).toHaveAttribute('data-varied', 'true');
  await expect(page.locator('th[data-col="alpha"]')).toHaveAttribute('data-varied', 'false');
  const rHead = page.locator('th[data-col="r"]');
  await rHead.getByRole('button').click();
  await rHead.getByRole('button').click();
  await expect(rHead).toHaveAttribute('aria-sort', 'descending');
  expect(await rCol()).toEqual(['8', '4', '2']);
  for (const c of await rows.locator('td[data-col="steps"]').allTextContents()) expect(c).toBe('4');
  await expect(page.getByTestId('answers-col')).toHaveText(['base', 'r2', 'r4', 'r8']);
  await expect(page.getByTestId('answers-ref-col')).toHaveCount(0);
  const r8Answer = (await page.locator('[data-testid=answer][data-col="r8"]').textContent())!;
  await shot(page, info, 'experiment-2-report');

  const md = await download(page, 'cmp-md');
  expect(md.name).toBe('rank-sweep-comparison.md');
  for (const r of ['2', '4', '8']) expect(md.text).toMatch(new RegExp(`^\\| r${r} \\| ${r} \\| 16 \\| q_proj,v_proj \\|`, 'm'));
  expect(md.text).toContain('| prompt | base | r2 | r4 | r8 |'); // plain text: no held-out prompts, no reference column
  expect(md.text).toMatch(/^\| Tom had a \| /m);
  expect(md.text).toContain('**r** (varied)');
  const csv = await download(page, 'cmp-csv');
  expect(csv.name).toBe('rank-sweep-comparison.csv');
  expect(csv.text.trim().split('\n')).toHaveLength(4);
  const svg = await download(page, 'cmp-train-svg');
  expect(svg.name).toBe('rank-sweep-train-loss.svg');
  expect(svg.text).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(svg.text).not.toContain('var(');
  expect(svg.text).toContain('recharts-line-curve'); // the plot itself, not only its legend
  for (const name of ['r2', 'r4', 'r8']) expect(svg.text).toContain(`rank-sweep ${name}`);
  const png = await download(page, 'cmp-eval-png');
  expect(png.name).toBe('rank-sweep-eval-loss.png');
  expect(png.head).toBe('89504e470d0a1a0a'); // the PNG signature
  // The chart's size at 2× (IHDR width and height), as the SVG of the same chart gives it.
  const ihdr = Buffer.from(png.head2, 'hex');
  const evalSvg = await download(page, 'cmp-eval-svg');
  const [w, h] = [/width="(\d+)"/, /height="(\d+)"/].map((re) => Number(re.exec(evalSvg.text)![1]));
  expect(w).toBeGreaterThan(200);
  expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)]).toEqual([2 * w, 2 * h]);

  // The grid's answer is the playground's greedy answer for the same adapter and prompt.
  const r8Id = await page.locator('[data-testid=run-row]', { hasText: 'rank-sweep r8' }).getAttribute('data-run-id');
  await tab(page, 'Playground');
  await page.getByTestId('pg-adapter').selectOption(r8Id!);
  await page.getByTestId('pg-prompt').fill('Tom had a');
  await page.getByTestId('pg-max-tokens').fill('8');
  await page.getByTestId('pg-generate').click();
  await expect(page.getByTestId('pg-tuned')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('pg-tuned')).toHaveText(r8Answer);
});
