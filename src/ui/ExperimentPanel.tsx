// Experiment: the current settings plus axes to vary (or the QLoRA study preset), expanded into a
// plan of runs to review, reorder and prune, with each run's memory and time estimate and the
// whole's; then the runs one after another, with pause / stop for the whole experiment, and a
// Resume where a closed tab or a lost device left one. Import / export the JSON `npm run experiment`
// reads. Talks only to the store.
import { useMemo, useRef } from 'react';
import { useStudio } from '../store';
import { experimentRun, heldOutReason } from '../store/experiment';
import { AXIS_LABEL, knobsFromSettings, measuredRate, runEstimate, totalEstimate, type AxisKey, type RunEstimate } from '../store/experimentlogic';
import { fmtDuration } from '../store/progress';
import { lastStep } from '../store/runlogic';
import { ErrorLine, NumberInput } from './controls';
import { AXIS_KEYS, fmtBytes, fmtParams, type ExperimentRun } from '../store/plan';

const AXIS_HINT: Record<AxisKey, string> = {
  r: 'e.g. 4 8 16', lora_alpha: 'e.g. 8 16 32', target_modules: 'e.g. attention all-linear,lm_head', quant: 'e.g. none int8 nf4',
  loraPlusRatio: 'e.g. 1 16', lr: 'e.g. 1e-4 3e-4', use_rslora: 'true false', lora_dropout: 'e.g. 0 0.05',
  saveActivations: 'f32 f16', matmulMath: 'f32 f16', subgroups: 'false true',
};

const fmtTokens = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n));
const valueText = (run: ExperimentRun) => Object.entries(run.varied).map(([k, v]) => `${k}=${String(v)}`).join(', ') || '—';

function Estimate(props: { e: RunEstimate | { memoryBytes: number; tokens: number; seconds: number | null } }) {
  return (
    <>
      <td className="num">{fmtBytes(props.e.memoryBytes)}</td>
      <td className="num">{fmtTokens(props.e.tokens)}</td>
      <td className="num">{props.e.seconds === null ? '—' : `≈ ${fmtDuration(props.e.seconds)}`}</td>
    </>
  );
}

