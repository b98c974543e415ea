// Saved settings: the knobs kept under a name in localStorage, loaded back, written to and read
// from JSON files; and "Copy as command": the `npm run train` line of the current knobs and data.
import type { StateCreator } from 'zustand';
import type { KnobName } from '../plan/knobs';
import { studioCommand } from './command';
import { saveBlob, slug } from './download';
import type { Studio } from './index';
import { parseSettings, settingsJson } from './settingsfile';

/** A set of knobs kept under a name. */
interface SavedSettings {
  name: string;
  json: string;
}

export interface PresetsSlice {
  savedSettings: SavedSettings[];
  /** The last thing done with saved settings or the command (a confirmation or a problem). */
  settingsMessage: { text: string; error: boolean } | null;
  saveSettings(name: string): void;
  loadSettings(name: string): void;
  deleteSettings(name: string): void;
  exportSettings(name: string): void;
  importSettings(file: File): Promise<void>;
  /** The `npm run train -- …` line of the current knobs, model and data. */
  commandLine(): string;
  copyCommand(): Promise<void>;
}

const KEY = 'lora-studio.savedSettings';

function readSaved(): SavedSettings[] {
  try {
    const v = JSON.parse(globalThis.localStorage?.getItem(KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is SavedSettings => typeof x?.name === 'string' && typeof x?.json === 'string') : [];
  } catch {
    return [];
  }
}

export const createPresetsSlice: StateCreator<Studio, [], [], PresetsSlice> = (set, get) => {
  const keep = (list: SavedSettings[], text: string) => {
    try {
      globalThis.localStorage?.setItem(KEY, JSON.stringify(list));
      set({ savedSettings: list, settingsMessage: { text, error: false } });
    } catch (e) {
      set({ settingsMessage: { text: `The settings could not be kept in this browser: ${(e as Error).message}`, error: true } });
    }
  };
  const put = (name: string, json: string, text: string) => keep([...get().savedSettings.filter((s) => s.name !== name), { name, json }].sort((a, b) => a.name.localeCompare(b.name)), text);
  return {
    savedSettings: readSaved(),
    settingsMessage: null,

    saveSettings(name) {
      const n = name.trim();
      if (!n) return set({ settingsMessage: { text: 'Give the settings a name to save them.', error: true } });
      const had = get().savedSettings.some((s) => s.name === n);
      put(n, settingsJson(n, get().knobs), had ? `Saved over “${n}”.` : `Saved as “${n}”.`);
    },

    loadSettings(name) {
      const s = get().savedSettings.find((x) => x.name === name);
      if (!s) return;
      try {
        const { knobs } = parseSettings(s.json, name);
        set({ knobs, touched: Object.keys(knobs) as KnobName[], settingsMessage: { text: `Loaded “${name}”.`, error: false } });
        get().onSeqLenChanged();
      } catch (e) {
        set({ settingsMessage: { text: (e as Error).message, error: true } });
      }
    },

    deleteSettings(name) {
      keep(get().savedSettings.filter((s) => s.name !== name), `Deleted “${name}”.`);
    },

    exportSettings(name) {
      const s = get().savedSettings.find((x) => x.name === name);
      if (!s) return;
      const file = `${slug(name)}.settings.json`;
      saveBlob(file, new Blob([s.json], { type: 'application/json' }));
      set({ settingsMessage: { text: `Download ready: ${file}.`, error: false } });
    },

    async importSettings(file) {
      try {
        const { name, knobs } = parseSettings(await file.text(), file.name);
        put(name, settingsJson(name, knobs), `Imported “${name}” from ${file.name}; load it to use it.`);
      } catch (e) {
        set({ settingsMessage: { text: (e as Error).message, error: true } });
      }
    },

    commandLine() {
      const s = get();
      const ds = s.dataset;
      return studioCommand({
        knobs: s.knobs, arch: (s.loaded?.spec ?? s.candidate.spec)?.arch ?? 'llama', choice: s.choice,
        data: { fileName: ds.file?.name ?? null, hub: ds.hub, options: ds.options }, evalFileName: s.evalFile.file?.name ?? null,
      });
    },

    async copyCommand() {
      const line = get().commandLine();
      try {
        await navigator.clipboard.writeText(line);
        set({ settingsMessage: { text: 'Copied the command: paste it in a terminal in the project folder.', error: false } });
      } catch {
        set({ settingsMessage: { text: 'The browser did not allow copying: select the command below and copy it.', error: true } });
      }
    },
  };
};
