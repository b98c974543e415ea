// Chat mode of the playground: a conversation with the base model and with base + adapter side
// by side. The user's messages go to both; each column shows that side's own answers. Everything
// is rendered as text.
import { useId } from 'react';
import { useStudio } from '../store';
import type { ChatTurn } from '../store/chat';
import type { StreamState } from '../store/types';
import { ErrorLine } from './controls';

function Side(props: { title: string; turns: ChatTurn[]; side: 'base' | 'tuned'; testId: string }) {
  const last = props.turns[props.turns.length - 1]?.[props.side];
  return (
    <section aria-label={props.title} aria-live="polite" aria-busy={last?.status === 'running'} data-testid={props.testId}>
      <h3>
        {props.title} {last?.status === 'running' && <span className="small muted">answering…</span>}
      </h3>
      {props.turns.length === 0 && <p className="muted small">No messages yet.</p>}
      {props.turns.map((t, i) => (
        <div key={i} className="chat-turn">
          <p className="small muted">You</p>
          <pre className="chat-user">{t.user}</pre>
          <p className="small muted">Model</p>
          <Reply s={t[props.side]} testId={`${props.testId}-answer-${i}`} />
        </div>
      ))}
    </section>
  );
}

function Reply(props: { s: StreamState; testId: string }) {
  const s = props.s;
  return (
    <>
      <pre className="chat-answer" data-testid={props.testId} data-status={s.status}>
        {s.text}
      </pre>
      {s.status === 'done' && s.tokens !== undefined && (
        <p className="small muted">
          {s.tokens} tokens{s.seconds ? ` in ${s.seconds.toFixed(1)} s` : ''}
          {s.stopped ? ' · stopped' : ''}
        </p>
      )}
      <ErrorLine message={s.error} />
    </>
  );
}

export function ChatPlayground(props: { busy: boolean; canSend: boolean; beforeSend: () => void }) {
  const chat = useStudio((s) => s.chat);
  const setChat = useStudio((s) => s.setChat);
  const send = useStudio((s) => s.sendChat);
  const clear = useStudio((s) => s.clearChat);
  const systemId = useId();
  const inputId = useId();
  const submit = () => {
    if (!props.canSend || props.busy || chat.input.trim() === '') return;
    props.beforeSend();
    void send();
  };
  return (
    <>
      <section className="panel" aria-label="Conversation">
        <div className="field">
          <label htmlFor={systemId}>System prompt (optional)</label>
          <textarea id={systemId} value={chat.system} onChange={(e) => setChat({ system: e.target.value })} data-testid="chat-system" aria-describedby={`${systemId}-h`} />
          <span className="help" id={`${systemId}-h`}>
            The first message of both conversations. Turns are written in the model&apos;s chat template, or ChatML when it has none (as chat data is trained).
          </span>
        </div>
        <div className="cols2">
          <Side title="Base model" turns={chat.turns} side="base" testId="chat-base" />
          <Side title="Base + adapter" turns={chat.turns} side="tuned" testId="chat-tuned" />
        </div>
        <div className="field">
          <label htmlFor={inputId}>Message</label>
          <textarea
            id={inputId}
            value={chat.input}
            onChange={(e) => setChat({ input: e.target.value })}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                submit();
              }
            }}
            data-testid="chat-input"
            aria-describedby={`${inputId}-h`}
          />
          <span className="help" id={`${inputId}-h`}>
            Enter sends to both models (Shift+Enter: a new line); each answers after its own conversation so far.
          </span>
        </div>
        <div className="row">
          <button type="button" className="primary" disabled={!props.canSend || props.busy || chat.input.trim() === ''} onClick={submit} data-testid="chat-send">
            Send
          </button>
          <button type="button" disabled={props.busy || chat.turns.length === 0} onClick={clear} data-testid="chat-clear">
            Clear conversation
          </button>
        </div>
        <ErrorLine message={chat.error} testId="chat-error" />
      </section>
      {chat.promptSeen && (
        <details className="panel">
          <summary>What each model was given for the latest message</summary>
          <div className="cols2">
            <pre className="stream" data-testid="chat-prompt-base">
              {chat.promptSeen.base ?? ''}
            </pre>
            <pre className="stream" data-testid="chat-prompt-tuned">
              {chat.promptSeen.tuned ?? ''}
            </pre>
          </div>
        </details>
      )}
    </>
  );
}
