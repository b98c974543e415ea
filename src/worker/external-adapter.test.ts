// An adapter folder opened in the playground: the files as the page hands them over (Blobs with
// their paths in the folder), checked against the loaded base, messages in the studio's words.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { readSpec } from '../model/load';
import { readExternalAdapter } from './external-adapter';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const ADAPTER = SHARED + 'adapters/stories260K-lora-bin/';
const MODEL = SHARED + 'models/stories260K/';

function folder(dir: string, name: string, replace: Record<string, string> = {}): { path: string; file: Blob }[] {
  return readdirSync(dir).map((f) => ({ path: `${name}/${f}`, file: new Blob([replace[f] ?? readFileSync(dir + f)]) }));
}

describe('readExternalAdapter', () => {
  it('reads a PEFT .bin adapter folder for stories260K', async () => {
    const spec = await readSpec(dirSource(MODEL));
    const ad = await readExternalAdapter(spec, 'stories260K-lora-bin', folder(ADAPTER, 'stories260K-lora-bin'));
    expect(ad.info).toEqual({ name: 'stories260K-lora-bin', file: 'stories260K-lora-bin/adapter_model.bin', r: 4, loraAlpha: 8, useRslora: false, modules: 2 * spec.L, baseModel: 'stories260K' });
    expect(ad.weights.size).toBe(2 * spec.L);
  });

  it('refuses DoRA, a model folder and another base in one line each, without CLI flags', async () => {
    const spec = await readSpec(dirSource(MODEL));
    const cfg = JSON.parse(readFileSync(ADAPTER + 'adapter_config.json', 'utf8')) as Record<string, unknown>;
    const dora = folder(ADAPTER, 'dora', { 'adapter_config.json': JSON.stringify({ ...cfg, use_dora: true }) });
    const other = folder(ADAPTER, 'gpt2-adapter', { 'adapter_config.json': JSON.stringify({ ...cfg, target_modules: ['c_attn'] }) });
    const messages: string[] = [];
    for (const [name, files] of [['dora', dora], ['stories260K', folder(MODEL, 'stories260K')], ['gpt2-adapter', other]] as const) {
      messages.push(await readExternalAdapter(spec, name, files).then(() => 'loaded', (e: Error) => e.message));
    }
    expect(messages[0]).toMatch(/^dora\/adapter_model\.bin \(adapter_config\.json\): "use_dora": true \(DoRA\) is not supported/);
    expect(messages[1]).toMatch(/^stories260K: expected adapter_config\.json .* this is a model folder, not an adapter; open a folder written by PEFT/);
    expect(messages[2]).toMatch(/^gpt2-adapter\/adapter_model\.bin .*"c_attn".*load the base it was trained for on the Model tab, then open the adapter folder again/);
    for (const m of messages) {
      expect(m).not.toMatch(/--[a-z]/);
      expect(m).not.toContain('\n');
    }
  });
});
