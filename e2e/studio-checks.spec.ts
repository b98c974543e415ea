// The studio checks before it offers: a model folder without a tokenizer or weights cannot be
// loaded (Load disabled, with the reason); dataset messages stay true as the options change.
import { copyFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { MODEL_DIR, openStudio } from './studio-helpers';

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
