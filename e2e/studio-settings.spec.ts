// Saved settings: name and save the knobs, load them later (after a reload too), export and import
// them as JSON; "Copy as command" copies the npm run train line of the same settings; the saved
// activations knob changes the memory estimate and the command.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { knob, loadLocalModel, openStudio, tab, textOutsideCommand } from './studio-helpers';

test('settings saved under a name come back, travel as JSON, and copy as a command', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Settings');
  await knob(page, 'r', '4');
  await knob(page, 'seqLen', '64');
  await page.getByTestId('settings-name').fill('tiny run');
  await page.getByTestId('settings-save').click();
  await expect(page.getByTestId('settings-message')).toHaveText('Saved as “tiny run”.');

  const command = page.getByTestId('command-line');
  await expect(command).toContainText('npm run train -- --model PATH/TO/stories260K');
  await expect(command).toContainText('--lora-r 4 ');
  await expect(command).toContainText('--seq-len 64 ');
  await page.getByTestId('copy-command').click();
  await expect(page.getByTestId('settings-message')).toContainText('Copied the command');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await command.textContent());

  // Saved activations f16 (the model is loaded until the reload below): the memory estimate
  // drops and the command carries the flag.
  const total = page.getByTestId('memory-total').first();
  const unit: Record<string, number> = { B: 2 ** -20, KiB: 2 ** -10, MiB: 1, GiB: 2 ** 10 };
  const mib = async () => {
    const m = /([\d.]+) (B|KiB|MiB|GiB)/.exec((await total.textContent()) ?? '');
    return m ? Number(m[1]) * unit[m[2]] : NaN;
  };
  const f32 = await mib();
  expect(f32).toBeGreaterThan(0);
  await expect(command).not.toContainText('--activations');
  await page.getByTestId('knob-saveActivations').selectOption('f16');
  await expect(command).toContainText('--activations f16');
  await expect.poll(mib).toBeLessThan(f32);

    await knob(page, 'r', '16');
  await expect(command).toContainText('--lora-r 16 ');
  await page.reload();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
  await tab(page, 'Settings');
  await expect(page.getByTestId('settings-saved')).toHaveValue('tiny run');
  await page.getByTestId('settings-load').click();
  await expect(page.getByTestId('knob-r')).toHaveValue('4');
  await expect(page.getByTestId('knob-seqLen')).toHaveValue('64');

  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('settings-export').click()]);
  expect(dl.suggestedFilename()).toBe('tiny-run.settings.json');
  const json = JSON.parse(readFileSync(await dl.path(), 'utf8'));
  expect(json).toMatchObject({ kind: 'lora-studio-settings', version: 2, name: 'tiny run', knobs: { r: 4, seqLen: 64 } });
  json.name = 'from a colleague';
  json.knobs.r = 2;
  await page.getByTestId('settings-import').setInputFiles({ name: 'colleague.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(json)) });
  await expect(page.getByTestId('settings-message')).toContainText('Imported “from a colleague”');
  await page.getByTestId('settings-saved').selectOption('from a colleague');
  await page.getByTestId('settings-load').click();
  await expect(page.getByTestId('knob-r')).toHaveValue('2');

  json.knobs.r = 'two';
  await page.getByTestId('settings-import').setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(json)) });
  await expect(page.getByTestId('settings-message')).toHaveText('broken.json cannot be used: “Rank (r)” has a value of the wrong kind ("two").');
  // Flags appear only inside the command itself.
  expect(await textOutsideCommand(page)).not.toMatch(/--[a-z]/);
});

test('settings saved by an older studio (rank, alpha, targetKinds, ...) load with their values', async ({ page }) => {
  await openStudio(page);
  // A localStorage entry as the studio wrote it before the LoRA knobs took PEFT's names (settings format 1).
  const old = { kind: 'lora-studio-settings', version: 1, name: 'old', knobs: { rank: 12, alpha: 24, dropout: 0.1, rslora: true, targetKinds: ['q_proj', 'k_proj'], loraPlusRatio: 4, seqLen: 48 } };
  await page.evaluate((json) => localStorage.setItem('lora-studio.savedSettings', JSON.stringify([{ name: 'old', json }])), JSON.stringify(old));
  await page.reload();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
  await tab(page, 'Settings');
  await page.getByTestId('settings-saved').selectOption('old');
  await page.getByTestId('settings-load').click();
  await expect(page.getByTestId('knob-r')).toHaveValue('12');
  await expect(page.getByTestId('knob-loraAlpha')).toHaveValue('24');
  await expect(page.getByTestId('knob-loraDropout')).toHaveValue('0.1');
  await expect(page.getByTestId('knob-loraplusLrRatio')).toHaveValue('4');
  await expect(page.getByTestId('knob-useRslora')).toBeChecked();
  await expect(page.getByTestId('knob-seqLen')).toHaveValue('48');
  await expect(page.getByTestId('command-line')).toContainText('--lora-r 12 --lora-alpha 24 --lora-dropout 0.1 --use-rslora --target-modules q_proj,k_proj --loraplus-lr-ratio 4 ');
});
