// Training: start, pause, resume, stop; live loss (train and eval), learning rate and gradient
// norm charts; step, tokens/s, elapsed, ETA and a progress bar; the samples generated at each
// evaluation; downloads of the adapter when the run ends.
import { useStudio } from '../store';
import { fmtBytes, isQalora, quantMismatch } from '../store/plan';
import { datasetName } from '../store/dataset';
import { fmtDuration } from '../store/progress';
import { canResume, finalEvalLoss } from '../store/runlogic';
import type { RunRecord } from '../store/types';
import { LossChart, SeriesChart } from './charts';
import { ErrorLine, ProgressBar } from './controls';
import { PersistNote, StorageFullOffer } from './StoragePanel';
import { usePlan } from './usePlan';

export const STATUS_TEXT: Record<RunRecord['status'], string> = {
  running: 'running', paused: 'paused', interrupted: 'interrupted', stopped: 'stopped', done: 'done', failed: 'failed',
};

/** A run's downloads; `step`: every download (adapter, merged, QA-LoRA merged, GGUF) takes the checkpoint of that step instead of the final adapter (Runs → checkpoint to export). */
export function ExportButtons(props: { run: RunRecord; step?: number }) {
  const r = props.run;
  const step = props.step;
  const busy = useStudio((s) => s.exportBusy);
  const progress = useStudio((s) => s.exportProgress);
  const exportAdapter = useStudio((s) => s.exportAdapter);
  const exportMerged = useStudio((s) => s.exportMerged);
  const exportGguf = useStudio((s) => s.exportGguf);
  const loaded = useStudio((s) => s.loaded);
  const ready = r.checkpointStep !== null && r.status !== 'running' && r.status !== 'paused';
  const sameBase = loaded?.info.name === r.model.name;
  const qalora = isQalora(r.knobs.quant);
  const qaloraBase = sameBase && loaded?.info.quant === r.knobs.quant && loaded?.info.groupSize === r.knobs.groupSize;
  return (
    <div className="row" role="group" aria-label={`Downloads of ${r.name}`}>
      <button type="button" disabled={!ready || busy !== null} onClick={() => void exportAdapter(r.id, 'zip', step)} data-testid="download-adapter-zip">
        Adapter (.zip)
      </button>
      <button type="button" disabled={!ready || busy !== null} onClick={() => void exportAdapter(r.id, 'files', step)} data-testid="download-adapter-files">
        Adapter (two files)
      </button>
      <button
        type="button"
        disabled={!ready || busy !== null || !sameBase}
        title={!sameBase ? `Load ${r.model.name} to merge` : 'Base + adapter folded into one full-precision Hugging Face model (.zip)'}
        onClick={() => void exportMerged(r.id, false, step)}
        data-testid="download-merged"
      >
        Merged model
      </button>
      <button
        type="button"
        disabled={!ready || busy !== null || !qalora || !qaloraBase}
        title={
          !qalora
            ? 'Only for runs trained with QA-LoRA (a qalora-int4/3/2 base)'
            : !qaloraBase
              ? `Load ${r.model.name} as ${r.knobs.quant}, group size ${r.knobs.groupSize}, to merge`
              : 'The adapter folded exactly into the INT-N base: a quantized model (.zip)'
        }
        onClick={() => void exportMerged(r.id, true, step)}
        data-testid="download-merged-qalora"
      >
        QA-LoRA merged (quantized)
      </button>
      {(['f16', 'q8_0'] as const).map((t) => (
        <button
          key={t}
          type="button"
          disabled={!ready || busy !== null || !sameBase}
          title={!sameBase ? `Load ${r.model.name} to export` : `Base + adapter merged into one llama.cpp GGUF file, ${t === 'f16' ? 'F16' : 'Q8_0 (8-bit blocks)'}`}
          onClick={() => void exportGguf(r.id, 'merged', t, step)}
          data-testid={`download-gguf-${t}`}
        >
          Merged GGUF ({t === 'f16' ? 'F16' : 'Q8_0'})
        </button>
      ))}
      <button
        type="button"
        disabled={!ready || busy !== null || !sameBase}
        title={!sameBase ? `Load ${r.model.name} to export` : "The adapter as llama.cpp's LoRA GGUF (llama-cli --lora)"}
        onClick={() => void exportGguf(r.id, 'adapter', 'f16', step)}
        data-testid="download-gguf-adapter"
      >
        Adapter GGUF
      </button>
      {busy?.endsWith(r.id) && (
        <span className="small muted" data-testid="export-progress">
          {progress ? `Merging: tensor ${progress.done} of ${progress.total}…` : 'Preparing the download…'}
        </span>
      )}
    </div>
  );
}

