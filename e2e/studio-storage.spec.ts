// Browser storage: with the origin's quota cut (Chromium's DevTools protocol) in the middle of a
// run that checkpoints every step, the run pauses with a message that says what is full and what
// to delete, the previous checkpoint stays whole (its checksum verified here independently),
// clearing a cached model from the offer and pressing Resume finishes the run; persistence is
// asked once and its state shown.
import { expect, test, type Page } from '@playwright/test';
import { openStudio, setUpFrogRun, shot, startTraining, tab } from './studio-helpers';

const FAKE_MODEL = 'https://huggingface.co/test-org/big-model/resolve/main/model.safetensors';

/** The stored checkpoints of a run (step and whether their checksum holds), read straight from IndexedDB. */
function storedCheckpoints(page: Page, runId: string): Promise<{ key: string; step: number; ok: boolean }[]> {
  return page.evaluate(async (id) => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open('lora-studio-checkpoints');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const all = await new Promise<{ keys: IDBValidKey[]; values: { step: number; files: Record<string, Uint8Array | string> }[] }>((res, rej) => {
      const st = db.transaction('checkpoints').objectStore('checkpoints');
      const k = st.getAllKeys();
      const v = st.getAll();
      v.onsuccess = () => res({ keys: k.result, values: v.result });
      v.onerror = () => rej(v.error);
    });
    db.close();
    const enc = new TextEncoder();
    const fnv = (b: Uint8Array, h: number) => {
      for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
      return h >>> 0;
    };
    const out = [];
    for (let i = 0; i < all.keys.length; i++) {
      const key = String(all.keys[i]);
      if (!key.startsWith(`${id}@`)) continue;
      const files = all.values[i].files;
      let h = 0x811c9dc5;
      for (const name of Object.keys(files).filter((n) => n !== 'checksum.json').sort()) {
        h = fnv(enc.encode(name), h);
        h = fnv(Uint8Array.of(0), h);
        const v = files[name];
        h = fnv(typeof v === 'string' ? enc.encode(v) : v, h);
      }
      const saved = JSON.parse(files['checksum.json'] as string).fnv1a32;
      out.push({ key, step: all.values[i].step, ok: saved === h.toString(16).padStart(8, '0') });
    }
    return out;
  }, runId);
}

