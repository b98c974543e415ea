// npm run export-run (TRL script + Axolotl YAML from a run folder) and npm run export-gguf as a user
// runs them: key-by-key checks against the run's settings, python3 -m py_compile on the script, and
// the GGUF files parsed back by @huggingface/gguf.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gguf } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import { axolotlYaml, trlScript } from '../export/cluster';
import { readRunFolder } from './export-run';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const tmp = mkdtempSync(join(tmpdir(), 'export-cli-'));
/** PEFT's adapter_model.bin for stories260K, as PEFT wrote it (src/cli/cli.test.ts checks its eval against a safetensors copy). */
const BIN_ADAPTER = fileURLToPath(new URL('../../../shared/adapters/stories260K-lora-bin', import.meta.url));

function cli(tool: string, args: string[]) {
  const r = spawnSync(TSX, [join(ROOT, 'src', 'cli', `${tool}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A run folder as npm run train writes it (metrics.json config + adapter_config.json). */
function runFolder(name: string, config: Record<string, unknown>, shape: string, adapter: Record<string, unknown> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ config, prompt_format: { shape, chat_template: 'auto', name: shape } }));
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: config.r ?? config.rank, lora_alpha: config.loraAlpha ?? config.alpha, lora_dropout: config.loraDropout ?? config.dropout, target_modules: ['q_proj', 'v_proj', 'lm_head'], ...adapter }));
  return dir;
}

const CONFIG = {
  model: 'HuggingFaceTB/SmolLM2-135M', data: '/data/alpaca.jsonl', out: 'runs/a', r: 16, loraAlpha: 32, loraDropout: 0.1, targetModules: 'attention,lm_head',
  loraplusLrRatio: 16, lr: 3e-4, schedule: 'cosine', warmup: 20, steps: 500, epochs: 1, batchSize: 8, gradAccum: 4, seqLen: 512, seed: 7,
  maxGradNorm: 0.5, weightDecay: 0.01, gradCheckpointing: true, quant: 'nf4-dq', groupSize: 32, evalSplit: 0.05, trainOnPrompt: false, packing: true,
};

describe('export-run: TRL + PEFT script and Axolotl YAML', () => {
  it('every setting of the run appears in the script (which compiles) and in the YAML', () => {
    const run = readRunFolder(runFolder('nf4', CONFIG, 'alpaca', { use_rslora: true }));
    const s = trlScript(run);
    for (const line of [
      'BASE_MODEL = "HuggingFaceTB/SmolLM2-135M"', 'DATA = "/data/alpaca.jsonl"', 'EVAL_SPLIT = 0.05', 'SEED = 7', 'SEQ_LEN = 512', 'BATCH_SIZE = 8',
      'GRAD_ACCUM = 4', 'LR = 0.0003', 'LORAPLUS_LR_RATIO = 16', 'WEIGHT_DECAY = 0.01', 'MAX_STEPS = 500', '    r=16,', '    lora_alpha=32,',
      '    lora_dropout=0.1,', '    target_modules=["q_proj", "v_proj", "lm_head"],', '    use_rslora=True,', '    lr_scheduler_type="cosine",',
      '    warmup_steps=20,', '    max_grad_norm=0.5,', '    completion_only_loss=True,', '    gradient_checkpointing=True,',
      'BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)',
      'raw = load_dataset("json", data_files=files)', 'create_loraplus_optimizer(model=model, optimizer_cls=torch.optim.AdamW, lr=LR, loraplus_lr_ratio=LORAPLUS_LR_RATIO, weight_decay=WEIGHT_DECAY)',
    ]) expect(s.split('\n').some((l) => l.includes(line)), line).toBe(true);
    expect(s).toMatch(/packing=True/);
    expect(s).not.toMatch(/alpaca\.jsonl.*\{"instruction"/); // the data is referenced, never embedded
    const py = join(tmp, 'train_trl.py');
    writeFileSync(py, s);
    const c = spawnSync('python3', ['-m', 'py_compile', py], { encoding: 'utf8' });
    expect(c.stderr).toBe('');
    expect(c.status).toBe(0);

    const y = axolotlYaml(run).split('\n');
    for (const line of [
      'base_model: "HuggingFaceTB/SmolLM2-135M"', 'adapter: qlora', 'load_in_4bit: true', 'load_in_8bit: false', '  bnb_4bit_use_double_quant: true', 'lora_r: 16', 'lora_alpha: 32',
      'lora_dropout: 0.1', '  - lm_head', 'peft_use_rslora: true', 'loraplus_lr_ratio: 16', '  - path: "/data/alpaca.jsonl"', '    ds_type: json', '    type: alpaca',
      'train_on_inputs: false', 'val_set_size: 0.05', 'sequence_len: 512', 'sample_packing: true', 'micro_batch_size: 8', 'max_steps: 500',
      'learning_rate: 0.0003', 'lr_scheduler: cosine', 'warmup_steps: 20', 'max_grad_norm: 0.5', 'weight_decay: 0.01', 'seed: 7', 'gradient_checkpointing: true',
    ]) expect(y, line).toContain(line);
    expect(y).toContain('gradient_accumulation_steps: 4  # per GPU: divide by the number of GPUs to keep the global batch');
    // Well-formed YAML lines: "key: value", "- item" or comments; top-level keys unique.
    const keys = y.filter((l) => /^[a-z_0-9]+:/.test(l)).map((l) => l.split(':')[0]);
    expect(new Set(keys).size).toBe(keys.length);
    for (const l of y) expect(l, l).toMatch(/^(#.*|\s*- .+|\s*[a-z_0-9]+:( .+)?|)$/);
  });

  it('a chat run trains assistant turns; a QA-LoRA run says plainly what has no equivalent', () => {
    const run = readRunFolder(runFolder('qa', { ...CONFIG, quant: 'qalora-int4', groupSize: 16, data: 'org/chats', loraplusLrRatio: 1 }, 'chat'));
    const s = trlScript(run);
    expect(s).toMatch(/raw = load_dataset\(DATA\)/);
    expect(s).toMatch(/assistant_only_loss=True/);
    expect(s).toMatch(/completion_only_loss=False/);
    expect(s).toMatch(/quantization_config = None/);
    expect(s).toMatch(/# NOTE: This run trained QA-LoRA \(qalora-int4, group size 16\): neither TRL\/PEFT on bitsandbytes nor Axolotl has an equivalent/);
    const y = axolotlYaml(run);
    expect(y).toMatch(/# NOTE: This run trained QA-LoRA/);
    expect(y).toMatch(/type: chat_template\n {4}field_messages: messages/);
    expect(y).toMatch(/adapter: lora\nload_in_8bit: false\nload_in_4bit: false/);
    expect(y).not.toMatch(/loraplus_lr_ratio/);
  });

  it('the shapes as runs record them (messages, prompt-completion) and a hub: dataset with config and split', () => {
    const run = readRunFolder(runFolder('hubchat', { ...CONFIG, data: 'hub:org/chats:default:test' }, 'messages'));
    const s = trlScript(run);
    for (const line of ['DATA = "org/chats"', 'DATA_CONFIG = "default"', 'DATA_SPLIT = "test"', 'raw = DatasetDict(train=load_dataset(DATA, DATA_CONFIG, split=DATA_SPLIT))', '    assistant_only_loss=True,']) {
      expect(s.split('\n').some((l) => l.startsWith(line)), line).toBe(true);
    }
    expect(axolotlYaml(run)).toContain('  - path: "org/chats"\n    name: "default"\n    split: "test"\n    type: chat_template\n    field_messages: messages');
    const pc = trlScript(readRunFolder(runFolder('pc', CONFIG, 'prompt-completion')));
    expect(pc).toContain('"completion": [{"role": "assistant"');
  });

  it('CLI: writes the three files; a folder that is not a run is one line naming the flag', () => {
    const dir = runFolder('cli', CONFIG, 'alpaca');
    const r = cli('export-run', ['--run', dir, '--out', join(tmp, 'cluster')]);
    expect(r.stderr).toMatch(/wrote train_trl\.py, axolotl\.yml and README\.md/);
    expect(r.code).toBe(0);
    expect(readFileSync(join(tmp, 'cluster', 'README.md'), 'utf8')).toMatch(/accelerate launch train_trl\.py/);
    const bad = cli('export-run', ['--run', tmp, '--out', join(tmp, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([`error: --run ${tmp}: no metrics.json or checkpoint/trainer_state.json there; give a folder written by npm run train`]);
  });
});

describe('export-gguf CLI', () => {
  it('writes the base model as Q8_0 GGUF and says which matrices stayed F16; bad --type is one line', async () => {
    const out = join(tmp, 'base.gguf');
    const r = cli('export-gguf', ['--model', STORIES, '--type', 'q8_0', '--out', out]);
    expect(r.stderr).toMatch(/note: 5 matrices have rows that are not whole 32-value blocks/);
    expect(r.stderr).toMatch(/wrote the model as GGUF \(q8_0\)/);
    expect(r.code).toBe(0);
    const g = await gguf(out, { allowLocalFile: true });
    expect(g.metadata['general.architecture']).toBe('llama');
    expect(g.tensorInfos.length).toBe(47);
    const bad = cli('export-gguf', ['--model', STORIES, '--type', 'q5_k', '--out', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: --type q5_k: use f16, q8_0, q4_0 or f32$/m);
  });

  it('a PEFT adapter_model.bin from elsewhere merges (eval equals eval --adapter) and exports as merged and adapter GGUF; a model folder as --adapter is one line', async () => {
    const data = join(tmp, 'stories.jsonl');
    writeFileSync(data, ['Once upon a time, there was a little girl named Lily.', 'Tom had a big red ball. He threw it to his friend.'].map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const evalLoss = (args: string[]) => {
      const r = cli('eval', [...args, '--data', data, '--seq-len', '32']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop()!).loss as number;
    };
    const withAdapter = evalLoss(['--model', STORIES, '--adapter', BIN_ADAPTER]);
    expect(Math.abs(withAdapter - evalLoss(['--model', STORIES]))).toBeGreaterThan(1e-4); // the adapter changes the model
    const merged = join(tmp, 'merged-bin');
    expect(cli('merge', ['--model', STORIES, '--adapter', BIN_ADAPTER, '--out', merged]).code).toBe(0);
    expect(Math.abs(evalLoss(['--model', merged]) - withAdapter)).toBeLessThan(1e-5 * withAdapter);
    for (const [args, type, tensors] of [[['--type', 'f16'], 'model', 47], [['--lora-only'], 'adapter', 5 * 2 * 2]] as const) {
      const out = join(tmp, `bin-${type}.gguf`);
      const r = cli('export-gguf', ['--model', STORIES, '--adapter', BIN_ADAPTER, ...args, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const g = await gguf(out, { allowLocalFile: true });
      const md = g.metadata as Record<string, unknown>;
      expect(md['general.type']).toBe(type);
      expect(g.tensorInfos.length).toBe(tensors);
    }
    const bad = cli('eval', ['--model', STORIES, '--adapter', STORIES, '--data', data]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([
      `error: --adapter ${STORIES}: expected adapter_config.json and adapter_model.safetensors (or adapter_model.bin) there — this is a model folder, not an adapter; give a folder written by PEFT's save_pretrained (TRL, Unsloth, LLaMA-Factory) or by this studio`,
    ]);
  });
});
