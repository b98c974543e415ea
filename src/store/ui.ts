// UI slice: the open tab and the colour theme (kept in localStorage).
import type { StateCreator } from 'zustand';
import type { Studio } from './index';
import type { Tab } from './types';

export type Theme = 'system' | 'light' | 'dark';

export interface UiSlice {
  tab: Tab;
  theme: Theme;
  setTab(tab: Tab): void;
  setTheme(theme: Theme): void;
}

const THEME_KEY = 'lora-studio.theme';

function initialTheme(): Theme {
  const t = globalThis.localStorage?.getItem(THEME_KEY);
  return t === 'light' || t === 'dark' ? t : 'system';
}

export const createUiSlice: StateCreator<Studio, [], [], UiSlice> = (set) => ({
  tab: 'model',
  theme: initialTheme(),
  setTab(tab) {
    set({ tab });
  },
  setTheme(theme) {
    globalThis.localStorage?.setItem(THEME_KEY, theme);
    set({ theme });
  },
});
