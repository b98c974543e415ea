// Training in an EngineSession: the `train` request. The data is plain texts or a dataset prepared
// by prepareDataset (split with the run's seed); a resumed run continues from its newest intact
// checkpoint (train/resume.ts, the CLI's --resume path); checkpoints of persisted runs go to the
// host's RunCheckpoints, a full storage holding the run paused; samples are generated at each
// checkpoint. The trained adapter stays on the GPU for the playground and exports.
import type { ExampleList } from '../data/examples';
import { encodePrompt } from '../data/format';
import { tokenizeTexts } from '../data/text';
import { importAdapter } from '../lora/peft';
import { LoraState } from '../lora/state';
import { Generator } from '../net/generate';
import { STATE_FILE, type FileMap, type TrainerState } from '../train/checkpoint';
import { DEFAULT_KEEP } from '../train/checkpoint-shelf';
import { resumeFromFiles, runPlace } from '../train/resume';
import { loraHyper, runTraining, type ResumeData, type RunHooks } from '../train/run';
import { trainEval, trainWithEvalFile } from './dataset';
import type { TrainRequest, TrainSummary } from './protocol';
import { writeWaitingForSpace } from './quota';
import { BufferScope } from './scopes';
import type { Emit, EngineSession } from './session';
import { streamText, windowFor } from './session-generate';

/** The train and eval examples of a request: tokenized texts, or the prepared dataset split with the run's seed. */
function runData(s: EngineSession, req: TrainRequest): { trainSet: ExampleList; evalSet: ExampleList } {
  const { tokenizer } = s.requireModel().loaded;
  const cfg = req.config;
  if ('texts' in req.data) {
    return { trainSet: tokenizeTexts(tokenizer, req.data.texts, cfg.seqLen).examples, evalSet: tokenizeTexts(tokenizer, req.data.evalTexts, cfg.seqLen).examples };
  }
  const d = s.datasets.get(req.data.datasetId);
  if (!d) throw new Error('The dataset is no longer in the engine (another model was loaded, or the page reloaded): drop the file again.');
  if (d.seqLen !== cfg.seqLen) throw new Error(`The dataset was prepared for sequence length ${d.seqLen}, the run asks for ${cfg.seqLen}: wait for the dataset to update, then start again.`);
  const evalId = req.data.evalDatasetId;
  const ev = evalId === undefined ? undefined : s.datasets.get(evalId);
  if (evalId !== undefined && (!ev || ev.seqLen !== cfg.seqLen)) {
    throw new Error('The evaluation file is no longer prepared for this run (another model was loaded, or its sequence length changed): wait for its statistics on the Dataset tab, then start again.');
  }
  const split = ev ? trainWithEvalFile(d.examples, ev.examples, d.packing, cfg.seqLen) : trainEval(d.examples, req.data.evalSplit, cfg.seed, d.packing, cfg.seqLen);
  return { trainSet: split.train, evalSet: split.eval };
}

