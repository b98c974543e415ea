// Small shared controls: labelled fields with a one-line help, number inputs that accept what the
// user types and commit valid numbers, a progress bar, the memory card, file drop zones.
import { useEffect, useId, useRef, useState, type DragEvent, type KeyboardEvent, type ReactNode, type RefObject } from 'react';
import { useStudio } from '../store';
import { bufferWords, fmtBytes, fmtParams, fmtShare, rangeWords } from '../store/plan';
import { relPath } from '../store/model';
import { usePlan } from './usePlan';

export function Field(props: { label: string; help: string; children: (id: string, helpId: string) => ReactNode }) {
  const id = useId();
  const helpId = `${id}-help`;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id, helpId)}
      <span className="help" id={helpId}>
        {props.help}
      </span>
    </div>
  );
}

/** A number input: keeps the typed text, commits it when it parses and passes `valid`. */
export function NumberInput(props: {
  id?: string;
  value: number;
  onCommit: (v: number) => void;
  integer?: boolean;
  min?: number;
  max?: number;
  step?: number | 'any';
  describedBy?: string;
  label?: string;
  testId?: string;
  /** The engine option this input sets (an error naming it focuses the input). */
  option?: string;
}) {
  const [text, setText] = useState(String(props.value));
  const committed = useRef(props.value);
  useEffect(() => {
    if (props.value !== committed.current) {
      committed.current = props.value;
      setText(String(props.value));
    }
  }, [props.value]);
  const parse = (t: string): number | null => {
    if (t.trim() === '') return null;
    const v = Number(t);
    if (!Number.isFinite(v)) return null;
    if (props.integer && !Number.isInteger(v)) return null;
    if (props.min !== undefined && v < props.min) return null;
    if (props.max !== undefined && v > props.max) return null;
    return v;
  };
  const invalid = parse(text) === null;
  const rangeId = `${props.id ?? props.testId ?? 'n'}-range`;
  return (
    <>
    <input
      id={props.id}
      type="number"
      inputMode={props.integer ? 'numeric' : 'decimal'}
      step={props.step ?? (props.integer ? 1 : 'any')}
      min={props.min}
      max={props.max}
      value={text}
      aria-invalid={invalid}
      aria-describedby={invalid ? `${props.describedBy ?? ''} ${rangeId}`.trim() : props.describedBy}
      aria-label={props.label}
      data-testid={props.testId}
      data-option={props.option}
      onChange={(e) => {
        setText(e.target.value);
        const v = parse(e.target.value);
        if (v !== null) {
          committed.current = v;
          props.onCommit(v);
        }
      }}
      onBlur={() => {
        if (parse(text) === null) setText(String(props.value));
      }}
    />
    {invalid && (
      <span className="error small" id={rangeId} role="alert" data-testid={props.testId ? `${props.testId}-range` : undefined}>
        Allowed: {rangeWords(props)}; still using {props.value}.
      </span>
    )}
    </>
  );
}

export function ProgressBar(props: { value: number; max: number; label: string; testId?: string }) {
  const pct = props.max > 0 ? Math.min(100, Math.max(0, (100 * props.value) / props.max)) : 0;
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={props.max > 0 ? props.max : 100}
      aria-valuenow={props.max > 0 ? props.value : 0}
      data-testid={props.testId}
    >
      <div style={{ width: `${pct}%` }} />
    </div>
  );
}

const VERDICT_TEXT = { fits: 'Fits', tight: 'Tight', 'wont-fit': 'Will not fit' } as const;

