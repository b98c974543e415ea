// npm run train -- --model DIR --data FILE --out DIR [options]
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModel } from '../model/load';
import { parseTrainerState, STATE_FILE } from '../train/checkpoint';
import { checkpointFile } from '../train/resume';
import { fallbackMessage, loadNewestGood, type GoodCheckpoint } from '../train/checkpoint-shelf';
import { FolderShelf } from './checkpoint-dir';
import type { ResumeData, RunConfig } from '../train/run';
import { parseSchedule } from '../train/schedule';
import {
  gpuContext, nonNegInt, num, openModelSource, parseCli, positiveInt, progressLine, QUANT_CLI_OPTIONS, QUANT_USAGE, quantFromArgs, runCli, UsageError,
} from './common';
import { applyDemoTraining } from './demo';
import { DATA_CLI_OPTIONS, DATA_USAGE, dataConfigFromArgs, parseDataArg, type DataConfig } from './data-input';
import { folderPlace, modelLine, readRunData, resumeDataOf, RUN_DEFAULTS, trainIntoFolder } from './train-run';

const USAGE = `usage: npm run train -- --model DIR|ORG/NAME --data FILE|hub:OWNER/NAME --out DIR [options]
  (no --model and no --data: the built-in demo, written to runs/demo)
  --rank N (8)  --alpha X (16)  --dropout P (0.05)  --rslora
  --targets LIST|attention|all-linear[,lm_head] (attention)
  --lora-plus-ratio R (1 = plain LoRA; 16 = LoRA+)
  --lr X (2e-4)  --schedule constant|linear|cosine (linear)  --warmup N (0)
  --steps N | --epochs N (1)  --batch-size N (4)  --grad-accum N (1)  --seq-len N (256)
  --eval-file FILE | --eval-split F (0.1)  --seed N (42)  --save-every N (0)  --resume DIR
  --keep-checkpoints N (2: OUT/checkpoint and OUT/checkpoint-prev)
  --max-grad-norm X (1; 0 = off)  --weight-decay X (0)  --dtype auto|f32|f16 (auto)  --log-every N (10)
  --grad-checkpointing (recompute activations in the backward: less memory, ~1/3 more compute)
${QUANT_USAGE}
${DATA_USAGE}`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
      rank: { type: 'string' }, alpha: { type: 'string' }, dropout: { type: 'string' }, rslora: { type: 'boolean' },
      targets: { type: 'string' }, 'lora-plus-ratio': { type: 'string' }, lr: { type: 'string' }, schedule: { type: 'string' },
      warmup: { type: 'string' }, steps: { type: 'string' }, epochs: { type: 'string' }, 'batch-size': { type: 'string' },
      'grad-accum': { type: 'string' }, 'seq-len': { type: 'string' }, 'eval-file': { type: 'string' }, 'eval-split': { type: 'string' },
      seed: { type: 'string' }, 'save-every': { type: 'string' }, resume: { type: 'string' }, 'keep-checkpoints': { type: 'string' }, 'max-grad-norm': { type: 'string' },
      'weight-decay': { type: 'string' }, dtype: { type: 'string' }, 'log-every': { type: 'string' },
      'grad-checkpointing': { type: 'boolean' }, ...QUANT_CLI_OPTIONS,
      ...DATA_CLI_OPTIONS,
    } as const,
    USAGE,
  );
  // No --model and no --data: the built-in demo (public/demo) with its settings.
  applyDemoTraining(a);
  // A resumed run takes its configuration from the checkpoint; flags given again must agree.
  // --resume DIR takes the newest good checkpoint of DIR, DIR-prev, DIR-prev2, ... (checksums verified).
  let resumeState = null;
  let good: GoodCheckpoint | undefined;
  const resumeDir = a.resume ? resolve(a.resume.replace(/[/\\]+$/, '')) : null;
  if (resumeDir) {
    good = await loadNewestGood(new FolderShelf(resumeDir));
    if (!good) {
      const why = existsSync(join(resumeDir, STATE_FILE)) ? 'it is damaged (its checksum does not match) and no earlier checkpoint is beside it' : `no ${STATE_FILE} there`;
      throw new UsageError(`--resume ${a.resume}: ${why}; give a checkpoint folder written by --save-every.`);
    }
    resumeState = parseTrainerState(checkpointFile(good.files, STATE_FILE, 'text', folderPlace(good.slot.id)), join(good.slot.id, STATE_FILE));
  }
  const prev = (resumeState?.config ?? {}) as Partial<RunConfig> & DataConfig & { model?: string; data?: string; out?: string; evalFile?: string; evalSplit?: number; dtype?: string; keepCheckpoints?: number };
  const model = a.model ?? prev.model;
  const data = a.data ?? prev.data;
  const out = a.out ?? prev.out;
  if (!model || !data || !out) throw new UsageError(`--model, --data and --out are required.\n${USAGE}`);
  if (a.steps !== undefined && a.epochs !== undefined) throw new UsageError('give --steps or --epochs, not both.');
  const dtype = (a.dtype ?? prev.dtype ?? 'auto') as 'auto' | 'f32' | 'f16';
  if (!['auto', 'f32', 'f16'].includes(dtype)) throw new UsageError(`--dtype must be auto, f32 or f16, got '${dtype}'`);
  const dataCfg = dataConfigFromArgs(a, prev);
  parseDataArg(data); // a bad --data fails before the model loads
  const evalFileArg = (a['eval-file'] ?? prev.evalFile) as string | undefined;
  if (evalFileArg) parseDataArg(evalFileArg, '--eval-file');

  const { quant, groupSize } = quantFromArgs(a, prev);
  const src = openModelSource(model);
  const ctx = await gpuContext();
  const loaded = await loadModel(ctx, src, {
    dtype, quant, groupSize,
    onProgress: (p) => progressLine(`loading weights ${p.loaded}/${p.total}`),
  });
  const { spec } = loaded;
  const seqLen = num(a['seq-len'], 'seq-len', prev.seqLen ?? Math.min(256, spec.maxT), positiveInt);
  const seed = num(a.seed, 'seed', prev.seed ?? RUN_DEFAULTS.seed, nonNegInt);
  const cfg: RunConfig & Record<string, unknown> = {
    model, data, out, dtype,
    quant: loaded.weights.quant, groupSize,
    gradCheckpointing: a['grad-checkpointing'] ?? prev.gradCheckpointing ?? false,
    baseModel: prev.baseModel ?? (src.name.startsWith('hf://') ? src.name.slice(5) : basename(model.replace(/\/+$/, ''))),
    rank: num(a.rank, 'rank', prev.rank ?? RUN_DEFAULTS.rank),
    alpha: num(a.alpha, 'alpha', prev.alpha ?? RUN_DEFAULTS.alpha),
    dropout: num(a.dropout, 'dropout', prev.dropout ?? RUN_DEFAULTS.dropout),
    rslora: a.rslora ?? prev.rslora ?? RUN_DEFAULTS.rslora,
    targets: a.targets ?? prev.targets ?? RUN_DEFAULTS.targets,
    loraPlusRatio: num(a['lora-plus-ratio'], 'lora-plus-ratio', prev.loraPlusRatio ?? RUN_DEFAULTS.loraPlusRatio),
    lr: num(a.lr, 'lr', prev.lr ?? RUN_DEFAULTS.lr),
    schedule: parseSchedule(a.schedule ?? prev.schedule ?? RUN_DEFAULTS.schedule),
    warmup: num(a.warmup, 'warmup', prev.warmup ?? RUN_DEFAULTS.warmup, nonNegInt),
    steps: a.steps !== undefined ? num(a.steps, 'steps', 0, positiveInt) : a.epochs !== undefined ? undefined : prev.steps,
    epochs: num(a.epochs, 'epochs', prev.epochs ?? RUN_DEFAULTS.epochs, positiveInt),
    batchSize: num(a['batch-size'], 'batch-size', prev.batchSize ?? RUN_DEFAULTS.batchSize, positiveInt),
    gradAccum: num(a['grad-accum'], 'grad-accum', prev.gradAccum ?? RUN_DEFAULTS.gradAccum, positiveInt),
    seqLen, seed,
    saveEvery: num(a['save-every'], 'save-every', prev.saveEvery ?? RUN_DEFAULTS.saveEvery, nonNegInt),
    keepCheckpoints: num(a['keep-checkpoints'], 'keep-checkpoints', prev.keepCheckpoints ?? RUN_DEFAULTS.keepCheckpoints, positiveInt),
    maxGradNorm: num(a['max-grad-norm'], 'max-grad-norm', prev.maxGradNorm ?? RUN_DEFAULTS.maxGradNorm),
    weightDecay: num(a['weight-decay'], 'weight-decay', prev.weightDecay ?? RUN_DEFAULTS.weightDecay),
    evalFile: a['eval-file'] ?? prev.evalFile,
    evalSplit: num(a['eval-split'], 'eval-split', prev.evalSplit ?? RUN_DEFAULTS.evalSplit, (x) => (x >= 0 && x < 1 ? null : 'must be in [0, 1)')),
    ...dataCfg,
  };

  // Data: any supported file format and record shape; a seeded split unless a separate eval file is given.
  const prepared = await readRunData(loaded, data, dataCfg, { seqLen, seed, evalSplit: cfg.evalSplit as number, evalFile: evalFileArg });
  for (const u of loaded.weights.unquantized) progressLine(`${u.name} stays unquantized: ${u.reason}`, true);
  progressLine(modelLine(loaded, prepared), true);

  let resume: ResumeData | undefined;
  const shelf = new FolderShelf(resolve(out, 'checkpoint'));
  if (good && resumeState) {
    const dir = good.slot.id;
    resume = resumeDataOf(spec, good);
    const note = fallbackMessage(good, resumeState.step) ?? (dir !== resumeDir ? `${resumeDir}/ is missing; resuming from ${dir}/ at step ${resumeState.step} instead.` : null);
    if (note) progressLine(note, true);
    // Damaged checkpoints of the folders this run writes to go, so keeping N never drops a good one for them.
    if (resumeDir === shelf.root) for (const d of good.damaged) await shelf.remove(d.slot);
    progressLine(`resuming from ${dir} at step ${resumeState.step}`, true);
  }

  const logEvery = num(a['log-every'], 'log-every', 10, positiveInt);
  await trainIntoFolder(ctx, loaded, prepared, cfg, { out, model, data, groupSize, logEvery, resume });
  if (!existsSync(join(out, 'adapter_model.safetensors'))) throw new Error('internal: adapter was not written');
});
