// Issue 10's remaining studio pieces, end to end in Chromium: the time estimate beside the memory
// estimate (measured on the loaded model, in words), a separate evaluation file that replaces the
// eval split (its own stats; the run's eval loss comes from it: the split is 0), the checkpoint to
// export (an earlier checkpoint's adapter and merged model differ from the final ones and their file
// names carry the step),
// Discard on the reload banner, and screenshots of Settings, Train and Runs at 1024 and 1920 px.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { unzipSync } from 'fflate';
import { dropFile, jsonl, openStudio, setUpFrogRun, shot, startTraining, tab } from './studio-helpers';

const EVAL_TEXTS = Array.from({ length: 8 }, (_, i) => `Sue saw a green duck ${i}. The duck swam in the pond.`);

/** The weights file of a downloaded .zip (the adapter's, or the merged model's), and the download's file name. */
async function downloadZip(page: Page, button = 'download-adapter-zip', weightsFile = 'adapter_model.safetensors'): Promise<{ name: string; weights: Uint8Array; files: string[] }> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByTestId(button).first().click()]);
  const zip = unzipSync(new Uint8Array(readFileSync(await dl.path())));
  const key = Object.keys(zip).find((k) => k.endsWith(weightsFile))!;
  return { name: dl.suggestedFilename(), weights: zip[key], files: Object.keys(zip).map((k) => k.split('/').pop()!).sort() };
}

test('studio: time estimate, an evaluation file, the checkpoint to export, and the three tabs at 1024 and 1920 px', async ({ page }, info) => {
  test.setTimeout(300_000);
  await openStudio(page);
  await setUpFrogRun(page, { steps: '6', batchSize: '2', seqLen: '32', lr: '0.003', evalEvery: '2', evalSplit: '0' });

  // The time estimate: measured on the loaded model, a positive duration in words for the run's steps.
  const estimate = page.getByTestId('time-estimate');
  await expect(estimate).toHaveText(/^Time: (under 5 seconds|about \d+ (seconds|minutes?)|about \d+ hours?( \d+ minutes)?) for 6 steps on this GPU/, { timeout: 120_000 });
  expect(Number(await estimate.getAttribute('data-seconds'))).toBeGreaterThan(0);
  await expect(estimate).toHaveAttribute('data-source', 'calibration');

  // The evaluation file: its own stats beside the training set's; the eval split is unused.
  await tab(page, 'Dataset');
  await dropFile(page, 'eval-dropzone', 'held-out.jsonl', jsonl(EVAL_TEXTS));
  await expect(page.getByTestId('eval-examples')).toHaveText('8', { timeout: 30_000 });
  await expect(page.getByTestId('eval-tokens')).toHaveText(/^\d[\d,]* \(/);
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  await tab(page, 'Settings');
  await expect(page.getByTestId('eval-split-unused')).toContainText('held-out.jsonl');

  await tab(page, 'Train');
  await startTraining(page);
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 150_000 });
  // Eval split 0: every eval point was measured on the evaluation file (before, steps 2 and 4, after).
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-eval-points', '4');
  await expect(page.getByTestId('time-estimate')).toHaveAttribute('data-source', 'run'); // the run refined the pace of its settings

  // Runs: the record names the evaluation file; the adapter of step 4 (still kept) differs from the final one.
  await tab(page, 'Runs');
  await expect(page.getByTestId('run-eval-file')).toContainText('held-out.jsonl (8 examples)');
  const pick = page.getByTestId('export-checkpoint');
  await expect(pick.locator('option')).toHaveText([/^final \(step 6, eval loss \d/, /^checkpoint of step 4, eval loss \d/]);
  const final = await downloadZip(page);
  await pick.selectOption('4');
  const step4 = await downloadZip(page);
  expect(final.name).not.toContain('step');
  expect(step4.name).toMatch(/-step4-adapter\.zip$/);
  expect(step4.files).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  expect(step4.weights.length).toBe(final.weights.length);
  expect(Buffer.from(step4.weights).equals(Buffer.from(final.weights))).toBe(false);
  // The same choice applies to the merged model: step 4's differs from the final one's, and its name says so.
  const merged4 = await downloadZip(page, 'download-merged', 'model.safetensors');
  await pick.selectOption('');
  const mergedFinal = await downloadZip(page, 'download-merged', 'model.safetensors');
  expect(merged4.name).toMatch(/-step4-merged\.zip$/);
  expect(mergedFinal.name).not.toContain('step');
  expect(merged4.weights.length).toBe(mergedFinal.weights.length);
  expect(Buffer.from(merged4.weights).equals(Buffer.from(mergedFinal.weights))).toBe(false);

  for (const w of [1024, 1920]) {
    await page.setViewportSize({ width: w, height: w === 1024 ? 768 : 1080 });
    for (const name of ['Settings', 'Train', 'Runs']) {
      await tab(page, name);
      await shot(page, info, `issue10-${name.toLowerCase()}-${w}`);
    }
  }
});

test('studio: Discard on the reload banner keeps the run as stopped and brings nothing back on the next load', async ({ page }, info) => {
  test.setTimeout(240_000);
  await openStudio(page);
  await setUpFrogRun(page, { steps: '10', batchSize: '2', seqLen: '32', lr: '0.003', evalEvery: '2' });
  await tab(page, 'Train');
  await startTraining(page);
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-checkpoint', /^[2468]$/, { timeout: 90_000 });
  const runId = await view.getAttribute('data-run-id');
  await page.reload();

  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 60_000 });
  const banner = page.getByTestId('resume-banner');
  await expect(banner).toHaveAttribute('data-run-id', runId!);
  await page.getByTestId('banner-discard').click();
  await expect(banner).toHaveCount(0);
  await tab(page, 'Runs');
  await expect(page.locator(`[data-testid=run-row][data-run-id="${runId}"]`)).toHaveAttribute('data-status', 'stopped');
  await shot(page, info, 'discard-1-stopped');

  // The next load announces nothing and restores nothing: the knobs are the defaults, no dataset is open.
  await page.reload();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 60_000 });
  await tab(page, 'Runs');
  await expect(page.locator(`[data-testid=run-row][data-run-id="${runId}"]`)).toHaveAttribute('data-status', 'stopped');
  await expect(banner).toHaveCount(0);
  await tab(page, 'Settings');
  await expect(page.getByTestId('knob-seqLen')).not.toHaveValue('32');
  await expect(page.getByTestId('knob-batchSize')).not.toHaveValue('2');
  await tab(page, 'Dataset');
  await expect(page.getByTestId('dataset-name')).toHaveCount(0);
  // The stopped run can still be continued from Runs.
  await tab(page, 'Runs');
  await expect(page.locator(`[data-testid=run-row][data-run-id="${runId}"]`).getByTestId('runs-resume')).toBeVisible();
});
