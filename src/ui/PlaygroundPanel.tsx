// Playground: the same prompt (or, in chat mode, the same conversation) answered by the base model
// and by base + adapter, side by side, streamed token by token; adapters of the loaded base (runs,
// or adapter folders opened here) switch without reloading it.
import { useId } from 'react';
import { useStudio } from '../store';
import { playgroundBusy } from '../store/chat';
import type { StreamState } from '../store/types';
import { AdapterPicker, useRunAdapters, useSelectedAdapter } from './AdapterPicker';
import { ChatPlayground } from './ChatPlayground';
import { ErrorLine, Field, NumberInput } from './controls';

function Answer(props: { title: string; s: StreamState; testId: string }) {
  return (
    <section aria-label={props.title} aria-live="polite" aria-busy={props.s.status === 'running'}>
      <h3>
        {props.title} {props.s.status === 'running' && <span className="small muted">generating…</span>}
      </h3>
      <pre className="stream" data-testid={props.testId} data-status={props.s.status}>
        {props.s.text}
      </pre>
      {props.s.status === 'done' && props.s.tokens !== undefined && props.s.seconds !== undefined && (
        <p className="small muted" data-testid={`${props.testId}-stats`}>
          {props.s.tokens} tokens in {props.s.seconds.toFixed(1)} s
          {props.s.tokens > 0 && props.s.seconds > 0 ? ` (${(props.s.tokens / props.s.seconds).toFixed(1)} tokens/s; both answers share the GPU)` : ''}
          {props.s.stopped ? ' · stopped' : ''}
        </p>
      )}
      <ErrorLine message={props.s.error} />
    </section>
  );
}

export function PlaygroundPanel() {
  const p = useStudio((s) => s.playground);
  const set = useStudio((s) => s.setPlayground);
  const generate = useStudio((s) => s.generateBoth);
  const stop = useStudio((s) => s.stopGenerating);
  const base = useStudio((s) => s.base);
  const tuned = useStudio((s) => s.tuned);
  const error = useStudio((s) => s.playgroundError);
  const loaded = useStudio((s) => s.loaded);
  const runs = useStudio((s) => s.runs);
  const activeRun = useStudio((s) => s.activeRun);
  const busy = useStudio(playgroundBusy);
  const promptId = useId();
  const modeName = useId();
  const adapters = useRunAdapters();
  const folders = useStudio((s) => s.externalAdapters);
  const selected = useSelectedAdapter();
  const selectedRun = runs.find((r) => r.id === selected);
  const promptSeen = useStudio((s) => s.promptSeen);
  const chat = p.mode === 'chat';
  const canGenerate = !!loaded && activeRun === null && adapters.length + folders.length > 0;
  /** The picker shows the first adapter until one is chosen: make that choice the store's. */
  const fixSelection = () => {
    if (!p.adapterId && selected) set({ adapterId: selected });
  };
  return (
    <div>
      <section className="panel" aria-labelledby="pg-h">
        <h2 id="pg-h">Playground</h2>
        {!loaded && <p className="muted">Load a model to try it.</p>}
        <div className="row" role="radiogroup" aria-label="Mode">
          {(['single', 'chat'] as const).map((m) => (
            <label key={m}>
              <input type="radio" name={modeName} value={m} checked={p.mode === m} disabled={busy} onChange={() => set({ mode: m })} data-testid={`pg-mode-${m}`} />{' '}
              {m === 'single' ? 'Single prompt' : 'Chat'}
            </label>
          ))}
        </div>
        {!chat && (
          <div className="field">
            <label htmlFor={promptId}>Prompt</label>
            <textarea id={promptId} value={p.prompt} onChange={(e) => set({ prompt: e.target.value })} data-testid="pg-prompt" aria-describedby={`${promptId}-h`} />
            <span className="help" id={`${promptId}-h`}>
              Empty: start from the beginning-of-text token alone.
            </span>
          </div>
        )}
        <div className="grid2">
          <AdapterPicker busy={busy} />
          {!chat && (
            <Field label="Prompt format" help="Instruction and chat adapters answer best when the prompt is wrapped as their training data was; both models get the same text.">
              {(id, h) => (
                <select id={id} value={p.promptFormat} aria-describedby={h} onChange={(e) => set({ promptFormat: e.target.value as 'run' | 'raw' })} data-testid="pg-format">
                  <option value="run">Like the adapter&apos;s training data ({selectedRun?.dataset.promptFormat ?? 'as typed'})</option>
                  <option value="raw">As typed</option>
                </select>
              )}
            </Field>
          )}
          <Field label="Temperature" help="0 = greedy (always the most likely token); higher is more varied.">
            {(id, h) => <NumberInput id={id} value={p.temperature} min={0} max={5} step={0.1} describedBy={h} onCommit={(v) => set({ temperature: v })} />}
          </Field>
          <Field label="Top-p" help="Sample only from the smallest set of tokens holding this much probability.">
            {(id, h) => <NumberInput id={id} value={p.topP} min={0.01} max={1} step={0.05} describedBy={h} onCommit={(v) => set({ topP: v })} />}
          </Field>
          <Field label="Max tokens" help="Length of each answer (generation also stops at the end-of-text token).">
            {(id, h) => <NumberInput id={id} value={p.maxTokens} integer min={1} max={1024} describedBy={h} onCommit={(v) => set({ maxTokens: v })} testId="pg-max-tokens" />}
          </Field>
          <Field label="Seed" help="Seeds sampling (with temperature > 0): same seed, same answer.">
            {(id, h) => <NumberInput id={id} value={p.seed} integer min={0} describedBy={h} onCommit={(v) => set({ seed: v })} />}
          </Field>
        </div>
        <div className="row" style={{ marginTop: '0.75rem' }}>
          {!chat && (
            <button
              type="button"
              className="primary"
              disabled={!canGenerate || busy}
              onClick={() => {
                fixSelection();
                void generate();
              }}
              data-testid="pg-generate"
            >
              Generate both
            </button>
          )}
          <button type="button" disabled={!busy} onClick={() => void stop()} data-testid="pg-stop">
            Stop
          </button>
          {activeRun && <span className="small muted">Available when the training run ends.</span>}
        </div>
        <ErrorLine message={error} />
      </section>
      {chat && <ChatPlayground busy={busy} canSend={canGenerate} beforeSend={fixSelection} />}
      {!chat && (
        <section className="panel cols2">
          <Answer title="Base model" s={base} testId="pg-base" />
          <Answer title="Base + adapter" s={tuned} testId="pg-tuned" />
        </section>
      )}
      {!chat && promptSeen !== null && (
        <details className="panel">
          <summary>What both models were given</summary>
          <pre className="stream" data-testid="pg-prompt-seen">
            {promptSeen === '' ? '(the beginning-of-text token alone)' : promptSeen}
          </pre>
        </details>
      )}
    </div>
  );
}
