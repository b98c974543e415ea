// The Dataset tab's optional evaluation file (the CLI's --eval-file): a second drop zone whose file
// replaces the eval split, with its own counts and warnings beside the training set's. Its text is
// never shown here (only counts), and never rendered as HTML.
import { useStudio } from '../store';
import { DataFileDrop, ErrorLine } from './controls';

function fmt(x: number): string {
  return x.toLocaleString('en-US');
}

export function EvalFilePanel() {
  const ev = useStudio((s) => s.evalFile);
  const drop = useStudio((s) => s.dropEvalFile);
  const clear = useStudio((s) => s.clearEvalFile);
  const sum = ev.summary;
  const st = sum?.ok ? sum.stats : null;
  return (
    <section className="panel" aria-labelledby="evalfile-h" data-testid="eval-file">
      <h2 id="evalfile-h">Evaluation file (optional)</h2>
      <p className="muted small">
        A separate file to measure eval loss on, read with the same options: when set, it replaces the eval split (Settings) and every example of the
        dataset above trains.
      </p>
      <DataFileDrop label="Drop an evaluation file here, or press to choose one" inputLabel="Choose an evaluation file" testId="eval" onFile={(f) => void drop(f)} />
      {ev.file && (
        <p>
          Evaluation file: <b data-testid="eval-name">{ev.file.name}</b> ({fmt(ev.file.size)} bytes)
          {ev.status === 'preparing' && <span className="muted"> — reading…</span>}{' '}
          <button type="button" onClick={clear} data-testid="eval-remove">
            Remove (use the eval split)
          </button>
        </p>
      )}
      <ErrorLine message={sum && !sum.ok ? sum.error : ev.error} testId="eval-error" />
      {ev.file && ev.status === 'inspected' && <p className="note small">Load a model (Model tab) to read the evaluation file.</p>}
      {st && (
        <>
          <dl className="kv" data-testid="eval-stats">
            <dt>Examples</dt>
            <dd data-testid="eval-examples">{fmt(st.examples)}</dd>
            <dt>Tokens</dt>
            <dd data-testid="eval-tokens">{fmt(st.tokens)} ({fmt(st.trained_tokens)} scored)</dd>
            <dt>Longer than {st.seq_len}</dt>
            <dd>{fmt(st.truncated)} truncated</dd>
            <dt>Skipped</dt>
            <dd>{fmt(st.skipped_count)}</dd>
          </dl>
          {st.warnings.length > 0 && (
            <div role="status" data-testid="eval-warnings">
              {st.warnings.map((w) => (
                <p key={w.kind} className="note small">
                  ⚠ {w.message.charAt(0).toUpperCase() + w.message.slice(1)}
                </p>
              ))}
            </div>
          )}
        </>
      )}
    </section>
  );
}
