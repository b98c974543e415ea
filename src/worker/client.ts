// The page side of the engine worker: promise-returning calls with event callbacks.
import type { EngineEvent, Reply, RequestMessage, RequestOf, RequestType, WorkerMessage } from './protocol';
import type { RunOption } from '../options';

/** An error the engine worker replied with: the message is in the studio's words; `option` is the setting it is about. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(message: string, readonly option?: RunOption) {
    super(message);
  }
}

/**
 * The page's handle on the engine worker: `call` posts one typed request (protocol.ts RequestMap)
 * with a fresh id and resolves with its reply, or rejects with an EngineError (the worker's message,
 * already in the studio's words, and the option it is about); events tagged with the request's id go
 * to its `onEvent`, untagged ones (device loss) to onGlobalEvent. Owns the Worker it is given or
 * creates (engine.worker.ts, a module worker).
 */
export class EngineClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; onEvent?: (e: EngineEvent) => void }>();
  /** Events not tied to a request (device loss). */
  onGlobalEvent: ((e: EngineEvent) => void) | null = null;

  constructor(worker?: Worker) {
    this.worker = worker ?? new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      const m = ev.data;
      const p = this.pending.get(m.id);
      if (m.type === 'event') {
        if (p?.onEvent) p.onEvent(m.event);
        else this.onGlobalEvent?.(m.event);
        return;
      }
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new EngineError(m.error, m.option));
    };
    this.worker.onerror = (ev) => {
      const err = new EngineError(`The engine worker failed: ${ev.message}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  /**
   * Sends one request; resolves with its reply (typed from RequestMap) or rejects with an
   * EngineError. `onEvent` receives the events the worker sends for this request before the reply.
   */
  call<K extends RequestType>(req: RequestOf<K>, onEvent?: (e: EngineEvent) => void): Promise<Reply<K>> {
    const id = this.nextId++;
    return new Promise<Reply<K>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
      const msg = { id, req } as RequestMessage;
      this.worker.postMessage(msg);
    });
  }

  terminate(): void {
    this.worker.terminate();
  }
}