function RunStats(props: { run: RunRecord }) {
  const m = props.run.metrics;
  const last = m.train[m.train.length - 1];
  const first = m.train[0];
  const total = props.run.totalSteps ?? 0;
  return (
    <div aria-live="polite">
      <ProgressBar value={last?.step ?? 0} max={total} label="Training progress" testId="train-progress" />
      <div className="stats" data-testid="train-stats">
        <span>
          step <b data-testid="train-step">{last?.step ?? 0}</b> / {total || '—'}
        </span>
        <span>
          loss <b data-testid="train-loss-last">{last ? last.loss.toFixed(4) : '—'}</b>
          {first && <span className="muted"> (first {first.loss.toFixed(4)})</span>}
        </span>
        <span>
          eval <b data-testid="eval-loss">{finalEvalLoss(props.run)?.toFixed(4) ?? '—'}</b>
          {m.evalLossBefore !== null && <span className="muted"> (before {m.evalLossBefore.toFixed(4)})</span>}
        </span>
        <span>
          <b>{m.tokensPerSecond ? m.tokensPerSecond.toFixed(0) : '—'}</b> tokens/s
        </span>
        <span>elapsed {fmtDuration(m.elapsedSeconds)}</span>
        <span>ETA {props.run.status === 'running' ? fmtDuration(m.etaSeconds) : '—'}</span>
        {m.peakBytes > 0 && <span>peak GPU {fmtBytes(m.peakBytes)}</span>}
      </div>
    </div>
  );
}

