// The comparison in Runs, for an experiment's runs or the ticked runs: the report's table
// (configuration, trainable parameters and share, steps, wall time, tokens/s, peak GPU memory, eval
// loss before/after, perplexity; the varied columns marked; sortable by a column header), the
// answers grid (prompts × base and every run, with the reference answer where the data has one),
// the overlaid loss curves, and the downloads: Markdown, CSV, SVG and PNG. Talks only to the store.
import { useMemo, useRef, useState } from 'react';
import { hasReferences, reportTable, type ReportCell } from '../store/plan';
import { useStudio } from '../store';
import { comparisonOf } from '../store/comparison';
import { chartSvg } from './chartImage';
import { OverlayChart } from './charts';
import { ErrorLine } from './controls';

type Sort = { col: number; dir: 'ascending' | 'descending' } | null;

const show = (v: ReportCell) => (v === null ? '—' : typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 6 }) : String(v));

function compareCells(a: ReportCell, b: ReportCell): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true });
}

function ChartExport(props: { which: 'train' | 'eval'; host: React.RefObject<HTMLDivElement | null> }) {
  const save = useStudio((s) => s.exportLossCurves);
  const run = (kind: 'svg' | 'png') => {
    const fig = props.host.current?.querySelector<HTMLElement>(`[data-testid=cmp-overlay-${props.which}]`);
    if (fig) void save(chartSvg(fig), props.which, kind);
  };
  return (
    <div className="row">
      <button type="button" onClick={() => run('svg')} data-testid={`cmp-${props.which}-svg`}>{props.which} loss as SVG</button>
      <button type="button" onClick={() => run('png')} data-testid={`cmp-${props.which}-png`}>{props.which} loss as PNG</button>
    </div>
  );
}

