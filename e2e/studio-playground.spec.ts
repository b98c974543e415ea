// Playground: an adapter folder trained elsewhere (PEFT .bin) opened onto the loaded base, a
// DoRA adapter refused with its one-line message, and a two-turn chat on both sides.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { loadLocalModel, openStudio, shot, tab } from './studio-helpers';

const ADAPTER_DIR = fileURLToPath(new URL('../../shared/adapters/stories260K-lora-bin', import.meta.url));

async function openAdapter(page: Page, dir: string): Promise<void> {
  await page.getByTestId('pg-adapter-folder-input').setInputFiles(dir);
}

async function bothDone(page: Page, base: string, tuned: string): Promise<void> {
  for (const id of [base, tuned]) await expect(page.getByTestId(id)).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
}

test('an adapter folder from PEFT answers beside the loaded base, keeps GPU buffers only while chosen; a DoRA adapter says why it cannot', async ({ page }, info) => {
  await openStudio(page);
  await loadLocalModel(page);
  const loadedAt = await page.getByTestId('model-loaded').getAttribute('data-loaded-at');
  await tab(page, 'Playground');
  await expect(page.getByTestId('pg-generate')).toBeDisabled(); // no run, no folder yet
  await openAdapter(page, ADAPTER_DIR);
  await expect(page.getByTestId('pg-adapter-info')).toContainText('stories260K-lora-bin/adapter_model.bin: LoRA rank 4, alpha 8 on 10 modules, trained on stories260K');
  await expect(page.getByTestId('pg-adapter').locator('option:checked')).toHaveText('stories260K-lora-bin (folder)');
  await page.getByTestId('pg-prompt').fill('Tom had a');
  await page.getByTestId('pg-max-tokens').fill('24');
  await page.getByTestId('pg-generate').click();
  await bothDone(page, 'pg-base', 'pg-tuned');
  const baseText = (await page.getByTestId('pg-base').textContent())!;
  const tunedText = (await page.getByTestId('pg-tuned').textContent())!;
  expect(baseText.length).toBeGreaterThan(0);
  expect(tunedText.length).toBeGreaterThan(0);
  expect(tunedText).not.toBe(baseText);
  await expect(page.getByTestId('pg-prompt-seen')).toHaveText('Tom had a'); // an opened folder's data is unknown: as typed
  await shot(page, info, 'adapter-folder');

  // The same adapter with "use_dora": true, in a folder built for the test.
  const tmp = mkdtempSync(join(tmpdir(), 'lora-studio-dora-'));
  try {
    const dora = join(tmp, 'dora-adapter');
    mkdirSync(dora);
    const cfg = JSON.parse(readFileSync(join(ADAPTER_DIR, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dora, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
    copyFileSync(join(ADAPTER_DIR, 'adapter_model.bin'), join(dora, 'adapter_model.bin'));
    await openAdapter(page, dora);
    const error = page.getByTestId('pg-adapter-error');
    await expect(error).toContainText('dora-adapter/adapter_model.bin (adapter_config.json): "use_dora": true (DoRA) is not supported');
    expect(await error.textContent()).not.toMatch(/--[a-z]/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // The refused folder is not listed; the opened one is still chosen and answers as before.
  await expect(page.getByTestId('pg-adapter').locator('option')).toHaveText(['stories260K-lora-bin (folder)']);
  await page.getByTestId('pg-generate').click();
  await bothDone(page, 'pg-base', 'pg-tuned');
  await expect(page.getByTestId('pg-base')).toHaveText(baseText);
  await expect(page.getByTestId('pg-tuned')).toHaveText(tunedText);

  // Opened twice, the first copy leaves the GPU when the second is chosen, and comes back when chosen again.
  await openAdapter(page, ADAPTER_DIR);
  const options = page.getByTestId('pg-adapter').locator('option');
  await expect(options).toHaveCount(2);
  const [firstId, secondId] = await options.evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value));
  await expect(page.getByTestId('pg-adapter')).toHaveValue(secondId);
  await page.getByTestId('pg-adapter').selectOption(firstId);
  const gone = (id: string) =>
    page.evaluate(async (external) => {
      const engine = (globalThis as unknown as { __studioEngine: () => { call(r: unknown): Promise<unknown> } }).__studioEngine();
      return engine.call({ type: 'generate', req: { prompt: 'Tom', adapter: { external }, maxNewTokens: 1 } }).then(() => 'on the GPU', (e: Error) => e.message);
    }, id);
  await expect.poll(() => gone(secondId)).toMatch(/no longer on the GPU/);
  await expect.poll(() => gone(firstId)).toBe('on the GPU');
  await page.getByTestId('pg-generate').click();
  await bothDone(page, 'pg-base', 'pg-tuned');
  await expect(page.getByTestId('pg-tuned')).toHaveText(tunedText);
  await tab(page, 'Model');
  await expect(page.getByTestId('model-loaded')).toHaveAttribute('data-loaded-at', loadedAt!); // the base was never reloaded
});

test('chat: two turns answered by base and adapter, each side with its own conversation, then cleared', async ({ page }, info) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Playground');
  await openAdapter(page, ADAPTER_DIR);
  await expect(page.getByTestId('pg-adapter-info')).toBeVisible();
  await page.getByTestId('pg-mode-chat').check();
  await page.getByTestId('pg-max-tokens').fill('16');
  await page.getByTestId('chat-system').fill('You tell tiny stories.');
  await page.getByTestId('chat-input').fill('Tell me about a frog.');
  await page.getByTestId('chat-send').click();
  await bothDone(page, 'chat-base-answer-0', 'chat-tuned-answer-0');
  const first = { base: (await page.getByTestId('chat-base-answer-0').textContent())!, tuned: (await page.getByTestId('chat-tuned-answer-0').textContent())! };
  expect(first.base.length).toBeGreaterThan(0);
  expect(first.tuned.length).toBeGreaterThan(0);

  await page.getByTestId('chat-input').fill('What did it eat?');
  await page.getByTestId('chat-input').press('Enter');
  await bothDone(page, 'chat-base-answer-1', 'chat-tuned-answer-1');
  for (const side of ['base', 'tuned'] as const) {
    expect((await page.getByTestId(`chat-${side}-answer-1`).textContent())!.length).toBeGreaterThan(0);
    // stories260K has no chat template: the built-in ChatML, with this side's own first answer.
    const prompt = await page.getByTestId(`chat-prompt-${side}`).textContent();
    expect(prompt).toBe(
      '<|im_start|>system\nYou tell tiny stories.<|im_end|>\n' +
        `<|im_start|>user\nTell me about a frog.<|im_end|>\n<|im_start|>assistant\n${first[side]}<|im_end|>\n` +
        '<|im_start|>user\nWhat did it eat?<|im_end|>\n<|im_start|>assistant\n',
    );
  }
  await expect(page.getByTestId('chat-base').locator('.chat-user')).toHaveText(['Tell me about a frog.', 'What did it eat?']);
  await shot(page, info, 'chat');

  await page.getByTestId('chat-clear').click();
  await expect(page.getByTestId('chat-base-answer-0')).toHaveCount(0);
  await expect(page.getByTestId('chat-tuned-answer-0')).toHaveCount(0);
  await expect(page.getByTestId('chat-prompt-base')).toHaveCount(0);
  await expect(page.getByTestId('chat-system')).toHaveValue('You tell tiny stories.');
});
