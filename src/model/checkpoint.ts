// A safetensors checkpoint (single file or sharded with model.safetensors.index.json), read from a
// ModelSource tensor by tensor: only the headers are read at open(), each tensor's bytes on demand.

import {
  closeNames,
  parseSafetensorsHeader,
  readHeaderLength,
  SafetensorsError,
  toF32,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorInfo,
} from './safetensors';
import { ModelSourceError, normalizeModelPath, type ModelSource } from './source';

export interface CheckpointTensor {
  name: string;
  file: string;
  dtype: SafetensorsDType;
  shape: number[];
}

/** Missing tensors, bad index files, folders without safetensors weights. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export const SAFE_WEIGHTS = 'model.safetensors';
export const SAFE_WEIGHTS_INDEX = 'model.safetensors.index.json';

/** Bytes read in the first request for a header (most headers fit; a second request gets the rest). */
const FIRST_READ = 64 * 1024;

const CONVERT_HINT =
  'Only safetensors checkpoints are supported. Convert it in Python with: ' +
  "from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained('IN_DIR').save_pretrained('OUT_DIR', safe_serialization=True) " +
  '(or use the https://huggingface.co/spaces/safetensors/convert Space for a Hub model).';

/** Reads and validates one safetensors file's header with at most two range reads. */
export async function readSafetensorsHeader(src: ModelSource, file: string): Promise<SafetensorsHeader> {
  const label = `${src.name}/${file}`;
  const size = await src.size(file);
  if (size < 8) readHeaderLength(new Uint8Array(0), size, label); // throws "too short"
  const first = await src.range(file, 0, Math.min(size, FIRST_READ));
  const n = readHeaderLength(first.subarray(0, 8), size, label);
  const headerBytes = 8 + n <= first.length ? first.subarray(8, 8 + n) : await src.range(file, 8, 8 + n);
  return parseSafetensorsHeader(headerBytes, size, label);
}

export class Checkpoint {
  private constructor(
    readonly src: ModelSource,
    /** The safetensors files, in order (one, or the shards). */
    readonly files: string[],
    private readonly tensors: Map<string, TensorInfo & { file: string }>,
    /** __metadata__ of each file. */
    readonly metadata: Map<string, Record<string, string>>,
  ) {}