/** The reviewed plan with its estimates: reorder, remove, start. */
function Plan() {
  const d = useStudio((s) => s.expDraft);
  const loaded = useStudio((s) => s.loaded);
  const knobs = useStudio((s) => s.knobs);
  const runs = useStudio((s) => s.runs);
  const examples = useStudio((s) => (s.dataset.summary?.ok ? s.dataset.summary.stats?.examples ?? null : null));
  const move = useStudio((s) => s.movePlanned);
  const prune = useStudio((s) => s.prunePlanned);
  const spec = loaded?.spec ?? null;
  const estimates = useMemo(() => {
    if (!d.plan || !spec || !loaded) return null;
    const rate = measuredRate(runs, loaded.info.name);
    const train = examples === null ? 0 : examples - (knobs.evalSplit > 0 && examples > 1 ? Math.max(1, Math.round(examples * knobs.evalSplit)) : 0);
    try {
      return d.plan.map((p) => runEstimate(knobsFromSettings(knobs, p.settings, spec).knobs, spec, loaded.info.weightsDType === 'f16' ? 2 : 4, train, rate));
    } catch {
      return null;
    }
  }, [d.plan, spec, loaded, runs, examples, knobs]);
  if (!d.plan) return null;
  const total = estimates ? totalEstimate(estimates) : null;
  return (
    <div className="table-wrap">
      <table className="data" data-testid="exp-plan">
        <caption className="small muted" style={{ textAlign: 'left' }}>
          {d.plan.length} run{d.plan.length === 1 ? '' : 's'}, trained in this order on the loaded base
          {total && total.seconds === null && ' (time: shown once a run on this model has measured its tokens per second)'}.
        </caption>
        <thead>
          <tr>
            <th className="num">#</th>
            <th>Run</th>
            <th>Varies</th>
            <th className="num">Trainable</th>
            <th className="num">GPU memory</th>
            <th className="num">Tokens</th>
            <th className="num">Time</th>
            <th>
              <span className="sr-only">Order</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {d.plan.map((p, i) => (
            <tr key={p.name} data-testid="exp-plan-row" data-name={p.name}>
              <td className="num">{i + 1}</td>
              <td>
                <code>{p.name}</code>
              </td>
              <td className="small">{valueText(p)}</td>
              <td className="num">{estimates ? fmtParams(estimates[i].trainableParams) : '—'}</td>
              {estimates ? <Estimate e={estimates[i]} /> : <td colSpan={3} className="muted">load the model for estimates</td>}
              <td>
                <div className="row">
                  <button type="button" onClick={() => move(i, -1)} disabled={i === 0} aria-label={`Move ${p.name} up`}>↑</button>
                  <button type="button" onClick={() => move(i, 1)} disabled={i === d.plan!.length - 1} aria-label={`Move ${p.name} down`}>↓</button>
                  <button type="button" onClick={() => prune(i)} aria-label={`Remove ${p.name}`} data-testid="exp-prune">✕</button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
        {total && (
          <tfoot>
            <tr data-testid="exp-total">
              <td />
              <td colSpan={3}>Whole experiment (memory: its largest run)</td>
              <Estimate e={total} />
              <td />
            </tr>
          </tfoot>
        )}
      </table>
    </div>
  );
}

/** The experiments kept in IndexedDB: where each stands, Resume where one stopped, pause / stop the live one. */
function Experiments() {
  const experiments = useStudio((s) => s.experiments);
  const runs = useStudio((s) => s.runs);
  const active = useStudio((s) => s.activeExperiment);
  const phase = useStudio((s) => s.activeRun?.phase ?? null);
  const busy = useStudio((s) => s.activeRun !== null || s.activeExperiment !== null);
  const pause = useStudio((s) => s.pauseExperiment);
  const cont = useStudio((s) => s.continueExperiment);
  const stop = useStudio((s) => s.stopExperiment);
  const resume = useStudio((s) => s.resumeExperiment);
  const del = useStudio((s) => s.deleteExperiment);
  const compareIt = useStudio((s) => s.setComparing);
  const setTab = useStudio((s) => s.setTab);
  if (experiments.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="exps-h">
      <h2 id="exps-h">Experiments</h2>
      <ul className="plain">
        {experiments.map((x) => {
          const i = Math.min(x.current, x.plan.length - 1);
          const r = experimentRun(runs, x.id, i);
          const live = active === x.id;
          const status = live ? (phase === 'paused' ? 'paused' : 'running') : x.status;
          return (
            <li key={x.id} data-testid="experiment" data-exp-id={x.id} data-status={status} data-current={x.current} style={{ marginBottom: '0.6rem' }}>
              <b>{x.name}</b> — <span data-testid="exp-status">{status}</span>:{' '}
              {x.current >= x.plan.length ? (
                <>all {x.plan.length} runs trained</>
              ) : (
                <span data-testid="exp-where">
                  run {x.current + 1} of {x.plan.length} ({x.plan[x.current].name}){r ? `, step ${lastStep(r)} of ${r.totalSteps ?? '?'}` : ''}
                </span>
              )}
              {x.error && <div className="error small">{x.error}</div>}
              <div className="row">
                {live && phase === 'running' && <button type="button" onClick={() => void pause()} data-testid="exp-pause">Pause</button>}
                {live && phase === 'paused' && <button type="button" onClick={() => void cont()} data-testid="exp-continue">Continue</button>}
                {live && <button type="button" onClick={() => void stop()} data-testid="exp-stop">Stop experiment</button>}
                {!live && x.status !== 'done' && (
                  <button type="button" className="primary" disabled={busy} onClick={() => void resume(x.id)} data-testid="exp-resume">
                    Resume experiment
                  </button>
                )}
                <button type="button" onClick={() => { compareIt(x.id); setTab('runs'); }} data-testid="exp-compare">Compare in Runs</button>
                {!live && <button type="button" className="danger" onClick={() => void del(x.id)} aria-label={`Delete experiment ${x.name}`}>Delete</button>}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

export function ExperimentPanel() {
  const d = useStudio((s) => s.expDraft);
  const heldOutWhy = useStudio(heldOutReason);
  const setDraft = useStudio((s) => s.setExpDraft);
  const setAxis = useStudio((s) => s.setAxis);
  const expand = useStudio((s) => s.expandDraft);
  const preset = useStudio((s) => s.applyStudyPreset);
  const start = useStudio((s) => s.startExperiment);
  const importIt = useStudio((s) => s.importExperiment);
  const exportIt = useStudio((s) => s.exportExperimentSpec);
  const error = useStudio((s) => s.expError);
  const notice = useStudio((s) => s.expNotice);
  const runError = useStudio((s) => s.runError);
  const loaded = useStudio((s) => s.loaded !== null);
  const busy = useStudio((s) => s.activeRun !== null || s.activeExperiment !== null);
  const fileRef = useRef<HTMLInputElement>(null);
  return (
    <div>
      <section className="panel" aria-labelledby="exp-h">
        <h2 id="exp-h">Experiment</h2>
        <p className="small muted">
          Every run starts from the current settings (Settings tab) and varies the settings ticked below; every combination is one run. Runs train one after
          another on the loaded base (reloaded only when the base quantization changes), each checkpointed; then the base and every run answer the prompts.
        </p>
        <div className="row">
          <label>
            Name{' '}
            <input type="text" value={d.name} onChange={(e) => setDraft({ name: e.target.value })} data-testid="exp-name" />
          </label>
          <button type="button" onClick={preset} data-testid="exp-preset-qlora" title="Four runs: r8 and r16 on q_proj,v_proj over a 4-bit base; r8 on every linear layer + lm_head, 4-bit and 8-bit">
            QLoRA study: attention r8 / r16, all-linear + lm_head r8, 4-bit and 8-bit
          </button>
          <button type="button" onClick={() => fileRef.current?.click()} data-testid="exp-import">Import JSON</button>
          <input
            ref={fileRef} type="file" accept=".json,application/json" hidden data-testid="exp-import-input"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void importIt(f);
              e.target.value = '';
            }}
          />
        </div>
        {d.runs && (
          <p className="small" data-testid="exp-configs">
            {d.runs.length} configurations from a preset or file; the axes below are crossed with them.{' '}
            <button type="button" className="link" onClick={() => setDraft({ runs: null })}>Drop them</button>
          </p>
        )}
        <fieldset>
          <legend>Vary (values separated by spaces)</legend>
          {AXIS_KEYS.map((k) => {
            const on = d.axes[k] !== undefined;
            return (
              <div className="row" key={k}>
                <label style={{ minWidth: '12rem' }}>
                  <input type="checkbox" checked={on} onChange={(e) => setAxis(k, e.target.checked ? '' : null)} data-testid={`axis-on-${k}`} /> {AXIS_LABEL[k]}
                </label>
                {on && <input type="text" value={d.axes[k]} placeholder={AXIS_HINT[k]} onChange={(e) => setAxis(k, e.target.value)} aria-label={`${AXIS_LABEL[k]} values`} data-testid={`axis-${k}`} />}
              </div>
            );
          })}
        </fieldset>
        <label className="block">
          Evaluation prompts (one per line; answered greedily by the base and every run, wrapped as the training data was)
          <textarea rows={3} value={d.prompts} onChange={(e) => setDraft({ prompts: e.target.value })} data-testid="exp-prompts" />
        </label>
        <div className="row">
          <label>
            Held-out prompts{' '}
            <NumberInput value={d.heldOut} integer min={0} max={64} onCommit={(v) => setDraft({ heldOut: v })} label="Held-out prompts" testId="exp-heldout" />
          </label>
          <span className="small muted" data-testid="exp-heldout-note">
            {heldOutWhy
              ? `None drawn: ${heldOutWhy}.`
              : 'drawn from the rows held out for evaluation (the runs\' seed and split), fed exactly as training formatted them, shown with the reference answer from the data'}
          </span>
        </div>
        <div className="row">
          <label>
            Answer length <NumberInput value={d.maxNewTokens} integer min={1} max={512} onCommit={(v) => setDraft({ maxNewTokens: v })} label="Answer length" testId="exp-tokens" />
          </label>
          <label>
            Generation seed <NumberInput value={d.genSeed} integer min={0} onCommit={(v) => setDraft({ genSeed: v })} label="Generation seed" testId="exp-seed" />
          </label>
        </div>
        <ErrorLine message={error} testId="exp-error" />
        {notice && <p className="small" role="status" data-testid="exp-notice">{notice}</p>}
        <div className="row">
          <button type="button" onClick={expand} data-testid="exp-expand">Expand into runs</button>
          <button type="button" onClick={exportIt} disabled={!d.plan} data-testid="exp-export">Export JSON</button>
        </div>
        <Plan />
        {d.plan && (
          <div className="row">
            <button type="button" className="primary" onClick={() => void start()} disabled={!loaded || busy || d.plan.length === 0} data-testid="exp-start">
              Start experiment
            </button>
            {!loaded && <span className="small muted">Load a model first (Model tab).</span>}
          </div>
        )}
        <ErrorLine message={runError} />
      </section>
      <Experiments />
    </div>
  );
}
