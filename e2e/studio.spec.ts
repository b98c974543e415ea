// The studio end to end in Chromium (WebGPU on SwiftShader): a local model folder, a dataset
// dropped with a real drop event, a short training run whose loss chart fills and falls, the
// playground's base and adapter answers, the adapter download, the run found again after a reload,
// and no request leaving the machine.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { unzipSync } from 'fflate';
import { dropFile, FROG_TEXTS, isLocal, jsonl, knob, knownContinuation, loadLocalModel, MODEL_DIR, openStudio, shot, startTraining, tab } from './studio-helpers';

function safetensorsHeader(bytes: Uint8Array): { n: number; header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { n, header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) };
}

function safetensorsKeys(bytes: Uint8Array): string[] {
  return Object.keys(safetensorsHeader(bytes).header).sort();
}

/** An F32 tensor of a safetensors file. */
function tensorF32(bytes: Uint8Array, name: string): Float32Array {
  const { n, header } = safetensorsHeader(bytes);
  const t = header[name];
  expect(t.dtype).toBe('F32');
  const [a, b] = t.data_offsets;
  return new Float32Array(bytes.slice(8 + n + a, 8 + n + b).buffer);
}

/** Keys of an idb-keyval store (one object store per database) in the page's IndexedDB. */
function idbKeys(page: Page, db: string, store: string): Promise<string[]> {
  return page.evaluate(
    ([db, store]) =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open(db);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const req = open.result.transaction(store).objectStore(store).getAllKeys();
          req.onsuccess = () => {
            open.result.close();
            resolve((req.result as IDBValidKey[]).map(String).sort());
          };
          req.onerror = () => reject(req.error);
        };
      }),
    [db, store],
  );
}

