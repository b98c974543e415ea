// Settings saved before the LoRA fields took PEFT's names (rank, alpha, dropout, rslora, targets /
// targetKinds, loraPlusRatio) still load with the same values, through every reader of persisted
// settings: IndexedDB run and experiment records, settings files and localStorage entries, CLI run
// folders (--resume's trainer_state.json, export-run's metrics.json) and old "Copy as command"
// lines. The fixtures are real output of the code before the rename (settingsJson, toRunConfig,
// runConfigFromArgs, trainCommand), kept as strings.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCli } from './cli/common';
import { readRunFolder } from './cli/export-run';
import { noteTypedFlags, cliMessage } from './cli/options';
import { runConfigFromArgs, TRAIN_CLI_OPTIONS } from './cli/train-run';
import { defaultKnobs, toRunConfig, type Knobs } from './plan/knobs';
import { EXPERIMENT_SCHEMA, readExperiment, type ExperimentRecord } from './store/experiment-db';
import { readRecord, RUN_SCHEMA } from './store/runlogic';
import { parseSettings, settingsJson } from './store/settingsfile';
import type { RunRecord } from './store/types';
import { validateRunConfig, type RunConfig } from './train/run';
import { withPeftNames } from './train/peft-names';

// settingsJson('old', knobs) of the studio before the rename (also the json of a localStorage entry).
const OLD_SETTINGS = `{
  "kind": "lora-studio-settings",
  "version": 1,
  "name": "old",
  "knobs": {
    "rank": 12, "alpha": 24, "dropout": 0.1, "rslora": true, "targetKinds": ["q_proj", "v_proj", "lm_head"], "loraPlusRatio": 4,
    "quant": "none", "groupSize": 32, "lr": 0.0003, "schedule": "linear", "warmup": 10, "lengthBy": "epochs", "epochs": 1, "steps": 100,
    "batchSize": 4, "gradAccum": 1, "seqLen": 512, "evalSplit": 0.1, "seed": 42, "evalEvery": 50, "samplePrompt": "", "sampleTokens": 32,
    "gradCheckpointing": false, "maxGradNorm": 1, "weightDecay": 0
  }
}`;
// toRunConfig of those knobs before the rename (a run record's config).
const OLD_CONFIG = '{"baseModel":"stories260K","rank":12,"alpha":24,"dropout":0.1,"rslora":true,"targets":"q_proj,v_proj,lm_head","loraPlusRatio":4,"lr":0.0003,"schedule":"linear","warmup":10,"epochs":1,"batchSize":4,"gradAccum":1,"seqLen":512,"seed":42,"saveEvery":50,"maxGradNorm":1,"weightDecay":0,"gradCheckpointing":false,"quant":"none"}';
// runConfigFromArgs of `--rank 12 --alpha 24 --dropout 0.1 --rslora --targets q_proj,v_proj --lora-plus-ratio 4` before the rename,
// plus the model / data / out and data options train.ts records beside it (trainer_state.json and metrics.json "config").
const OLD_CLI_CONFIG = '{"model":"models/stories260K","data":"data/tiny.jsonl","out":"runs/old","dtype":"f32","quant":"none","groupSize":32,"gradCheckpointing":false,"baseModel":"stories260K","rank":12,"alpha":24,"dropout":0.1,"rslora":true,"targets":"q_proj,v_proj","loraPlusRatio":4,"lr":0.0002,"schedule":"linear","warmup":0,"epochs":1,"batchSize":4,"gradAccum":1,"seqLen":256,"seed":42,"saveEvery":0,"keepCheckpoints":2,"maxGradNorm":1,"weightDecay":0,"evalSplit":0.1,"dataFormat":"alpaca","packing":false}';
// The studio's "Copy as command" of OLD_CONFIG before the rename.
const OLD_COMMAND = '--model MODEL_DIR --data data.jsonl --out runs/x --rank 12 --alpha 24 --dropout 0.1 --rslora --targets q_proj,v_proj,lm_head --lora-plus-ratio 4 --lr 0.0003 --schedule linear --warmup 10 --epochs 1 --batch-size 4 --grad-accum 1 --seq-len 512 --seed 42 --save-every 50 --max-grad-norm 1 --weight-decay 0 --eval-split 0.1';

const LORA_OLD = { r: 12, loraAlpha: 24, loraDropout: 0.1, useRslora: true, loraplusLrRatio: 4 };
const KNOBS: Knobs = { ...defaultKnobs(null), ...LORA_OLD, targetModules: ['q_proj', 'v_proj', 'lm_head'] };

