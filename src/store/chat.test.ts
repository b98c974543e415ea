// The chat playground's conversations: shared user turns, each side's own answers.
import { describe, expect, it } from 'vitest';
import { playgroundBusy, sideMessages, type ChatTurn } from './chat';
import type { StreamState } from './types';

const done = (text: string): StreamState => ({ text, status: 'done', error: null });
const turns: ChatTurn[] = [
  { user: 'Hi', base: done('base one'), tuned: done('tuned one') },
  { user: 'More', base: { text: '', status: 'running', error: null }, tuned: { text: '', status: 'running', error: null } },
];

describe('sideMessages', () => {
  it('the system prompt, then each user turn with that side\'s own earlier answers; the latest turn unanswered', () => {
    expect(sideMessages('Be brief.', turns, 'tuned')).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'tuned one' },
      { role: 'user', content: 'More' },
    ]);
    expect(sideMessages('  ', turns, 'base')).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'base one' },
      { role: 'user', content: 'More' },
    ]);
  });

  it('busy while either side of the latest turn is answering', () => {
    const idle: StreamState = { text: '', status: 'idle', error: null };
    expect(playgroundBusy({ base: idle, tuned: idle, chat: { system: '', input: '', turns, promptSeen: null, error: null } })).toBe(true);
    expect(playgroundBusy({ base: idle, tuned: idle, chat: { system: '', input: '', turns: turns.slice(0, 1), promptSeen: null, error: null } })).toBe(false);
  });
});
