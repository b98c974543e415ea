// Every message the engine can raise for the studio, triggered through the engine functions and
// rendered as the worker renders it (studioMessage): none carries a command-line flag, and each
// option it names is the knob's or field's label. The CLI rendering of the same errors names flags.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliMessage, OPTION_FLAG } from './cli/options';
import { dirSource } from './cli/fs-source';
import { loadDataset, type DataOptions } from './data/dataset';
import { listParquetFiles } from './data/hub';
import { bytesInput } from './data/input';
import { detectShape, toSample } from './data/shapes';
import { GpuContext } from './gpu/context';
import type { AdapterSummary } from './gpu/device';
import type { ShaderLibrary } from './gpu/shaders';
import { readSpec } from './model/load';
import { hubSource } from './model/hub-source';
import { loadTokenizer, type TextTokenizer } from './model/tokenizer';
import { RUN_OPTIONS, renderWorded } from './options';
import { readQuantConfig } from './model/qalora-checkpoint';
import { validateRunConfig, type RunConfig } from './train/run';
import { divergedError } from './train/trainer';
import { knobIssues, defaultKnobs, OPTION_PLACE, studioMessage, studioWords } from './plan/knobs';

const DIR = fileURLToPath(new URL('../../shared/models/stories260K/', import.meta.url));
let tok: TextTokenizer;
beforeAll(async () => {
  const src = dirSource(DIR);
  const spec = await readSpec(src);
  tok = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
});

const caught = async (f: () => unknown): Promise<unknown> => {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
};

const RUN: RunConfig = {
  baseModel: 'm', r: 8, loraAlpha: 16, loraDropout: 0, useRslora: false, targetModules: 'attention', loraplusLrRatio: 1, lr: 1e-3, schedule: 'constant', warmup: 0,
  epochs: 1, batchSize: 1, gradAccum: 1, seqLen: 64, seed: 1, saveEvery: 0, maxGradNorm: 1, weightDecay: 0,
};

/** A GPUDevice whose error scopes report an out-of-memory error (the guard's path, without a GPU). */
function oomDevice(): GPUDevice {
  const pops = [null, { message: 'out of memory' }];
  return {
    limits: { minUniformBufferOffsetAlignment: 256, minStorageBufferOffsetAlignment: 256 },
    lost: new Promise(() => undefined),
    addEventListener: () => undefined,
    pushErrorScope: () => undefined,
    popErrorScope: async () => pops.shift() ?? null,
  } as unknown as GPUDevice;
}

async function allErrors(): Promise<{ what: string; err: unknown }[]> {
  const out: { what: string; err: unknown }[] = [];
  const add = async (what: string, f: () => unknown) => out.push({ what, err: await caught(f) });
  const bad: Partial<RunConfig>[] = [{ r: 0 }, { loraAlpha: 0 }, { loraDropout: 1 }, { lr: 0 }, { loraplusLrRatio: 0 }, { seqLen: 1 }, { seqLen: 100000 }, { batchSize: 0 }, { gradAccum: 0 }, { saveActivations: 'f8' } as unknown as Partial<RunConfig>];
  for (const b of bad) await add(`run config ${JSON.stringify(b)}`, () => validateRunConfig({ ...RUN, ...b }, 512));
  await add('out of memory', () => new GpuContext(oomDevice(), {} as AdapterSummary, {} as ShaderLibrary).guard('building the model', () => 1));
  await add('divergence', () => {
    throw divergedError(3, NaN, Infinity);
  });
  await add('prequantized checkpoint', () => readQuantConfig({ quantization_config: { quant_method: 'gptq' } }, 'config.json'));
  const load = (data: string, opts: Partial<DataOptions> = {}) => () => loadDataset(bytesInput('d.jsonl', data), tok, { seqLen: 64, ...opts });
  await add('bad row', load('{"text": "a"}\n{"text": \n'));
  await add('unknown shape', load('{"q": "a", "a": "b"}\n'));
  await add('template without response column', load('{"q": "a"}\n', { template: '{q}' }));
  await add('template without template', load('{"q": "a"}\n', { format: 'template', responseColumn: 'q' }));
  await add('chat with alpaca', load(`${JSON.stringify({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] })}\n`, { chatTemplate: 'alpaca' }));
  await add('no chat template', load('{"prompt": "a", "completion": "b"}\n', { chatTemplate: 'model' }));
  await add('unknown chat template', load('{"prompt": "a", "completion": "b"}\n', { chatTemplate: 'nope' }));
  await add('prompt fills seq-len', load(`${JSON.stringify({ prompt: 'x '.repeat(200), completion: 'y' })}\n`));
  await add('sharegpt as messages', load(`${JSON.stringify({ messages: [{ from: 'human', value: 'a' }] })}\n`, { format: 'messages' }));
  await add('template shape', () => toSample({ q: 1 }, 'template', {}));
  const status = (s: number) => (async () => new Response('{}', { status: s })) as typeof fetch;
  for (const s of [401, 404, 429]) await add(`hub dataset HTTP ${s}`, () => listParquetFiles('acme/frogs', { fetch: status(s) }));
  for (const s of [401, 403, 429]) await add(`hub model HTTP ${s}`, () => hubSource('acme/model', { fetch: status(s) }).text('config.json'));
  return out;
}