function idbPut(page: Page, db: string, store: string, key: string, value: unknown): Promise<void> {
  return page.evaluate(
    ([db, store, key, value]) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open(db as string);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction(store as string, 'readwrite');
          tx.objectStore(store as string).put(value, key as string);
          tx.oncomplete = () => {
            open.result.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    [db, store, key, value] as const,
  );
}

test('studio: local model, dropped dataset, training, playground, download, reload', async ({ page, context }, info) => {
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });

  await openStudio(page);
  await expect(page.getByTestId('gpu-f16')).toBeAttached();
  await shot(page, info, '1-start');

  // Model: the stories260K folder through the folder picker; the estimate is shown before loading.
  await tab(page, 'Model');
  await page.getByTestId('model-folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  await expect(page.getByTestId('memory-verdict').first()).toHaveText('Fits');
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('loaded-name')).toHaveText('stories260K', { timeout: 120_000 });
  await expect(page.getByTestId('loaded-params')).toHaveText('260,032');
  const loadedAt = await page.getByTestId('model-loaded').getAttribute('data-loaded-at');
  await shot(page, info, '2-model');

  // Dataset: a real drop event carrying a File.
  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  await expect(page.getByTestId('dataset-preview')).toContainText('Tom had a purple frog number 0.');
  await expect(page.getByTestId('dataset-tokens')).toContainText('trained');
  await shot(page, info, '3-dataset');

  // Knobs: a short, fast run.
  await tab(page, 'Settings');
  await page.getByTestId('knob-lengthBy').selectOption('steps');
  await knob(page, 'steps', '8');
  await knob(page, 'batchSize', '2');
  await knob(page, 'seqLen', '32');
  await knob(page, 'lr', '0.003');
  await knob(page, 'evalEvery', '4');
  await knob(page, 'warmup', '0');
  await knob(page, 'evalSplit', '0.25');
  await knob(page, 'sampleTokens', '8');
  await page.getByTestId('knob-samplePrompt').fill('Tom had a');
  const trainable = page.getByTestId('trainable-params').first();
  await expect(trainable).toContainText('% of');
  const before = await trainable.textContent();
  await knob(page, 'r', '16');
  await expect(trainable).not.toHaveText(before!); // the count follows the knobs live
  await knob(page, 'r', '8');
  await shot(page, info, '4-settings');

  // Train: the loss chart fills and the loss falls.
  await tab(page, 'Train');
  // The eval loss before training shows as soon as it is measured: before the first checkpoint (step 4).
  const evalBeforeAt = page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const seen = () => {
          const chart = document.querySelector('[data-testid=loss-chart]');
          if (!chart || Number(chart.getAttribute('data-eval-points')) < 1) return false;
          resolve(document.querySelector('[data-testid=run-view]')?.getAttribute('data-checkpoint') ?? 'none');
          return true;
        };
        if (!seen()) {
          const o = new MutationObserver(() => seen() && o.disconnect());
          o.observe(document.body, { subtree: true, childList: true, attributes: true });
        }
      }),
  );
  await startTraining(page);
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-status', 'running');
  expect(await evalBeforeAt).toBe(''); // no checkpoint yet
  await expect(page.getByTestId('eval-loss').locator('xpath=..')).toContainText(/before \d+\.\d{4}/);
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', /^[1-9]/, { timeout: 120_000 });
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', '8');
  await expect(page.getByTestId('loss-chart').locator('.recharts-line-curve').first()).toBeVisible();
  await expect(page.getByTestId('samples').locator('li')).toHaveCount(2);
  await expect(page.getByTestId('sample-prompt').first()).toHaveText('Tom had a'); // each sample with its prompt
  // Chart tooltips say which step they show.
  const plot = page.getByTestId('loss-chart').locator('.recharts-wrapper');
  await plot.scrollIntoViewIfNeeded();
  const box = (await plot.boundingBox())!;
  await page.mouse.move(box.x + 5, box.y + 5);
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.4, { steps: 5 });
  await expect(page.getByTestId('loss-chart').locator('.recharts-tooltip-label')).toHaveText(/^step \d+$/);
  const first = Number(await page.getByTestId('train-loss-last').locator('xpath=following-sibling::span').textContent().then((t) => /[\d.]+/.exec(t ?? '')?.[0]));
  const last = Number(await page.getByTestId('train-loss-last').textContent());
  expect(last).toBeLessThan(first);
  const evalText = await page.getByTestId('eval-loss').locator('xpath=..').textContent();
  const [after, evalBefore] = [...(evalText ?? '').matchAll(/(\d+\.\d+)/g)].map((m) => Number(m[1]));
  expect(after).toBeLessThan(evalBefore);
  await shot(page, info, '5-trained');

  // Playground: the same prompt, base vs adapter.
  await tab(page, 'Playground');
  await page.getByTestId('pg-prompt').fill('Tom had a');
  await page.getByTestId('pg-max-tokens').fill('16');
  await page.getByTestId('pg-generate').click();
  await expect(page.getByTestId('pg-base')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  await expect(page.getByTestId('pg-tuned')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  const baseText = await page.getByTestId('pg-base').textContent();
  const tunedText = await page.getByTestId('pg-tuned').textContent();
  expect(baseText!.length).toBeGreaterThan(0);
  expect(tunedText!.length).toBeGreaterThan(0);
  expect(tunedText).not.toBe(baseText);
  await expect(page.getByTestId('pg-base-stats')).toContainText(/\d+ tokens in \d+\.\d s/);
  await expect(page.getByTestId('pg-prompt-seen')).toHaveText('Tom had a'); // plain-text data: the prompt as typed
  await shot(page, info, '6-playground');
  // Stop: a long answer (from BOS: the known story, no end-of-text soon) ends at once and keeps
  // what it has.
  await page.getByTestId('pg-prompt').fill('');
  await page.getByTestId('pg-max-tokens').fill('400');
  await page.getByTestId('pg-generate').click();
  await expect(page.getByTestId('pg-base')).toHaveAttribute('data-status', 'running');
  await expect(page.getByTestId('pg-base')).not.toBeEmpty({ timeout: 120_000 });
  await page.getByTestId('pg-stop').click();
  for (const side of ['pg-base', 'pg-tuned']) await expect(page.getByTestId(side)).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  await expect(page.getByTestId('pg-base-stats')).toContainText('stopped');
  const partial = (await page.getByTestId('pg-base').textContent())!;
  const known = knownContinuation(); // the greedy story from BOS
  expect(partial.length).toBeGreaterThan(0);
  expect(known.startsWith(partial.slice(0, known.length))).toBe(true);
  await page.getByTestId('pg-prompt').fill('Tom had a');
  await page.getByTestId('pg-max-tokens').fill('16');

  // Download the adapter as one .zip named after the run; check its files, keys and config.
  await tab(page, 'Train');
  const runName = (await page.getByTestId('run-view').locator('h2').textContent())!.split(' — ')[0].trim();
  const runId = await page.getByTestId('run-view').getAttribute('data-run-id');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-adapter-zip').click()]);
  const zipName = download.suggestedFilename();
  await expect(page.getByTestId('export-notice')).toContainText(`Download ready: ${zipName}`);
  expect(zipName).toMatch(/-adapter\.zip$/);
  expect(zipName.startsWith(runName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, ''))).toBe(true);
  const zip = unzipSync(new Uint8Array(readFileSync(await download.path())));
  const names = Object.keys(zip).sort();
  expect(names).toHaveLength(2);
  const cfgName = names.find((n) => n.endsWith('/adapter_config.json'))!;
  const stName = names.find((n) => n.endsWith('/adapter_model.safetensors'))!;
  const cfg = JSON.parse(new TextDecoder().decode(zip[cfgName]));
  expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: 'stories260K' });
  const keys = safetensorsKeys(zip[stName]);
  expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
  expect(keys).toContain('base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight');
  expect(keys.filter((k) => k !== '__metadata__')).toHaveLength(5 * 2 * 2);

  // The merged model: a Hugging Face folder whose adapted weights changed and the rest did not.
  const [merged] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-merged').click()]);
  expect(merged.suggestedFilename()).toMatch(/-merged\.zip$/);
  const mz = unzipSync(new Uint8Array(readFileSync(await merged.path())));
  const mNames = Object.keys(mz).map((k) => k.split('/').pop()).sort();
  expect(mNames).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const mergedSt = mz[Object.keys(mz).find((k) => k.endsWith('/model.safetensors'))!];
  const baseSt = new Uint8Array(readFileSync(`${MODEL_DIR}/model.safetensors`));
  expect(safetensorsKeys(mergedSt)).toEqual(safetensorsKeys(baseSt));
  const q = 'model.layers.0.self_attn.q_proj.weight';
  const kp = 'model.layers.0.self_attn.k_proj.weight';
  expect(Array.from(tensorF32(mergedSt, kp))).toEqual(Array.from(tensorF32(baseSt, kp)));
  expect(Array.from(tensorF32(mergedSt, q))).not.toEqual(Array.from(tensorF32(baseSt, q)));
  // The same adapter as two plain files (the names PEFT expects).
  const twoFiles: string[] = [];
  page.on('download', (d) => twoFiles.push(d.suggestedFilename()));
  await page.getByTestId('download-adapter-files').click();
  await expect.poll(() => twoFiles.sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  await shot(page, info, '7-download');

  // A second run on the same base (another rank, all linear layers), then switch adapters in the
  // playground: the base stays loaded and each adapter answers its own way.
  await tab(page, 'Settings');
  await knob(page, 'r', '4');
  await page.getByRole('button', { name: 'All linear' }).click();
  await knob(page, 'steps', '4');
  await knob(page, 'lr', '0.005');
  await tab(page, 'Train');
  await page.getByTestId('start-training').click();
  await expect(view).not.toHaveAttribute('data-run-id', runId!);
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  const run2Id = await view.getAttribute('data-run-id');
  await tab(page, 'Playground');
  await page.getByTestId('pg-adapter').selectOption(run2Id!);
  await page.getByTestId('pg-generate').click();
  await expect(page.getByTestId('pg-tuned')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  const tuned2 = await page.getByTestId('pg-tuned').textContent();
  await expect(page.getByTestId('pg-base')).toHaveText(baseText!);
  await page.getByTestId('pg-adapter').selectOption(runId!);
  await page.getByTestId('pg-generate').click();
  await expect(page.getByTestId('pg-tuned')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  await expect(page.getByTestId('pg-tuned')).toHaveText(tunedText!); // greedy: the first adapter answers as before
  expect(tuned2).not.toBe(tunedText);
  await tab(page, 'Model');
  await expect(page.getByTestId('model-loaded')).toHaveAttribute('data-loaded-at', loadedAt!); // the base was never reloaded
  await shot(page, info, '7b-two-adapters');

  // Reload: the run is still there with its metrics.
  await page.reload();
  await expect(page.getByTestId('gpu-name')).toBeVisible({ timeout: 120_000 });
  await tab(page, 'Runs');
  const row = page.getByTestId('run-row').filter({ hasText: runName });
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute('data-status', 'done');
  await expect(row.getByTestId('run-eval-loss')).toContainText(after.toFixed(4));
  await expect(page.getByTestId('run-row')).toHaveCount(2);
  // Compare both: their loss curves overlaid.
  for (const id of [runId, run2Id]) await page.locator(`[data-testid=run-row][data-run-id="${id}"]`).getByRole('checkbox').check();
  await expect(page.getByTestId('overlay-train')).toHaveAttribute('data-series', '2');
  await expect(page.getByTestId('overlay-train').locator('.recharts-line-curve')).toHaveCount(2);
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0); // the wide table scrolls in its box
  await shot(page, info, '8-runs-after-reload');
  // Rename the first, delete the second; both survive a reload.
  await row.getByRole('button', { name: `Rename ${runName}` }).click();
  await page.getByLabel('New run name').fill('frogs v1');
  await page.getByLabel('New run name').press('Enter');
  const run2 = page.locator(`[data-testid=run-row][data-run-id="${run2Id}"]`);
  await run2.getByRole('button', { name: /^Delete / }).click();
  await run2.getByTestId('confirm-delete').click();
  await expect(page.getByTestId('run-row')).toHaveCount(1);
  // The deleted run's checkpoint went with it; a checkpoint left without its record (a delete cut
  // short) is swept at the next start, and the kept run's checkpoint stays.
  // Checkpoints are kept one entry per step (RUNID@STEP): only the kept run's remain.
  const runsOf = async () => [...new Set((await idbKeys(page, 'lora-studio-checkpoints', 'checkpoints')).map((k) => k.split('@')[0]))];
  expect(await runsOf()).toEqual([runId]);
  await idbPut(page, 'lora-studio-checkpoints', 'checkpoints', 'run-orphan', { runId: 'run-orphan', step: 1, savedAt: 0, files: {} });
  await page.reload();
  await tab(page, 'Runs');
  await expect(page.getByTestId('run-row')).toHaveCount(1);
  await expect(page.getByTestId('run-name')).toHaveText('frogs v1');
  await expect.poll(runsOf).toEqual([runId]);
  await shot(page, info, '9-renamed');

  // Nothing left the machine: every request went to the local dev server (or was a blob:/data: URL).
  const outside = requests.filter((u) => !isLocal(u, info.project.use.baseURL));
  expect(outside).toEqual([]);
  expect(requests.length).toBeGreaterThan(0);
  expect(pageErrors).toEqual([]);
});

