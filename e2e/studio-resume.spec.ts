// Checkpoints in IndexedDB: a run interrupted by closing (reloading) the tab is listed as
// interrupted after the reload and resumes from its last checkpoint to the end; pause, resume and
// stop work on a live run.
import { expect, test } from '@playwright/test';
import { MODEL_DIR, openStudio, setUpFrogRun, shot, startTraining, tab } from './studio-helpers';

/** The frog run of these tests: `steps` steps, a checkpoint every `evalEvery` (0: only at the end). */
const setUpRun = (page: import('@playwright/test').Page, steps: number, evalEvery: number) =>
  setUpFrogRun(page, { steps: String(steps), batchSize: '2', seqLen: '32', lr: '0.003', evalEvery: String(evalEvery), evalSplit: '0.25' });

test('studio: a run interrupted by a closed tab resumes from its checkpoint', async ({ page }, info) => {
  await openStudio(page);
  await setUpRun(page, 12, 3);
  await tab(page, 'Train');
  await startTraining(page);
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-checkpoint', '3', { timeout: 120_000 });
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', /^([5-9]|1\d)$/, { timeout: 120_000 });
  const runId = await view.getAttribute('data-run-id');
  await page.reload(); // the tab goes away mid-run

  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
  // Announced on every tab, with the settings, dataset and model choice back before Resume.
  const banner = page.getByTestId('resume-banner');
  await tab(page, 'Playground');
  await expect(banner).toHaveAttribute('data-run-id', runId!);
  await expect(banner).toContainText(/stopped at step \d+ of 12 \(page closed\)/);
  await tab(page, 'Settings');
  await expect(banner).toBeVisible();
  await expect(page.getByTestId('knob-steps')).toHaveValue('12');
  await expect(page.getByTestId('knob-seqLen')).toHaveValue('32');
  await expect(page.getByTestId('knob-evalSplit')).toHaveValue('0.25');
  await tab(page, 'Dataset');
  await expect(page.getByTestId('dataset-name')).toHaveText('frogs.jsonl');
  await tab(page, 'Runs');
  const row = page.locator(`[data-testid=run-row][data-run-id="${runId}"]`);
  await expect(row).toHaveAttribute('data-status', 'interrupted');
  await shot(page, info, 'resume-1-interrupted');
  // The base came from a local folder: the one thing the studio asks for again.
  await expect(page.getByTestId('resume-needs-folder')).toContainText('open the model folder “stories260K” again');
  await expect(page.getByTestId('banner-resume')).toBeDisabled();
  await tab(page, 'Model');
  await page.getByTestId('model-folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  await page.getByTestId('banner-resume').click();
  await expect(banner).toHaveCount(0);
  await tab(page, 'Train');
  await expect(view).toHaveAttribute('data-run-id', runId!);
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(page.getByTestId('train-step')).toHaveText('12');
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', '12');
  await expect(view).toHaveAttribute('data-checkpoint', '12');
  await shot(page, info, 'resume-2-finished');
});

test('studio: pause, resume and stop a live run; a stopped run can be continued', async ({ page }, info) => {
  await openStudio(page);
  await setUpRun(page, 40, 0);
  await tab(page, 'Train');
  await startTraining(page);
  const view = page.getByTestId('run-view');
  const chart = page.getByTestId('loss-chart');
  await expect(chart).toHaveAttribute('data-points', /^[2-9]/, { timeout: 120_000 });
  await page.getByTestId('pause-training').click();
  await expect(view).toHaveAttribute('data-status', 'paused');
  // The worker parks the run before its next step and says after which step (data-held): every
  // step trained so far is on the chart, and the step counter agrees.
  await expect(view).toHaveAttribute('data-held', /^\d+$/, { timeout: 120_000 });
  const held = (await view.getAttribute('data-held'))!;
  expect(Number(held)).toBeGreaterThanOrEqual(2);
  await expect(chart).toHaveAttribute('data-points', held);
  await expect(page.getByTestId('train-step')).toHaveText(held);
  await shot(page, info, 'pause-1-paused');
  await page.getByTestId('resume-training').click();
  await expect(view).toHaveAttribute('data-status', 'running');
  await expect(view).toHaveAttribute('data-held', '');
  // Training goes on from the step after the held one.
  await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 120_000 }).toBeGreaterThan(Number(held));
  await page.getByTestId('stop-training').click();
  await expect(view).toHaveAttribute('data-status', 'stopped', { timeout: 120_000 });
  const stoppedAt = Number(await page.getByTestId('train-step').textContent());
  expect(stoppedAt).toBeLessThan(40);
  await expect(view).toHaveAttribute('data-checkpoint', String(stoppedAt));
  await expect(page.getByTestId('resume-run')).toBeVisible();
  await shot(page, info, 'pause-2-stopped');
});

test('studio: a lost GPU device interrupts the run; it resumes from its checkpoint on a new device', async ({ page }, info) => {
  await openStudio(page);
  await setUpRun(page, 12, 3);
  await tab(page, 'Train');
  await startTraining(page);
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-checkpoint', '3', { timeout: 120_000 });
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', /^([4-9]|1\d)$/, { timeout: 120_000 });
  await page.evaluate(() => (globalThis as unknown as { __studioEngine: () => { call(r: { type: 'simulateDeviceLoss' }): Promise<unknown> } }).__studioEngine().call({ type: 'simulateDeviceLoss' }));
  await expect(view).toHaveAttribute('data-status', 'interrupted', { timeout: 120_000 });
  await expect(page.getByTestId('run-error')).toContainText('The GPU device was lost during training');
  await shot(page, info, 'device-lost-1');
  // The model folder is still open in this tab: resuming reloads it on a fresh device.
  const checkpoint = await view.getAttribute('data-checkpoint');
  await expect(page.getByTestId('resume-run')).toHaveText(`Resume from step ${checkpoint}`);
  await page.getByTestId('resume-run').click();
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(page.getByTestId('train-step')).toHaveText('12');
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', '12');
  await shot(page, info, 'device-lost-2-resumed');
});
