// Shared steps of the studio end-to-end tests.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, type Page, type TestInfo } from '@playwright/test';

export const MODEL_DIR = fileURLToPath(new URL('../../shared/models/stories260K', import.meta.url));

/** stories260K's known greedy continuation from BOS, as its README gives it (the unit tests read it the same way). */
export function knownContinuation(): string {
  const readme = readFileSync(`${MODEL_DIR}/README.md`, 'utf8').replace(/\r/g, '');
  const m = /continues\s*\n?"([^"]+)"/m.exec(readme);
  if (!m) throw new Error(`${MODEL_DIR}/README.md has no quoted continuation`);
  return m[1].replace(/\s*\n\s*/g, ' ');
}

/** Dispatches a real drag-and-drop of one file (dragenter, dragover, drop with a DataTransfer) on an element. */
export async function dropFile(page: Page, testId: string, name: string, content: string, type = 'application/octet-stream'): Promise<void> {
  await page.getByTestId(testId).evaluate(
    (el, f) => {
      const dt = new DataTransfer();
      dt.items.add(new File([f.content], f.name, { type: f.type }));
      for (const kind of ['dragenter', 'dragover', 'drop']) el.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: dt }));
    },
    { name, content, type },
  );
}

export async function shot(page: Page, info: TestInfo, name: string): Promise<void> {
  await page.screenshot({ path: info.outputPath(`${name}.png`), fullPage: true });
}

/** The page's console errors and uncaught exceptions since openStudio, for failure messages. */
const pageErrors = new WeakMap<Page, string[]>();

export async function openStudio(page: Page): Promise<void> {
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'LoRA Studio' })).toBeVisible();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
}

export async function tab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name: new RegExp(`^${name}`) }).click();
}

/**
 * Presses Start training (Train tab) and waits until the run is shown. If it is not, the failure
 * says what the page says instead: the run error, the reason Start is blocked, the dataset's state,
 * and the console errors.
 */
export async function startTraining(page: Page, timeout = 60_000): Promise<void> {
  await page.getByTestId('start-training').click();
  try {
    // A start first waits for the time estimate's speed measurement to finish its step (on
    // SwiftShader its first step compiles every pipeline of the graph) and for the dataset; the
    // studio says so ('run-starting'), so that wait gets its own allowance.
    await expect(page.getByTestId('run-view').or(page.getByTestId('run-starting')).first()).toBeVisible({ timeout });
    await expect(page.getByTestId('run-view')).toBeVisible({ timeout: timeout + 120_000 });
  } catch (e) {
    const text = async (id: string) => ((await page.getByTestId(id).count()) ? (await page.getByTestId(id).first().textContent())?.trim() : '(absent)');
    const said = {
      runError: await text('run-error'), startBlocked: await text('start-blocked'), starting: await text('run-starting'),
      trainStatus: await page.locator('#train-h ~ .row .small').first().textContent().catch(() => null),
      errors: pageErrors.get(page) ?? [],
    };
    throw new Error(`No run appeared after Start training: ${JSON.stringify(said)}\n${(e as Error).message}`);
  }
}

/** Opens the stories260K folder through the folder input and loads it. */
export async function loadLocalModel(page: Page): Promise<void> {
  await tab(page, 'Model');
  await page.getByTestId('model-folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('loaded-name')).toHaveText('stories260K', { timeout: 120_000 });
}

export const FROG_TEXTS = Array.from({ length: 24 }, (_, i) => `Tom had a purple frog number ${i}. The purple frog ate cake with Tom.`);

export function jsonl(texts: string[]): string {
  return texts.map((text) => JSON.stringify({ text })).join('\n') + '\n';
}

/** Sets a numeric knob on the Settings tab by its test id. */
export async function knob(page: Page, name: string, value: string): Promise<void> {
  const input = page.getByTestId(`knob-${name}`);
  await input.fill(value);
  await expect(input).toHaveValue(value);
}

/** True for a URL of the studio's own server (the test's baseURL), blob: or data:. */
export function isLocal(url: string, baseURL: string | undefined): boolean {
  return (!!baseURL && url.startsWith(new URL('/', baseURL).href)) || url.startsWith('blob:') || url.startsWith('data:');
}

/** The page's text without the "Copy as command" line (the one place where flags belong). */
export async function textOutsideCommand(page: Page): Promise<string> {
  return page.locator('body').evaluate((b) => {
    const c = b.cloneNode(true) as HTMLElement;
    c.querySelector('[data-testid=command-line]')?.remove();
    return c.textContent ?? '';
  });
}

/**
 * The short run most studio specs train: stories260K loaded from its folder, the 24 frog texts
 * dropped on the Dataset tab, the run measured in steps, then the given knobs set in order on the
 * Settings tab (leaves the page on Settings).
 */
export async function setUpFrogRun(page: Page, knobs: Record<string, string>): Promise<void> {
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  await tab(page, 'Settings');
  await page.getByTestId('knob-lengthBy').selectOption('steps');
  for (const [name, value] of Object.entries(knobs)) await knob(page, name, value);
}

/** A run's checkpoint entries in the studio's IndexedDB (key `RUNID@STEP`), newest step first. */
export async function checkpointKeys(page: Page, runId: string): Promise<{ key: string; step: number }[]> {
  return page.evaluate(async (run) => {
    const db = await new Promise<IDBDatabase>((ok, fail) => {
      const r = indexedDB.open('lora-studio-checkpoints');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const keys = await new Promise<IDBValidKey[]>((ok, fail) => {
      const r = db.transaction('checkpoints').objectStore('checkpoints').getAllKeys();
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    db.close();
    return keys
      .map(String)
      .filter((k) => k.startsWith(`${run}@`))
      .map((key) => ({ key, step: Number(key.slice(key.lastIndexOf('@') + 1)) }))
      .sort((a, b) => b.step - a.step);
  }, runId);
}