describe('messages the studio shows', () => {
  it('name no command-line flag; the options they name are labels', async () => {
    const errors = await allErrors();
    expect(errors.length).toBeGreaterThan(25);
    for (const { what, err } of errors) {
      const m = studioMessage(err);
      expect(m, what).not.toMatch(/--|HF_TOKEN|npm run/);
      expect(m.split('\n'), what).toHaveLength(1);
    }
    const seq = errors.find((e) => e.what.includes('100000'))!.err;
    expect(studioMessage(seq)).toBe("sequence length 100000 is above the model's maximum of 512 positions; use “Sequence length” 512 or less.");
    expect(cliMessage(seq)).toBe("sequence length 100000 is above the model's maximum of 512 positions; use --seq-len 512 or less.");
    expect((seq as { option: string }).option).toBe('seqLen');
    const oom = errors.find((e) => e.what === 'out of memory')!.err;
    expect(studioMessage(oom)).toMatch(/Lower “Batch size” or “Sequence length”, keep the saved activations in f16 \(“Saved activations”: f16\), target fewer modules, or use a quantized base \(“Base quantization”: nf4\)\.$/);
    expect(cliMessage(oom)).toMatch(/Lower --batch-size or --seq-len, keep the saved activations in f16 \(--activations f16\), .*\(--quant nf4\)\.$/);
    expect(studioMessage(errors.find((e) => e.what === 'divergence')!.err)).toMatch(/Lower “Learning rate”, keep gradient clipping on \(“Max gradient norm”\)/);
    expect(studioMessage(errors.find((e) => e.what === 'hub dataset HTTP 401')!.err)).toMatch(/give an access token \(Model tab → Access token\) with read permission/);
  });

  it('data warnings and the shape reason name labels too', () => {
    const d = detectShape({ q: 1 });
    expect(d.shape).toBeNull();
    if (d.shape !== null) throw new Error('a record without the fields of any shape was given a shape');
    const reason = studioWords(d.reason);
    expect(reason).not.toMatch(/--/);
    expect(renderWorded(['x ', { option: 'seqLen', value: 256 }], (r) => OPTION_FLAG[r.option])).toBe('x --seq-len');
  });

  it('every option has a flag and a studio place; knob issues name their knob', () => {
    for (const o of RUN_OPTIONS) {
      expect(OPTION_FLAG[o]).toBeTruthy();
      expect(OPTION_PLACE[o].label).toBeTruthy();
    }
    const issues = knobIssues({ ...defaultKnobs(null), r: 0, warmup: -1 }, null);
    expect(issues.map((i) => i.knob)).toEqual(['r', 'warmup']);
    expect(issues[0].message).toBe('“Rank (r)” must be a positive integer (got 0); typical values are 8–64.');
    expect(issues[1].message).toBe('“Warm-up steps” must be a whole number ≥ 0 (got -1).');
  });
});

describe('numbers and reasons the studio shows', () => {
  it('parameter counts and shares read well', async () => {
    const { fmtParams, fmtShare } = await import('./plan/knobs');
    expect([fmtParams(260_000), fmtParams(134_515_008), fmtParams(1_235_814_400), fmtParams(512), fmtParams(8_847)]).toEqual(['260K', '135M', '1.24B', '512', '8.85K']);
    expect([fmtShare(0.0342), fmtShare(0.0026), fmtShare(0.123), fmtShare(1)]).toEqual(['3.4%', '0.26%', '12%', '100%']);
  });

  it('allowed ranges in words, and why a run cannot start on a base loaded with another quantization', async () => {
    const { quantMismatch, rangeWords } = await import('./plan/knobs');
    expect(rangeWords({ integer: true, min: 1, max: 1024 })).toBe('a whole number from 1 to 1024');
    expect(rangeWords({ min: 0 })).toBe('a number ≥ 0');
    expect(quantMismatch({ quant: 'nf4', groupSize: 32 }, { quant: 'nf4', groupSize: 64 })).toBeNull();
    expect(quantMismatch(null, { quant: 'nf4', groupSize: 32 })).toBeNull();
    expect(quantMismatch({ quant: 'none', groupSize: 32 }, { quant: 'nf4', groupSize: 32 })).toBe(
      'The base is loaded as none (f16/f32) but “Base quantization” is nf4: load the model again (Model tab) or set “Base quantization” back.',
    );
    expect(quantMismatch({ quant: 'qalora-int4', groupSize: 32 }, { quant: 'qalora-int4', groupSize: 64 })).toMatch(/group size 32.*group size 64/);
  });
});
