import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_FLAG, shellQuote, trainCommand, type DataFlags } from './flags';
import type { RunConfig } from './train/run';

const config: RunConfig = {
  baseModel: 'm', r: 16, loraAlpha: 32, loraDropout: 0.05, useRslora: false, targetModules: 'q_proj,v_proj', loraplusLrRatio: 16, lr: 3e-4, schedule: 'cosine', warmup: 10,
  steps: 100, epochs: 1, batchSize: 4, gradAccum: 2, seqLen: 512, seed: 42, saveEvery: 50, maxGradNorm: 1, weightDecay: 0, gradCheckpointing: true, quant: 'none',
};
const data: DataFlags = { format: 'auto', template: '', responseColumn: '', chatTemplate: 'auto', trainOnPrompt: false, onBadRows: 'stop', packing: false };
const paths = { model: 'MODEL_DIR', data: 'my data.jsonl', out: 'runs/x' };

describe('trainCommand', () => {
  it('spells out every setting, steps over epochs, booleans as bare flags', () => {
    const c = trainCommand(config, data, 0.1, paths);
    expect(c).toBe(
      "npm run train -- --model MODEL_DIR --data 'my data.jsonl' --out runs/x --lora-r 16 --lora-alpha 32 --lora-dropout 0.05 --target-modules q_proj,v_proj --loraplus-lr-ratio 16 " +
        '--lr 0.0003 --schedule cosine --warmup 10 --steps 100 --batch-size 4 --grad-accum 2 --seq-len 512 --seed 42 --save-every 50 --max-grad-norm 1 ' +
        '--weight-decay 0 --grad-checkpointing --eval-split 0.1',
    );
  });

  it('writes epochs without steps, the quantization and the data options that differ from the defaults', () => {
    const c = trainCommand({ ...config, steps: undefined, epochs: 3, quant: 'qalora-int4', groupSize: 32, useRslora: true }, { ...data, template: "Q: {q}\nIt's", responseColumn: 'a', trainOnPrompt: true, onBadRows: 'skip', packing: true }, 0, paths);
    expect(c).toContain('--epochs 3');
    expect(c).not.toContain('--steps');
    expect(c).toContain('--use-rslora --target-modules');
    expect(c).toContain('--quant qalora-int4 --group-size 32');
    // f32 saved activations are the default and left out; f16 is spelled out
    expect(c).not.toContain('--activations');
    expect(trainCommand({ ...config, saveActivations: 'f16' }, data, 0.1, paths)).toContain('--grad-checkpointing --activations f16 --eval-split');
    // f32 matmul math likewise; f16 is spelled out
    expect(c).not.toContain('--matmul-math');
    expect(trainCommand({ ...config, saveActivations: 'f16', matmulMath: 'f16' }, data, 0.1, paths)).toContain('--activations f16 --matmul-math f16 --eval-split');
    // subgroup reductions: off leaves the flag out, on writes --subgroups
    expect(c).not.toContain('--subgroups');
    expect(trainCommand({ ...config, subgroups: false }, data, 0.1, paths)).not.toContain('--subgroups');
    expect(trainCommand({ ...config, matmulMath: 'f16', subgroups: true }, data, 0.1, paths)).toContain('--matmul-math f16 --subgroups --eval-split');
    expect(c).toContain(`--format template --template 'Q: {q}\nIt'\\''s' --response-column a --train-on-prompt --packing --on-bad-rows skip`);
  });

  it('quotes for a shell only when needed', () => {
    expect(shellQuote('a/b-c_d.json')).toBe('a/b-c_d.json');
    expect(shellQuote('a b')).toBe("'a b'");
  });

  it('names only flags that npm run train takes', () => {
    const train = readFileSync(new URL('./cli/train-run.ts', import.meta.url), 'utf8');
    for (const f of [...Object.values(CONFIG_FLAG), '--eval-split']) expect(train + readFileSync(new URL('./cli/common.ts', import.meta.url), 'utf8')).toMatch(new RegExp(`['\\s{]${f!.slice(2)}['"]?:`));
  });
});
