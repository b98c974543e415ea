// The command-line tools as a user runs them: train → eval → generate → resume, the built-in
// demo, and PyTorch .bin checkpoints and adapters. Checkpoint fallback, QA-LoRA merges and prompt
// formats are in cli-runs.test.ts; the benchmark and one-line errors in cli-bench.test.ts (three
// files, so the slow child processes spread over the test workers).
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../model/safetensors';
import { serializeSafetensors } from '../model/safetensors-writer';
import { readTensorFile } from '../model/tensor-dir';
import { cli, cliScratch, errorLines, STORIES } from '../test/cli';

const { tmp, data } = cliScratch();

describe('PyTorch .bin checkpoints and adapters', () => {
  it('eval --model a pytorch_model.bin folder and --adapter an adapter_model.bin folder equal their safetensors runs', () => {
    const shared = join(STORIES, '..', '..');
    const evalJson = (args: string[]) => {
      const r = cli('eval', [...args, '--data', data, '--seq-len', '32']);
      expect(errorLines(r.stderr)).toEqual([]);
      return JSON.parse(r.stdout.trim()) as { loss: number; tokens: number };
    };
    const base = evalJson(['--model', STORIES]);
    expect(evalJson(['--model', join(shared, 'models', 'stories260K-bin')])).toEqual(base);
    // The adapter folder as PEFT wrote it (.bin), and the same adapter with only a safetensors copy.
    const binAdapter = join(shared, 'adapters', 'stories260K-lora-bin');
    const withBin = evalJson(['--model', STORIES, '--adapter', binAdapter]);
    expect(withBin.loss).not.toBe(base.loss);
    const stCopy = join(tmp, 'adapter-as-safetensors');
    mkdirSync(stCopy, { recursive: true });
    copyFileSync(join(binAdapter, 'adapter_config.json'), join(stCopy, 'adapter_config.json'));
    const t = readTensorFile(readFileSync(join(binAdapter, 'adapter_model.bin')), 'adapter_model.bin');
    writeFileSync(join(stCopy, 'adapter_model.safetensors'), serializeSafetensors(t.names().map((n) => ({ name: n, dtype: 'F32', shape: t.info(n)!.shape, data: t.get(n) }))));
    expect(evalJson(['--model', STORIES, '--adapter', stCopy])).toEqual(withBin);
    const hostile = join(tmp, 'hostile-adapter');
    mkdirSync(hostile, { recursive: true });
    copyFileSync(join(binAdapter, 'adapter_config.json'), join(hostile, 'adapter_config.json'));
    writeFileSync(join(hostile, 'adapter_model.bin'), Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e));
    const r = cli('eval', ['--model', STORIES, '--adapter', hostile, '--data', data, '--seq-len', '32']);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(/adapter_model\.bin: this is the legacy PyTorch checkpoint format/);
  });
});

