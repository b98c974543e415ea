// The studio worker's SessionHost: WebGPU from the worker's navigator, the shaders bundled by Vite,
// Hub files through the model cache (./cache: progress over the whole download, storage-full
// events), opened folders as Blobs, Hub datasets (./hubdata) and checkpoints in IndexedDB (./storage).
/// <reference lib="webworker" />
import { hubSource } from '../model/hub-source';
import { blobSource, type ModelSource } from '../model/source';
import { cachingFetch, clearCachedFiles, DownloadTotals, listCachedFiles } from './cache';
import { hubDatasetInput, listHubDataset } from './hubdata';
import type { ModelSourceSpec } from './protocol';
import { isQuotaError } from './quota';
import type { Emit, SessionHost } from './session';
import { browserShaderLibrary } from './shaders';
import { idbCheckpoints } from './storage';

declare const self: DedicatedWorkerGlobalScope;

/** A Hub model read through the Cache API, with `load` download events summed over all its files. */
function hubModel(spec: Extract<ModelSourceSpec, { kind: 'hub' }>, emit: Emit): ModelSource {
  const totals = new DownloadTotals();
  return hubSource(spec.repo, {
    revision: spec.revision || undefined,
    token: spec.token || undefined,
    fetch: cachingFetch((p) => emit({ kind: 'load', stage: 'download', ...totals.update(p), detail: p.file }), undefined, (file, err) => {
      if (isQuotaError(err)) emit({ kind: 'storageFull', what: 'models', file });
    }),
  });
}

/** The SessionHost of the engine worker. */
export function browserHost(): SessionHost {
  return {
    gpu() {
      if (!self.navigator.gpu) {
        throw new Error('WebGPU is not available in this browser\'s workers (navigator.gpu is missing): use Chrome or Edge 113+ over https or localhost.');
      }
      return self.navigator.gpu;
    },
    shaders: browserShaderLibrary,
    modelSource(spec, emit) {
      if (spec.kind === 'files') {
        if (spec.files.length === 0) throw new Error('No files were given: open the model folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json).');
        return blobSource(spec.name, new Map(spec.files.map((f) => [f.path, f.file])));
      }
      return hubModel(spec, emit);
    },
    hubDataset: hubDatasetInput,
    listHubDataset,
    cacheList: listCachedFiles,
    cacheClear: clearCachedFiles,
    checkpoints: idbCheckpoints,
  };
}
