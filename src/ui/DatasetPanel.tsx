// Dataset: a drop zone and a file picker; the dataset pipeline's stats and preview (trained and
// masked tokens); record shape, column mapping, prompt template and formatting with immediate
// re-preview. Dataset text is only ever rendered as text, never as HTML.
import { useId } from 'react';
import { useStudio } from '../store';
import { type DataWarning, RECORD_SHAPES, type RecordShape, type DatasetInspect, type DatasetOptions } from '../store/plan';
import { datasetName } from '../store/dataset';
import { DataFileDrop, ErrorLine, Field } from './controls';
import { DatasetProgress } from './DatasetProgress';
import { EvalFilePanel } from './EvalFilePanel';
import { HubDataset } from './HubDataset';

const SHAPE_LABEL: Record<RecordShape, string> = {
  alpaca: 'Alpaca (instruction, input?, output)',
  'prompt-completion': 'prompt / completion',
  messages: 'chat messages (role, content)',
  sharegpt: 'ShareGPT chats (from, value)',
  text: 'plain text',
  template: 'template over any columns',
};

const PROMPT_FORMATS: { value: string; label: string }[] = [
  { value: 'auto', label: 'auto: chat template or Alpaca' },
  { value: 'model', label: 'the model\'s chat template' },
  { value: 'chatml', label: 'ChatML' },
  { value: 'alpaca', label: 'Alpaca prompt' },
  { value: 'none', label: 'none (prompt as it is)' },
];