describe('train, eval, generate', () => {
  it('without --model and --data: the built-in demo trains (its settings, flags given still win) and generate uses the demo model', () => {
    const out = join(tmp, 'demo');
    const t = cli('train', ['--steps', '2', '--out', out, '--eval-split', '0']);
    expect(t.stderr).toMatch(/no --model given: using the built-in demo model \(.*public\/demo\/stories260K\)/);
    expect(t.stderr).toMatch(/no --data given: using the built-in demo stories/);
    expect(t.stderr).toMatch(/step 2\/2 {2}loss \d/);
    expect(t.stderr).toContain(`adapter written to ${out}`);
    expect(t.code).toBe(0);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.config).toMatchObject({ seqLen: 64, batchSize: 8, lr: 3e-3, loraDropout: 0 });
    expect(metrics.trainable_params).toBeGreaterThan(5 * 8 * (64 + 64 + (64 + 32))); // all linear layers, not the attention default
    const g = cli('generate', ['--max-new-tokens', '6']);
    expect(g.code).toBe(0);
    expect(g.stdout.trim()).toMatch(/^Once upon a time/);
  });

  it('writes a PEFT adapter, metrics and a checkpoint; eval and generate use it; --resume continues', () => {
    const out = join(tmp, 'run');
    const t = cli('train', ['--model', STORIES, '--data', data, '--out', out, '--steps', '2', '--seq-len', '32', '--batch-size', '2',
      '--targets', 'q_proj,v_proj', '--lr', '5e-3', '--save-every', '1', '--log-every', '1']);
    expect(t.stderr).toMatch(/step 2\/2 {2}loss \d/);
    expect(t.code).toBe(0);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json', 'metrics.json']) expect(existsSync(join(out, f))).toBe(true);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], init_lora_weights: true });
    const st = parseSafetensors(readFileSync(join(out, 'adapter_model.safetensors')), 'adapter');
    expect([...st.header.tensors.keys()].sort()).toContain('base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight');
    expect(st.header.tensors.size).toBe(5 * 2 * 2);
    expect(st.header.metadata).toEqual({ format: 'pt' });
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    for (const k of ['eval_loss_before', 'eval_loss_after', 'train_loss', 'learning_rate', 'tokens_per_second', 'trainable_params', 'peak_gpu_bytes']) {
      expect(metrics).toHaveProperty(k);
    }
    expect(metrics.train_loss).toHaveLength(2);
    expect(metrics.trainable_params).toBe(5 * 8 * (64 + 64 + (64 + 32))); // q: 64→64, v: 64→32 (GQA)
    expect(readdirSync(join(out, 'checkpoint')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'checksum.json', 'optimizer.safetensors', 'trainer_state.json']);

    const base = cli('eval', ['--model', STORIES, '--data', data, '--seq-len', '32']);
    expect(base.code).toBe(0);
    const withAd = cli('eval', ['--model', STORIES, '--adapter', out, '--data', data, '--seq-len', '32']);
    const b = JSON.parse(base.stdout.trim());
    const a = JSON.parse(withAd.stdout.trim());
    expect(b.tokens).toBe(a.tokens);
    expect(b.tokens).toBeGreaterThan(12 * 10);
    expect(a.loss).not.toBe(b.loss);
    expect(a.loss).toBeLessThan(b.loss);

    // merge_and_unload: the merged folder alone gives the same eval loss as base + adapter.
    const merged = join(tmp, 'merged');
    const mg = cli('merge', ['--model', STORIES, '--adapter', out, '--out', merged]);
    expect(mg.code).toBe(0);
    expect(readdirSync(merged).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const m = JSON.parse(cli('eval', ['--model', merged, '--data', data, '--seq-len', '32']).stdout.trim());
    expect(m.tokens).toBe(a.tokens);
    expect(Math.abs(m.loss - a.loss) / a.loss).toBeLessThan(1e-5);

    const g = cli('generate', ['--model', STORIES, '--max-new-tokens', '8', '--prompt', '']);
    expect(g.code).toBe(0);
    expect(g.stdout.trim()).toBe('Once upon a time, there was a'); // 8 tokens of the known continuation
    const g2 = cli('generate', ['--model', STORIES, '--adapter', out, '--max-new-tokens', '4', '--prompt', 'Tom had']);
    expect(g2.code).toBe(0);
    expect(g2.stdout.trim().length).toBeGreaterThan(0);
    expect(metrics.prompt_format).toEqual({ shape: 'text', chat_template: 'auto', name: 'text' });
    expect(g2.stderr).not.toMatch(/prompt wrapped/); // plain-text data: the prompt goes as typed

    const r = cli('train', ['--resume', join(out, 'checkpoint'), '--steps', '3', '--log-every', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/resuming from .* at step 2/);
    expect(r.stderr).toMatch(/step 3\/3/);
    expect(r.stderr).not.toMatch(/step 1\/3/);
    expect(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).train_loss).toHaveLength(3);
  });
});
