// Playground slice: one prompt answered by the base model and by base + a chosen adapter, side by
// side, streamed token by token. Adapters of the same base switch without reloading the base.
import type { StateCreator } from 'zustand';
import type { AdapterRef } from '../worker/protocol';
import { FOLDER_PREFIX } from './adapters';
import { engine } from './engine';
import type { Studio } from './index';
import { runPromptFormat } from './runlogic';
import type { StreamState } from './types';

interface PlaygroundSettings {
  prompt: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  /** Run whose adapter answers, or an opened adapter folder ('folder:N'; null: the run trained last in this tab). */
  adapterId: string | null;
  /** One prompt answered once, or a multi-turn conversation in the chat template (./chat). */
  mode: 'single' | 'chat';
  /** 'run': wrap the prompt as that run's training data was (Alpaca prompt, chat turn); 'raw': as typed. */
  promptFormat: 'run' | 'raw';
}

export interface PlaygroundSlice {
  playground: PlaygroundSettings;
  base: StreamState;
  tuned: StreamState;
  playgroundError: string | null;
  /** The text both models were given (the prompt after formatting). */
  promptSeen: string | null;
  setPlayground(p: Partial<PlaygroundSettings>): void;
  generateBoth(): Promise<void>;
  /** Ends both answers after their current token. */
  stopGenerating(): Promise<void>;
  resetPlayground(): void;
}

const idle: StreamState = { text: '', status: 'idle', error: null };

export function playgroundProblem(p: PlaygroundSettings): string | null {
  if (!(p.temperature >= 0 && p.temperature <= 5)) return `temperature must be between 0 and 5 (got ${p.temperature}).`;
  if (!(p.topP > 0 && p.topP <= 1)) return `top-p must be in (0, 1] (got ${p.topP}).`;
  if (!(Number.isInteger(p.maxTokens) && p.maxTokens >= 1 && p.maxTokens <= 1024)) return `max tokens must be 1–1024 (got ${p.maxTokens}).`;
  if (!(Number.isInteger(p.seed) && p.seed >= 0)) return `seed must be a whole number ≥ 0 (got ${p.seed}).`;
  return null;
}

export const createPlaygroundSlice: StateCreator<Studio, [], [], PlaygroundSlice> = (set, get) => ({
  playground: { prompt: '', temperature: 0, topP: 0.9, maxTokens: 48, seed: 0, adapterId: null, promptFormat: 'run', mode: 'single' },
  base: idle,
  tuned: idle,
  playgroundError: null,
  promptSeen: null,

  setPlayground(p) {
    set((s) => ({ playground: { ...s.playground, ...p } }));
  },

  async generateBoth() {
    const s = get();
    if (!s.loaded) return set({ playgroundError: 'Load a model first (Model tab).' });
    if (s.activeRun) return set({ playgroundError: 'A run is training: the playground works once it has finished or been stopped.' });
    const p = s.playground;
    const problem = playgroundProblem(p);
    if (problem) return set({ playgroundError: problem });
    // Both answers see the same text: the prompt wrapped as the adapter's training data was (an
    // opened adapter folder's training data is unknown: as typed).
    const folder = p.adapterId?.startsWith(FOLDER_PREFIX) ?? false;
    const run0 = folder ? undefined : p.adapterId ? s.runs.find((r) => r.id === p.adapterId) : s.runs.find((r) => r.id === s.activeRun?.runId) ?? s.runs[0];
    const format = p.promptFormat === 'run' && run0 ? runPromptFormat(run0) : undefined;
    set({ playgroundError: null, promptSeen: null, base: { text: '', status: 'running', error: null }, tuned: { text: '', status: 'running', error: null } });
    let adapter: AdapterRef;
    try {
      adapter = await get().playgroundAdapterRef();
    } catch (e) {
      return set({ playgroundError: (e as Error).message, base: idle, tuned: idle });
    }
    const run = async (which: 'base' | 'tuned', ref: AdapterRef) => {
      const t0 = performance.now();
      try {
        const res = await engine().call(
          { type: 'generate', req: { prompt: p.prompt, adapter: ref, maxNewTokens: p.maxTokens, temperature: p.temperature, topP: p.topP, seed: p.seed, format } },
          (e) => {
            if (e.kind === 'token') set((st) => ({ [which]: { ...st[which], text: st[which].text + e.text } }) as Partial<Studio>);
          },
        );
        set({ [which]: { text: res.text, status: 'done', error: null, tokens: res.tokens, seconds: (performance.now() - t0) / 1000, stopped: res.stopped } } as Partial<Studio>);
        if (which === 'base') set({ promptSeen: res.prompt });
      } catch (e) {
        set((st) => ({ [which]: { ...st[which], status: 'error', error: (e as Error).message } }) as Partial<Studio>);
      }
    };
    await Promise.all([run('base', 'base'), run('tuned', adapter)]);
  },

  async stopGenerating() {
    try {
      await engine().call({ type: 'stopGenerate' });
    } catch (e) {
      set({ playgroundError: (e as Error).message });
    }
  },

  /** The model changed: answers, the conversation and opened adapter folders go (the worker freed their buffers). */
  resetPlayground() {
    set((s) => ({
      base: idle, tuned: idle, playgroundError: null, promptSeen: null,
      externalAdapters: [], adapterFolderError: null,
      playground: s.playground.adapterId?.startsWith(FOLDER_PREFIX) ? { ...s.playground, adapterId: null } : s.playground,
    }));
    get().clearChat();
  },
});