/** Memory estimate of the chosen model and knobs against the GPU budget. */
export function MemoryCard(props: { compact?: boolean }) {
  const plan = usePlan();
  const budgetGiB = useStudio((s) => s.budgetGiB);
  const setBudget = useStudio((s) => s.setBudget);
  const budgetId = useId();
  if (!plan) return <p className="muted">Choose a model to see the memory estimate.</p>;
  if (!plan.estimate || !plan.fit) return <p className="alert" role="alert">{plan.error}</p>;
  const e = plan.estimate;
  const f = plan.fit;
  const parts: [string, number, string][] = [
    ['Base weights', e.baseWeights, 'var(--c1)'],
    ['LoRA + optimizer', e.lora, 'var(--c3)'],
    ['Activations', e.activations, 'var(--c2)'],
  ];
  const scale = Math.max(e.total, budgetGiB * 2 ** 30);
  return (
    <section aria-label="Memory estimate" data-testid="memory-card">
      <p>
        <span className={`verdict ${f.verdict}`} data-testid="memory-verdict">
          {VERDICT_TEXT[f.verdict]}
        </span>{' '}
        — <span data-testid="memory-total">{fmtBytes(e.total)}</span>: {f.reason}
      </p>
      <div className="bar" aria-hidden="true">
        {parts.map(([label, bytes, color]) => (
          <span key={label} title={`${label}: ${fmtBytes(bytes)}`} style={{ width: `${(100 * bytes) / scale}%`, background: color }} />
        ))}
      </div>
      <dl className="kv small">
        {parts.map(([label, bytes]) => (
          <FragmentKV key={label} k={label} v={fmtBytes(bytes)} />
        ))}
        <FragmentKV k="Trainable parameters" v={`${fmtParams(e.trainableParams)} (${fmtShare(e.trainableParams / e.modelParams)} of ${fmtParams(e.modelParams)})`} testId="trainable-params" />
        <FragmentKV k="Largest buffer" v={`${bufferWords(e.largestBuffer.label)}, ${fmtBytes(e.largestBuffer.bytes)}`} />
      </dl>
      {f.advice.length > 0 && (
        <>
          <p className="small">What would fit:</p>
          <ul className="small" data-testid="memory-advice">
            {f.advice.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </>
      )}
      {!props.compact && (
        <div className="field small" style={{ maxWidth: '22rem' }}>
          <label htmlFor={budgetId}>GPU memory budget (GiB)</label>
          <NumberInput id={budgetId} value={budgetGiB} min={0.25} onCommit={setBudget} describedBy={`${budgetId}-help`} />
          <span className="help" id={`${budgetId}-help`}>
            WebGPU does not tell pages how much memory the GPU has: enter your GPU&apos;s memory (or what you want runs to use).
          </span>
        </div>
      )}
    </section>
  );
}

function FragmentKV(props: { k: string; v: string; testId?: string }) {
  return (
    <>
      <dt>{props.k}</dt>
      <dd data-testid={props.testId}>{props.v}</dd>
    </>
  );
}

/** A drop target that is also a button opening a file picker (Enter / Space). */
export function DropZone(props: { label: string; onFiles: (files: File[], e: DragEvent | null) => void; openPicker: () => void; testId?: string; children?: ReactNode }) {
  const [over, setOver] = useState(false);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      props.openPicker();
    }
  };
  return (
    <div
      className={`dropzone${over ? ' over' : ''}`}
      role="button"
      tabIndex={0}
      aria-label={props.label}
      data-testid={props.testId}
      onClick={props.openPicker}
      onKeyDown={onKey}
      onDragEnter={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        props.onFiles([...e.dataTransfer.files], e);
      }}
    >
      {props.children ?? props.label}
    </div>
  );
}

/** The data formats the readers take, for a file picker's accept list. */
const DATA_FILE_ACCEPT = '.jsonl,.ndjson,.json,.csv,.tsv,.tab,.parquet,.txt,.text,.md';

/**
 * A drop zone for one data file with its hidden file picker (`${testId}-dropzone`, `${testId}-input`):
 * a dropped or chosen file goes to `onFile`; choosing the same file again fires again.
 */
export function DataFileDrop(props: { label: string; inputLabel: string; testId: string; onFile: (file: File) => void }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <DropZone label={props.label} testId={`${props.testId}-dropzone`} openPicker={() => input.current?.click()} onFiles={(files) => files[0] && props.onFile(files[0])}>
        {props.label}.
      </DropZone>
      <input
        ref={input}
        type="file"
        hidden
        accept={DATA_FILE_ACCEPT}
        aria-label={props.inputLabel}
        data-testid={`${props.testId}-input`}
        onChange={(e) => {
          const f = e.target.files?.[0];
          e.target.value = '';
          if (f) props.onFile(f);
        }}
      />
    </>
  );
}

/** A hidden folder picker (webkitdirectory): the chosen files with their paths inside the folder; open it with inputRef.current.click(). */
export function FolderInput(props: { inputRef: RefObject<HTMLInputElement | null>; label: string; testId: string; onEntries: (entries: { path: string; file: File }[]) => void }) {
  const { inputRef } = props;
  useEffect(() => {
    inputRef.current?.setAttribute('webkitdirectory', '');
    inputRef.current?.setAttribute('directory', '');
  }, [inputRef]);
  return (
    <input
      ref={inputRef}
      type="file"
      multiple
      hidden
      aria-label={props.label}
      data-testid={props.testId}
      onChange={(e) => {
        const files = [...(e.target.files ?? [])];
        e.target.value = '';
        props.onEntries(files.map((file) => ({ path: relPath(file), file })));
      }}
    />
  );
}

export function ErrorLine(props: { message: string | null; testId?: string }) {
  if (!props.message) return null;
  return (
    <p className="alert" role="alert" data-testid={props.testId}>
      {props.message}
    </p>
  );
}
