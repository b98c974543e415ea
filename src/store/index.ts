// The studio's state: zustand slices for the model, dataset, knobs, the live run, the runs kept in
// IndexedDB, the playground and the UI. Panels read and write this store only; the store talks to
// the engine worker (./engine) and IndexedDB.
import { create } from 'zustand';
import { createAdaptersSlice, type AdaptersSlice } from './adapters';
import { createCalibrationSlice, type CalibrationSlice } from './calibration';
import { createChatSlice, type ChatSlice } from './chat';
import { createComparisonSlice, type ComparisonSlice } from './comparison';
import { createConfigSlice, type ConfigSlice } from './config';
import { createDatasetSlice, type DatasetSlice } from './dataset';
import { createEvalFileSlice, type EvalFileSlice } from './evalfile';
import { createExperimentSlice, type ExperimentSlice } from './experiment';
import { createModelSlice, type ModelSlice } from './model';
import { createPlaygroundSlice, type PlaygroundSlice } from './playground';
import { createPresetsSlice, type PresetsSlice } from './presets';
import { createRunSlice, type RunSlice } from './run';
import { createRunsSlice, type RunsSlice } from './runs';
import { createStorageSlice, type StorageSlice } from './storage';
import { createUiSlice, type UiSlice } from './ui';

export type Studio = ModelSlice & DatasetSlice & ConfigSlice & RunSlice & RunsSlice & PlaygroundSlice & ChatSlice & AdaptersSlice & UiSlice & StorageSlice & PresetsSlice & EvalFileSlice & CalibrationSlice & ExperimentSlice & ComparisonSlice;

export const useStudio = create<Studio>()((...a) => ({
  ...createModelSlice(...a),
  ...createDatasetSlice(...a),
  ...createConfigSlice(...a),
  ...createRunSlice(...a),
  ...createRunsSlice(...a),
  ...createPlaygroundSlice(...a),
  ...createChatSlice(...a),
  ...createAdaptersSlice(...a),
  ...createUiSlice(...a),
  ...createStorageSlice(...a),
  ...createPresetsSlice(...a),
  ...createEvalFileSlice(...a),
  ...createCalibrationSlice(...a),
  ...createExperimentSlice(...a),
  ...createComparisonSlice(...a),
}));
