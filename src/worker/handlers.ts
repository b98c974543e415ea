// The engine worker's handler table: one line per request of RequestMap, typed so that each
// handler must return its request's reply. The worker (./engine.worker.ts) looks the request's
// type up here; Node tests call the same table on an EngineSession driven by Dawn.
import type { Reply, RequestMap, RequestOf, RequestType } from './protocol';
import type { Emit, EngineSession } from './session';
import { preemptingCalibration } from './session-calibrate';

/** A handler: the session, the request (with its type), and the emit of the request's events. */
type Handler<K extends RequestType> = (s: EngineSession, req: RequestOf<K>, emit: Emit) => Promise<Reply<K>>;

/** Every request's handler; adding a request to RequestMap without a line here is a compile error. */
const handlers: { [K in keyof RequestMap]: Handler<K> } = {
  init: (s) => s.init(),
  loadModel: (s, r, emit) => s.loadModel(r, emit),
  fetchConfig: (s, r, emit) => s.fetchConfig(r, emit),
  cacheList: (s) => s.cacheList(),
  cacheClear: (s, r) => s.cacheClear(r),
  listHubDataset: (s, r) => s.listHubDataset(r),
  prepareDataset: (s, r, emit) => s.prepareDataset(r, emit),
  heldOutPrompts: (s, r) => s.heldOutPrompts(r),
  train: (s, r, emit) => s.train(r, emit),
  calibrate: (s, r) => s.calibrate(r),
  stopCalibration: (s) => s.stopCalibration(),
  pause: (s) => s.pause(),
  resume: (s) => s.resume(),
  stop: (s) => s.stop(),
  generate: (s, r, emit) => s.generate(r, emit),
  stopGenerate: (s) => s.stopGenerate(),
  exportAdapter: (s, r) => s.exportAdapter(r),
  exportMerged: (s, r, emit) => s.exportMerged(r, emit),
  exportGguf: (s, r, emit) => s.exportGguf(r, emit),
  dropAdapter: (s, r) => s.dropAdapter(r),
  loadExternalAdapter: (s, r) => s.loadExternalAdapter(r),
  simulateDeviceLoss: (s) => s.simulateDeviceLoss(),
};

/** Answers one request with its handler (the request's type picks it). */
export function handle<K extends RequestType>(s: EngineSession, req: RequestOf<K>, emit: Emit): Promise<Reply<K>> {
  const h = handlers[req.type] as Handler<K> | undefined;
  if (!h) return Promise.reject(new Error(`The engine does not know the request '${String(req.type)}': reload the page.`));
  return preemptingCalibration(s, req.type, () => h(s, req, emit));
}