  /**
   * model.safetensors, or model.safetensors.index.json + shards (weight_map); validates every shard
   * header (reading only the header bytes via range()). `file` opens another single file or index
   * instead (e.g. 'adapter_model.safetensors').
   */
  static async open(src: ModelSource, file?: string): Promise<Checkpoint> {
    if (file !== undefined) {
      if (!(await src.has(file))) throw new CheckpointError(`${src.name}: no '${file}' found.`);
      return file.endsWith('.index.json') ? Checkpoint.openIndex(src, file) : Checkpoint.openFiles(src, [file], null);
    }
    if (await src.has(SAFE_WEIGHTS)) return Checkpoint.openFiles(src, [SAFE_WEIGHTS], null);
    if (await src.has(SAFE_WEIGHTS_INDEX)) return Checkpoint.openIndex(src, SAFE_WEIGHTS_INDEX);

    const others = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'consolidated.00.pth', 'tf_model.h5', 'flax_model.msgpack'];
    const found: string[] = [];
    for (const f of others) if (await src.has(f)) found.push(f);
    if (found.length) {
      throw new CheckpointError(`${src.name}: found ${found.join(', ')} but no ${SAFE_WEIGHTS} or ${SAFE_WEIGHTS_INDEX}. ${CONVERT_HINT}`);
    }
    const adapter = await src.has('adapter_model.safetensors');
    throw new CheckpointError(
      `${src.name}: no ${SAFE_WEIGHTS} or ${SAFE_WEIGHTS_INDEX} found` +
        (adapter
          ? ': this looks like a LoRA adapter folder (adapter_model.safetensors); open the base model it was trained on instead.'
          : '. Check the folder or repo id (and the revision); the model must be in the Hugging Face format with safetensors weights.'),
    );
  }

  private static async openIndex(src: ModelSource, indexFile: string): Promise<Checkpoint> {
    const label = `${src.name}/${indexFile}`;
    let index: unknown;
    try {
      index = JSON.parse(await src.text(indexFile));
    } catch (e) {
      if (e instanceof ModelSourceError) throw e;
      throw new CheckpointError(`${label}: not valid JSON (${(e as Error).message}); re-download the file.`);
    }
    const wm = (index as { weight_map?: unknown } | null)?.weight_map;
    if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) {
      throw new CheckpointError(`${label}: no "weight_map" object (tensor name -> shard file); re-download the file.`);
    }
    const weightMap = new Map<string, string>();
    const dir = indexFile.includes('/') ? indexFile.slice(0, indexFile.lastIndexOf('/') + 1) : '';
    for (const [t, f] of Object.entries(wm as Record<string, unknown>)) {
      if (typeof f !== 'string' || !f.endsWith('.safetensors')) {
        throw new CheckpointError(`${label}: weight_map entry '${t}' -> ${JSON.stringify(f)} is not a .safetensors file name; re-download the file.`);
      }
      let shard: string;
      try {
        shard = normalizeModelPath(src.name, dir + f);
      } catch {
        throw new CheckpointError(`${label}: weight_map entry '${t}' -> '${f}' is not a file inside the model folder.`);
      }
      weightMap.set(t, shard);
    }
    if (weightMap.size === 0) throw new CheckpointError(`${label}: the weight_map is empty; re-download the file.`);
    const shards = [...new Set(weightMap.values())].sort();
    for (const s of shards) {
      if (!(await src.has(s))) {
        throw new CheckpointError(`${src.name}: shard '${s}' listed in ${indexFile} is missing; download all ${shards.length} shards (${shards.join(', ')}).`);
      }
    }
    return Checkpoint.openFiles(src, shards, weightMap);
  }

  private static async openFiles(src: ModelSource, files: string[], weightMap: Map<string, string> | null): Promise<Checkpoint> {
    const tensors = new Map<string, TensorInfo & { file: string }>();
    const metadata = new Map<string, Record<string, string>>();
    const headers = await Promise.all(files.map((f) => readSafetensorsHeader(src, f)));
    files.forEach((file, i) => {
      metadata.set(file, headers[i].metadata);
      for (const [name, info] of headers[i].tensors) {
        if (weightMap) {
          // The index is authoritative: tensors it maps elsewhere (or not at all) are ignored.
          if (weightMap.get(name) !== file) continue;
        } else if (tensors.has(name)) {
          throw new CheckpointError(`${src.name}: tensor '${name}' appears in both ${tensors.get(name)!.file} and ${file}.`);
        }
        tensors.set(name, { ...info, file });
      }
    });
    if (weightMap) {
      for (const [name, file] of weightMap) {
        if (!tensors.has(name)) {
          throw new CheckpointError(
            `${src.name}/${file}: tensor '${name}' is listed for this shard in the index but is not in its header; the shards and the index do not match: re-download them.`,
          );
        }
      }
    }
    return new Checkpoint(src, files, tensors, metadata);
  }

  names(): string[] {
    return [...this.tensors.keys()].sort();
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private get(name: string): TensorInfo & { file: string } {
    const t = this.tensors.get(name);
    if (t) return t;
    const near = closeNames(name, this.tensors.keys());
    throw new CheckpointError(
      `${this.src.name}: no tensor '${name}' in ${this.files.join(', ')}` +
        (near.length ? `; the closest names are: ${near.join(', ')}.` : ' (the checkpoint holds no tensors).') +
        ' The checkpoint may be for a different architecture or use a different naming.',
    );
  }

  /** Throws a clear error naming the file and listing a few close names. */
  info(name: string): CheckpointTensor {
    const t = this.get(name);
    return { name, file: t.file, dtype: t.dtype, shape: t.shape.slice() };
  }

  async readRaw(name: string): Promise<{ dtype: SafetensorsDType; shape: number[]; bytes: Uint8Array }> {
    const t = this.get(name);
    const bytes = await this.src.range(t.file, t.begin, t.end);
    if (bytes.length !== t.end - t.begin) {
      throw new SafetensorsError(`${this.src.name}/${t.file}: tensor '${name}': read ${bytes.length} of ${t.end - t.begin} bytes; the file changed or is truncated: re-download it.`);
    }
    return { dtype: t.dtype, shape: t.shape.slice(), bytes };
  }

  async readF32(name: string): Promise<Float32Array> {
    const { dtype, bytes } = await this.readRaw(name);
    return toF32(dtype, bytes, `${this.src.name}/${this.tensors.get(name)!.file}: tensor '${name}'`);
  }
}
