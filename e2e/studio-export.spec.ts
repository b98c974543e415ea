// Runs → "Export run for a cluster" and the three GGUF downloads, end to end in Chromium: a tiny run
// is trained with settings away from the defaults, the cluster .zip's TRL script must carry exactly
// those LoRA settings (the dataset referenced by its file name, never embedded), and each GGUF file
// must parse with @huggingface/gguf as the model or adapter it claims to be.
import { readFileSync } from 'node:fs';
import { gguf } from '@huggingface/gguf';
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { openStudio, setUpFrogRun, startTraining, tab } from './studio-helpers';

test('studio: Runs → Export run for a cluster carries the run settings; the GGUF downloads parse', async ({ page }) => {
  await openStudio(page);
  await setUpFrogRun(page, { steps: '3', batchSize: '2', seqLen: '32', r: '4', loraAlpha: '12', loraDropout: '0.1', lr: '0.002', seed: '7', evalEvery: '0' });
  await tab(page, 'Train');
  await startTraining(page);
  await expect(page.getByTestId('run-view')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });

  await tab(page, 'Runs');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-cluster').first().click()]);
  expect(dl.suggestedFilename()).toMatch(/-cluster\.zip$/);
  const zip = unzipSync(new Uint8Array(readFileSync(await dl.path())));
  expect(Object.keys(zip).map((k) => k.split('/').pop()).sort()).toEqual(['README.md', 'axolotl.yml', 'train_trl.py']);
  const file = (n: string) => new TextDecoder().decode(zip[Object.keys(zip).find((k) => k.endsWith(`/${n}`))!]);
  const script = file('train_trl.py');
  const lora = /lora_config = LoraConfig\(\n([\s\S]*?)\n\)/.exec(script)?.[1];
  expect(lora).toBeDefined();
  const fields = Object.fromEntries(lora!.split('\n').map((l) => /^\s+(\w+)=(.*),$/.exec(l)!).map((m) => [m[1], m[2]]));
  expect(fields).toEqual({ r: '4', lora_alpha: '12', lora_dropout: '0.1', target_modules: '["q_proj", "v_proj"]', use_rslora: 'False', bias: '"none"', task_type: '"CAUSAL_LM"' });
  for (const line of ['BASE_MODEL = "stories260K"', 'DATA = "frogs.jsonl"', 'SEED = 7', 'SEQ_LEN = 32', 'BATCH_SIZE = 2', 'LR = 0.002', 'MAX_STEPS = 3']) {
    expect(script.split('\n').some((l) => l.startsWith(line)), line).toBe(true);
  }
  expect(script).not.toContain('purple frog'); // referenced, never embedded
  expect(file('axolotl.yml')).toContain('lora_r: 4\nlora_alpha: 12\nlora_dropout: 0.1');
  await expect(page.getByTestId('export-notice')).toContainText('frogs.jsonl');

  // The three GGUF downloads (the run's base is loaded): architecture, type and tensor count.
  const expected = [
    { id: 'download-gguf-f16', name: /-f16\.gguf$/, type: 'model', fileType: 1, tensors: 47 },
    { id: 'download-gguf-q8_0', name: /-q8_0\.gguf$/, type: 'model', fileType: 7, tensors: 47 },
    { id: 'download-gguf-adapter', name: /-lora-f16\.gguf$/, type: 'adapter', fileType: 1, tensors: 5 * 2 * 2 },
  ];
  for (const e of expected) {
    const [g] = await Promise.all([page.waitForEvent('download'), page.getByTestId(e.id).first().click()]);
    expect(g.suggestedFilename()).toMatch(e.name);
    const parsed = await gguf(await g.path(), { allowLocalFile: true });
    const md = parsed.metadata as Record<string, unknown>;
    expect(md['general.architecture'], e.id).toBe('llama');
    expect(md['general.type'], e.id).toBe(e.type);
    expect(parsed.tensorInfos.length, e.id).toBe(e.tensors);
    if (e.type === 'model') expect(md['general.file_type'], e.id).toBe(e.fileType);
    else expect(md['adapter.lora.alpha'], e.id).toBe(12);
    await expect(page.getByTestId('export-progress')).toHaveCount(0);
  }
});
