// A damaged checkpoint in IndexedDB: after a reload mid-run, one byte of the newest checkpoint's
// adapter is flipped in the page's IndexedDB; Resume verifies the checksum, says so, and resumes
// from the previous good checkpoint, then finishes the run.
import { expect, test } from '@playwright/test';
import { checkpointKeys, MODEL_DIR, openStudio, setUpFrogRun, shot, tab } from './studio-helpers';

test('studio: a damaged newest checkpoint is skipped for the previous good one, with a message', async ({ page }, info) => {
  test.setTimeout(420_000);
  await openStudio(page);
  await setUpFrogRun(page, { steps: '8', batchSize: '2', seqLen: '32', lr: '0.003', evalEvery: '2', evalSplit: '0.25' });
  await tab(page, 'Train');
  await page.getByTestId('start-training').click();
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-checkpoint', /^(4|6)$/, { timeout: 180_000 });
  const runId = (await view.getAttribute('data-run-id'))!;
  await page.reload(); // the tab goes away mid-run
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('resume-banner')).toHaveAttribute('data-run-id', runId);

  const kept = await checkpointKeys(page, runId);
  expect(kept.length).toBe(2); // keep 2
  const [newest, previous] = kept;
  // Flip one byte in the middle of the newest checkpoint's adapter (the checksum no longer matches).
  await page.evaluate(async (key) => {
    const db = await new Promise<IDBDatabase>((ok, fail) => {
      const r = indexedDB.open('lora-studio-checkpoints');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const store = () => db.transaction('checkpoints', 'readwrite').objectStore('checkpoints');
    const rec = await new Promise<{ files: Record<string, Uint8Array | string> }>((ok, fail) => {
      const r = store().get(key);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const bytes = rec.files['adapter_model.safetensors'] as Uint8Array;
    bytes[bytes.length >> 1] ^= 0xff;
    await new Promise<void>((ok, fail) => {
      const r = store().put(rec, key);
      r.onsuccess = () => ok();
      r.onerror = () => fail(r.error);
    });
    db.close();
  }, newest.key);

  await tab(page, 'Model');
  await page.getByTestId('model-folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  await page.getByTestId('banner-resume').click();
  await tab(page, 'Train');
  await expect(view).toHaveAttribute('data-run-id', runId);
  const notice = page.getByTestId('run-notice');
  await expect(notice).toContainText(`The newest checkpoint is damaged: the checkpoint of step ${newest.step} (`, { timeout: 60_000 });
  await expect(notice).toContainText(`resuming from the checkpoint of step ${previous.step} at step ${previous.step} instead.`);
  await shot(page, info, 'damaged-checkpoint-1-fallback');
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 180_000 });
  await expect(page.getByTestId('train-step')).toHaveText('8');
  await expect(view).toHaveAttribute('data-checkpoint', '8');
  // The damaged entry was removed when resuming; the run keeps two good checkpoints again.
  expect((await checkpointKeys(page, runId)).map((k) => k.step)).toEqual([8, 6]);
});
