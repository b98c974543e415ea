// "Copy as command" run through the CLI's own argument handling: the line the studio writes
// (studioCommand, what the store's commandLine returns) is split as a POSIX shell splits it,
// parsed by `npm run train`'s parser (parseCli over TRAIN_CLI_OPTIONS, strict: an unknown flag
// throws) and turned into the run settings by the same functions train.ts uses; every knob must
// arrive with the value it has in the studio. And the subgroup choice a resumed CLI run keeps.
import { describe, expect, it } from 'vitest';
import { parseCli, quantFromArgs } from '../cli/common';
import { dataConfigFromArgs } from '../cli/data-input';
import { runConfigFromArgs, TRAIN_CLI_OPTIONS } from '../cli/train-run';
import { defaultKnobs, toRunConfig, type Knobs } from '../plan/knobs';
import { DEFAULT_DATASET_OPTIONS, type DatasetOptions } from '../worker/protocol';
import { studioCommand, type CommandInput } from './command';

/** Words of a command line as a POSIX shell splits them (plain words and '…' quoting, which is all shellQuote writes). */
function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote at ${i}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (ch === ' ') {
      if (cur !== null) out.push(cur);
      cur = null;
    } else if (ch === '\\') {
      cur = (cur ?? '') + line[++i];
    } else cur = (cur ?? '') + ch;
  }
  if (cur !== null) out.push(cur);
  return out;
}

/** The command through the CLI: its parsed run settings and data options. */
function throughCli(line: string) {
  const words = shellWords(line);
  expect(words.slice(0, 4)).toEqual(['npm', 'run', 'train', '--']);
  const a = parseCli(TRAIN_CLI_OPTIONS, 'usage', words.slice(4));
  const { quant, groupSize } = quantFromArgs(a);
  const cfg = runConfigFromArgs(a, {}, { maxT: 2048, quant, groupSize, dtype: 'auto', baseModel: a.model! });
  return { a, cfg, data: dataConfigFromArgs(a) };
}

function input(knobs: Knobs, options: DatasetOptions, evalFileName: string | null): CommandInput {
  return { knobs, arch: 'llama', choice: { kind: 'hub', repo: 'HuggingFaceTB/SmolLM2-135M' }, data: { fileName: 'my data.jsonl', hub: null, options }, evalFileName };
}

/** Every RunConfig field of the knobs must equal what the CLI made of the command (baseModel: the CLI's --model). */
function expectSameRun(knobs: Knobs, cfg: ReturnType<typeof throughCli>['cfg']) {
  const want = toRunConfig(knobs, 'llama', 'HuggingFaceTB/SmolLM2-135M');
  for (const k of Object.keys(want) as (keyof typeof want)[]) {
    if (k === 'groupSize' && want.groupSize === undefined) continue; // the CLI keeps its default group size for non-QA-LoRA runs
    if (k === 'epochs' && want.steps !== undefined) continue; // steps win over epochs: the command leaves epochs out
    if (k === 'steps' && want.steps === undefined) expect(cfg.steps, k).toBeUndefined();
    else expect(cfg[k], k).toEqual(want[k]);
  }
}

describe('Copy as command through the CLI parser', () => {
  it('carries every knob, the data options and the evaluation file (steps, QA-LoRA, switches, quoting)', () => {
    const knobs: Knobs = {
      ...defaultKnobs(null), r: 12, loraAlpha: 7.5, loraDropout: 0.15, useRslora: true, targetModules: ['q_proj', 'k_proj', 'o_proj', 'lm_head'], loraplusLrRatio: 4,
      quant: 'qalora-int4', groupSize: 64, lr: 0.00125, schedule: 'cosine', warmup: 7, lengthBy: 'steps', steps: 321, epochs: 5, batchSize: 3, gradAccum: 5,
      seqLen: 96, evalSplit: 0.2, seed: 1234, evalEvery: 9, gradCheckpointing: true, maxGradNorm: 0.5, weightDecay: 0.01, saveActivations: 'f16', matmulMath: 'f16',
      subgroups: true,
    };
    const options: DatasetOptions = { ...DEFAULT_DATASET_OPTIONS, template: "Q: {q}\nIt's {ctx}", responseColumn: 'answer', chatTemplate: 'chatml', trainOnPrompt: true, onBadRows: 'skip', packing: true };
    const { a, cfg, data } = throughCli(studioCommand(input(knobs, options, 'held out.jsonl')));
    expectSameRun(knobs, cfg);
    expect(cfg.groupSize).toBe(64);
    expect(a.subgroups).toBe(true); // “Subgroup reductions” on: --subgroups
    expect(a.data).toBe('my data.jsonl');
    expect(cfg.evalFile).toBe('held out.jsonl');
    expect(a['eval-split']).toBeUndefined(); // the file replaces the split
    expect(data).toMatchObject({ dataFormat: 'template', template: options.template, responseColumn: 'answer', chatTemplate: 'chatml', trainOnPrompt: true, packing: true, onBadRows: 'skip' });
  });

  it('carries epochs, the eval split and default data options (no quantization)', () => {
    const knobs: Knobs = { ...defaultKnobs(null), lengthBy: 'epochs', epochs: 4, evalSplit: 0.35, useRslora: false, gradCheckpointing: false, schedule: 'constant', targetModules: ['q_proj', 'v_proj'] };
    const { a, cfg, data } = throughCli(studioCommand(input(knobs, DEFAULT_DATASET_OPTIONS, null)));
    expect(a.subgroups).toBeUndefined(); // off by default: no --subgroups in the line
    expect(cfg.subgroups).toBe(false);
    expectSameRun(knobs, cfg);
    expect(a.steps).toBeUndefined();
    expect(cfg.evalSplit).toBe(0.35);
    expect(cfg.evalFile).toBeUndefined();
    expect(cfg.quant).toBe('none');
    expect(data).toMatchObject({ dataFormat: 'auto', chatTemplate: 'auto', trainOnPrompt: false, packing: false, onBadRows: 'stop' });
  });

  it('the CLI parser refuses a flag it does not know (the check above can fail)', () => {
    expect(() => throughCli('npm run train -- --model m --rank-typo 3')).toThrow(/rank-typo/);
  });
});

describe('subgroup reductions on --resume (the CLI side of the knob)', () => {
  const base = { maxT: 2048, quant: 'none' as const, groupSize: 32, dtype: 'auto', baseModel: 'm' };
  const resumed = (args: string[], prev: boolean | undefined) => runConfigFromArgs(parseCli(TRAIN_CLI_OPTIONS, 'usage', args), { subgroups: prev }, base).subgroups;

  it('keeps the recorded choice without a flag; --subgroups / --no-subgroups override it; both is an error', () => {
    expect(resumed([], true)).toBe(true);
    expect(resumed([], false)).toBe(false);
    expect(resumed([], undefined)).toBe(false); // a run recorded before the setting existed
    expect(resumed(['--subgroups'], false)).toBe(true);
    expect(resumed(['--no-subgroups'], true)).toBe(false);
    expect(() => resumed(['--subgroups', '--no-subgroups'], undefined)).toThrow('give --subgroups or --no-subgroups, not both.');
  });
});
