// The command-line tools: the benchmark's invariants (JSON, no per-step GPU buffers, only the loss
// read back, --matmul-math f16 and --subgroups), and one-line errors (no stack trace) for bad input.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { cli, cliScratch, errorLines, STORIES } from '../test/cli';
/** The adapter the tools get has shader-f16 (then --matmul-math f16 runs; without it, it is a one-line error). */
const HAS_F16 = (await testContext()).adapter.hasF16;
/** The same for 'subgroups' (--subgroups). */
const HAS_SUBGROUPS = (await testContext()).adapter.hasSubgroups;

const { tmp, data } = cliScratch();

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
