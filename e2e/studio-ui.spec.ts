// Quality of use: the message when WebGPU is missing, keyboard operation, labelled controls, light
// and dark themes, laptop and large-screen widths.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { MODEL_DIR, openStudio, shot, tab } from './studio-helpers';

test('studio: without WebGPU the page says why and what to do', async ({ page }, info) => {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  await page.goto('/');
  const box = page.getByTestId('gpu-missing');
  await expect(box).toBeVisible();
  await expect(box).toContainText('does not expose WebGPU');
  await expect(box.locator('li').first()).toContainText(/--enable-unsafe-webgpu|chrome:\/\/gpu|Chrome or Edge/);
  await expect(page.getByRole('tablist')).toHaveCount(0);
  await shot(page, info, 'no-webgpu');
});

/** Inputs, selects, text areas and buttons in the page that have no accessible name. */
async function unlabelled(page: Page): Promise<string[]> {
  return page.locator('input, select, textarea, button').evaluateAll((els) =>
    els
      .filter((el) => {
        const e = el as HTMLInputElement;
        if (e.type === 'hidden' || e.hidden) return false;
        const named = (e.labels?.length ?? 0) > 0 || !!e.getAttribute('aria-label')?.trim() || !!e.getAttribute('aria-labelledby');
        return !(named || (el.tagName === 'BUTTON' && el.textContent?.trim()));
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

test('studio: keyboard operable, labelled, themed, and fits laptop and large screens', async ({ page }, info) => {
  await openStudio(page);
  // Tabs follow the arrow keys.
  await page.getByRole('tab', { name: /^Model/ }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: /^Dataset/ })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: /^Dataset/ })).toBeFocused();
  // The drop zone opens the file picker from the keyboard: Enter and Space click the (single-file)
  // input. The click is recorded and its default (the native dialog) prevented: Playwright's
  // 'filechooser' event proved unreliable here (once in CI it never came, with the click made).
  await page.getByTestId('dataset-input').evaluate((el) => {
    const w = window as unknown as { pickerClicks: number };
    w.pickerClicks = 0;
    el.addEventListener('click', (e) => {
      w.pickerClicks++;
      e.preventDefault();
    });
  });
  expect(await page.getByTestId('dataset-input').evaluate((el) => (el as HTMLInputElement).multiple)).toBe(false);
  await page.getByTestId('dataset-dropzone').focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.evaluate(() => (window as unknown as { pickerClicks: number }).pickerClicks)).toBe(1);
  await page.keyboard.press(' ');
  await expect.poll(() => page.evaluate(() => (window as unknown as { pickerClicks: number }).pickerClicks)).toBe(2);
  await page.getByRole('tab', { name: /^Settings/ }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('tab', { name: /^Settings/ })).toHaveAttribute('aria-selected', 'true');
  // Knobs are reached by their labels and typed into; every control in every tab has a name.
  const rank = page.getByLabel('Rank (r)');
  await rank.focus();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('32');
  await expect(page.getByLabel('Alpha')).toBeVisible();
  await expect(rank).toHaveValue('32');
  for (const name of ['Model', 'Dataset', 'Settings', 'Train', 'Playground', 'Runs']) {
    await tab(page, name);
    if (name !== 'Runs') expect(await page.locator('main').locator('input, select, textarea, button').count(), name).toBeGreaterThan(0); // (no runs yet)
    expect(await unlabelled(page), `unlabelled controls on ${name}`).toEqual([]);
  }
  // Every knob carries its one-line explanation.
  await tab(page, 'Settings');
  const knobs = page.locator('main .field');
  const n = await knobs.count();
  expect(n).toBeGreaterThan(20);
  for (let i = 0; i < n; i++) await expect(knobs.nth(i).locator('.help')).not.toBeEmpty();

  // Themes.
  await page.getByTestId('theme').selectOption('dark');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  const darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot(page, info, 'theme-dark');
  await page.getByTestId('theme').selectOption('light');
  const lightBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(darkBg).not.toBe(lightBg);
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light'); // remembered

  // No horizontal scrolling at laptop and large-screen widths.
  for (const [w, h] of [
    [1280, 800],
    [1920, 1080],
    [1024, 768],
  ] as const) {
    await page.setViewportSize({ width: w, height: h });
    for (const name of ['Model', 'Settings', 'Train']) {
      await tab(page, name);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${name} at ${w}px`).toBeLessThanOrEqual(0);
    }
    await tab(page, 'Settings');
    await shot(page, info, `width-${w}`);
  }
});

test('studio: model files dropped on the model drop zone load as a local model', async ({ page }, info) => {
  await openStudio(page);
  await tab(page, 'Model');
  const names = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
  const files = names.map((name) => ({ name, b64: readFileSync(`${MODEL_DIR}/${name}`).toString('base64') }));
  await page.getByTestId('model-dropzone').evaluate((el, files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    for (const kind of ['dragenter', 'dragover', 'drop']) el.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, files);
  await expect(page.getByTestId('chosen-model')).toContainText('local folder, 4 files');
  await expect(page.getByTestId('memory-verdict').first()).toHaveText('Fits');
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('loaded-params')).toHaveText('260,032', { timeout: 120_000 });
  await shot(page, info, 'model-dropped');
});
