// The command-line tools as a user runs them: train → eval → generate → resume, the benchmark's
// invariants, and one-line errors (no stack trace) for bad input.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../model/safetensors';
import { serializeSafetensors } from '../model/safetensors-writer';
import { readTensorFile } from '../model/tensor-dir';
import { testContext } from '../test/gpu';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** The adapter the tools get has shader-f16 (then --matmul-math f16 runs; without it, it is a one-line error). */
const HAS_F16 = (await testContext()).adapter.hasF16;
/** The same for 'subgroups' (--subgroups). */
const HAS_SUBGROUPS = (await testContext()).adapter.hasSubgroups;

function cli(tool: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(TSX, [join(ROOT, 'src', 'cli', `${tool}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** stderr minus the GPU driver's start-up chatter and our progress lines. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error:'));
}

let tmp = '';
let data = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cli-test-'));
  data = join(tmp, 'stories.jsonl');
  const lines = [];
  for (let i = 0; i < 12; i++) lines.push(JSON.stringify({ text: `Tom had a purple frog number ${i}. The purple frog ate cake with Tom.` }));
  writeFileSync(data, lines.join('\n') + '\n');
});

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
    // A plain LoRA adapter cannot merge exactly into a quantized model.
    const bad = cli('merge', ['--model', STORIES, '--adapter', join(tmp, 'run'), '--out', join(tmp, 'bad-merge'), '--quant', 'qalora-int4', '--group-size', '4']);
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

describe('benchmark', () => {
  it('prints JSON; no GPU buffers are created per step after warm-up and only the loss is read back', () => {
    // The training section only: the matmul rows race tfjs at 256³/512³, minutes on SwiftShader.
    const b = cli('bench', ['--preset', 'tiny', '--steps', '2', '--seq-len', '16', '--only', 'train']);
    expect(b.code).toBe(0);
    const r = JSON.parse(b.stdout);
    expect(r.train.buffers_created_per_step_after_first).toBe(0);
    expect(r.train.submissions_per_step).toBe(1);
    expect(r.train.bytes_read_back_per_step).toBe(8);
    expect(r.train.dispatches_per_step).toBeGreaterThan(50);
    expect(r.train.tokens_per_second).toBeGreaterThan(0);
    expect(r.config).toMatchObject({ batch_size: 2, seq_len: 16, steps: 2, matmul_math: 'f32', subgroups: false }); // the tiny preset's batch
    // SmolLM2-135M's training memory per saved-activation setting (the estimate, in MiB)
    expect(r.memory_smollm2_mib.f16.total).toBeLessThan(r.memory_smollm2_mib.f32.total);
  });

  it('--matmul-math f16: runs and says so in its config where the adapter has shader-f16, else one error line as train gives', () => {
    const b = cli('bench', ['--preset', 'tiny', '--steps', '1', '--seq-len', '16', '--only', 'train', '--matmul-math', 'f16']);
    if (HAS_F16) {
      expect(b.code).toBe(0);
      expect(JSON.parse(b.stdout).config.matmul_math).toBe('f16');
    } else {
      expect(b.code).not.toBe(0);
      expect(errorLines(b.stderr)).toEqual([expect.stringMatching(/^error: --matmul-math f16 needs a GPU with the WebGPU 'shader-f16' feature.*leave it out/)]);
    }
    expect(errorLines(cli('bench', ['--only', 'dispatch', '--matmul-math', 'half']).stderr)).toEqual([expect.stringMatching(/--matmul-math must be f32 \(the default\) or f16.*got "half"/)]);
  });

  it('--subgroups: runs with config.subgroups true where the adapter has the subgroups feature, else one error line saying to turn it off', () => {
    const b = cli('bench', ['--preset', 'tiny', '--steps', '1', '--seq-len', '16', '--only', 'train', '--subgroups']);
    if (HAS_SUBGROUPS) {
      expect(errorLines(b.stderr)).toEqual([]);
      expect(b.code).toBe(0);
      expect(JSON.parse(b.stdout).config).toMatchObject({ subgroups: true, matmul_math: 'f32' });
      expect(b.stderr).toMatch(/^GPU: .*; subgroup reductions$/m);
    } else {
      expect(b.code).not.toBe(0);
      expect(errorLines(b.stderr)).toEqual([expect.stringMatching(/^error: Subgroup reductions need a GPU with the WebGPU 'subgroups' feature.*turn off --subgroups\.$/)]);
    }
  });
});

describe('bad input gets a one-line error naming the file and the fix', () => {
  const broken = (name: string, edit: (dir: string) => void): string => {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(STORIES)) {
      copyFileSync(join(STORIES, f), join(dir, f));
      chmodSync(join(dir, f), 0o644);
    }
    edit(dir);
    return dir;
  };
  const cases: [string, () => string[], RegExp][] = [
    ['missing config.json', () => ['--model', broken('noconfig', (d) => rmSync(join(d, 'config.json'))), '--data', data], /noconfig\/config\.json is missing/],
    ['malformed config.json', () => ['--model', broken('badjson', (d) => writeFileSync(join(d, 'config.json'), '{"hidden_size": 64,')), '--data', data], /config\.json: invalid JSON at line/],
    ['unsupported architecture', () => ['--model', broken('arch', (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, model_type: 'mamba', architectures: ['MambaForCausalLM'] }));
    }), '--data', data], /unsupported model_type "mamba".*llama.*gpt2/],
    ['truncated safetensors', () => ['--model', broken('trunc', (d) => truncateSync(join(d, 'model.safetensors'), 500_000)), '--data', data], /model\.safetensors: the file is truncated/],
    ['bad safetensors header length', () => ['--model', broken('hdr', (d) => {
      const b = readFileSync(join(d, 'model.safetensors'));
      b.writeUInt32LE(0xfffffff0, 0);
      writeFileSync(join(d, 'model.safetensors'), b);
    }), '--data', data], /model\.safetensors.*header/i],
    ['missing tensor', () => ['--model', broken('missing', (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, num_hidden_layers: 6 }));
    }), '--data', data], /lacks .*model\.layers\.5/],
    ['rank 0', () => ['--model', STORIES, '--data', data, '--rank', '0'], /rank must be a positive integer/],
    ['target that matches nothing', () => ['--model', STORIES, '--data', data, '--targets', 'qkv_proj'], /"qkv_proj" matches no module.*q_proj, k_proj/],
    ['empty data', () => ['--model', STORIES, '--data', (writeFileSync(join(tmp, 'empty.jsonl'), '\n\n'), join(tmp, 'empty.jsonl'))], /empty\.jsonl: the file has no examples/],
    ['line without text', () => ['--model', STORIES, '--data', (writeFileSync(join(tmp, 'notext.jsonl'), '{"text":"a b"}\n{"prompt":"x"}\n'), join(tmp, 'notext.jsonl'))], /notext\.jsonl:2: no "text" string field \(fields present: prompt\)/],
    ['seq-len above the maximum', () => ['--model', STORIES, '--data', data, '--seq-len', '1000'], /above the model's maximum of 512/],
    ['unknown quant mode', () => ['--model', STORIES, '--data', data, '--quant', 'int5'], /--quant: unknown quantization mode 'int5'; valid modes: none, int8, nf4, nf4-dq, qalora-int4/],
    ['unknown --matmul-math', () => ['--model', STORIES, '--data', data, '--matmul-math', 'f8'], /--matmul-math must be f32 \(the default\) or f16.*got "f8"/],
    ['QA-LoRA group size that does not divide a target', () => ['--model', STORIES, '--data', data, '--quant', 'qalora-int4', '--group-size', '32', '--targets', 'all-linear'], /group size 32 does not divide model\.layers\.0\.mlp\.down_proj's 172 input features/],
  ];
  if (!HAS_F16) cases.push(['--matmul-math f16 on an adapter without shader-f16', () => ['--model', STORIES, '--data', data, '--matmul-math', 'f16'], /--matmul-math f16 needs a GPU with the WebGPU 'shader-f16' feature.*leave it out/]);
  for (const [name, args, re] of cases) {
    it(name, () => {
      const r = cli('train', [...args(), '--out', join(tmp, 'bad-out'), '--steps', '1']);
      expect(r.code).not.toBe(0);
      const errs = errorLines(r.stderr);
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatch(re);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  }
});
