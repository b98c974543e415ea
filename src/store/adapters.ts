// Adapter folders opened in the playground (PEFT / TRL / Unsloth / LLaMA-Factory): listed in the
// adapter picker beside the runs of the loaded base. The page keeps only the File handles; the
// worker holds an opened adapter's GPU buffers while it is the selected adapter: selecting
// another adapter frees them (selecting it again sends the files again, which is cheap: adapters
// are small) and loading another model forgets the folders altogether.
import type { StateCreator } from 'zustand';
import type { AdapterRef, ExternalAdapterInfo } from '../worker/protocol';
import { engine } from './engine';
import type { Studio } from './index';

/** Picker ids of opened adapter folders start with this (run ids never do). */
export const FOLDER_PREFIX = 'folder:';

interface ExternalAdapter {
  id: string;
  name: string;
  files: { path: string; file: File }[];
  /** What the worker found (rank, alpha, modules, base it was trained on). */
  info: ExternalAdapterInfo;
  /** Whether the worker holds its GPU buffers now (only while selected). */
  resident: boolean;
}

export interface AdaptersSlice {
  externalAdapters: ExternalAdapter[];
  /** Reading or checking an opened folder failed (one line: the folder and what to do). */
  adapterFolderError: string | null;
  openingAdapter: boolean;
  /** Reads an adapter folder's files onto the loaded base, lists it in the picker and selects it. */
  openAdapterFolder(entries: { path: string; file: File }[]): Promise<void>;
  /** Chooses the playground's adapter (a run id or an opened folder's id); frees a folder adapter left. */
  selectAdapter(id: string | null): Promise<void>;
  /** The engine's reference to the selected adapter, sending an opened folder to the worker again when its buffers were freed. */
  playgroundAdapterRef(): Promise<AdapterRef>;
}

let nextFolder = 1;

/** The folder's name: the first path part shared by every file ('adapter folder' for loose files). */
function folderName(entries: { path: string }[]): string {
  const top = entries[0].path.includes('/') ? entries[0].path.split('/')[0] : '';
  return top && entries.every((e) => e.path.startsWith(`${top}/`)) ? top : 'adapter folder';
}

export const createAdaptersSlice: StateCreator<Studio, [], [], AdaptersSlice> = (set, get) => {
  const load = async (id: string, name: string, files: ExternalAdapter['files']) =>
    engine().call({ type: 'loadExternalAdapter', id, name, files: files.map((f) => ({ path: f.path, file: f.file as Blob })) });

  /** Frees the GPU buffers of every resident folder adapter except `keep`. */
  const release = async (keep: string | null) => {
    const gone = get().externalAdapters.filter((a) => a.resident && a.id !== keep);
    if (gone.length === 0) return;
    set((s) => ({ externalAdapters: s.externalAdapters.map((a) => (gone.includes(a) ? { ...a, resident: false } : a)) }));
    await Promise.all(gone.map((a) => engine().call({ type: 'dropAdapter', runId: a.id }).catch(() => null)));
  };

  return {
    externalAdapters: [],
    adapterFolderError: null,
    openingAdapter: false,

    async openAdapterFolder(entries) {
      if (entries.length === 0) return;
      const name = folderName(entries);
      if (!get().loaded) return set({ adapterFolderError: `${name}: load the adapter's base model first (Model tab), then open the adapter folder.` });
      if (get().activeRun) return set({ adapterFolderError: `${name}: a run is training; open the adapter folder once it has finished or been stopped.` });
      const id = `${FOLDER_PREFIX}${nextFolder++}`;
      set({ openingAdapter: true, adapterFolderError: null });
      try {
        const info = await load(id, name, entries);
        set((s) => ({ externalAdapters: [...s.externalAdapters, { id, name, files: entries, info, resident: true }] }));
        await get().selectAdapter(id);
      } catch (e) {
        set({ adapterFolderError: (e as Error).message });
      } finally {
        set({ openingAdapter: false });
      }
    },

    async selectAdapter(id) {
      get().setPlayground({ adapterId: id });
      set({ adapterFolderError: null });
      await release(id);
      const a = get().externalAdapters.find((x) => x.id === id);
      if (a && !a.resident) {
        try {
          await get().playgroundAdapterRef();
        } catch (e) {
          set({ adapterFolderError: (e as Error).message });
        }
      }
    },

    async playgroundAdapterRef() {
      const id = get().playground.adapterId;
      if (!id) return 'trained';
      if (!id.startsWith(FOLDER_PREFIX)) return { runId: id };
      const a = get().externalAdapters.find((x) => x.id === id);
      if (!a) throw new Error('The adapter folder chosen is no longer open (another model was loaded): open it again.');
      if (!a.resident) {
        await load(a.id, a.name, a.files);
        set((s) => ({ externalAdapters: s.externalAdapters.map((x) => (x.id === id ? { ...x, resident: true } : x)) }));
      }
      return { external: id };
    },
  };
};
