// UI slice: the open tab, the colour theme (kept in localStorage), and the control an error asks
// the user to change (its tab is opened and the control focused).
import type { StateCreator } from 'zustand';
import type { Studio } from './index';
import type { Tab } from './types';
import type { RunOption } from '../options';
import { OPTION_PLACE } from '../plan/knobs';

export type Theme = 'system' | 'light' | 'dark';

/** A control an error named: the option, the message to show beside it, and a counter so the same option can be focused again. */
interface FocusRequest {
  option: RunOption;
  message: string;
  nonce: number;
}

export interface UiSlice {
  tab: Tab;
  theme: Theme;
  focus: FocusRequest | null;
  setTab(tab: Tab): void;
  setTheme(theme: Theme): void;
  /** Opens the tab of the control for `option` and asks it to take the focus, with `message` shown there. */
  focusOption(option: RunOption, message: string): void;
  clearFocus(): void;
}

const THEME_KEY = 'lora-studio.theme';

function initialTheme(): Theme {
  const t = globalThis.localStorage?.getItem(THEME_KEY);
  return t === 'light' || t === 'dark' ? t : 'system';
}

let nonce = 0;

export const createUiSlice: StateCreator<Studio, [], [], UiSlice> = (set) => ({
  tab: 'model',
  theme: initialTheme(),
  focus: null,
  setTab(tab) {
    set({ tab });
  },
  setTheme(theme) {
    globalThis.localStorage?.setItem(THEME_KEY, theme);
    set({ theme });
  },
  focusOption(option, message) {
    set({ tab: OPTION_PLACE[option].tab, focus: { option, message, nonce: ++nonce } });
  },
  clearFocus() {
    set({ focus: null });
  },
});
