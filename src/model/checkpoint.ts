// A model checkpoint: safetensors (single file or sharded with model.safetensors.index.json) or a
// PyTorch pickle checkpoint (pytorch_model.bin, or sharded with pytorch_model.bin.index.json), read
// from a ModelSource tensor by tensor: only headers (or the zip directory and data.pkl) are read at
// open(), each tensor's bytes on demand. The formats meet in ./tensor-dir.

import { closeNames, toF32, type SafetensorsDType } from './safetensors';
import { ModelSourceError, normalizeModelPath, type ModelSource } from './source';
import { openTensorDirectory, type DirTensor } from './tensor-dir';


/** A tensor's entry in a Checkpoint: the weight file holding it, its stored dtype and shape (as stored: GPT-2's Conv1D weights are [in, out]). */
interface CheckpointTensor {
  name: string;
  file: string;
  dtype: SafetensorsDType;
  shape: number[];
}

/** Missing tensors, bad index files, folders without supported weights. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** transformers' file names (SAFE_WEIGHTS_NAME and friends in transformers/utils/__init__.py): single-file safetensors weights. */
const SAFE_WEIGHTS = 'model.safetensors';
/** Index of sharded safetensors weights (`weight_map`: tensor name → shard file). */
const SAFE_WEIGHTS_INDEX = 'model.safetensors.index.json';
/** Single-file PyTorch torch.save weights (a zip; see torch-bin.ts). */
const PT_WEIGHTS = 'pytorch_model.bin';
/** Index of sharded PyTorch weights. */
const PT_WEIGHTS_INDEX = 'pytorch_model.bin.index.json';

const CONVERT_HINT =
  'Only safetensors and PyTorch pytorch_model.bin checkpoints are supported. Convert it in Python with: ' +
  "from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained('IN_DIR').save_pretrained('OUT_DIR', safe_serialization=True) " +
  '(or use the https://huggingface.co/spaces/safetensors/convert Space for a Hub model).';

/**
 * The tensors of a model (or adapter) folder, over one file or an index with shards, in safetensors
 * or PyTorch .bin format, read tensor by tensor through range reads of a ModelSource. Lookups of a
 * missing tensor throw CheckpointError naming the files and the closest names.
 */
export class Checkpoint {
  private constructor(
    readonly src: ModelSource,
    /** The weight files, in order (one, or the shards). */
    readonly files: string[],
    private readonly tensors: Map<string, DirTensor>,
    /** __metadata__ of each file ({} for PyTorch .bin files). */
    readonly metadata: Map<string, Record<string, string>>,
    /** The weight files' format. */
    readonly format: 'safetensors' | 'pytorch',
  ) {}