export function Comparison() {
  const comparing = useStudio((s) => s.comparing);
  const experiments = useStudio((s) => s.experiments);
  const runs = useStudio((s) => s.runs);
  const compare = useStudio((s) => s.compare);
  const selectionAnswers = useStudio((s) => s.selectionAnswers);
  const loaded = useStudio((s) => s.loaded);
  const setComparing = useStudio((s) => s.setComparing);
  const exportIt = useStudio((s) => s.exportComparison);
  const answer = useStudio((s) => s.answerSelection);
  const busy = useStudio((s) => s.answersBusy);
  const error = useStudio((s) => s.comparisonError);
  const notice = useStudio((s) => s.comparisonNotice);
  const [sort, setSort] = useState<Sort>(null);
  const [prompts, setPrompts] = useState('');
  const charts = useRef<HTMLDivElement>(null);
  const c = useMemo(() => comparisonOf({ comparing, experiments, runs, compare, selectionAnswers, loaded }), [comparing, experiments, runs, compare, selectionAnswers, loaded]);
  const table = useMemo(() => (c ? reportTable(c.report) : null), [c]);
  const order = useMemo(() => {
    if (!table) return [];
    const idx = table.rows.map((_, i) => i);
    if (!sort) return idx;
    const sign = sort.dir === 'ascending' ? 1 : -1;
    return idx.sort((a, b) => sign * compareCells(table.rows[a][sort.col], table.rows[b][sort.col]) || a - b);
  }, [table, sort]);
  if (experiments.length === 0 && runs.length === 0) return null;
  const rep = c?.report;
  const refs = rep ? hasReferences(rep) : false;
  return (
    <section className="panel" aria-labelledby="cmpx-h" data-testid="comparison">
      <h2 id="cmpx-h">Comparison</h2>
      <label>
        Compare{' '}
        <select value={comparing ?? ''} onChange={(e) => { setComparing(e.target.value || null); setSort(null); }} data-testid="cmp-source">
          <option value="">the ticked runs</option>
          {experiments.map((x) => (
            <option key={x.id} value={x.id}>experiment {x.name}</option>
          ))}
        </select>
      </label>
      <ErrorLine message={error} testId="cmp-error" />
      {notice && <p className="small" role="status" data-testid="cmp-notice">{notice}</p>}
      {!c || !table || !rep ? (
        <p className="muted">{comparing ? 'No run of this experiment has started yet.' : 'Tick runs above to compare them.'}</p>
      ) : (
        <>
          <div className="table-wrap">
            <table className="data" data-testid="cmp-table" data-name={c.name}>
              <caption className="small muted" style={{ textAlign: 'left' }}>Marked columns (varied) are what changes between the runs. Click a column header to sort.</caption>
              <thead>
                <tr>
                  {table.columns.map((col, i) => (
                    <th
                      key={col.header} scope="col" className={col.varied ? 'varied' : undefined} data-varied={col.varied} data-col={col.header}
                      aria-sort={sort?.col === i ? sort.dir : 'none'}
                    >
                      <button
                        type="button" className="link"
                        onClick={() => setSort((s) => ({ col: i, dir: s?.col === i && s.dir === 'ascending' ? 'descending' : 'ascending' }))}
                      >
                        {col.header}
                        {col.varied && <span className="small"> (varied)</span>}
                      </button>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {order.map((ri) => (
                  <tr key={rep.runs[ri].name} data-testid="cmp-row" data-run={rep.runs[ri].name}>
                    {table.rows[ri].map((v, ci) => (
                      <td key={ci} className={`${typeof v === 'number' ? 'num' : ''} ${table.columns[ci].varied ? 'varied' : ''}`.trim() || undefined} data-col={table.columns[ci].header}>
                        {show(v)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="row">
            <button type="button" onClick={() => exportIt('md')} data-testid="cmp-md">Download Markdown</button>
            <button type="button" onClick={() => exportIt('csv')} data-testid="cmp-csv">Download CSV</button>
          </div>
          <h3>Answers</h3>
          {!comparing && (
            <div>
              <label className="block">
                Prompts for the ticked runs (one per line; greedy, seed 0)
                <textarea rows={2} value={prompts} onChange={(e) => setPrompts(e.target.value)} data-testid="cmp-prompts" />
              </label>
              <button type="button" disabled={busy} onClick={() => void answer(prompts.split('\n').map((p) => p.trim()).filter(Boolean))} data-testid="cmp-answer">
                {busy ? 'Answering…' : 'Answer with the base and every ticked run'}
              </button>
            </div>
          )}
          {rep.prompts.length === 0 ? (
            <p className="muted small">No evaluation prompts{comparing ? ' in this experiment' : ' answered yet'}.</p>
          ) : (
            <div className="table-wrap">
              <table className="data answers" data-testid="answers-grid">
                <thead>
                  <tr>
                    <th scope="col">Prompt</th>
                    {refs && <th scope="col" data-testid="answers-ref-col">Reference</th>}
                    {rep.answers.map((a) => (
                      <th key={a.name} scope="col" data-testid="answers-col">{a.name}</th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {rep.prompts.map((p, pi) => {
                    const ref = rep.references?.[pi] ?? null;
                    return (
                      <tr key={pi} data-testid="answers-row" data-held-out={ref ? ref.line : undefined}>
                        <th scope="row" className="pre">
                          {ref && <span className="small muted" data-testid="answers-held-out">held out, line {ref.line}{'\n'}</span>}
                          {p}
                        </th>
                        {refs && <td className="pre" data-testid="answer-ref">{ref ? ref.text : '—'}</td>}
                        {rep.answers.map((a) => (
                          <td key={a.name} className="pre" data-testid="answer" data-col={a.name}>{a.answers[pi] ?? '—'}</td>
                        ))}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
          <h3>Loss curves</h3>
          <div className="cols2" ref={charts}>
            <div>
              <OverlayChart runs={c.records} which="train" testId="cmp-overlay-train" />
              <ChartExport which="train" host={charts} />
            </div>
            <div>
              <OverlayChart runs={c.records} which="eval" testId="cmp-overlay-eval" />
              <ChartExport which="eval" host={charts} />
            </div>
          </div>
        </>
      )}
    </section>
  );
}