const tmp = mkdtempSync(join(tmpdir(), 'peft-names-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('settings saved under the old field names', () => {
  it('withPeftNames renames only the LoRA fields, a new name winning over an old one', () => {
    expect(withPeftNames({ rank: 4, alpha: 8, dropout: 0, rslora: false, targets: 'all-linear', loraPlusRatio: 2, lr: 1 })).toEqual(
      { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false, targetModules: 'all-linear', loraplusLrRatio: 2, lr: 1 },
    );
    expect(withPeftNames({ rank: 4, r: 16 })).toEqual({ r: 16 });
    expect(withPeftNames(null)).toBe(null);
    expect(withPeftNames([1])).toEqual([1]);
  });

  it('a settings file / localStorage entry of version 1 loads with the same values; a new one is version 2', () => {
    const { name, knobs } = parseSettings(OLD_SETTINGS, 'old.json');
    expect(name).toBe('old');
    expect(knobs).toEqual(KNOBS);
    expect(JSON.parse(settingsJson('old', knobs)).version).toBe(2);
    expect(parseSettings(settingsJson('old', knobs), 'x').knobs).toEqual(KNOBS);
  });

  it('an IndexedDB run record of schema 1 loads with the same knobs and config', () => {
    const old = { id: 'r1', name: 'old run', schema: 1, knobs: JSON.parse(OLD_SETTINGS).knobs, config: JSON.parse(OLD_CONFIG), metrics: { train: [] } };
    const read = readRecord(old);
    if (!('record' in read)) throw new Error(read.skipped);
    const r: RunRecord = read.record;
    expect(r.schema).toBe(RUN_SCHEMA);
    expect(r.knobs).toEqual(KNOBS);
    // A config from before saveActivations, matmulMath and subgroups has none (the engine's defaults: f32, off).
    expect(r.config).toEqual({ ...toRunConfig(KNOBS, 'llama', 'stories260K'), saveActivations: undefined, matmulMath: undefined, subgroups: undefined });
    expect(() => validateRunConfig(r.config, 512)).not.toThrow();
  });

  it('an IndexedDB experiment of schema 1 keeps its base knobs', () => {
    const old = { schema: 1, id: 'e1', name: 'sweep', plan: [], baseKnobs: JSON.parse(OLD_SETTINGS).knobs, current: 0, status: 'done' };
    const x = readExperiment(old) as ExperimentRecord;
    expect(x.schema).toBe(EXPERIMENT_SCHEMA);
    expect(x.baseKnobs).toEqual(KNOBS);
    expect(readExperiment({ ...old, schema: 9 })).toBe(null);
  });

  it('a CLI run folder of before: --resume takes its settings, export-run reads the same run', () => {
    const prev = withPeftNames(JSON.parse(OLD_CLI_CONFIG)) as Partial<RunConfig>;
    const cfg = runConfigFromArgs({}, prev, { maxT: 512, quant: 'none', groupSize: 32, dtype: 'f32', baseModel: 'stories260K' });
    expect(cfg).toMatchObject({ ...LORA_OLD, targetModules: 'q_proj,v_proj', lr: 2e-4, seqLen: 256, batchSize: 4 });
    const folder = (name: string, config: string) => {
      const dir = join(tmp, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ config: JSON.parse(config), prompt_format: { shape: 'alpaca' } }));
      writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 12, lora_alpha: 24, lora_dropout: 0.1, use_rslora: true, target_modules: ['q_proj', 'v_proj'] }));
      return dir;
    };
    const oldRun = readRunFolder(folder('old', OLD_CLI_CONFIG));
    expect(oldRun).toEqual({ ...readRunFolder(folder('new', JSON.stringify(withPeftNames(JSON.parse(OLD_CLI_CONFIG))))), name: 'old' });
    expect(oldRun).toMatchObject({ r: 12, loraAlpha: 24, loraDropout: 0.1, useRslora: true, loraplusLrRatio: 4 });
  });

  it('an old "Copy as command" line still parses to the same settings, and messages name the flag typed', () => {
    const a = parseCli(TRAIN_CLI_OPTIONS, 'usage', OLD_COMMAND.split(' '));
    const cfg = runConfigFromArgs(a, {}, { maxT: 512, quant: 'none', groupSize: 32, dtype: 'f32', baseModel: 'stories260K' });
    const want = JSON.parse(OLD_CONFIG);
    expect(cfg).toMatchObject({ ...withPeftNames(want), quant: 'none', gradCheckpointing: false });
    const bad = parseCli(TRAIN_CLI_OPTIONS, 'usage', ['--rank', '0']);
    noteTypedFlags(bad);
    const e = (() => {
      try {
        validateRunConfig(runConfigFromArgs(bad, {}, { maxT: 512, quant: 'none', groupSize: 32, dtype: 'f32', baseModel: 'm' }), 512);
      } catch (err) {
        return err;
      }
    })();
    expect(cliMessage(e)).toMatch(/^--rank must be a positive integer/);
    expect(() => runConfigFromArgs(parseCli(TRAIN_CLI_OPTIONS, 'usage', ['--alpha', 'x']), {}, { maxT: 512, quant: 'none', groupSize: 32, dtype: 'f32', baseModel: 'm' })).toThrow(/^--alpha must be a number/);
    expect(() => runConfigFromArgs(parseCli(TRAIN_CLI_OPTIONS, 'usage', ['--lora-alpha', 'x']), {}, { maxT: 512, quant: 'none', groupSize: 32, dtype: 'f32', baseModel: 'm' })).toThrow(/^--lora-alpha must be a number/);
  });
});
