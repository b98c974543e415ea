// npm run train -- --model DIR --data FILE --out DIR [options]
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModel } from '../model/load';
import { parseTrainerState, STATE_FILE } from '../train/checkpoint';
import { checkpointFile } from '../train/resume';
import { fallbackMessage, loadNewestGood, type GoodCheckpoint } from '../train/checkpoint-shelf';
import { FolderShelf } from './checkpoint-dir';
import type { ResumeData, RunConfig } from '../train/run';
import { GpuError } from '../gpu/context';
import {
  gpuContext, num, openModelSource, parseCli, positiveInt, progressLine, QUANT_USAGE, quantFromArgs, runCli, UsageError,
} from './common';
import { applyDemoTraining } from './demo';
import { DATA_USAGE, dataConfigFromArgs, parseDataArg, type DataConfig } from './data-input';
import { checkMatmulMath, folderPlace, modelLine, parseMatmulMath, parseSubgroups, readRunData, resumeDataOf, runConfigFromArgs, TRAIN_CLI_OPTIONS, trainIntoFolder } from './train-run';
import { withPeftNames } from '../train/peft-names';
import { noteTypedFlags } from './options';

const USAGE = `usage: npm run train -- --model DIR|ORG/NAME --data FILE|hub:OWNER/NAME --out DIR [options]
  (no --model and no --data: the built-in demo, written to runs/demo)
  --lora-r N (8)  --lora-alpha X (16)  --lora-dropout P (0.05)  --use-rslora   (PEFT's r, lora_alpha, lora_dropout, use_rslora)
  --target-modules LIST|attention|all-linear[,lm_head] (attention)
  --loraplus-lr-ratio R (1 = plain LoRA; 16 = LoRA+)
  (the older names --rank, --alpha, --dropout, --rslora, --targets, --lora-plus-ratio still work)
  --lr X (2e-4)  --schedule constant|linear|cosine (linear)  --warmup N (0)
  --steps N | --epochs N (1)  --batch-size N (4)  --grad-accum N (1)  --seq-len N (256)
  --eval-file FILE | --eval-split F (0.1)  --seed N (42)  --save-every N (0)  --resume DIR
  --keep-checkpoints N (2: OUT/checkpoint and OUT/checkpoint-prev)
  --max-grad-norm X (1; 0 = off)  --weight-decay X (0)  --dtype auto|f32|f16 (auto)  --log-every N (10)
  --grad-checkpointing (recompute activations in the backward: less memory, ~1/3 more compute)
  --activations f32|f16 (how the activations kept for the backward are stored: f32 exact, the default;
    f16 about half the activation memory, gradients within f16 rounding)
  --matmul-math f32|f16 (f32, the default; f16: matmul products in f16 with f32 sums, on GPUs with shader-f16)
  --subgroups (row reductions with subgroup operations, on GPUs with the WebGPU subgroups feature: fewer
    barriers; deterministic on one GPU, differs from the default by rounding; kept by --resume,
    where --no-subgroups turns them off)
${QUANT_USAGE}
${DATA_USAGE}`;

runCli(async () => {
  const a = parseCli(
    TRAIN_CLI_OPTIONS,
    USAGE,
  );
  // No --model and no --data: the built-in demo (public/demo) with its settings.
  applyDemoTraining(a);
  noteTypedFlags(a);
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
  const prev = withPeftNames(resumeState?.config ?? {}) as Partial<RunConfig> & DataConfig & { model?: string; data?: string; out?: string; evalFile?: string; evalSplit?: number; dtype?: string; keepCheckpoints?: number };
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
  const matmulMath = parseMatmulMath(a['matmul-math'], prev.matmulMath);
  const subgroups = parseSubgroups(a, prev.subgroups); // a resumed run keeps its recorded choice
  const ctx = await gpuContext(false, matmulMath === 'f16', subgroups).catch((e: unknown) => {
    // Recorded, not typed: say how to resume without them.
    if (!(resumeDir && a.subgroups === undefined && e instanceof GpuError && e.option === 'subgroups')) throw e;
    throw new UsageError(`--resume ${a.resume}: the run was trained with --subgroups, and this GPU has no 'subgroups' feature; resume with --no-subgroups (the losses then differ from the run's by rounding).`);
  });
  checkMatmulMath(ctx, matmulMath);
  const loaded = await loadModel(ctx, src, {
    dtype, quant, groupSize,
    onProgress: (p) => progressLine(`loading weights ${p.loaded}/${p.total}`),
  });
  const { spec } = loaded;
  const cfg: RunConfig & Record<string, unknown> = {
    model, data, out,
    ...runConfigFromArgs(a, prev, {
      maxT: spec.maxT, quant: loaded.weights.quant, groupSize, dtype,
      baseModel: prev.baseModel ?? (src.name.startsWith('hf://') ? src.name.slice(5) : basename(model.replace(/\/+$/, ''))),
    }),
    ...dataCfg,
  };
  const { seqLen, seed } = cfg;

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