function fmt(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/**
 * The record shape as the panel knows it: the one chosen, the one a template sets, the one
 * detected, or why none was (unless the error above already says it).
 */
function shapeNote(o: DatasetOptions, inspect: DatasetInspect | null, errorShown: boolean): string {
  if (o.format !== 'auto') return `Chosen: ${SHAPE_LABEL[o.format]}.`;
  if (o.template.trim()) return `Set by the prompt template: ${SHAPE_LABEL.template}.`;
  if (inspect?.shape) return `Detected: ${SHAPE_LABEL[inspect.shape]}.`;
  if (!inspect) return 'Detected: nothing yet.';
  return errorShown ? 'Not detected (the message above says why).' : `Not detected: ${inspect.reason ?? 'no records'}.`;
}

function Options() {
  const dataset = useStudio((s) => s.dataset);
  const setOptions = useStudio((s) => s.setDatasetOptions);
  const sum = dataset.summary;
  const inspect = sum?.inspect ?? null;
  const columns = inspect?.columns ?? [];
  const o = dataset.options;
  const set = (p: Partial<DatasetOptions>) => setOptions(p);
  const templateHelp = columns.length ? `Columns: ${columns.map((c) => `{${c}}`).join(', ')}.` : 'Use {column} placeholders.';
  const errorShown = (sum && !sum.ok) || dataset.error !== null;
  return (
    <section className="panel" aria-labelledby="map-h">
      <h2 id="map-h">How records become examples</h2>
      <div className="grid2">
        <Field label="Record shape" help={`What the fields mean. ${shapeNote(o, inspect, errorShown)}`}>
          {(id, h) => (
            <select id={id} aria-describedby={h} value={o.format} onChange={(e) => set({ format: e.target.value as DatasetOptions['format'] })} data-testid="ds-format" data-option="format">
              <option value="auto">auto{inspect?.shape ? ` (${inspect.shape})` : ''}</option>
              {RECORD_SHAPES.map((s) => (
                <option key={s} value={s}>
                  {SHAPE_LABEL[s]}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Response column" help="The column the model learns to write (template shape; overrides output / completion).">
          {(id, h) => (
            <select id={id} aria-describedby={h} value={o.responseColumn} onChange={(e) => set({ responseColumn: e.target.value })} data-testid="ds-response" data-option="responseColumn">
              <option value="">{columns.length ? 'the shape\'s own' : 'no columns found'}</option>
              {columns.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Prompt format" help="How prompts and chats are laid out before tokenizing (auto: the model&apos;s chat template when it has one, else the Alpaca prompt).">
          {(id, h) => (
            <select id={id} aria-describedby={h} value={o.chatTemplate} onChange={(e) => set({ chatTemplate: e.target.value })}>
              {PROMPT_FORMATS.map((f) => (
                <option key={f.value} value={f.value}>
                  {f.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Bad rows" help="Stop at the first bad row (naming its line), or skip such rows and list them.">
          {(id, h) => (
            <select id={id} aria-describedby={h} value={o.onBadRows} onChange={(e) => set({ onBadRows: e.target.value as 'stop' | 'skip' })} data-testid="ds-bad-rows" data-option="onBadRows">
              <option value="stop">stop</option>
              <option value="skip">skip and list</option>
            </select>
          )}
        </Field>
      </div>
      <Field label="Prompt template" help={`Prompt with {column} placeholders, answered by the response column (sets the template shape). ${templateHelp}`}>
        {(id, h) => (
          <textarea id={id} aria-describedby={h} value={o.template} onChange={(e) => set({ template: e.target.value })} data-testid="dataset-template" data-option="template" spellCheck={false} rows={3} />
        )}
      </Field>
      <div className="row">
        <label className="check">
          <input type="checkbox" checked={o.trainOnPrompt} onChange={(e) => set({ trainOnPrompt: e.target.checked })} />
          Train on the prompt too (default: the loss is on the response only)
        </label>
        <label className="check">
          <input type="checkbox" checked={o.packing} onChange={(e) => set({ packing: e.target.checked })} />
          Pack short examples into full sequences
        </label>
      </div>
    </section>
  );
}

/** What makes little of the data train, next to the counts, with the knob that fixes it (and a button that sets it). */
function DataWarnings(props: { warnings: DataWarning[] }) {
  const setKnob = useStudio((s) => s.setKnob);
  const setOptions = useStudio((s) => s.setDatasetOptions);
  if (!props.warnings.length) return null;
  return (
    <div role="status" data-testid="dataset-warnings">
      {props.warnings.map((w) => (
        <p key={w.kind} className="note" data-testid={`dataset-warning-${w.kind}`}>
          ⚠ {w.message.charAt(0).toUpperCase() + w.message.slice(1)}
          {w.fix?.option === 'seqLen' && (
            <>
              {' '}Set <b>Sequence length</b> (Settings) to {w.fix.value}.{' '}
              <button type="button" onClick={() => setKnob('seqLen', (w.fix as { value: number }).value)}>Set it to {w.fix.value}</button>
            </>
          )}
          {w.fix?.option === 'trainOnPrompt' && (
            <>
              {' '}Turn on <b>Train on the prompt too</b>.{' '}
              <button type="button" onClick={() => setOptions({ trainOnPrompt: true })}>Turn it on</button>
            </>
          )}
        </p>
      ))}
    </div>
  );
}

function Stats() {
  const sum = useStudio((s) => s.dataset.summary);
  if (!sum?.ok || !sum.stats) return null;
  const st = sum.stats;
  const maxBin = Math.max(1, ...st.length_histogram.map((b) => b.count));
  return (
    <section className="panel" aria-labelledby="stats-h" data-testid="dataset-stats">
      <h2 id="stats-h">Statistics</h2>
      <DataWarnings warnings={st.warnings} />
      <div className="cols2">
        <dl className="kv">
          <dt>Examples</dt>
          <dd data-testid="dataset-examples">{fmt(st.examples)}</dd>
          <dt>Rows read</dt>
          <dd>{fmt(st.rows)}</dd>
          <dt>Shape · format</dt>
          <dd>
            {st.format} · {st.prompt_format} · {st.file_format}
          </dd>
          <dt>Tokens</dt>
          <dd data-testid="dataset-tokens">
            {fmt(st.tokens)} ({fmt(st.trained_tokens)} trained{st.train_on_prompt || st.format === 'text' ? '' : ', prompts masked'})
          </dd>
          <dt>Tokens per example</dt>
          <dd>
            min {fmt(st.length.min)} · median {fmt(st.length.p50)} · mean {fmt(st.length.mean, 1)} · p95 {fmt(st.length.p95)} · max {fmt(st.length.max)}
          </dd>
          <dt>Longer than {st.seq_len}</dt>
          <dd>{fmt(st.truncated)} truncated</dd>
          <dt>Skipped</dt>
          <dd data-testid="dataset-skipped">{fmt(st.skipped_count)}</dd>
          <dt>Duplicates</dt>
          <dd>{fmt(st.duplicates)}</dd>
        </dl>
        <figure aria-label="Example lengths in tokens" className="hist">
          {st.length_histogram.map((b) => (
            <div key={b.from} className="hist-row">
              <span className="small muted">
                {b.to === null ? `> ${b.from}` : `${b.from}–${b.to}`}
              </span>
              <span className="hist-bar" style={{ width: `${(100 * b.count) / maxBin}%` }} />
              <span className="small">{b.count}</span>
            </div>
          ))}
        </figure>
      </div>
      {st.skipped.length > 0 && (
        <details>
          <summary>Skipped rows ({fmt(st.skipped_count)})</summary>
          <ul className="small">
            {st.skipped.slice(0, 50).map((r) => (
              <li key={r.line}>
                line {r.line}: {r.reason}
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

export function DatasetPanel() {
  const dataset = useStudio((s) => s.dataset);
  const drop = useStudio((s) => s.dropDataset);
  const loaded = useStudio((s) => s.loaded);
  const legendId = useId();
  const sum = dataset.summary;
  const name = datasetName(dataset);

  return (
    <div>
      <section className="panel" aria-labelledby="ds-h">
        <h2 id="ds-h">Dataset</h2>
        <p className="muted small">
          JSONL, JSON, CSV, TSV, Parquet or plain text; Alpaca, prompt/completion, chat and ShareGPT records are recognised, any other columns through a
          template. The file is read in this tab only. Or open a dataset of the Hugging Face Hub by its id.
        </p>
        <DataFileDrop label="Drop a dataset file here, or press to choose one" inputLabel="Choose a dataset file" testId="dataset" onFile={(f) => void drop(f)} />
        <HubDataset />
        {name && (
          <p>
            {dataset.file ? 'File' : 'Hub dataset'}: <b data-testid="dataset-name">{name}</b>
            {dataset.file && <> ({fmt(dataset.file.size)} bytes)</>}
            {sum?.inspect && (
              <span className="muted">
                {' '}
                · {sum.inspect.fileFormat}
                {sum.inspect.columns.length > 0 && <> · columns {sum.inspect.columns.join(', ')}</>}
              </span>
            )}
            {dataset.status === 'preparing' && <span className="muted"> — reading…</span>}
          </p>
        )}
        <DatasetProgress />
        <ErrorLine message={sum && !sum.ok ? sum.error : dataset.error} testId="dataset-error" />
        {dataset.status === 'inspected' && !loaded && (
          <p className="note" data-testid="dataset-needs-model">
            Load a model (Model tab) to prepare the examples: they are tokenized, counted and previewed with its tokenizer.
          </p>
        )}
      </section>

      {name && <Options />}
      <Stats />
      {name && <EvalFilePanel />}

      {sum?.ok && sum.preview.length > 0 && (
        <section className="panel" aria-labelledby="preview-h">
          <h2 id="preview-h">Preview</h2>
          <p className="small" id={legendId}>
            <span className="seg-trained">Trained text</span> is what the loss is computed on; <span className="seg-masked">masked text</span> is context only.
          </p>
          <ol className="preview" data-testid="dataset-preview" aria-describedby={legendId}>
            {sum.preview.map((p) => (
              <li key={p.line}>
                <span className="small muted">
                  line {p.line} · {p.tokens} tokens · {p.trained} trained{p.truncated ? ' · truncated' : ''}
                </span>
                <pre>
                  {p.segments.map((s, i) => (
                    <span key={i} className={s.trained ? 'seg-trained' : 'seg-masked'}>
                      {s.text}
                    </span>
                  ))}
                </pre>
              </li>
            ))}
          </ol>
        </section>
      )}
    </div>
  );
}
