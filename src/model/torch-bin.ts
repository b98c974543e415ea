// PyTorch checkpoints (`pytorch_model.bin`, `adapter_model.bin`): the zip archive torch.save has
// written since PyTorch 1.6, read with range reads only. The archive holds `<archive>/data.pkl`
// (the state dict, read as data by ./pickle) and each storage's raw little-endian bytes as
// `<archive>/data/<key>`, stored uncompressed, so a tensor is one range read once the central
// directory is known. `<archive>` is whatever folder the archive uses (never assumed).
// Source format: torch/serialization.py (_save, _load) and caffe2/serialize/inline_container.cc.
// No Node or DOM APIs here.

import { parseStateDictPickle, type PickledTensor } from './pickle';
import type { SafetensorsDType } from './safetensors';
import { readStoredEntry, readZipDirectory, ZipError, type ReadPlan, type ZipEntry } from './zip';

/** One tensor of a PyTorch checkpoint: dtype, shape, and where its elements are. */
interface TorchBinTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** The view as pickled (storage, offset and stride in elements). */
  view: PickledTensor;
  /** The storage's zip entry. */
  entry: ZipEntry;
}

/** What open reads: the tensors in file order. */
interface TorchBinIndex {
  /** The archive's folder name inside the zip (e.g. 'pytorch_model' or 'archive'). */
  archive: string;
  tensors: Map<string, TorchBinTensor>;
  fileSize: number;
}

/** Dtypes whose bytes can be read (the others are listed, and refused when read). */
const READABLE_TORCH_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16'];

const PICKLE_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/** data.pkl of a 70B model is a few MB; larger is not a state dict. */
const MAX_PICKLE_ENTRY = 256 * 1024 * 1024;

function numelOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** True when the view is row-major contiguous (dims of size 1 may have any stride). */
function isContiguous(shape: number[], stride: number[]): boolean {
  let want = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== want) return false;
    want *= shape[i];
  }
  return true;
}

/**
 * Opens a PyTorch zip checkpoint of `fileSize` bytes: checks the magic bytes (refusing the legacy
 * pre-1.6 pickle format in one line), reads the zip directory, the byte order, and data.pkl (the
 * only part read whole), and checks that each tensor's view lies inside its storage entry.
 * Throws ZipError / PickleError with `label` (the file) in the message.
 */
export function* openTorchBin(fileSize: number, label: string): ReadPlan<TorchBinIndex> {
  const head = yield { begin: 0, end: Math.min(fileSize, 16) };
  if (head[0] === 0x80 && PICKLE_MAGIC.every((b, i) => i >= head.length || head[i] === b)) {
    throw new ZipError(
      `${label}: this is the legacy PyTorch checkpoint format (before PyTorch 1.6: a bare pickle stream, not a zip), which is not supported; ` +
        're-save it with PyTorch 1.6 or later (torch.save writes the zip format) or convert it to safetensors.',
    );
  }
  if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b || head[2] !== 0x03 || head[3] !== 0x04) {
    const hex = [...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ZipError(`${label}: not a PyTorch checkpoint: it starts with bytes ${hex || '(none)'}, not a zip archive ('PK'); re-download it, or give a safetensors file.`);
  }
  const entries = yield* readZipDirectory(fileSize, label);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new ZipError(
      `${label}: ${pkls.length ? `${pkls.length} archives (${pkls.join(', ')})` : 'no <archive>/data.pkl'} in the zip; a torch.save checkpoint holds exactly one: re-save it with torch.save(model.state_dict(), ...).`,
    );
  }
  const archive = pkls[0].slice(0, -'/data.pkl'.length);
  const order = entries.get(`${archive}/byteorder`);
  if (order && order.size <= 16) {
    const text = new TextDecoder().decode(yield* readStoredEntry(order, 0, order.size, fileSize, label)).trim();
    if (text !== 'little') throw new ZipError(`${label}: the storages are ${text}-endian; only little-endian checkpoints can be read: re-save it on a little-endian machine.`);
  }
  const pklEntry = entries.get(pkls[0])!;
  if (pklEntry.size > MAX_PICKLE_ENTRY) throw new ZipError(`${label}: data.pkl is ${pklEntry.size} bytes, more than a state dict's ${MAX_PICKLE_ENTRY}; refusing to read it.`);
  const views = parseStateDictPickle(yield* readStoredEntry(pklEntry, 0, pklEntry.size, fileSize, label), label);

  const tensors = new Map<string, TorchBinTensor>();
  for (const [name, view] of views) {
    const s = view.storage;
    const entry = entries.get(`${archive}/data/${s.key}`);
    const where = `tensor '${name}' (storage '${s.key}')`;
    if (!entry) throw new ZipError(`${label}: ${where}: the zip has no entry ${archive}/data/${s.key}; the checkpoint is damaged or incomplete: re-download it.`);
    if (entry.size < s.numel * s.itemBytes) {
      throw new ZipError(`${label}: ${where}: the storage entry holds ${entry.size} bytes but the pickle says ${s.numel} ${s.type} elements (${s.numel * s.itemBytes} bytes); the file is damaged: re-download it.`);
    }
    if (numelOf(view.shape) > 0) {
      const last = view.offset + view.shape.reduce((acc, n, i) => acc + (n - 1) * view.stride[i], 0);
      if (last >= s.numel) {
        throw new ZipError(
          `${label}: ${where}: the view (offset ${view.offset}, size [${view.shape.join(', ')}], stride [${view.stride.join(', ')}]) reaches element ${last} of a storage of ${s.numel}; the file is damaged: re-download it.`,
        );
      }
    }
    tensors.set(name, { name, dtype: s.dtype, shape: view.shape.slice(), view, entry });
  }
  return { archive, tensors, fileSize };
}

/**
 * A tensor's elements as row-major contiguous little-endian bytes (numel * itemBytes). A
 * contiguous view is one range read; a non-contiguous one (e.g. a transposed view) reads the span
 * of storage it covers and gathers the elements. Throws for dtypes other than F32, F16 and BF16.
 */
export function* readTorchBinTensor(index: TorchBinIndex, t: TorchBinTensor, label: string): ReadPlan<Uint8Array> {
  if (!READABLE_TORCH_DTYPES.includes(t.dtype)) {
    throw new ZipError(`${label}: tensor '${t.name}' is stored as torch.${t.view.storage.type} (${t.dtype}); only F32, F16 and BF16 tensors (Float, Half, BFloat16 storages) can be read.`);
  }
  const { offset, shape, stride, storage } = t.view;
  const isz = storage.itemBytes;
  const n = numelOf(shape);
  if (n === 0) return new Uint8Array(0);
  if (isContiguous(shape, stride)) {
    return yield* readStoredEntry(t.entry, offset * isz, (offset + n) * isz, index.fileSize, label);
  }
  const span = shape.reduce((acc, s, i) => acc + (s - 1) * stride[i], 0) + 1;
  const src = yield* readStoredEntry(t.entry, offset * isz, (offset + span) * isz, index.fileSize, label);
  const out = new Uint8Array(n * isz);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let from = 0;
  for (let o = 0; o < n; o++) {
    out.set(src.subarray(from * isz, (from + 1) * isz), o * isz);
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        from += stride[d];
        break;
      }
      from -= (shape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
  return out;
}
