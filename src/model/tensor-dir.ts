// A "tensor directory": the tensors of one checkpoint file, whatever its format (safetensors, or
// a PyTorch zip checkpoint), each with its dtype, shape and a way to read its bytes on demand.
// Checkpoint (./checkpoint) builds on it for single files and shards alike; adapters read small
// files whole with readTensorFile. No Node or DOM APIs here.

import {
  parseSafetensorsHeader,
  parseSafetensors,
  readHeaderLength,
  SafetensorsError,
  toF32,
  type SafetensorsDType,
  type SafetensorsHeader,
} from './safetensors';
import type { ModelSource } from './source';
import { openTorchBin, readTorchBinTensor } from './torch-bin';
import { runPlan, runPlanSync } from './zip';

/** One tensor of a checkpoint file. */
export interface DirTensor {
  name: string;
  /** The file in the model folder that holds it. */
  file: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Its elements as row-major contiguous little-endian bytes (numel * dtype bytes); reads only this tensor. */
  read(): Promise<Uint8Array>;
}

/** The tensors of one file (in file order) and its string metadata (safetensors __metadata__; {} for .bin). */
interface TensorDirectory {
  file: string;
  format: 'safetensors' | 'pytorch';
  tensors: Map<string, DirTensor>;
  metadata: Record<string, string>;
}

/** Bytes read in the first request for a safetensors header (most headers fit; a second request gets the rest). */
const FIRST_READ = 64 * 1024;

/** True for names of PyTorch pickle checkpoints (.bin, .pt, .pth); everything else is read as safetensors. */
function isTorchBinFile(file: string): boolean {
  return /\.(bin|pt|pth)$/i.test(file);
}

/** Reads and validates one safetensors file's header with at most two range reads. */
async function readSafetensorsHeader(src: ModelSource, file: string): Promise<SafetensorsHeader> {
  const label = `${src.name}/${file}`;
  const size = await src.size(file);
  if (size < 8) readHeaderLength(new Uint8Array(0), size, label); // throws "too short"
  const first = await src.range(file, 0, Math.min(size, FIRST_READ));
  const n = readHeaderLength(first.subarray(0, 8), size, label);
  const headerBytes = 8 + n <= first.length ? first.subarray(8, 8 + n) : await src.range(file, 8, 8 + n);
  return parseSafetensorsHeader(headerBytes, size, label);
}

async function safetensorsDirectory(src: ModelSource, file: string): Promise<TensorDirectory> {
  const header = await readSafetensorsHeader(src, file);
  const tensors = new Map<string, DirTensor>();
  for (const [name, t] of header.tensors) {
    tensors.set(name, {
      name, file, dtype: t.dtype, shape: t.shape,
      async read() {
        const bytes = await src.range(file, t.begin, t.end);
        if (bytes.length !== t.end - t.begin) {
          throw new SafetensorsError(`${src.name}/${file}: tensor '${name}': read ${bytes.length} of ${t.end - t.begin} bytes; the file changed or is truncated: re-download it.`);
        }
        return bytes;
      },
    });
  }
  return { file, format: 'safetensors', tensors, metadata: header.metadata };
}

async function torchBinDirectory(src: ModelSource, file: string): Promise<TensorDirectory> {
  const label = `${src.name}/${file}`;
  const read = (begin: number, end: number) => src.range(file, begin, end);
  const index = await runPlan(openTorchBin(await src.size(file), label), read, label);
  const tensors = new Map<string, DirTensor>();
  for (const [name, t] of index.tensors) {
    tensors.set(name, { name, file, dtype: t.dtype, shape: t.shape, read: () => runPlan(readTorchBinTensor(index, t, label), read, label) });
  }
  return { file, format: 'pytorch', tensors, metadata: {} };
}

/**
 * The tensor directory of one checkpoint file: a PyTorch zip checkpoint for .bin/.pt/.pth names,
 * safetensors otherwise. Reads only headers (safetensors) or the zip directory and data.pkl
 * (PyTorch), with range reads. Throws SafetensorsError, ZipError or PickleError naming the file.
 */
export function openTensorDirectory(src: ModelSource, file: string): Promise<TensorDirectory> {
  return isTorchBinFile(file) ? torchBinDirectory(src, file) : safetensorsDirectory(src, file);
}

/** A small tensor file held whole in memory (an adapter): names in file order, info, values as f32. */
export interface TensorFile {
  names(): string[];
  info(name: string): { dtype: SafetensorsDType; shape: number[] } | undefined;
  /** The tensor's values as f32; throws for dtypes that do not convert. */
  get(name: string): Float32Array;
}

/**
 * Reads a whole tensor file already in memory: a PyTorch zip checkpoint when it starts with 'PK'
 * or the pickle protocol byte 0x80 (legacy .bin, refused with one line), safetensors otherwise.
 * `fileName` names it in errors.
 */
export function readTensorFile(bytes: Uint8Array, fileName: string): TensorFile {
  const isZip = bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  if (!isZip && bytes[0] !== 0x80) {
    const st = parseSafetensors(bytes, fileName);
    return { names: () => [...st.header.tensors.keys()], info: (n) => st.header.tensors.get(n), get: (n) => st.get(n) };
  }
  const index = runPlanSync(openTorchBin(bytes.length, fileName), bytes, fileName);
  return {
    names: () => [...index.tensors.keys()],
    info: (n) => index.tensors.get(n),
    get(n) {
      const t = index.tensors.get(n);
      if (!t) throw new SafetensorsError(`${fileName}: no tensor '${n}'.`);
      return toF32(t.dtype, runPlanSync(readTorchBinTensor(index, t, fileName), bytes, fileName), `${fileName}: tensor '${n}'`);
    },
  };
}
