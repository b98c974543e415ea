// "Nothing leaves the machine", enforced by the browser: the dev server sends the studio's
// Content-Security-Policy, the studio runs under it without a single violation (model load and
// dataset included), and a fetch to any other origin — from the page and from the engine's worker —
// is refused by the browser with a securitypolicyviolation event.
import { expect, test, type Page } from '@playwright/test';
import { HUB_CONNECT_SOURCES } from '../src/hosts';
import { dropFile, FROG_TEXTS, jsonl, loadLocalModel, openStudio, tab } from './studio-helpers';

type Probe = { outcome: string; violations: { blockedURI: string; directive: string }[] };

/** Fetches `url` (no-cors: without a policy this resolves with an opaque answer) and reports the outcome and the violations seen. */
const probe = async (url: string): Promise<Probe> => {
  const violations: Probe['violations'] = [];
  const on = (e: SecurityPolicyViolationEvent) => violations.push({ blockedURI: e.blockedURI, directive: e.effectiveDirective });
  self.addEventListener('securitypolicyviolation', on);
  let outcome: string;
  try {
    const r = await fetch(url, { mode: 'no-cors', cache: 'no-store' });
    outcome = `answered (${r.type})`;
  } catch (e) {
    outcome = `refused: ${(e as Error).name}`;
  }
  // The event is queued as a task: let it arrive.
  await new Promise((r) => setTimeout(r, 0));
  self.removeEventListener('securitypolicyviolation', on);
  return { outcome, violations };
};

async function violationsSoFar(page: Page): Promise<unknown[]> {
  return page.evaluate(() => (window as unknown as { __csp: unknown[] }).__csp);
}

test('CSP: the studio works under the policy; other origins are refused from the page and the worker', async ({ page, baseURL }) => {
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: unknown[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const res = await page.goto('/');
  const csp = res!.headers()['content-security-policy'];
  expect(csp).toContain("script-src 'self' 'nonce-");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).toContain(`connect-src 'self' ${HUB_CONNECT_SOURCES.join(' ')} ws://localhost:*`);
  expect(csp).toContain("worker-src 'self' blob:");

  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24', { timeout: 120_000 });
  expect(await violationsSoFar(page)).toEqual([]);

  // Another origin that is up and would answer: the same dev server under 127.0.0.1.
  const other = new URL('/index.html', baseURL!.replace('localhost', '127.0.0.1')).href;
  const fromPage = await page.evaluate(probe, other);
  expect(fromPage.outcome).toBe('refused: TypeError');
  expect(fromPage.violations).toEqual([{ blockedURI: other, directive: 'connect-src' }]);
  const remote = await page.evaluate(probe, 'https://example.com/');
  expect(remote.outcome).toBe('refused: TypeError');
  expect(remote.violations).toEqual([{ blockedURI: 'https://example.com/', directive: 'connect-src' }]);

  // The engine's worker, loaded from its own URL, carries the policy of its own response.
  const worker = page.workers().find((w) => w.url().includes('engine.worker'));
  expect(worker, 'the engine worker is running').toBeTruthy();
  const fromWorker = await worker!.evaluate(probe, other);
  expect(fromWorker.outcome).toBe('refused: TypeError');
  expect(fromWorker.violations).toEqual([{ blockedURI: other, directive: 'connect-src' }]);
  // Its own origin still answers.
  expect((await worker!.evaluate(probe, new URL('/index.html', baseURL!).href)).outcome).toBe('answered (basic)');
});
