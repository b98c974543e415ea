// The studio checks before it offers: a model folder without a tokenizer or weights cannot be
// loaded (Load disabled, with the reason); dataset messages stay true as the options change.
import { copyFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { dropFile, FROG_TEXTS, jsonl, loadLocalModel, MODEL_DIR, openStudio, tab } from './studio-helpers';

/** A copy of stories260K's folder with only `files` in it. */
function partialFolder(files: string[]): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'studio-folder-')), 'stories260K');
  mkdirSync(dir);
  for (const f of files) copyFileSync(join(MODEL_DIR, f), join(dir, f));
  return dir;
}

test('Load model is disabled, with its reason, for a folder without a tokenizer or without weights', async ({ page }) => {
  await openStudio(page);
  const input = page.getByTestId('model-folder-input');
  const load = page.getByTestId('load-model');
  const blocked = page.getByTestId('load-blocked');

  await input.setInputFiles(partialFolder(['config.json', 'model.safetensors', 'tokenizer_config.json']));
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  await expect(load).toBeDisabled();
  await expect(blocked).toContainText('no tokenizer (tokenizer.json, or tokenizer.model, or vocab.json with merges.txt)');
  await expect(blocked).not.toContainText('weights');

  await input.setInputFiles(partialFolder(['config.json', 'tokenizer.json']));
  await expect(blocked).toContainText('no weights');
  await expect(blocked).not.toContainText('tokenizer');
  await expect(load).toBeDisabled();

  await input.setInputFiles(MODEL_DIR);
  await expect(blocked).toHaveCount(0);
  await expect(load).toBeEnabled();
});

test('dataset messages stay true: one error, no stale "cannot tell", "prompts masked" only with prompts', async ({ page }) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  const rows = Array.from({ length: 8 }, (_, i) => `frog ${i},Tom ate cake number ${i}.`);
  await dropFile(page, 'dataset-dropzone', 'pairs.csv', `foo,bar\n${rows.join('\n')}\n`);
  const main = page.locator('main');
  await expect(page.getByTestId('dataset-error')).toContainText('cannot tell the record shape');
  await expect(main.getByText(/cannot tell the record shape/)).toHaveCount(1);
  await expect(main).toContainText('Not detected (the message above says why).');

  await page.getByTestId('dataset-template').fill('Q: {foo}\nA:');
  await page.getByTestId('ds-response').selectOption('bar');
  await expect(page.getByTestId('dataset-examples')).toHaveText('8');
  await expect(main).not.toContainText('cannot tell the record shape');
  await expect(main).toContainText('Set by the prompt template');
  await expect(page.getByTestId('dataset-tokens')).toContainText('prompts masked');

  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  await expect(page.getByTestId('dataset-tokens')).toContainText('trained');
  await expect(page.getByTestId('dataset-tokens')).not.toContainText('prompts masked');
});
