// npm run experiment -- --spec exp.json [--model DIR] [--data FILE] --out DIR [--resume]
// Runs an experiment's runs one after another on one loaded base (reloaded only when the base
// quantization changes), each into OUT/<run name>/ as npm run train writes a run, answers the
// evaluation prompts (typed, and drawn from the held-out rows with their reference answers) with
// the base and every run, and writes OUT/report.md and OUT/report.csv.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { expandExperiment, ExperimentError, parseExperiment, runFields, type ExperimentRun, type ExperimentSpec } from '../experiment/spec';
import { greedyAnswer as answer } from '../experiment/answer';
import type { PromptFormat } from '../data/format';
import { heldOutPrompts, type HeldOutPrompt } from '../data/heldout';
import { reportCsv, reportMarkdown, type AnswerColumn, type ReportRun, type RunMetrics } from '../experiment/report';
import { loadModel, type LoadedModel } from '../model/load';
import { parseQuantMode, type QuantMode } from '../quant/formats';
import { loadNewestGood } from '../train/checkpoint-shelf';
import type { ResumeData, RunConfig } from '../train/run';
import { parseSchedule } from '../train/schedule';
import { BufferScope, BufferTracker } from '../worker/scopes';
import { FolderShelf } from './checkpoint-dir';
import { gpuContext, loadAdapterState, num, openModelSource, parseCli, positiveInt, progressLine, runCli, UsageError, writeFiles } from './common';
import { dataConfigFromArgs, type DataConfig } from './data-input';
import { cliMessage } from './options';
import { modelLine, readRunData, resumeDataOf, RUN_DEFAULTS, trainedPromptFormat, trainIntoFolder, type Prepared } from './train-run';
import { withPeftNames } from '../train/peft-names';
import { deviceHasF16 } from '../ops/matmul-math';
import { GpuError } from '../gpu/context';

const USAGE = `usage: npm run experiment -- --spec exp.json [--model DIR|ORG/NAME] [--data FILE|hub:OWNER/NAME] --out DIR [--resume] [--log-every N (10)]
  --spec: the experiment (name, base settings, axes to vary, evaluation prompts, heldOutPrompts; see README "Experiments")
  --model / --data: override the spec's model and data
  --resume: skip runs whose OUT/<run>/metrics.json is complete; a run with a checkpoint resumes at its step`;

/** A run's metrics.json when the run completed (it is written last), else null. */
function completeMetrics(dir: string): (RunMetrics & Record<string, unknown>) | null {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    const done = m && typeof m.steps === 'number' && m.config && 'eval_loss_after' in m && existsSync(join(dir, 'adapter_model.safetensors'));
    return done ? { ...m, config: withPeftNames(m.config) } : null; // a run folder of an older version names its settings rank, alpha, ...
  } catch {
    return null;
  }
}


/** The spec file, validated and expanded; its errors are usage errors (exit code 2). */
function readSpec(file: string): { exp: ExperimentSpec; runs: ExperimentRun[] } {
  if (!existsSync(file)) throw new UsageError(`--spec ${file}: no such file; give the experiment's JSON file.`);
  try {
    const exp = parseExperiment(readFileSync(file, 'utf8'), file);
    return { exp, runs: expandExperiment(exp) };
  } catch (e) {
    if (e instanceof ExperimentError) throw new UsageError(e.message);
    throw e;
  }
}

