// npm run export-run -- --run DIR --out DIR
// A run folder written by `npm run train` (metrics.json, adapter_config.json, or for an unfinished
// run checkpoint/trainer_state.json) → train_trl.py (TRL SFTTrainer + PEFT, `accelerate launch`),
// axolotl.yml and README.md with the same settings (src/export/cluster.ts).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { axolotlYaml, clusterReadme, qaloraNote, trlScript, type ClusterRun } from '../export/cluster';
import { withPeftNames } from '../train/peft-names';
import { parseCli, progressLine, runCli, UsageError, writeFiles } from './common';

const USAGE = 'usage: npm run export-run -- --run DIR (a folder written by npm run train) --out DIR';

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (e) {
    throw new UsageError(`${file}: not valid JSON (${(e as Error).message}); give --run a folder written by npm run train`);
  }
}

/** The run's settings from its folder; throws a one-line UsageError naming the missing file. */
export function readRunFolder(dir: string): ClusterRun {
  const metricsFile = join(dir, 'metrics.json');
  const stateFile = join(dir, 'checkpoint', 'trainer_state.json');
  const adapterFile = ['adapter_config.json', 'checkpoint/adapter_config.json'].map((f) => join(dir, f)).find(existsSync);
  let cfg: Json;
  let shape = 'text';
  if (existsSync(metricsFile)) {
    const m = readJson(metricsFile);
    cfg = withPeftNames((m.config ?? {}) as Json);
    shape = String(((m.prompt_format ?? {}) as Json).shape ?? cfg.dataFormat ?? 'text');
  } else if (existsSync(stateFile)) {
    cfg = withPeftNames((readJson(stateFile).config ?? {}) as Json);
    shape = String(cfg.dataFormat ?? 'text');
    if (shape === 'auto') throw new UsageError(`${dir}: the run has no metrics.json (unfinished), so the detected record shape is unknown; finish or resume it (npm run train -- --resume ${join(dir, 'checkpoint')}), or train with --format`);
  } else throw new UsageError(`--run ${dir}: no metrics.json or checkpoint/trainer_state.json there; give a folder written by npm run train`);
  if (!adapterFile) throw new UsageError(`--run ${dir}: no adapter_config.json there; give a folder written by npm run train`);
  const ad = readJson(adapterFile);
  const str = (k: string) => (typeof cfg[k] === 'string' ? (cfg[k] as string) : undefined);
  const n = (k: string, d: number) => (typeof cfg[k] === 'number' ? (cfg[k] as number) : d);
  if (!str('model') || !str('data')) throw new UsageError(`${existsSync(metricsFile) ? metricsFile : stateFile}: the run's config lacks "model" or "data"; it was not written by npm run train`);
  return {
    name: basename(dir.replace(/\/+$/, '')),
    baseModel: str('model')!,
    data: str('data')!,
    evalFile: str('evalFile'),
    evalSplit: n('evalSplit', 0.1),
    r: typeof ad.r === 'number' ? ad.r : n('r', 8),
    loraAlpha: typeof ad.lora_alpha === 'number' ? ad.lora_alpha : n('loraAlpha', 16),
    loraDropout: typeof ad.lora_dropout === 'number' ? ad.lora_dropout : n('loraDropout', 0.05),
    useRslora: ad.use_rslora === true,
    targetModules: Array.isArray(ad.target_modules) ? (ad.target_modules as string[]) : [],
    loraplusLrRatio: n('loraplusLrRatio', 1),
    lr: n('lr', 2e-4),
    schedule: (str('schedule') ?? 'linear') as ClusterRun['schedule'],
    warmup: n('warmup', 0),
    steps: typeof cfg.steps === 'number' ? cfg.steps : undefined,
    epochs: n('epochs', 1),
    batchSize: n('batchSize', 4),
    gradAccum: n('gradAccum', 1),
    seqLen: n('seqLen', 256),
    seed: n('seed', 42),
    maxGradNorm: n('maxGradNorm', 1),
    weightDecay: n('weightDecay', 0),
    gradCheckpointing: cfg.gradCheckpointing === true,
    quant: str('quant') ?? 'none',
    groupSize: n('groupSize', 32),
    shape,
    trainOnPrompt: cfg.trainOnPrompt === true,
    packing: cfg.packing === true,
  };
}

if (process.argv[1]?.endsWith('export-run.ts')) {
  runCli(async () => {
    const a = parseCli({ run: { type: 'string' }, out: { type: 'string' } } as const, USAGE);
    if (!a.run || !a.out) throw new UsageError(`--run and --out are required.\n${USAGE}`);
    const run = readRunFolder(a.run);
    writeFiles(a.out, new Map([['train_trl.py', trlScript(run)], ['axolotl.yml', axolotlYaml(run)], ['README.md', clusterReadme(run)]]));
    const qa = qaloraNote(run);
    if (qa) progressLine(`note: ${qa}`, true);
    progressLine(`wrote train_trl.py, axolotl.yml and README.md to ${a.out} (data referenced as ${run.data})`, true);
  });
}