export function TrainPanel() {
  const activeRun = useStudio((s) => s.activeRun);
  const runs = useStudio((s) => s.runs);
  const loaded = useStudio((s) => s.loaded);
  const dataset = useStudio((s) => s.dataset);
  const runError = useStudio((s) => s.runError);
  const runNotice = useStudio((s) => s.runNotice);
  const runStarting = useStudio((s) => s.runStarting);
  const start = useStudio((s) => s.startRun);
  const pause = useStudio((s) => s.pauseRun);
  const cont = useStudio((s) => s.continueRun);
  const stop = useStudio((s) => s.stopRun);
  const resumeInterrupted = useStudio((s) => s.resumeInterrupted);
  const samplePrompt = useStudio((s) => s.knobs.samplePrompt);
  const setKnob = useStudio((s) => s.setKnob);
  const exportError = useStudio((s) => s.exportError);
  const exportNotice = useStudio((s) => s.exportNotice);
  const plan = usePlan();
  const run = activeRun ? runs.find((r) => r.id === activeRun.runId) : runs[0];
  const quantBlock = useStudio((s) => quantMismatch(s.loaded?.info ?? null, s.knobs));
  const ready = loaded !== null && dataset.status === 'ready' && (plan?.problems.length ?? 1) === 0 && quantBlock === null;
  const phase = activeRun?.phase ?? null;

  return (
    <div>
      <section className="panel" aria-labelledby="train-h">
        <h2 id="train-h">Training</h2>
        <p className="small muted">
          Model: <b>{loaded?.info.name ?? 'none loaded'}</b> · Dataset: <b>{datasetName(dataset) ?? 'none'}</b>
          {plan?.fit && (
            <>
              {' '}
              · Memory: <span className={`verdict ${plan.fit.verdict}`}>{plan.fit.verdict === 'wont-fit' ? 'will not fit' : plan.fit.verdict}</span>
            </>
          )}
        </p>
        <div className="field" style={{ maxWidth: '40rem' }}>
          <label htmlFor="train-sample-prompt">Sample prompt</label>
          <input id="train-sample-prompt" type="text" value={samplePrompt} onChange={(e) => setKnob('samplePrompt', e.target.value)} aria-describedby="train-sample-help" disabled={phase !== null} />
          <span className="help" id="train-sample-help">
            Answered by the adapter at every evaluation (Settings: evaluate every N steps).
          </span>
        </div>
        <div className="row" style={{ marginTop: '0.75rem' }}>
          <button type="button" className="primary" onClick={() => void start()} disabled={!ready || phase !== null || runStarting !== null} data-testid="start-training" aria-describedby="start-blocked">
            Start training
          </button>
          <button type="button" onClick={() => void pause()} disabled={phase !== 'running'} data-testid="pause-training">
            Pause
          </button>
          <button type="button" onClick={() => void cont()} disabled={phase !== 'paused'} data-testid="resume-training">
            Resume
          </button>
          <button type="button" className="danger" onClick={() => void stop()} disabled={phase === null || phase === 'stopping'} data-testid="stop-training">
            Stop
          </button>
          {phase && <span className="small">{phase === 'stopping' ? 'Stopping after the current step…' : phase}</span>}
          {!phase && runStarting && (
            <span className="small" role="status" data-testid="run-starting">
              {runStarting}
            </span>
          )}
        </div>
        {!ready && phase === null && !runStarting && (
          <p className="small muted" id="start-blocked" data-testid="start-blocked">
            {quantBlock ? `${quantBlock} ` : ''}
            {!loaded ? 'Load a model (Model tab). ' : ''}
            {dataset.status !== 'ready' ? 'Add a dataset (Dataset tab). ' : ''}
            {plan && plan.problems.length > 0 ? `Fix the settings: ${plan.problems[0]}` : ''}
          </p>
        )}
        <ErrorLine message={runError} testId="run-error" />
        {runNotice && (
          <p className="note small" role="status" data-testid="run-notice">
            {runNotice}
          </p>
        )}
        <StorageFullOffer />
        <PersistNote />
      </section>

      {run && (
        <section className="panel" aria-labelledby="live-h" data-testid="run-view" data-run-id={run.id} data-status={run.status} data-checkpoint={run.checkpointStep ?? ''} data-held={activeRun?.runId === run.id ? activeRun.heldAt ?? '' : ''}>
          <h2 id="live-h">
            <span className="ellipsis" title={run.name}>{run.name}</span> <span className="small muted">— {STATUS_TEXT[run.status]}</span>
          </h2>
          {run.error && <ErrorLine message={run.error} />}
          {canResume(run) && !activeRun && (
            <p className="note">
              Stopped at checkpoint step {run.checkpointStep} of {run.totalSteps}.{' '}
              <button type="button" onClick={() => void resumeInterrupted(run.id)} data-testid="resume-run">
                Resume from step {run.checkpointStep}
              </button>
            </p>
          )}
          <RunStats run={run} />
          <div className="charts">
            <LossChart run={run} />
            <SeriesChart run={run} which="lr" title="Learning rate" testId="lr-chart" />
            <SeriesChart run={run} which="gradNorm" title="Gradient norm" testId="gnorm-chart" />
          </div>
          {run.metrics.samples.length > 0 && (
            <>
              <h3>Samples</h3>
              <p className="small">
                <span className="seg-masked">The prompt</span> (Settings: sample prompt), then <span className="seg-trained">the adapter&apos;s answer</span> at each evaluation.
              </p>
              <ol className="samples" data-testid="samples">
                {run.metrics.samples.map((s) => (
                  <li key={s.step}>
                    <span className="small muted">step {s.step}</span>
                    <pre>
                      <span className="seg-masked" data-testid="sample-prompt">{run.knobs.samplePrompt}</span>
                      <span className="seg-trained">{s.text}</span>
                    </pre>
                  </li>
                ))}
              </ol>
            </>
          )}
          <h3>Downloads</h3>
          <ExportButtons run={run} />
          <ErrorLine message={exportError} testId="export-error" />
          {exportNotice && (
            <p className="small" role="status" data-testid="export-notice">
              {exportNotice}
            </p>
          )}
        </section>
      )}
    </div>
  );
}
