// Line charts (recharts) of a run's metrics, and of several runs overlaid.
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { RunRecord } from '../store/types';
import { overlay } from '../store/runlogic';

const AXIS = { stroke: 'var(--muted)', fontSize: 12 };
const COLORS = ['var(--c1)', 'var(--c2)', 'var(--c3)', 'var(--c4)', 'var(--c5)', 'var(--c6)'];

/** A tooltip's heading: the step it shows ("step 3"). */
function stepLabel(step: unknown): string {
  return `step ${String(step)}`;
}

function fmtNum(v: unknown): string {
  const x = Number(v);
  if (!Number.isFinite(x)) return String(v);
  return Math.abs(x) < 1e-2 && x !== 0 ? x.toExponential(1) : String(Number(x.toPrecision(3)));
}

export function LossChart(props: { run: RunRecord }) {
  const { train, eval: ev } = props.run.metrics;
  const rows = new Map<number, { step: number; train?: number; eval?: number }>();
  for (const p of train) rows.set(p.step, { step: p.step, train: p.loss });
  for (const p of ev) rows.set(p.step, { ...(rows.get(p.step) ?? { step: p.step }), eval: p.loss });
  const data = [...rows.values()].sort((a, b) => a.step - b.step);
  return (
    <figure className="chart" data-testid="loss-chart" data-points={train.length} data-eval-points={ev.length} aria-label="Loss per step">
      <h3>Loss</h3>
      <ResponsiveContainer width="100%" height={240}>
        <LineChart data={data} margin={{ top: 5, right: 12, bottom: 5, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} tick={AXIS} allowDecimals={false} />
          <YAxis tick={AXIS} domain={['auto', 'auto']} tickFormatter={fmtNum} width={52} />
          <Tooltip formatter={fmtNum} labelFormatter={stepLabel} contentStyle={{ background: 'var(--panel)', border: '1px solid var(--border)' }} />
          <Legend />
          <Line name="train loss" dataKey="train" stroke="var(--c1)" dot={false} isAnimationActive={false} connectNulls />
          <Line name="eval loss" dataKey="eval" stroke="var(--c2)" dot isAnimationActive={false} connectNulls />
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}

export function SeriesChart(props: { run: RunRecord; which: 'lr' | 'gradNorm'; title: string; testId: string }) {
  const data = props.run.metrics.train.map((p) => ({ step: p.step, v: p[props.which] }));
  return (
    <figure className="chart" data-testid={props.testId} data-points={data.length} aria-label={props.title}>
      <h3>{props.title}</h3>
      <ResponsiveContainer width="100%" height={240}>
        <LineChart data={data} margin={{ top: 5, right: 12, bottom: 5, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} tick={AXIS} allowDecimals={false} />
          <YAxis tick={AXIS} domain={['auto', 'auto']} tickFormatter={fmtNum} width={60} />
          <Tooltip formatter={fmtNum} labelFormatter={stepLabel} contentStyle={{ background: 'var(--panel)', border: '1px solid var(--border)' }} />
          <Line name={props.title} dataKey="v" stroke={props.which === 'lr' ? 'var(--c3)' : 'var(--c4)'} dot={false} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}

/** Loss curves of several runs on one chart. */
export function OverlayChart(props: { runs: RunRecord[]; which: 'train' | 'eval'; testId?: string }) {
  const data = overlay(props.runs, props.which);
  return (
    <figure className="chart" data-testid={props.testId ?? `overlay-${props.which}`} data-series={props.runs.length} aria-label={`${props.which} loss of the compared runs`}>
      <h3>{props.which === 'train' ? 'Train loss' : 'Eval loss'}</h3>
      <ResponsiveContainer width="100%" height={260}>
        <LineChart data={data} margin={{ top: 5, right: 12, bottom: 5, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} tick={AXIS} allowDecimals={false} />
          <YAxis tick={AXIS} domain={['auto', 'auto']} tickFormatter={fmtNum} width={52} />
          <Tooltip formatter={fmtNum} labelFormatter={stepLabel} contentStyle={{ background: 'var(--panel)', border: '1px solid var(--border)' }} />
          <Legend />
          {props.runs.map((r, i) => (
            <Line key={r.id} name={r.name} dataKey={r.id} stroke={COLORS[i % COLORS.length]} dot={props.which === 'eval'} isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}
