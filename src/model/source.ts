// Where model files come from: the ModelSource interface and its errors, files the user opened or
// dropped in the browser (Blob), or bytes held in memory. The Hugging Face Hub source is
// hub-source.ts (with hub-url.ts, hub-size.ts, hub-fetch.ts); a Node folder source lives in
// src/cli/fs-source.ts. No Node or DOM APIs here beyond Blob / TextDecoder.
import { OptionError } from '../options';

/**
 * Read access to a model (or adapter) folder: the Hub, Blobs picked in the page, files on disk or bytes
 * in memory. Files are named relative to the folder; offsets and sizes are bytes. Implementations
 * throw ModelSourceError for a missing file, a refused request or an invalid range.
 */
export interface ModelSource {
  /** For messages: a folder path, 'hf://org/name' etc. */
  readonly name: string;
  has(file: string): Promise<boolean>;
  text(file: string): Promise<string>;
  size(file: string): Promise<number>;
  /** Bytes [begin, end) of a file (large checkpoints are read tensor by tensor, never whole). */
  range(file: string, begin: number, end: number): Promise<Uint8Array>;
}

/**
 * A file that cannot be read from a ModelSource (missing, not found on the Hub, access refused, network
 * failure, invalid byte range); may point at the access token option.
 */
export class ModelSourceError extends OptionError {
  override name = 'ModelSourceError';
}

/** Throws unless 0 <= begin <= end (<= size when known) are integers. */
export function checkRange(srcName: string, file: string, begin: number, end: number, size?: number): void {
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin || (size !== undefined && end > size)) {
    throw new ModelSourceError(
      `${srcName}: invalid byte range [${begin}, ${end}) of '${file}'${size !== undefined ? ` (the file is ${size} bytes)` : ''}; ` +
        'the file may have changed while it was being read: reload the model.',
    );
  }
}

/** Normalizes a relative path inside a model folder; rejects absolute paths and '..'. */
export function normalizeModelPath(srcName: string, file: string): string {
  const p = file.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
  const parts = p.split('/');
  if (!p || p.startsWith('/') || /^[A-Za-z]:/.test(p) || parts.some((s) => s === '..' || s === '')) {
    throw new ModelSourceError(`${srcName}: '${file}' is not a valid file path inside the model folder (no absolute paths or '..').`);
  }
  return parts.filter((s) => s !== '.').join('/');
}

function listSome(files: Iterable<string>, max = 8): string {
  const all = [...files].sort();
  if (!all.length) return 'it holds no files';
  return `it holds ${all.slice(0, max).join(', ')}${all.length > max ? `, … (${all.length} files)` : ''}`;
}

// ---- in memory -----------------------------------------------------------------------------

/**
 * Whole files held in memory (tests, small models). Its reads throw ModelSourceError for a file it
 * does not hold or an invalid range.
 */
export function memorySource(name: string, files: Map<string, Uint8Array | string>): ModelSource {
  const map = new Map<string, Uint8Array | string>();
  for (const [k, v] of files) map.set(normalizeModelPath(name, k), v);
  const bytesCache = new Map<string, Uint8Array>();
  const get = (file: string): Uint8Array | string => {
    const v = map.get(normalizeModelPath(name, file));
    if (v === undefined) throw new ModelSourceError(`${name}: file '${file}' not found (${listSome(map.keys())}).`);
    return v;
  };
  const bytes = (file: string): Uint8Array => {
    const v = get(file);
    if (typeof v !== 'string') return v;
    let b = bytesCache.get(file);
    if (!b) bytesCache.set(file, (b = new TextEncoder().encode(v)));
    return b;
  };
  return {
    name,
    async has(file) {
      return map.has(normalizeModelPath(name, file));
    },
    async text(file) {
      const v = get(file);
      return typeof v === 'string' ? v : new TextDecoder().decode(v);
    },
    async size(file) {
      return bytes(file).length;
    },
    async range(file, begin, end) {
      const b = bytes(file);
      checkRange(name, file, begin, end, b.length);
      return b.slice(begin, end);
    },
  };
}

// ---- browser files -------------------------------------------------------------------------

/**
 * A folder the user opened or dropped in the browser: relative path -> File/Blob (the files' own
 * relative names, e.g. File.webkitRelativePath or File.name). A top folder common to every file is
 * stripped (repeatedly), so "stories260K/config.json" is found as "config.json".
 * Its reads throw ModelSourceError for a file not among those opened, a file that can no longer be
 * read (moved or changed), a short read or an invalid range.
 */
export function blobSource(name: string, files: Map<string, Blob>): ModelSource {
  let entries: [string[], Blob][] = [];
  for (const [k, blob] of files) entries.push([normalizeModelPath(name, k).split('/'), blob]);
  while (entries.length > 0 && entries.every(([p]) => p.length > 1 && p[0] === entries[0][0][0])) {
    entries = entries.map(([p, b]) => [p.slice(1), b]);
  }
  const map = new Map<string, Blob>(entries.map(([p, b]) => [p.join('/'), b]));
  const get = (file: string): Blob => {
    const b = map.get(normalizeModelPath(name, file));
    if (!b) throw new ModelSourceError(`${name}: file '${file}' not found among the files you opened (${listSome(map.keys())}).`);
    return b;
  };
  const read = async (file: string, blob: Blob): Promise<ArrayBuffer> => {
    try {
      return await blob.arrayBuffer();
    } catch (e) {
      throw new ModelSourceError(
        `${name}: could not read '${file}' (${(e as Error).message}); the file may have been moved or changed since it was opened: open the folder again.`,
      );
    }
  };
  return {
    name,
    async has(file) {
      return map.has(normalizeModelPath(name, file));
    },
    async text(file) {
      return new TextDecoder().decode(await read(file, get(file)));
    },
    async size(file) {
      return get(file).size;
    },
    async range(file, begin, end) {
      const blob = get(file);
      checkRange(name, file, begin, end, blob.size);
      const buf = await read(file, blob.slice(begin, end));
      if (buf.byteLength !== end - begin) {
        throw new ModelSourceError(`${name}: short read of '${file}' (${buf.byteLength} of ${end - begin} bytes); open the folder again.`);
      }
      return new Uint8Array(buf);
    },
  };
}
