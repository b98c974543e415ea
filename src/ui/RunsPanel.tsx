// Runs: every run kept in IndexedDB, compared side by side (model, rank, targets, quant, LoRA+
// ratio, trainable parameters, time, tokens/s, final eval loss) with their loss curves overlaid;
// rename, delete, resume, download, and export for a cluster (TRL script + Axolotl YAML).
import { Fragment, useEffect, useState, type ReactNode } from 'react';
import { useStudio } from '../store';
import { fmtParams, targetsLabel } from '../store/plan';
import { fmtDuration } from '../store/progress';
import { canResume, finalEvalLoss } from '../store/runlogic';
import type { RunRecord } from '../store/types';
import { OverlayChart } from './charts';
import { Comparison } from './Comparison';
import { ErrorLine } from './controls';
import { StorageFullOffer, StorageUse } from './StoragePanel';
import { ExportButtons, STATUS_TEXT } from './TrainPanel';

/** A module list ("q_proj+k_proj+v_proj") that may wrap after each "+", never inside a name. */
function breakable(label: string): ReactNode {
  return label.split('+').map((part, i) => (
    <Fragment key={i}>
      {i > 0 && '+'}
      {i > 0 && <wbr />}
      {part}
    </Fragment>
  ));
}

function RunRow(props: { run: RunRecord; selected: boolean }) {
  const r = props.run;
  const toggle = useStudio((s) => s.toggleCompare);
  const rename = useStudio((s) => s.renameRun);
  const del = useStudio((s) => s.deleteRun);
  const resume = useStudio((s) => s.resumeInterrupted);
  const activeRun = useStudio((s) => s.activeRun);
  const exportCluster = useStudio((s) => s.exportCluster);
  const busy = useStudio((s) => s.exportBusy);
  const [editing, setEditing] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);
  const loss = finalEvalLoss(r);
  const last = r.metrics.train[r.metrics.train.length - 1];
  return (
    <tr data-testid="run-row" data-run-id={r.id} data-status={r.status}>
      <td>
        <input type="checkbox" checked={props.selected} onChange={(e) => toggle(r.id, e.target.checked)} aria-label={`Compare ${r.name}`} />
      </td>
      <td className="name">
        {editing === null ? (
          <>
            <span className="ellipsis" title={r.name} data-testid="run-name">{r.name}</span>{' '}
            <button type="button" className="link" onClick={() => setEditing(r.name)} aria-label={`Rename ${r.name}`}>
              rename
            </button>
          </>
        ) : (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              void rename(r.id, editing);
              setEditing(null);
            }}
          >
            <input type="text" value={editing} onChange={(e) => setEditing(e.target.value)} aria-label="New run name" autoFocus onKeyDown={(e) => e.key === 'Escape' && setEditing(null)} />
            <button type="submit">Save</button>
          </form>
        )}
        <div className="small muted">
          {new Date(r.createdAt).toLocaleString()} · {r.dataset.name} ({r.dataset.examples} examples)
          {r.dataset.evalFile && (
            <span data-testid="run-eval-file">
              {' '}· evaluated on {r.dataset.evalFile.name} ({r.dataset.evalFile.examples} examples)
            </span>
          )}
        </div>
      </td>
      <td data-testid="run-status">{STATUS_TEXT[r.status]}</td>
      <td>{r.model.name.replace(/^hf:\/\//, '')}</td>
      <td className="num">{r.config.r}</td>
      <td>
        <code>{breakable(targetsLabel(r.knobs.targetModules, r.model.modelType === 'gpt2' ? 'gpt2' : 'llama'))}</code>
      </td>
      <td>{r.knobs.quant}</td>
      <td className="num">{r.config.loraplusLrRatio}</td>
      <td className="num" title={r.trainableParams.toLocaleString('en-US')}>{fmtParams(r.trainableParams)}</td>
      <td className="num">
        {last ? `${last.step}/${r.totalSteps ?? '?'}` : '—'}
      </td>
      <td className="num">{fmtDuration(r.metrics.elapsedSeconds)}</td>
      <td className="num">{r.metrics.tokensPerSecond ? r.metrics.tokensPerSecond.toFixed(0) : '—'}</td>
      <td className="num" data-testid="run-eval-loss">
        {loss !== null ? loss.toFixed(4) : '—'}
        {r.metrics.evalLossBefore !== null && <div className="small muted">from {r.metrics.evalLossBefore.toFixed(4)}</div>}
      </td>
      <td>
        <div className="row">
          {canResume(r) && !activeRun && (
            <button type="button" onClick={() => void resume(r.id)} data-testid="runs-resume">
              Resume
            </button>
          )}
          <button
            type="button"
            disabled={busy !== null}
            title="The run's settings as a Hugging Face TRL script, an Axolotl config and a README (.zip), for training on a multi-GPU machine; the dataset is referenced by name, not included"
            onClick={() => void exportCluster(r.id)}
            data-testid="export-cluster"
          >
            Export run for a cluster
          </button>
          {confirm ? (
            <>
              <button type="button" className="danger" onClick={() => void del(r.id)} data-testid="confirm-delete">
                Delete for good
              </button>
              <button type="button" onClick={() => setConfirm(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" className="danger" onClick={() => setConfirm(true)} disabled={activeRun?.runId === r.id} aria-label={`Delete ${r.name}`}>
              Delete
            </button>
          )}
        </div>
      </td>
    </tr>
  );
}

/**
 * The downloads of one run, with the one checkpoint every download takes (adapter, merged model,
 * QA-LoRA merge, GGUF): the final adapter or an earlier checkpoint still kept (each with its step
 * and its eval loss when one was measured there).
 */
function RunDownloads(props: { run: RunRecord }) {
  const r = props.run;
  const steps = useStudio((s) => s.shelfSteps[r.id]);
  const loadShelf = useStudio((s) => s.loadShelf);
  const [pick, setPick] = useState('');
  useEffect(() => {
    void loadShelf(r.id);
  }, [loadShelf, r.id, r.checkpointStep, r.status]);
  // The newest checkpoint is the run's final adapter; the older ones are offered by step.
  const earlier = (steps ?? []).slice(1);
  const chosen = pick !== '' && earlier.includes(Number(pick)) ? Number(pick) : undefined;
  const evalAt = (step: number) => r.metrics.eval.find((p) => p.step === step)?.loss;
  const finalLoss = finalEvalLoss(r);
  return (
    <div style={{ marginBottom: '0.6rem' }}>
      <p>
        <b>{r.name}</b>
      </p>
      {earlier.length > 0 && (
        <div className="field" style={{ maxWidth: '30rem' }}>
          <label htmlFor={`ck-${r.id}`}>Checkpoint to export</label>
          <select id={`ck-${r.id}`} value={chosen === undefined ? '' : String(chosen)} onChange={(e) => setPick(e.target.value)} data-testid="export-checkpoint" aria-describedby={`ck-${r.id}-h`}>
            <option value="">
              {r.status === 'done' ? 'final' : 'latest'} (step {steps![0]}{finalLoss !== null ? `, eval loss ${finalLoss.toFixed(4)}` : ''})
            </option>
            {earlier.map((st) => (
              <option key={st} value={String(st)}>
                checkpoint of step {st}
                {evalAt(st) !== undefined ? `, eval loss ${evalAt(st)!.toFixed(4)}` : ''}
              </option>
            ))}
          </select>
          <span className="help" id={`ck-${r.id}-h`}>
            Every download below (adapter, merged model, GGUF) is made from this one; a run keeps its newest checkpoints only.
          </span>
        </div>
      )}
      <ExportButtons run={r} step={chosen} />
    </div>
  );
}

export function RunsPanel() {
  const runs = useStudio((s) => s.runs);
  const status = useStudio((s) => s.runsStatus);
  const error = useStudio((s) => s.runsError);
  const exportError = useStudio((s) => s.exportError);
  const exportNotice = useStudio((s) => s.exportNotice);
  const compare = useStudio((s) => s.compare);
  const runError = useStudio((s) => s.runError);
  const chosen = runs.filter((r) => compare.includes(r.id));
  const shown = chosen.length > 0 ? chosen : runs.slice(0, 3);
  return (
    <div>
      <section className="panel" aria-labelledby="runs-h">
        <h2 id="runs-h">Runs</h2>
        <ErrorLine message={error} />
        <ErrorLine message={runError} />
        {runs.length === 0 ? (
          <p className="muted" data-testid="runs-empty">
            {status === 'ready' ? 'No runs yet: train one and it is kept here, with its adapter, across reloads.' : 'Reading runs…'}
          </p>
        ) : (
          <div className="table-wrap">
            <table className="data" data-testid="runs-table">
              <thead>
                <tr>
                  <th>
                    <span className="sr-only">Compare</span>
                  </th>
                  <th>Run</th>
                  <th>Status</th>
                  <th>Model</th>
                  <th className="num">Rank</th>
                  <th>Targets</th>
                  <th>Quant</th>
                  <th className="num">LoRA+</th>
                  <th className="num">Trainable</th>
                  <th className="num">Steps</th>
                  <th className="num">Time</th>
                  <th className="num">Tokens/s</th>
                  <th className="num">Final eval loss</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {runs.map((r) => (
                  <RunRow key={r.id} run={r} selected={compare.includes(r.id)} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <Comparison />
      <section className="panel" aria-labelledby="storage-h">
        <h2 id="storage-h">Storage</h2>
        <StorageFullOffer />
        <StorageUse />
      </section>
      {shown.length > 0 && (
        <section className="panel" aria-labelledby="cmp-h">
          <h2 id="cmp-h">Loss curves {chosen.length === 0 && <span className="small muted">(latest runs; tick runs above to choose)</span>}</h2>
          <div className="cols2">
            <OverlayChart runs={shown} which="train" />
            <OverlayChart runs={shown} which="eval" />
          </div>
        </section>
      )}
      {shown.length > 0 && (
        <section className="panel" aria-labelledby="dl-h">
          <h2 id="dl-h">Downloads</h2>
          <ErrorLine message={exportError} testId="export-error" />
          {exportNotice && (
            <p className="small" role="status" data-testid="export-notice">
              {exportNotice}
            </p>
          )}
          {shown.map((r) => (
            <RunDownloads key={r.id} run={r} />
          ))}
        </section>
      )}
    </div>
  );
}
