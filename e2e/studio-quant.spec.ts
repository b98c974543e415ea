// A quantized base in the studio: the estimate follows the quant mode, stories260K loads as
// QA-LoRA INT4, a short run trains the group-pooled adapter, and the QA-LoRA merged model downloads
// as an INT-N checkpoint (codes, scales, zero points) with its quantization_config.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { dropFile, FROG_TEXTS, jsonl, knob, MODEL_DIR, openStudio, shot, startTraining, tab } from './studio-helpers';

function keysOf(bytes: Uint8Array): string[] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return Object.keys(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))).filter((k) => k !== '__metadata__');
}

test('studio: QA-LoRA on a quantized base, and its exact quantized merge', async ({ page }, info) => {
  await openStudio(page);
  await tab(page, 'Model');
  await page.getByTestId('model-folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('chosen-model')).toContainText('stories260K');
  const card = page.getByTestId('memory-card').first();
  await expect(card).toContainText('Base weights1015.8 KiB');
  await page.getByTestId('model-quant').selectOption('qalora-int4');
  await expect(card).not.toContainText('Base weights1015.8 KiB'); // the estimate follows the quant mode
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('loaded-weights')).toContainText('qalora-int4, group size 32', { timeout: 120_000 });
  await shot(page, info, 'quant-1-loaded');

  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  await tab(page, 'Settings');
  await page.getByTestId('knob-lengthBy').selectOption('steps');
  await knob(page, 'steps', '6');
  await knob(page, 'batchSize', '2');
  await knob(page, 'seqLen', '32');
  await knob(page, 'lr', '0.003');
  await knob(page, 'evalSplit', '0.25');
  await tab(page, 'Train');
  await startTraining(page);
  const view = page.getByTestId('run-view');
  await expect(view).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  const evalText = await page.getByTestId('eval-loss').locator('xpath=..').textContent();
  const [after, before] = [...(evalText ?? '').matchAll(/(\d+\.\d+)/g)].map((m) => Number(m[1]));
  expect(after).toBeLessThan(before);

  const [adapter] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-adapter-zip').click()]);
  const az = unzipSync(new Uint8Array(readFileSync(await adapter.path())));
  const cfg = JSON.parse(new TextDecoder().decode(az[Object.keys(az).find((k) => k.endsWith('adapter_config.json'))!]));
  expect(cfg).toMatchObject({ use_qalora: true, qalora_group_size: 32 });

  const [merged] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-merged-qalora').click()]);
  expect(merged.suggestedFilename()).toMatch(/-merged-qalora-int4\.zip$/);
  const mz = unzipSync(new Uint8Array(readFileSync(await merged.path())));
  const config = JSON.parse(new TextDecoder().decode(mz[Object.keys(mz).find((k) => k.endsWith('/config.json'))!]));
  expect(config.quantization_config).toEqual({ quant_method: 'qalora', bits: 4, group_size: 32, zero_point: 'float32', format: 'webgpu-lora-studio/qalora-v1' });
  const keys = keysOf(mz[Object.keys(mz).find((k) => k.endsWith('/model.safetensors'))!]);
  expect(keys).toContain('model.layers.0.self_attn.q_proj.qweight');
  expect(keys).toContain('model.layers.0.self_attn.q_proj.scales');
  expect(keys).toContain('model.layers.0.self_attn.q_proj.qzeros');
  expect(keys).toContain('model.layers.0.mlp.down_proj.weight'); // in 172: not a multiple of 32, kept unquantized
  await shot(page, info, 'quant-2-merged');
});
