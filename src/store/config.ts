// Config slice: the training knobs. Loading or choosing a model applies that model's defaults to
// every knob the user has not changed.
import type { StateCreator } from 'zustand';
import type { ModelSpec } from '../model/config';
import { adaptKinds, defaultKnobs, presetKinds, type KnobName, type Knobs, type TargetPreset } from '../plan/knobs';
import type { Studio } from './index';

export interface ConfigSlice {
  knobs: Knobs;
  touched: KnobName[];
  setKnob<K extends KnobName>(name: K, value: Knobs[K]): void;
  applyPreset(preset: TargetPreset, withHead: boolean): void;
  toggleKind(kind: string, on: boolean): void;
  applyModelDefaults(spec: ModelSpec): void;
  resetKnobs(): void;
}

export const createConfigSlice: StateCreator<Studio, [], [], ConfigSlice> = (set, get) => ({
  knobs: defaultKnobs(null),
  touched: [],

  setKnob(name, value) {
    set((s) => ({ knobs: { ...s.knobs, [name]: value }, touched: s.touched.includes(name) ? s.touched : [...s.touched, name] }));
    if (name === 'seqLen') get().onSeqLenChanged();
    if (get().focus) get().clearFocus();
  },

  applyPreset(preset, withHead) {
    const arch = get().candidate.spec?.arch ?? 'llama';
    get().setKnob('targetModules', presetKinds(preset, arch, withHead));
  },

  toggleKind(kind, on) {
    const cur = get().knobs.targetModules;
    get().setKnob('targetModules', on ? [...new Set([...cur, kind])] : cur.filter((k) => k !== kind));
  },

  applyModelDefaults(spec) {
    const d = defaultKnobs(spec);
    set((s) => {
      const knobs = { ...s.knobs };
      for (const k of Object.keys(d) as KnobName[]) if (!s.touched.includes(k)) (knobs as Record<KnobName, unknown>)[k] = d[k];
      knobs.targetModules = adaptKinds(knobs.targetModules, spec.arch);
      if (knobs.seqLen > spec.maxT) knobs.seqLen = spec.maxT;
      return { knobs };
    });
  },

  resetKnobs() {
    set({ knobs: defaultKnobs(get().candidate.spec), touched: [] });
    get().onSeqLenChanged();
  },
});
