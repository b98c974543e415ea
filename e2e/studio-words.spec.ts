// The studio speaks its user's language: messages name knobs, not command-line flags; a rejected
// value says its allowed range beside the knob; screenshots of Settings, Train and Runs at 1024 and
// 1920 px wide land in test-results/.
import { expect, test } from '@playwright/test';
import { dropFile, FROG_TEXTS, jsonl, knob, loadLocalModel, openStudio, shot, tab, textOutsideCommand } from './studio-helpers';

test('an absurd sequence length and rank 0 say why, in the studio\'s words, where they are', async ({ page }, info) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Settings');
  await knob(page, 'seqLen', '100000');
  const problem = page.locator('.panel').getByText(/sequence length 100000 is above the model's maximum of \d+ positions; use “Sequence length” \d+ or less\./).first();
  await expect(problem).toBeVisible();
  expect(await textOutsideCommand(page)).not.toContain('--seq-len');
  await expect(page.getByTestId('trainable-params').first()).toContainText(/^\d+(\.\d+)?[KMB]? \(\d+(\.\d+)?% of \d+(\.\d+)?[KMB]\)$/);
  await page.getByTestId('knob-r').fill('0');
  await expect(page.getByTestId('knob-r-range')).toHaveText(/^Allowed: a whole number from 1 to 1024; still using \d+\.$/);
  for (const width of [1024, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    await shot(page, info, `settings-${width}`);
  }
  await tab(page, 'Train');
  const blocked = page.getByTestId('start-blocked');
  await expect(blocked).toContainText('“Sequence length”');
  await expect(page.getByTestId('start-training')).toBeDisabled();
  await expect(page.locator('body')).not.toContainText(/--[a-z]/);
  for (const width of [1024, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    await shot(page, info, `train-${width}`);
  }
  await tab(page, 'Runs');
  for (const width of [1024, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    await shot(page, info, `runs-${width}`);
  }
});

test('Start training is disabled, with its reason, when Settings ask for another quantization than the loaded base', async ({ page }) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Settings');
  await page.getByTestId('knob-quant').selectOption('int8');
  await tab(page, 'Train');
  await expect(page.getByTestId('start-training')).toBeDisabled();
  await expect(page.getByTestId('start-blocked')).toContainText('The base is loaded as');
  await expect(page.getByTestId('start-blocked')).toContainText('“Base quantization” is int8');
});

test('an engine error that names a setting opens Settings and focuses that knob', async ({ page }) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  // The engine's train reply is replaced by an error about the batch size, as the worker sends it
  // (its message in the studio's words, the option as data on the client's error).
  await page.evaluate(() => {
    const client = (globalThis as unknown as { __studioEngine: () => { call: (r: { type: string }, ...rest: unknown[]) => Promise<unknown> } }).__studioEngine();
    const call = client.call.bind(client);
    client.call = (r, ...rest) =>
      r.type === 'train' ? Promise.reject(Object.assign(new Error('The activations do not fit: lower “Batch size” to 1.'), { option: 'batchSize' })) : call(r, ...rest);
  });
  await tab(page, 'Train');
  await page.getByTestId('start-training').click();
  await expect(page.getByRole('tab', { name: /^Settings/ })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('focus-message')).toContainText('lower “Batch size” to 1');
  await expect(page.getByTestId('knob-batchSize')).toBeFocused();
  await page.getByTestId('knob-batchSize').fill('1');
  await expect(page.getByTestId('focus-message')).toHaveCount(0);
});
