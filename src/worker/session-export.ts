// Exports in an EngineSession: a run's adapter (PEFT files), the merged model (safetensors, dense or
// the QA-LoRA merge into the INT-N base) and GGUF. Files cross to the page as Blobs written part by
// part (the browser's blob storage spills to disk), so no copy of a whole model stays in memory.
import { adapterGgufFile, mergedGgufFile, type GgufExport } from '../export/gguf-model';
import { mergedModelFiles, readQuantizedLinears } from '../lora/merged';
import { exportAdapter as peftFiles, type AdapterTensors, type LoraHyper } from '../lora/peft';
import type { LinearModule } from '../model/modules';
import { isQalora, type QuantizedHost } from '../quant/formats';
import { adapterFilesOf, adapterFromFiles, runPlace } from '../train/resume';
import type { ExportedFile, RequestMap } from './protocol';
import type { Emit, EngineSession, Model } from './session';

type Req<K extends keyof RequestMap> = RequestMap[K]['req'];
type Rep<K extends keyof RequestMap> = Promise<RequestMap[K]['reply']>;

/**
 * Adapter tensors of a run for export: with `step` the kept checkpoint of that step (read through
 * the host's RunCheckpoints.loadAt, checksum verified); otherwise the adapter in memory, then the
 * run's newest saved checkpoint.
 */
async function runAdapter(s: EngineSession, runId: string | undefined, m: Model, step?: number): Promise<{ h: LoraHyper; modules: LinearModule[]; weights: Map<string, AdapterTensors>; baseModel: string }> {
  const id = runId ?? s.lastTrained;
  if (id === null || id === undefined) throw new Error('No adapter has been trained yet.');
  if (step !== undefined) return { ...adapterFromFiles(m.loaded.spec, await s.host.checkpoints.loadAt(id, step), runPlace(id)), baseModel: m.loaded.name };
  const a = s.adapters.get(id);
  if (a) return { h: a.hyper, modules: a.lora.modules, weights: await a.lora.tensors(), baseModel: a.baseModel };
  const ck = await s.host.checkpoints.load(id);
  if (!ck) throw new Error(`Run ${id} has no saved adapter.`);
  return { ...adapterFromFiles(m.loaded.spec, ck.files, runPlace(id)), baseModel: m.loaded.name };
}

/** Emits `export` progress at most every 200 ms (and at the end). */
function progress(emit: Emit): (done: number, total: number) => void {
  let lastReport = 0;
  return (done, total) => {
    const now = Date.now();
    if (done === total || now - lastReport > 200) {
      lastReport = now;
      emit({ kind: 'export', done, total });
    }
  };
}

/** A streamed file's chunks as one Blob. */
async function blobOf(write: (sink: (chunk: Uint8Array) => void | Promise<void>) => Promise<unknown>, type?: string): Promise<Blob> {
  const parts: Blob[] = [];
  await write((chunk) => {
    parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
  });
  return new Blob(parts, type ? { type } : undefined);
}

/**
 * The `exportAdapter` request: a run's saved adapter (the newest, or with `step` that checkpoint's)
 * needs no model; otherwise the one trained in memory.
 */
export async function exportAdapter(s: EngineSession, req: Req<'exportAdapter'>): Rep<'exportAdapter'> {
  if (req.step !== undefined && !req.runId) throw new Error('An export of a checkpoint names its run.');
  const ck = !req.runId ? undefined
    : req.step !== undefined ? { runId: req.runId, files: await s.host.checkpoints.loadAt(req.runId, req.step) }
      : await s.host.checkpoints.load(req.runId);
  let f: { configJson: string; safetensors: Uint8Array };
  if (ck) f = adapterFilesOf(ck.files, runPlace(ck.runId));
  else {
    const m = s.requireModel();
    const a = await runAdapter(s, req.runId, m, req.step);
    f = peftFiles(m.loaded.spec, a.h, a.modules, a.weights, a.baseModel);
  }
  return {
    files: [
      { name: 'adapter_config.json', data: new Blob([f.configJson], { type: 'application/json' }) },
      { name: 'adapter_model.safetensors', data: new Blob([f.safetensors as Uint8Array<ArrayBuffer>]) },
    ],
  };
}

/** The `exportMerged` request: base + adapter merged, written tensor by tensor into Blob parts. */
export async function exportMerged(s: EngineSession, req: Req<'exportMerged'>, emit: Emit): Rep<'exportMerged'> {
  const m = s.requireModel();
  const a = await runAdapter(s, req.runId, m, req.step);
  let quantized: { mode: string; groupSize: number; linears: Map<string, QuantizedHost> } | undefined;
  if (req.quantized) {
    // QA-LoRA: fold the adapter into the zero points of the loaded INT-N base (codes unchanged).
    const mode = m.loaded.weights.quant;
    if (!isQalora(mode)) throw new Error(`The base is loaded as ${mode}: a QA-LoRA merge needs it loaded as qalora-int4/3/2 with the run's group size.`);
    if (a.h.qaloraGroupSize !== m.groupSize) {
      throw new Error(`This adapter was trained ${a.h.qaloraGroupSize ? `with group size ${a.h.qaloraGroupSize}` : 'without QA-LoRA'}; the base is loaded with ${mode}, group size ${m.groupSize}.`);
    }
    const e = await s.getEngine();
    quantized = { mode, groupSize: m.groupSize, linears: await readQuantizedLinears(e.ctx, m.loaded) };
  }
  const merged = await mergedModelFiles(m.loaded, m.source, a, quantized, progress(emit));
  const files: ExportedFile[] = [...merged.files].map(([name, text]) => ({ name, data: new Blob([text], { type: name.endsWith('.json') ? 'application/json' : 'text/plain' }) }));
  files.push({ name: merged.weights.name, data: await blobOf((sink) => merged.weights.write(sink)) });
  return { files };
}

/** The `exportGguf` request: the adapter alone, or the merged model (a QA-LoRA run on its INT-N base: the exact merge, dequantized). */
export async function exportGguf(s: EngineSession, req: Req<'exportGguf'>, emit: Emit): Rep<'exportGguf'> {
  const m = s.requireModel();
  const a = await runAdapter(s, req.runId, m, req.step);
  const name = m.loaded.name.split('/').pop() || 'model';
  let out: GgufExport;
  if (req.what === 'adapter') out = adapterGgufFile(m.loaded.spec, a, { type: req.ggufType, name });
  else {
    const mode = m.loaded.weights.quant;
    const quantized = isQalora(mode) && a.h.qaloraGroupSize === m.groupSize
      ? { mode, groupSize: m.groupSize, linears: await readQuantizedLinears((await s.getEngine()).ctx, m.loaded) }
      : undefined;
    out = await mergedGgufFile(m.loaded, m.source, a, { type: req.ggufType, name, quantized }, progress(emit));
  }
  return { files: [{ name: out.file.name, data: await blobOf((sink) => out.file.write(sink), 'application/octet-stream') }], notes: out.notes };
}
