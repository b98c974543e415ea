// The engine's browser host: a dedicated Web Worker holding one EngineSession (./session: the
// device, the model, the adapters, the run) over the browser's host (./browser-host). Each request
// message is answered by its handler (./handlers, typed from ./protocol's RequestMap) with one
// reply, or one error in the studio's words; events go out tagged with the request's id, and
// those of no request (device loss) with id 0.
/// <reference lib="webworker" />
import type { OptionError } from '../options';
import { studioMessage } from '../plan/knobs';
import { browserHost } from './browser-host';
import { handle } from './handlers';
import type { EngineEvent, RequestMessage, WorkerMessage } from './protocol';
import { EngineSession } from './session';

declare const self: DedicatedWorkerGlobalScope;

function post(m: WorkerMessage): void {
  self.postMessage(m);
}

const session = new EngineSession(browserHost(), (event) => post({ id: 0, type: 'event', event }));

self.onmessage = (ev: MessageEvent<RequestMessage>) => {
  const { id, req } = ev.data;
  const emit = (event: EngineEvent) => post({ id, type: 'event', event });
  // A handler that throws before its first await still answers with an error reply.
  Promise.resolve()
    .then(() => handle(session, req, emit))
    .then(
      (result) => post({ id, type: 'reply', ok: true, result }),
      (e: unknown) => post({ id, type: 'reply', ok: false, error: studioMessage(e), option: (e as OptionError | null)?.option }),
    );
};