runCli(async () => {
  const a = parseCli({ spec: { type: 'string' }, model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, 'log-every': { type: 'string' } } as const, USAGE);
  if (!a.spec || !a.out) throw new UsageError(`--spec and --out are required.\n${USAGE}`);
  const { exp, runs } = readSpec(a.spec);
  const model = a.model ?? exp.model;
  const data = a.data ?? exp.data;
  if (!model || !data) throw new UsageError(`${a.spec}: no model or data; give "model" and "data" in the spec, or --model and --data.`);
  const out = a.out;
  const logEvery = num(a['log-every'], 'log-every', 10, positiveInt);
  const base = runFields(exp.base);
  const dataCfg = dataConfigFromArgs({}, base as DataConfig); // the spec checked each data field's type (experiment/spec.ts)
  const dtype = (base.dtype ?? 'auto') as 'auto' | 'f32' | 'f16';
  const groupSize = (base.groupSize as number | undefined) ?? 32;
  const maxNew = exp.maxNewTokens ?? 64;
  const genSeed = exp.genSeed ?? 0;
  progressLine(`experiment ${exp.name}: ${runs.length} runs (${runs.map((r) => r.name).join(', ')})`, true);

  // 'shader-f16' when a run asks for f16 matmul math, 'subgroups' when one asks for subgroup
  // reductions (an adapter without it: one error before any run; each run sets its own choice).
  const f16 = runs.some((r) => runFields(r.settings).matmulMath === 'f16');
  const sg = runs.some((r) => runFields(r.settings).subgroups === true);
  const ctx = await gpuContext(false, f16, sg).catch((e: unknown) => {
    if (!(sg && e instanceof GpuError && e.option === 'subgroups')) throw e;
    throw new UsageError(`${a.spec}: subgroups true needs a GPU with the WebGPU 'subgroups' feature, and this one has none; use false (the default).`);
  });
  if (f16 && !deviceHasF16(ctx)) {
    const gpu = `${ctx.adapter.vendor} ${ctx.adapter.description}`.trim();
    throw new UsageError(`${a.spec}: matmulMath "f16" needs a GPU with the WebGPU 'shader-f16' feature, and this one (${gpu}) has none; use "f32" (the default).`);
  }
  const tracker = new BufferTracker(ctx);
  const src = openModelSource(model);
  const baseScope = new BufferScope('base');
  let loaded: LoadedModel | null = null;
  let prepared: Prepared | null = null;
  let dataFormat: PromptFormat | null = null;
  /** Drawn from the held-out rows once the data is read; answered after the typed prompts. */
  let heldOut: HeldOutPrompt[] = [];
  /** What each answer is asked: typed prompts as text (wrapped as the data), held-out ones as their ids. */
  const prompts = (): (string | { ids: number[] })[] => [...exp.prompts, ...heldOut.map((h) => ({ ids: h.ids }))];
  const answers: AnswerColumn[] = [];
  const quantsUsed = [...new Set(runs.map((r) => parseQuantMode(String(r.settings.quant ?? 'none'))))];
  const ensureBase = async (quant: QuantMode): Promise<LoadedModel> => {
    if (loaded && loaded.weights.quant === quant) return loaded;
    if (loaded) tracker.dispose(baseScope); // another quantization: the base is loaded again
    progressLine(`loading the base${quant !== 'none' ? ` as ${quant}` : ''}`, true);
    const l = await tracker.runAsync(baseScope, () => loadModel(ctx, src, { dtype, quant, groupSize, onProgress: (p) => progressLine(`loading weights ${p.loaded}/${p.total}`) }));
    loaded = l;
    if (!prepared) {
      const seqLen = (base.seqLen as number | undefined) ?? Math.min(256, l.spec.maxT);
      const seed = (base.seed as number | undefined) ?? RUN_DEFAULTS.seed;
      prepared = await readRunData(l, data, dataCfg, { seqLen, seed, evalSplit: (base.evalSplit as number | undefined) ?? RUN_DEFAULTS.evalSplit, evalFile: base.evalFile as string | undefined });
      const stats = prepared.stats;
      dataFormat = stats.format !== 'text' ? { shape: stats.format, chatTemplate: dataCfg.chatTemplate ?? 'auto' } : null;
      if (exp.heldOutPrompts) {
        try {
          heldOut = heldOutPrompts(prepared.heldOut, exp.heldOutPrompts, l.tokenizer, dataFormat);
        } catch (e) {
          throw new UsageError(`${a.spec}: heldOutPrompts: ${cliMessage(e)}`);
        }
        progressLine(`${heldOut.length} held-out prompt${heldOut.length === 1 ? '' : 's'} (lines ${heldOut.map((h) => h.line).join(', ')})`, true);
      }
    }
    progressLine(modelLine(l, prepared), true);
    // The base's answers, once per base quantization (formatted as the data; the runs share it).
    if (exp.prompts.length + heldOut.length) {
      const format = dataFormat;
      const scope = new BufferScope('answers');
      const col: AnswerColumn = { name: quantsUsed.length > 1 ? `base (${quant})` : 'base', answers: [] };
      await tracker.runAsync(scope, async () => {
        for (const p of prompts()) col.answers.push(await answer(ctx, l, null, p, format, maxNew, genSeed));
      });
      tracker.dispose(scope);
      answers.push(col);
    }
    return l;
  };

  const baseModel = src.name.startsWith('hf://') ? src.name.slice(5) : basename(model.replace(/\/+$/, ''));
  const reportRuns: ReportRun[] = [];
  for (const run of runs) {
    const dir = join(out, run.name);
    const fields = { ...RUN_DEFAULTS, ...runFields(run.settings) } as Record<string, unknown>;
    const quant = parseQuantMode(String(fields.quant ?? 'none'));
    const l = await ensureBase(quant);
    const done = a.resume ? completeMetrics(dir) : null;
    try {
      if (done) progressLine(`run ${run.index + 1}/${runs.length} ${run.name}: complete in ${dir}, skipped (--resume)`, true);
      else {
        progressLine(`run ${run.index + 1}/${runs.length} ${run.name} -> ${dir}`, true);
        const cfg = {
          ...fields, model, data, out: dir, dtype, quant, groupSize, baseModel,
          schedule: parseSchedule(String(fields.schedule)), seqLen: (base.seqLen as number | undefined) ?? Math.min(256, l.spec.maxT), ...dataCfg,
        } as unknown as RunConfig & Record<string, unknown>;
        let resume: ResumeData | undefined;
        const good = a.resume ? await loadNewestGood(new FolderShelf(join(dir, 'checkpoint'))) : undefined;
        if (good) {
          resume = resumeDataOf(l.spec, good);
          progressLine(`resuming ${run.name} from ${good.slot.id} at step ${resume.state.step}`, true);
        }
        const scope = new BufferScope(run.name);
        ctx.stats.peakBytes = ctx.stats.liveBytes; // each run's peak, not the experiment's so far
        await tracker.runAsync(scope, () => trainIntoFolder(ctx, l, prepared!, cfg, { out: dir, model, data, groupSize, logEvery, resume }));
        tracker.dispose(scope);
      }
      // The run's answers, from its adapter on disk, exactly as npm run generate --adapter DIR gives them.
      if (exp.prompts.length + heldOut.length) {
        const scope = new BufferScope(`${run.name} answers`);
        const col: AnswerColumn = { name: run.name, answers: [] };
        await tracker.runAsync(scope, async () => {
          const lora = await loadAdapterState(ctx, l.spec, dir);
          const format = trainedPromptFormat(dir);
          for (const p of prompts()) col.answers.push(await answer(ctx, l, lora, p, format, maxNew, genSeed));
        });
        tracker.dispose(scope);
        answers.push(col);
      }
    } catch (e) {
      throw new Error(`${a.spec}: run ${run.name}: ${cliMessage(e)}`);
    }
    const m = completeMetrics(dir);
    if (!m) throw new Error(`internal: run ${run.name} wrote no complete metrics.json`);
    reportRuns.push({ name: run.name, varied: run.varied, metrics: m });
  }

  const rep = {
    name: exp.name, runs: reportRuns, prompts: [...exp.prompts, ...heldOut.map((h) => h.text)], answers,
    references: [...exp.prompts.map(() => null), ...heldOut.map((h) => ({ line: h.line, text: h.reference }))],
  };
  writeFiles(out, new Map([['report.md', reportMarkdown(rep)], ['report.csv', reportCsv(rep)]]));
  progressLine(`experiment ${exp.name}: ${runs.length} runs; report written to ${join(out, 'report.md')} and report.csv`, true);
});
