// Chat playground: a multi-turn conversation with the base model and with base + adapter side by
// side. The user turns are shared; each side keeps its own answers, so each side's next prompt is
// its own conversation so far, rendered by the worker with the chat template chat data trains with
// (the model's, else the built-in ChatML) and ended by its stop tokens.
import type { StateCreator } from 'zustand';
import type { ChatMessage } from '../data/shapes';
import type { AdapterRef } from '../worker/protocol';
import { engine } from './engine';
import type { Studio } from './index';
import { playgroundProblem } from './playground';
import type { StreamState } from './types';

export interface ChatTurn {
  /** What the user wrote (both sides get it). */
  user: string;
  base: StreamState;
  tuned: StreamState;
}

interface ChatState {
  /** Optional system prompt, the first message of both conversations ('' = none). */
  system: string;
  /** The message being written. */
  input: string;
  turns: ChatTurn[];
  /** The text each side was given for the latest turn (the rendered conversation). */
  promptSeen: { base: string | null; tuned: string | null } | null;
  error: string | null;
}

export interface ChatSlice {
  chat: ChatState;
  setChat(p: Partial<Pick<ChatState, 'system' | 'input'>>): void;
  /** Sends the message being written to both sides; each answers after its own conversation so far. */
  sendChat(): Promise<void>;
  /** Starts a new conversation (the system prompt stays). */
  clearChat(): void;
}

type Side = 'base' | 'tuned';

/** One side's conversation: the system prompt, then each turn's user message and that side's own answer. */
export function sideMessages(system: string, turns: ChatTurn[], side: Side): ChatMessage[] {
  const out: ChatMessage[] = system.trim() ? [{ role: 'system', content: system }] : [];
  turns.forEach((t, i) => {
    out.push({ role: 'user', content: t.user });
    if (i < turns.length - 1) out.push({ role: 'assistant', content: t[side].text });
  });
  return out;
}

/** Whether anything in the playground is generating (single prompt or chat). */
export function playgroundBusy(s: Pick<Studio, 'base' | 'tuned' | 'chat'>): boolean {
  const last = s.chat.turns[s.chat.turns.length - 1];
  return s.base.status === 'running' || s.tuned.status === 'running' || last?.base.status === 'running' || last?.tuned.status === 'running';
}

const running: StreamState = { text: '', status: 'running', error: null };

export const createChatSlice: StateCreator<Studio, [], [], ChatSlice> = (set, get) => {
  /** Updates one side of the latest turn. */
  const patch = (side: Side, f: (s: StreamState) => StreamState) =>
    set((st) => {
      const turns = st.chat.turns.slice();
      const i = turns.length - 1;
      if (i < 0) return {};
      turns[i] = { ...turns[i], [side]: f(turns[i][side]) };
      return { chat: { ...st.chat, turns } };
    });

  return {
    chat: { system: '', input: '', turns: [], promptSeen: null, error: null },

    setChat(p) {
      set((s) => ({ chat: { ...s.chat, ...p } }));
    },

    async sendChat() {
      const s = get();
      const fail = (error: string) => set((st) => ({ chat: { ...st.chat, error } }));
      if (!s.loaded) return fail('Load a model first (Model tab).');
      if (s.activeRun) return fail('A run is training: the playground works once it has finished or been stopped.');
      if (playgroundBusy(s)) return fail('The models are still answering: wait for them, or press Stop.');
      const problem = playgroundProblem(s.playground);
      if (problem) return fail(problem);
      const user = s.chat.input;
      if (user.trim() === '') return fail('Write a message first.');
      let adapter: AdapterRef;
      try {
        adapter = await get().playgroundAdapterRef();
      } catch (e) {
        return fail((e as Error).message);
      }
      const p = get().playground;
      const turns = [...get().chat.turns, { user, base: running, tuned: running }];
      const system = get().chat.system;
      set((st) => ({ chat: { ...st.chat, input: '', turns, error: null, promptSeen: { base: null, tuned: null } } }));
      const answer = async (side: Side, ref: AdapterRef) => {
        const t0 = performance.now();
        try {
          const res = await engine().call(
            { type: 'generate', req: { prompt: '', messages: sideMessages(system, turns, side), adapter: ref, maxNewTokens: p.maxTokens, temperature: p.temperature, topP: p.topP, seed: p.seed } },
            (e) => {
              if (e.kind === 'token') patch(side, (x) => ({ ...x, text: x.text + e.text }));
            },
          );
          patch(side, () => ({ text: res.text, status: 'done', error: null, tokens: res.tokens, seconds: (performance.now() - t0) / 1000, stopped: res.stopped }));
          set((st) => ({ chat: { ...st.chat, promptSeen: { ...(st.chat.promptSeen ?? { base: null, tuned: null }), [side]: res.prompt } } }));
        } catch (e) {
          patch(side, (x) => ({ ...x, status: 'error', error: (e as Error).message }));
        }
      };
      await Promise.all([answer('base', 'base'), answer('tuned', adapter)]);
    },

    clearChat() {
      set((s) => ({ chat: { ...s.chat, input: '', turns: [], promptSeen: null, error: null } }));
    },
  };
};
