import { expect, test } from '@playwright/test';

test('the studio opens and finds a WebGPU adapter', async ({ page }, info) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'LoRA Studio' })).toBeVisible();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
  await page.screenshot({ path: info.outputPath('start.png') });
});
