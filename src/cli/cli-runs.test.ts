// The command-line tools on whole runs: checkpoints kept N at a time with a damaged one falling
// back to the previous, QA-LoRA trained on an INT4 base and merged exactly, and generate following
// the training data's prompt format.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../model/safetensors';
import { testContext } from '../test/gpu';
import { cli, cliScratch, errorLines, STORIES } from '../test/cli';
/** The adapter the tools get has the 'subgroups' feature (then --subgroups runs). */
const HAS_SUBGROUPS = (await testContext()).adapter.hasSubgroups;

const { tmp, data } = cliScratch();

describe('checkpoints: kept N at a time, checksummed, a damaged one falls back to the previous', () => {
  it('corrupting OUT/checkpoint makes --resume OUT/checkpoint continue from OUT/checkpoint-prev, with a message (and keeps --subgroups)', () => {
    const out = join(tmp, 'keep');
    const base = ['--model', STORIES, '--data', data, '--out', out, '--seq-len', '32', '--batch-size', '2', '--targets', 'q_proj,v_proj', '--lr', '5e-3', '--save-every', '1', '--log-every', '1'];
    // Where the adapter has subgroups (SwiftShader does) the run uses them, and --resume without the flag keeps them.
    const sg = HAS_SUBGROUPS ? ['--subgroups'] : [];
    const t = cli('train', [...base, ...sg, '--steps', '3']);
    expect(t.code).toBe(0);
    // Default: keep 2, the newest in checkpoint/, the one before in checkpoint-prev/, nothing half-written left.
    expect(readdirSync(out).filter((f) => f.startsWith('checkpoint')).sort()).toEqual(['checkpoint', 'checkpoint-prev']);
    const stepOf = (dir: string) => JSON.parse(readFileSync(join(out, dir, 'trainer_state.json'), 'utf8')).step;
    expect([stepOf('checkpoint'), stepOf('checkpoint-prev')]).toEqual([3, 2]);
    const lossAt3 = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).train_loss[2].loss;

    // One flipped byte in the newest adapter.
    const f = join(out, 'checkpoint', 'adapter_model.safetensors');
    const bytes = readFileSync(f);
    bytes[bytes.length - 3] ^= 0x40;
    writeFileSync(f, bytes);
    const r = cli('train', ['--resume', join(out, 'checkpoint'), '--steps', '4', '--log-every', '1']);
    expect(errorLines(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/The newest checkpoint is damaged: .*checkpoint\/ \(its checksum is [0-9a-f]{8}, not the [0-9a-f]{8} it was saved with\); resuming from .*checkpoint-prev\/ at step 2 instead\./);
    expect(r.stderr).toMatch(/resuming from .*checkpoint-prev at step 2/);
    expect(r.stderr).toMatch(/step 3\/4/);
    const recorded = JSON.parse(readFileSync(join(out, 'checkpoint', 'trainer_state.json'), 'utf8')).config.subgroups;
    expect(recorded).toBe(HAS_SUBGROUPS);
    if (HAS_SUBGROUPS) expect(r.stderr).toMatch(/^GPU: .*; subgroup reductions$/m);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.train_loss.map((p: { step: number }) => p.step)).toEqual([1, 2, 3, 4]);
    expect(metrics.train_loss[2].loss).toBeCloseTo(lossAt3, 4); // step 3 again, from the same state
    expect([stepOf('checkpoint'), stepOf('checkpoint-prev')]).toEqual([4, 3]);

    // --keep-checkpoints 3 keeps a third folder; a checkpoint folder that is gone falls back too.
    const out3 = join(tmp, 'keep3');
    expect(cli('train', [...base.map((x) => (x === out ? out3 : x)), '--steps', '4', '--keep-checkpoints', '3']).code).toBe(0);
    expect(readdirSync(out3).filter((x) => x.startsWith('checkpoint')).sort()).toEqual(['checkpoint', 'checkpoint-prev', 'checkpoint-prev2']);
    rmSync(join(out3, 'checkpoint'), { recursive: true });
    const r3 = cli('train', ['--resume', join(out3, 'checkpoint'), '--steps', '4']);
    expect(r3.code).toBe(0);
    expect(r3.stderr).toMatch(/checkpoint\/ is missing; resuming from .*checkpoint-prev\/ at step 3 instead\./);
  });
});

