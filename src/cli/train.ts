// npm run train -- --model DIR --data FILE --out DIR [options]
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseSafetensors } from '../model/safetensors';
import { importAdapter } from '../lora/peft';
import { loadModel } from '../model/load';
import { isQalora } from '../quant/formats';
import { prepareData } from '../data/dataset';
import { countModelParams } from '../model/config';
import { OPTIMIZER_FILE, parseTrainerState, STATE_FILE } from '../train/checkpoint';
import { DEFAULT_KEEP, fallbackMessage, loadNewestGood, saveKeeping, type GoodCheckpoint } from '../train/checkpoint-shelf';
import { FolderShelf } from './checkpoint-dir';
import { runTraining, type ResumeData, type RunConfig } from '../train/run';
import { parseSchedule } from '../train/schedule';
import {
  fmtDuration, gpuContext, nonNegInt, num, openModelSource, parseCli, positiveInt, progressLine, QUANT_CLI_OPTIONS, QUANT_USAGE, quantFromArgs, runCli,
  UsageError, writeFiles,
} from './common';
import { applyDemoTraining } from './demo';
import { DATA_CLI_OPTIONS, DATA_USAGE, dataConfigFromArgs, dataOptions, openDataArg, parseDataArg, warningLine, type DataConfig } from './data-input';

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
    resumeState = parseTrainerState(good.files.get(STATE_FILE) as string, join(good.slot.id, STATE_FILE));
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
  const dataArg = parseDataArg(data);
  const evalFileArg = (a['eval-file'] ?? prev.evalFile) as string | undefined;
  const evalArg = evalFileArg ? parseDataArg(evalFileArg, '--eval-file') : null;

  const { quant, groupSize } = quantFromArgs(a, prev);
  const src = openModelSource(model);
  const ctx = await gpuContext();
  const loaded = await loadModel(ctx, src, {
    dtype, quant, groupSize,
    onProgress: (p) => progressLine(`loading weights ${p.loaded}/${p.total}`),
  });
  const { spec, tokenizer } = loaded;
  const seqLen = num(a['seq-len'], 'seq-len', prev.seqLen ?? Math.min(256, spec.maxT), positiveInt);
  const seed = num(a.seed, 'seed', prev.seed ?? 42, nonNegInt);
  const cfg: RunConfig & Record<string, unknown> = {
    model, data, out, dtype,
    quant: loaded.weights.quant, groupSize,
    gradCheckpointing: a['grad-checkpointing'] ?? prev.gradCheckpointing ?? false,
    baseModel: prev.baseModel ?? (src.name.startsWith('hf://') ? src.name.slice(5) : basename(model.replace(/\/+$/, ''))),
    rank: num(a.rank, 'rank', prev.rank ?? 8),
    alpha: num(a.alpha, 'alpha', prev.alpha ?? 16),
    dropout: num(a.dropout, 'dropout', prev.dropout ?? 0.05),
    rslora: a.rslora ?? prev.rslora ?? false,
    targets: a.targets ?? prev.targets ?? 'attention',
    loraPlusRatio: num(a['lora-plus-ratio'], 'lora-plus-ratio', prev.loraPlusRatio ?? 1),
    lr: num(a.lr, 'lr', prev.lr ?? 2e-4),
    schedule: parseSchedule(a.schedule ?? prev.schedule ?? 'linear'),
    warmup: num(a.warmup, 'warmup', prev.warmup ?? 0, nonNegInt),
    steps: a.steps !== undefined ? num(a.steps, 'steps', 0, positiveInt) : a.epochs !== undefined ? undefined : prev.steps,
    epochs: num(a.epochs, 'epochs', prev.epochs ?? 1, positiveInt),
    batchSize: num(a['batch-size'], 'batch-size', prev.batchSize ?? 4, positiveInt),
    gradAccum: num(a['grad-accum'], 'grad-accum', prev.gradAccum ?? 1, positiveInt),
    seqLen, seed,
    saveEvery: num(a['save-every'], 'save-every', prev.saveEvery ?? 0, nonNegInt),
    keepCheckpoints: num(a['keep-checkpoints'], 'keep-checkpoints', prev.keepCheckpoints ?? DEFAULT_KEEP, positiveInt),
    maxGradNorm: num(a['max-grad-norm'], 'max-grad-norm', prev.maxGradNorm ?? 1),
    weightDecay: num(a['weight-decay'], 'weight-decay', prev.weightDecay ?? 0),
    evalFile: a['eval-file'] ?? prev.evalFile,
    evalSplit: num(a['eval-split'], 'eval-split', prev.evalSplit ?? 0.1, (x) => (x >= 0 && x < 1 ? null : 'must be in [0, 1)')),
    ...dataCfg,
  };

  // Data: any supported file format and record shape; a seeded split unless a separate eval file is given.
  const prepared = await prepareData(await openDataArg(dataArg), tokenizer, {
    ...dataOptions(dataCfg, seqLen, seed, spec.maxT),
    evalSplit: cfg.evalSplit as number,
    evalInput: evalArg ? await openDataArg(evalArg) : undefined,
    onProgress: (p) => progressLine(`reading ${data}: ${p.rows} rows`),
  });
  const { train, eval: evalSet, stats } = prepared;
  progressLine(
    `data: ${stats.format} (${stats.file_format}, ${stats.prompt_format}); ${stats.examples} examples, ${stats.tokens} tokens, ${stats.trained_tokens} trained` +
      `${stats.packing ? `; packed into ${stats.train_rows} + ${stats.eval_rows} rows` : ''}`,
    true,
  );
  for (const u of loaded.weights.unquantized) progressLine(`${u.name} stays unquantized: ${u.reason}`, true);
  if (stats.truncated) progressLine(`${stats.truncated} of ${stats.examples} examples were truncated to ${seqLen} tokens`, true);
  for (const w of stats.warnings) progressLine(warningLine(w), true);
  if (stats.skipped_count) {
    const s0 = stats.skipped[0];
    progressLine(`${stats.skipped_count} rows skipped (first: line ${s0.line}: ${s0.reason}); npm run data lists them`, true);
  }
  if (stats.duplicates) progressLine(`${stats.duplicates} examples duplicate an earlier one (first: line ${stats.duplicate_lines[0].line} = line ${stats.duplicate_lines[0].same_as})`, true);
  progressLine(
    `model ${spec.modelType} (${(countModelParams(spec) / 1e6).toFixed(2)}M params, weights ${loaded.weights.dtype}` +
      `${loaded.weights.quant !== 'none' ? `, ${loaded.weights.quant}: ${(loaded.weights.quantBytes / Math.max(1, loaded.weights.quantParams)).toFixed(3)} B/param over ${loaded.weights.quantParams} params` : ''}); ` +
      `${stats.train_examples} train / ${stats.eval_examples} eval examples`,
    true,
  );

  let resume: ResumeData | undefined;
  const shelf = new FolderShelf(resolve(out, 'checkpoint'));
  if (good && resumeState) {
    const dir = good.slot.id;
    const ad = importAdapter(spec, good.files.get('adapter_config.json') as string, good.files.get('adapter_model.safetensors') as Uint8Array, join(dir, 'adapter_model.safetensors'));
    const opt = parseSafetensors(good.files.get(OPTIMIZER_FILE) as Uint8Array, join(dir, OPTIMIZER_FILE));
    resume = { state: resumeState, adapter: ad.weights, moments: { m: opt.get('exp_avg'), v: opt.get('exp_avg_sq') } };
    const note = fallbackMessage(good, resumeState.step) ?? (dir !== resumeDir ? `${resumeDir}/ is missing; resuming from ${dir}/ at step ${resumeState.step} instead.` : null);
    if (note) progressLine(note, true);
    // Damaged checkpoints of the folders this run writes to go, so keeping N never drops a good one for them.
    if (resumeDir === shelf.root) for (const d of good.damaged) await shelf.remove(d.slot);
    progressLine(`resuming from ${dir} at step ${resumeState.step}`, true);
  }

  const logEvery = num(a['log-every'], 'log-every', 10, positiveInt);
  const res = await runTraining(ctx, loaded, train, evalSet, cfg, {
    onStep: (p) => {
      if (p.step % logEvery === 0 || p.step === p.totalSteps || p.step === 1) {
        progressLine(
          `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}  gnorm ${p.gradNorm.toFixed(3)}  ` +
            `${p.tokensPerSecond.toFixed(0)} tok/s  elapsed ${fmtDuration(p.elapsedSeconds)}  ETA ${fmtDuration(p.etaSeconds)}`,
          true,
        );
      }
    },
    onEval: (e) => progressLine(`eval loss at step ${e.step}: ${e.loss.toFixed(4)}`, true),
    saveCheckpoint: async (files, step) => {
      await saveKeeping(shelf, step, files, cfg.keepCheckpoints as number);
      progressLine(`checkpoint at step ${step} -> ${join(out, 'checkpoint')}`, true);
    },
  }, resume);

  // The adapter itself (PEFT format) sits at the top of --out.
  const files = new Map<string, Uint8Array | string>();
  const ck = join(out, 'checkpoint');
  files.set('adapter_config.json', readFileSync(join(ck, 'adapter_config.json'), 'utf8'));
  files.set('adapter_model.safetensors', readFileSync(join(ck, 'adapter_model.safetensors')));
  const metrics = {
    model, data, quant: loaded.weights.quant, group_size: isQalora(loaded.weights.quant) ? groupSize : null, weights_dtype: loaded.weights.dtype,
    quantized_params: loaded.weights.quantParams, quantized_bytes: loaded.weights.quantBytes,
    bytes_per_quantized_param: loaded.weights.quantParams ? loaded.weights.quantBytes / loaded.weights.quantParams : null,
    unquantized: loaded.weights.unquantized,
    eval_loss_before: res.evalLossBefore, eval_loss_after: res.evalLossAfter,
    train_loss: res.history.map((h) => ({ step: h.step, loss: h.loss })),
    learning_rate: res.history.map((h) => ({ step: h.step, lr: h.lr })),
    grad_norm: res.history.map((h) => ({ step: h.step, grad_norm: h.gradNorm })),
    tokens_per_second: res.tokensPerSecond, trainable_params: res.trainableParams, steps: res.steps,
    peak_gpu_bytes: res.peakBytes, base_weight_bytes: loaded.weights.bytes, config: cfg,
    // How prompts were formatted: `npm run generate --adapter` wraps its prompt the same way.
    prompt_format: { shape: stats.format, chat_template: dataCfg.chatTemplate ?? 'auto', name: stats.prompt_format },
  };
  files.set('metrics.json', JSON.stringify(metrics, null, 1));
  writeFiles(out, files);
  progressLine(
    `done: eval loss ${res.evalLossBefore?.toFixed(4) ?? '-'} -> ${res.evalLossAfter?.toFixed(4) ?? '-'}; adapter written to ${out}`,
    true,
  );
  if (!existsSync(join(out, 'adapter_model.safetensors'))) throw new Error('internal: adapter was not written');
});
