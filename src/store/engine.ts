// The one engine worker of the page, created on first use (tests may install their own).
import { EngineClient } from '../worker/client';

let client: EngineClient | null = null;
const globalListeners = new Set<(e: Parameters<NonNullable<EngineClient['onGlobalEvent']>>[0]) => void>();

export function engine(): EngineClient {
  if (!client) {
    client = new EngineClient();
    client.onGlobalEvent = (e) => {
      for (const l of globalListeners) l(e);
    };
  }
  return client;
}

// The end-to-end tests reach the engine of the page under the dev server (never in a build).
if (import.meta.env.DEV) (globalThis as { __studioEngine?: () => EngineClient }).__studioEngine = engine;

/** Device-loss and other events not tied to a request. */
export function onEngineEvent(l: (e: Parameters<NonNullable<EngineClient['onGlobalEvent']>>[0]) => void): () => void {
  globalListeners.add(l);
  return () => globalListeners.delete(l);
}