describe('QA-LoRA: train on an INT4 base, merge exactly, load the merged model without flags', () => {
  it('merged INT4 model eval loss equals base + adapter within 1e-4', () => {
    const out = join(tmp, 'qa');
    const t = cli('train', ['--model', STORIES, '--data', data, '--out', out, '--steps', '2', '--seq-len', '32', '--batch-size', '2',
      '--targets', 'all-linear', '--lr', '5e-3', '--quant', 'qalora-int4', '--group-size', '4']);
    expect(t.code).toBe(0);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({ quant: 'qalora-int4', group_size: 4 });
    expect(metrics.bytes_per_quantized_param).toBeCloseTo(0.5 + 4 / 4, 5); // 4-bit codes + f16 scale and zero per 4
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({ use_qalora: true, qalora_group_size: 4 });
    const merged = join(tmp, 'qa-merged');
    const mg = cli('merge', ['--model', STORIES, '--adapter', out, '--out', merged, '--quant', 'qalora-int4', '--group-size', '4']);
    expect(mg.code).toBe(0);
    expect(JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')).quantization_config).toMatchObject({ quant_method: 'qalora', bits: 4, group_size: 4 });
    const st = parseSafetensors(readFileSync(join(merged, 'model.safetensors')), 'merged');
    expect(st.header.tensors.get('model.layers.0.self_attn.q_proj.qweight')?.dtype).toBe('I32');
    expect(st.header.tensors.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
    const a = JSON.parse(cli('eval', ['--model', STORIES, '--adapter', out, '--quant', 'qalora-int4', '--group-size', '4', '--data', data, '--seq-len', '32']).stdout);
    const m = JSON.parse(cli('eval', ['--model', merged, '--data', data, '--seq-len', '32']).stdout);
    expect(m.tokens).toBe(a.tokens);
    expect(Math.abs(m.loss - a.loss) / a.loss).toBeLessThan(1e-4);
    // A plain LoRA adapter (PEFT's, from ../shared/adapters) cannot merge exactly into a quantized model.
    const plain = join(STORIES, '..', '..', 'adapters', 'stories260K-lora-bin');
    const bad = cli('merge', ['--model', STORIES, '--adapter', plain, '--out', join(tmp, 'bad-merge'), '--quant', 'qalora-int4', '--group-size', '4']);
    expect(bad.code).not.toBe(0);
    expect(errorLines(bad.stderr)[0]).toMatch(/plain LoRA adapter cannot merge exactly/);
  });
});

describe('prompt formatting follows the training data', () => {
  it('an adapter trained on Alpaca records: generate wraps its prompt in the Alpaca template, --raw-prompt does not', () => {
    const alpaca = join(tmp, 'alpaca.jsonl');
    writeFileSync(alpaca, Array.from({ length: 6 }, (_, i) => JSON.stringify({ instruction: `Name frog ${i}.`, output: `Frog ${i}.` })).join('\n') + '\n');
    const out = join(tmp, 'alpaca-run');
    const t = cli('train', ['--model', STORIES, '--data', alpaca, '--out', out, '--steps', '1', '--seq-len', '160', '--batch-size', '2', '--targets', 'q_proj,v_proj']);
    expect(t.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).prompt_format).toEqual({ shape: 'alpaca', chat_template: 'auto', name: 'alpaca' });
    const g = cli('generate', ['--model', STORIES, '--adapter', out, '--max-new-tokens', '3', '--prompt', 'Name frog 7.']);
    expect(g.code).toBe(0);
    expect(g.stderr).toMatch(/prompt wrapped as the adapter's training data \(alpaca\); --raw-prompt sends it as typed/);
    const raw = cli('generate', ['--model', STORIES, '--adapter', out, '--max-new-tokens', '3', '--prompt', 'Name frog 7.', '--raw-prompt']);
    expect(raw.code).toBe(0);
    expect(raw.stderr).not.toMatch(/prompt wrapped/);
  });
});