test('studio: a full disk pauses the run with a clear message; the previous checkpoint stays whole; freeing space and Resume finish it', async ({ page, context }, info) => {
  // Count the page's persistence requests.
  await page.addInitScript(() => {
    const sm = navigator.storage;
    const persist = sm.persist.bind(sm);
    (globalThis as unknown as { __persistCalls: number }).__persistCalls = 0;
    sm.persist = () => {
      (globalThis as unknown as { __persistCalls: number }).__persistCalls++;
      return persist();
    };
  });
  const cdp = await context.newCDPSession(page);
  // The studio's origin (the port follows E2E_PORT).
  const origin = new URL(info.project.use.baseURL!).origin;
  const usageAndQuota = () => cdp.send('Storage.getUsageAndQuota', { origin });
  try {
    await openStudio(page);
    // A 3 MiB "cached model" that the page can offer to delete.
    await page.evaluate(async (url) => {
      const c = await caches.open('models');
      await c.put(url, new Response(new Uint8Array(3 << 20), { headers: { 'content-type': 'application/octet-stream', 'x-studio-size': String(3 << 20) } }));
    }, FAKE_MODEL);

    // a checkpoint every step
    await setUpFrogRun(page, { steps: '16', batchSize: '2', seqLen: '32', evalEvery: '1', evalSplit: '0.25' });
    // Before the run: what it writes beside the memory estimate.
    await expect(page.getByTestId('storage-fit-run')).toHaveAttribute('data-verdict', 'fits');
    await expect(page.getByTestId('storage-fit-run')).toContainText('3 checkpoints of');

    await tab(page, 'Train');
    await startTraining(page);
    const view = page.getByTestId('run-view');
    await expect(view).toHaveAttribute('data-checkpoint', /^([2-9]|1[0-5])$/, { timeout: 120_000 });
    // Persistence is asked at the first run, with its reason in the page.
    await expect(page.getByTestId('persist-note')).toContainText('asked it to keep this site\'s storage persistent');
    const runId = (await view.getAttribute('data-run-id'))!;
    await page.getByTestId('pause-training').click();
    await expect(view).toHaveAttribute('data-status', 'paused');
    // Parked in the worker (data-held): the step in flight and its checkpoint are written.
    await expect(view).toHaveAttribute('data-held', /^\d+$/, { timeout: 120_000 });

    // Cut the quota 1 MiB below what is used now, so no checkpoint (about 110 KB here) can be
    // written. Below, not just above by less than a checkpoint: IndexedDB's usage is reported in
    // coarse steps (512 KiB here), so a margin above it may hold a checkpoint or two on another
    // machine. The browser's own figures (the page's estimate() reports a padded quota in a
    // private context); the 3 MiB cached model keeps the cut quota well above zero.
    const { usage } = await usageAndQuota();
    const cut = usage - (1 << 20);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: cut });
    expect((await usageAndQuota()).quota).toBe(cut);
    // Chromium checks IndexedDB writes against a remembered figure of the space left, refreshed
    // only from time to time: right after the cut, a run of fast steps could write every
    // checkpoint before the figure caught up (seen on CI: all 16 written under a quota below the
    // usage). Wait until a write of the page's own (same origin, same bucket) is refused; from then
    // on the run's next checkpoint meets the cut quota too.
    const probeWrite = () => page.evaluate(async () => {
      // Creating the probe database is a write too: its refusal counts the same.
      const opened = await new Promise<IDBDatabase | string>((res) => {
        const r = indexedDB.open('quota-probe', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('p');
        r.onsuccess = () => res(r.result);
        r.onerror = () => res(r.error?.name ?? 'open failed');
      });
      if (typeof opened === 'string') return opened;
      const db = opened;
      const outcome = await new Promise<string>((res) => {
        const tx = db.transaction('p', 'readwrite');
        tx.objectStore('p').put(new Uint8Array(256 << 10), 'x');
        tx.oncomplete = () => res('written');
        tx.onabort = () => res(tx.error?.name ?? 'aborted');
      });
      db.close();
      return outcome;
    });
    await expect.poll(probeWrite, { timeout: 120_000, intervals: [1000] }).toBe('QuotaExceededError');
    await page.evaluate(() => new Promise((res) => {
      const r = indexedDB.deleteDatabase('quota-probe');
      r.onsuccess = r.onerror = r.onblocked = () => res(null);
    }));
    await page.getByTestId('resume-training').click();

    const message = page.getByTestId('storage-full-message');
    await expect(message).toBeVisible({ timeout: 120_000 });
    await expect(view).toHaveAttribute('data-status', 'paused');
    const kept = Number(await view.getAttribute('data-checkpoint'));
    await expect(message).toHaveText(
      new RegExp(`^Storage for this site is full: the checkpoint of step ${kept + 1} could not be saved \\(the one of step ${kept} is intact\\); delete cached models or old runs here, then press Resume\\.$`),
    );
    await shot(page, info, 'storage-1-full');
    // Nothing saved was damaged: the two kept checkpoints, the newest the step the message names, checksums whole.
    const before = await storedCheckpoints(page, runId);
    expect(before.map((c) => c.step).sort((a, b) => a - b)).toEqual([kept - 1, kept]);
    expect(before.every((c) => c.ok)).toBe(true);

    // Free space right there: clear the cached model, then Resume.
    const offer = page.getByTestId('storage-full');
    await expect(offer.getByTestId('free-model')).toContainText('test-org/big-model');
    await offer.getByRole('button', { name: 'Clear the cache of test-org/big-model' }).click();
    await expect(offer.getByTestId('free-model')).toHaveCount(0);
    // The browser counts the freed megabytes.
    await expect.poll(async () => { const u = await usageAndQuota(); return u.quota - u.usage; }, { timeout: 120_000 }).toBeGreaterThan(1 << 20);
    await page.getByTestId('resume-training').click();
    await expect(view).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
    await expect(page.getByTestId('storage-full')).toHaveCount(0);
    await expect(page.getByTestId('train-step')).toHaveText('16');
    await expect(view).toHaveAttribute('data-checkpoint', '16');
    const after = await storedCheckpoints(page, runId);
    expect(after.map((c) => c.step).sort((a, b) => a - b)).toEqual([15, 16]);
    expect(after.every((c) => c.ok)).toBe(true);

    // Asked once; the Runs view shows usage, quota, the kinds and whether storage is persistent.
    expect(await page.evaluate(() => (globalThis as unknown as { __persistCalls: number }).__persistCalls)).toBe(1);
    await tab(page, 'Runs');
    await expect(page.getByTestId('storage-use')).toHaveAttribute('data-quota', /^[1-9]\d*$/);
    await expect(page.getByTestId('storage-persisted')).toHaveText(/^Storage is (not )?persistent/);
    await expect(page.getByTestId('storage-checkpoints')).not.toHaveText('0 B');
    await expect(page.getByTestId('storage-datasets')).not.toHaveText('0 B');
    await expect(page.getByTestId('storage-models')).toHaveText('0 B');
    await shot(page, info, 'storage-2-runs');
  } finally {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin }).catch(() => {});
  }
});