  /**
   * The model's weights, preferring safetensors: model.safetensors, model.safetensors.index.json
   * + shards (weight_map), else pytorch_model.bin, pytorch_model.bin.index.json + shards. Validates
   * every file's header (safetensors) or zip directory and pickle (PyTorch, ./torch-bin), reading
   * only those bytes via range(). `file` opens another single file or index instead (e.g.
   * 'adapter_model.safetensors' or 'adapter_model.bin'). Throws CheckpointError when no weights are
   * found or the index does not match the shards; SafetensorsError, ZipError or PickleError for a
   * damaged or refused file.
   */
  static async open(src: ModelSource, file?: string): Promise<Checkpoint> {
    if (file !== undefined) {
      if (!(await src.has(file))) throw new CheckpointError(`${src.name}: no '${file}' found.`);
      return file.endsWith('.index.json') ? Checkpoint.openIndex(src, file) : Checkpoint.openFiles(src, [file], null);
    }
    if (await src.has(SAFE_WEIGHTS)) return Checkpoint.openFiles(src, [SAFE_WEIGHTS], null);
    if (await src.has(SAFE_WEIGHTS_INDEX)) return Checkpoint.openIndex(src, SAFE_WEIGHTS_INDEX);
    if (await src.has(PT_WEIGHTS)) return Checkpoint.openFiles(src, [PT_WEIGHTS], null);
    if (await src.has(PT_WEIGHTS_INDEX)) return Checkpoint.openIndex(src, PT_WEIGHTS_INDEX);

    const others = ['model.pt', 'consolidated.00.pth', 'tf_model.h5', 'flax_model.msgpack'];
    const found: string[] = [];
    for (const f of others) if (await src.has(f)) found.push(f);
    const wanted = `${SAFE_WEIGHTS}, ${SAFE_WEIGHTS_INDEX}, ${PT_WEIGHTS} or ${PT_WEIGHTS_INDEX}`;
    if (found.length) throw new CheckpointError(`${src.name}: found ${found.join(', ')} but no ${wanted}. ${CONVERT_HINT}`);
    const adapter = (await src.has('adapter_model.safetensors')) || (await src.has('adapter_model.bin'));
    throw new CheckpointError(
      `${src.name}: no ${wanted} found` +
        (adapter
          ? ': this looks like a LoRA adapter folder (adapter_model.safetensors or .bin); open the base model it was trained on instead.'
          : '. Check the folder or repo id (and the revision); the model must be in the Hugging Face format with safetensors or pytorch_model.bin weights.'),
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
    // The shards are in the format the index is named for: x.safetensors.index.json -> .safetensors.
    const ext = /(\.[A-Za-z0-9]+)\.index\.json$/.exec(indexFile)?.[1] ?? '.safetensors';
    const weightMap = new Map<string, string>();
    const dir = indexFile.includes('/') ? indexFile.slice(0, indexFile.lastIndexOf('/') + 1) : '';
    for (const [t, f] of Object.entries(wm as Record<string, unknown>)) {
      if (typeof f !== 'string' || !f.endsWith(ext)) {
        throw new CheckpointError(`${label}: weight_map entry '${t}' -> ${JSON.stringify(f)} is not a ${ext} file name; re-download the file.`);
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
    const tensors = new Map<string, DirTensor>();
    const metadata = new Map<string, Record<string, string>>();
    const dirs = await Promise.all(files.map((f) => openTensorDirectory(src, f)));
    files.forEach((file, i) => {
      metadata.set(file, dirs[i].metadata);
      for (const [name, t] of dirs[i].tensors) {
        if (weightMap) {
          // The index is authoritative: tensors it maps elsewhere (or not at all) are ignored.
          if (weightMap.get(name) !== file) continue;
        } else if (tensors.has(name)) {
          throw new CheckpointError(`${src.name}: tensor '${name}' appears in both ${tensors.get(name)!.file} and ${file}.`);
        }
        tensors.set(name, t);
      }
    });
    if (weightMap) {
      for (const [name, file] of weightMap) {
        if (!tensors.has(name)) {
          throw new CheckpointError(
            `${src.name}/${file}: tensor '${name}' is listed for this shard in the index but is not in the file; the shards and the index do not match: re-download them.`,
          );
        }
      }
    }
    const formats = new Set(dirs.map((d) => d.format));
    if (formats.size !== 1) throw new CheckpointError(`${src.name}: the shards ${files.join(', ')} mix safetensors and PyTorch files; re-download them.`);
    return new Checkpoint(src, files, tensors, metadata, dirs[0].format);
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.tensors.keys()].sort();
  }

  /** Whether the checkpoint holds a tensor of this exact name. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private get(name: string): DirTensor {
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

  /** The tensor's bytes: row-major contiguous, little-endian, numel * dtype bytes (one range read for safetensors and contiguous .bin views). */
  async readRaw(name: string): Promise<{ dtype: SafetensorsDType; shape: number[]; bytes: Uint8Array }> {
    const t = this.get(name);
    return { dtype: t.dtype, shape: t.shape.slice(), bytes: await t.read() };
  }

  /** The tensor's values as f32 (F32, F16, BF16 and the other convertible dtypes). */
  async readF32(name: string): Promise<Float32Array> {
    const { dtype, bytes } = await this.readRaw(name);
    return toF32(dtype, bytes, `${this.src.name}/${this.tensors.get(name)!.file}: tensor '${name}'`);
  }
}