test('studio: a broken dataset file shows its error in the page; a template maps other columns', async ({ page }, info) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'broken.jsonl', '{"text": "fine"}\n{"text": "oops"\n{"text": "<b>not html</b>"}\n');
  const err = page.getByTestId('dataset-error');
  await expect(err).toContainText('broken.jsonl:2: not valid JSON');
  await expect(err).toContainText('set “Bad rows”: skip');
  await expect(err).toHaveAttribute('role', 'alert');
  await shot(page, info, 'broken-dataset');
  // Skipping bad rows: the rest is prepared and the skipped line is listed.
  await page.getByTestId('ds-bad-rows').selectOption('skip');
  await expect(page.getByTestId('dataset-examples')).toHaveText('2');
  await expect(page.getByTestId('dataset-skipped')).toHaveText('1');
  await expect(page.getByTestId('dataset-preview')).toContainText('<b>not html</b>');
  await expect(page.getByTestId('dataset-preview').locator('b')).toHaveCount(0); // shown as text, never as markup

  // Records of other columns: the error names them; a template and a response column map them.
  await dropFile(page, 'dataset-dropzone', 'products.csv', 'product,description\n<b>lamp</b>,A warm light.\nmug,Holds tea.\n');
  await expect(err).toContainText('cannot tell the record shape from its columns (product, description)');
  await page.getByLabel('Prompt template').fill('Describe {product}: ');
  await page.getByTestId('ds-response').selectOption('description');
  await page.getByLabel('Prompt format').selectOption('none');
  await expect(page.getByTestId('dataset-examples')).toHaveText('2');
  const preview = page.getByTestId('dataset-preview');
  await expect(preview.locator('li').first()).toContainText('Describe <b>lamp</b>: A warm light.');
  await expect(preview.locator('li').first().locator('.seg-trained')).toHaveText('A warm light.</s>'); // only the response (and EOS) is trained
  await expect(preview.locator('b')).toHaveCount(0);
  await shot(page, info, 'dataset-template');
});