/** The `train` request: runs (or resumes) a run to its end, streaming step/eval/checkpoint/sample events. */
export async function train(s: EngineSession, req: TrainRequest, emit: Emit): Promise<TrainSummary> {
  const e = await s.getEngine();
  const m = s.requireModel();
  const { spec } = m.loaded;
  const cfg = req.config;
  const { trainSet, evalSet } = runData(s, req);
  let resume: ResumeData | undefined;
  if (req.resume) {
    const ck = await s.host.checkpoints.load(req.runId, { removeDamaged: true });
    if (!ck) throw new Error(`Run ${req.runId} has no intact checkpoint to resume from: start it again.`);
    resume = resumeFromFiles(spec, ck.files, runPlace(req.runId));
    if (ck.notice) emit({ kind: 'resumedFrom', step: ck.step, notice: ck.notice });
  }
  s.claim('training');
  // The run's subgroup choice (an older run's config has none: off), before any graph is built;
  // a GpuError naming “Subgroup reductions” on a GPU without them. Later graphs (the playground's)
  // are built under it too: both variants run on this device (GpuContext.useSubgroups).
  try {
    e.ctx.useSubgroups(cfg.subgroups ?? false);
  } catch (err) {
    s.busy = null;
    throw err;
  }
  s.freeAdapter(req.runId);
  if (s.lastTrained === req.runId) s.lastTrained = null;
  s.stopRequested = false;
  s.paused = null;
  const scope = new BufferScope(`run ${req.runId}`);
  let sampler: { scope: BufferScope; lora: LoraState | null; gen: Generator | null } | null = null;
  const sample = req.sample && req.sample.maxNewTokens > 0 ? req.sample : null;
  const sampleFrom = async (files: FileMap, step: number) => {
    if (!sample) return;
    const ad = importAdapter(spec, files.get('adapter_config.json') as string, files.get('adapter_model.safetensors') as Uint8Array, 'checkpoint');
    sampler ??= { scope: new BufferScope('sampler'), lora: null, gen: null };
    const sm = sampler;
    sm.lora ??= e.tracker.run(sm.scope, () => new LoraState(e.ctx, ad.modules, ad.h));
    sm.lora.load(ad.weights);
    const { ids } = encodePrompt(m.loaded.tokenizer, sample.prompt, sample.format);
    const T = windowFor(m.loaded, ids.length + sample.maxNewTokens);
    if (!sm.gen || sm.gen.T !== T) sm.gen = e.tracker.run(sm.scope, () => new Generator(e.ctx, spec, m.loaded.weights, sm.lora, { T }));
    const gen = streamText(e.ctx, m.loaded, sm.gen, ids, { maxNewTokens: sample.maxNewTokens, format: sample.format });
    let r = await gen.next();
    while (!r.done) r = await gen.next();
    emit({ kind: 'sample', step, text: r.value.text });
  };
  const hooks: RunHooks = {
    onStep: (info) => emit({ kind: 'step', info }),
    onEval: (ev) => emit({ kind: 'eval', step: ev.step, loss: ev.loss }),
    onEvalBefore: (loss) => emit({ kind: 'evalBefore', loss }),
    shouldStop: () => s.stopRequested,
    beforeStep: async (flush) => {
      if (!s.paused) return;
      // Parked: the step in flight is reported first, so the page shows every step trained.
      emit({ kind: 'held', step: await flush() });
      await s.paused?.promise;
    },
    evalEvery: req.evalEvery ?? 0,
  };
  if (req.persist || sample) {
    hooks.saveCheckpoint = async (files, step) => {
      // Storage full: the run waits, paused, with its state on the GPU; Resume tries the write
      // again, Stop ends the run with its previous checkpoint as the last.
      const bytes = req.persist
        ? await writeWaitingForSpace(
            () => s.host.checkpoints.save(req.runId, step, files, req.keepCheckpoints ?? DEFAULT_KEEP),
            () => emit({ kind: 'storageFull', what: 'checkpoint', step }),
            () => s.holdRun(),
            () => s.stopRequested,
          )
        : undefined;
      if (req.persist && bytes === undefined) return;
      const state = JSON.parse(files.get(STATE_FILE) as string) as TrainerState;
      emit({ kind: 'checkpoint', step, evalLossBefore: state.evalLossBefore, bytes });
      await sampleFrom(files, step);
    };
  }
  try {
    const res = await e.tracker.runAsync(scope, () => runTraining(e.ctx, m.loaded, trainSet, evalSet, cfg, hooks, resume));
    // Keep the adapter (the playground and exports use it); free the training graph.
    e.tracker.dispose(scope, [res.lora.params, res.lora.grads, res.lora.m, res.lora.v]);
    s.adapters.set(req.runId, { lora: res.lora, hyper: loraHyper(cfg), baseModel: cfg.baseModel, scope });
    s.lastTrained = req.runId;
    return {
      runId: req.runId, steps: res.steps, evalLossBefore: res.evalLossBefore, evalLossAfter: res.evalLossAfter,
      trainableParams: res.trainableParams, tokensPerSecond: res.tokensPerSecond, peakBytes: res.peakBytes, stoppedEarly: res.stoppedEarly,
    };
  } catch (err) {
    if (s.engine === e) e.tracker.dispose(scope);
    throw err;
  } finally {
    s.busy = null;
    s.paused = null;
    const sm = sampler as { scope: BufferScope } | null;
    if (sm && s.engine === e) e.tracker.dispose(sm.scope);
  }
}