test('studio: data that will barely train is flagged beside the counts, with the knob that fixes it', async ({ page }, info) => {
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  const rows = Array.from({ length: 6 }, (_, i) => JSON.stringify({ instruction: `Is ball ${i} red?`, output: "Yes." }));
  await dropFile(page, 'dataset-dropzone', 'short-answers.jsonl', rows.join('\n') + '\n');
  const warning = page.getByTestId('dataset-warning-few_trained');
  await expect(warning).toContainText(/Only \d+% of the tokens are trained: the prompts are masked/);
  await expect(warning).toContainText('Turn on Train on the prompt too');
  expect(await warning.textContent()).not.toContain('--');
  await expect(page.getByRole('tab', { name: /^Dataset/ })).toContainText('⚠');
  await shot(page, info, 'dataset-warning');
  await warning.getByRole('button', { name: 'Turn it on' }).click();
  await expect(page.getByLabel('Train on the prompt too', { exact: false })).toBeChecked();
  await expect(page.getByTestId('dataset-warnings')).toHaveCount(0);
  await expect(page.getByRole('tab', { name: /^Dataset/ })).toContainText('✓');
});

test('studio: "Try the demo" loads the built-in model and stories from this page and a short run finishes', async ({ page }, info) => {
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await openStudio(page);
  await tab(page, 'Model');
  await page.getByTestId('try-demo').click();
  await expect(page.getByTestId('loaded-name')).toHaveText('stories260K', { timeout: 120_000 });
  await tab(page, 'Dataset');
  await expect(page.getByTestId('dataset-examples')).toHaveText('64');
  await tab(page, 'Settings');
  await expect(page.getByTestId('knob-seqLen')).toHaveValue('64');
  await expect(page.getByTestId('knob-steps')).toHaveValue('40');
  await knob(page, 'steps', '2'); // the demo's 40 steps take a minute on a GPU; two prove the flow here
  await tab(page, 'Train');
  await startTraining(page);
  await expect(page.getByTestId('run-view')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await shot(page, info, 'demo-trained');
  expect(requests.filter((u) => u.includes('/demo/')).length).toBeGreaterThanOrEqual(5); // the model files and the stories, from this page
  expect(requests.filter((u) => !isLocal(u, info.project.use.baseURL))).toEqual([]);
});
