// Where model files come from: the Hugging Face Hub (HTTP, range requests), files the user opened
// or dropped in the browser (Blob), or bytes held in memory. A Node folder source lives in
// src/cli/fs-source.ts. No Node or DOM APIs here beyond fetch / Blob / TextDecoder.
import { HUB_ENDPOINT } from '../hosts';
import { OptionError, opt } from '../options';

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

// ---- Hugging Face Hub ----------------------------------------------------------------------

/** Options of hubSource: revision (default main), access token, endpoint, repo type, fetch, and progress. */
export interface HubOptions {
  revision?: string;
  token?: string;
  /** Default HUB_ENDPOINT (https://huggingface.co). */
  endpoint?: string;
  /** A model repo (default) or a dataset repo (URLs under /datasets/, messages say "dataset"). */
  repoType?: 'model' | 'dataset';
  fetch?: typeof fetch;
  /** Bytes received per request: `total` is the bytes this request asked for (the range, or the whole file for text()). */
  onProgress?: (p: { file: string; loaded: number; total: number }) => void;
}

const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;

/**
 * Validates "org/name" (or a legacy single "name"); accepts a leading "hf://". Returns the id.
 * Throws ModelSourceError for anything else.
 */
export function parseRepoId(repo: string): string {
  const id = repo.trim().replace(/^hf:\/\//, '');
  const parts = id.split('/');
  const ok = parts.length >= 1 && parts.length <= 2 && parts.every((p) => REPO_PART.test(p) && !p.includes('--') && !p.includes('..'));
  if (!ok) {
    throw new ModelSourceError(
      `'${repo}' is not a valid Hugging Face repo id: expected 'org/name' (letters, digits, '-', '_', '.'), for example 'karpathy/tinyllamas'.`,
    );
  }
  return id;
}

/**
 * Hugging Face Hub by repo id ("org/name"): GET {endpoint}/{repo}/resolve/{revision}/{file}, HTTP
 * Range requests for range(), HEAD (or a Range 0-0 request's Content-Range) for size, clear errors
 * for 401/403 (gated: accept the licence on the model page and give a token), 404 (no such repo or
 * file), network failure. Validates the repo id format.
 */
export function hubSource(repo: string, opts: HubOptions = {}): ModelSource {
  const id = parseRepoId(repo);
  const revision = opts.revision ?? 'main';
  if (!revision || /\s/.test(revision)) throw new ModelSourceError(`'${revision}' is not a valid revision (a branch, tag or commit hash) for ${id}.`);
  const endpoint = (opts.endpoint ?? HUB_ENDPOINT).replace(/\/+$/, '');
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const dataset = opts.repoType === 'dataset';
  const what = dataset ? 'dataset' : 'model';
  const accept = dataset ? 'accept its access conditions' : 'accept its licence';
  const repoPath = dataset ? `datasets/${id}` : id;
  const name = `hf://${repoPath}${revision !== 'main' ? `@${revision}` : ''}`;
  const pageUrl = `${endpoint}/${repoPath}`;
  const sizes = new Map<string, number>();

  const url = (file: string) =>
    `${endpoint}/${repoPath}/resolve/${encodeURIComponent(revision)}/${normalizeModelPath(name, file).split('/').map(encodeURIComponent).join('/')}`;

  async function request(file: string, method: 'GET' | 'HEAD', range?: string): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    if (range) headers.Range = range;
    try {
      return await doFetch(url(file), { method, headers });
    } catch (e) {
      throw new ModelSourceError(
        `${name}: network error while fetching '${file}' from ${endpoint} (${(e as Error)?.message ?? String(e)}). ` +
          'Check your internet connection; a proxy, firewall or browser extension may be blocking the Hub.',
      );
    }
  }

  /** A clear error for a failed response (uses the Hub's X-Error-Code / X-Error-Message when exposed). */
  function httpError(file: string, res: Response): ModelSourceError {
    const code = res.headers.get('x-error-code') ?? '';
    const serverMsg = res.headers.get('x-error-message');
    const detail = serverMsg ? ` (Hub says: ${serverMsg})` : '';
    const s = res.status;
    if (code === 'RepoNotFound' || (s === 401 && !opts.token && code !== 'GatedRepo')) {
      return new ModelSourceError([
        `${name}: HTTP ${s} for '${file}'${detail}: the repository '${id}' does not exist, or it is private or gated. ` +
          `Check the spelling of the repo id; for a private or gated ${what}, ${accept} on ${pageUrl} and give `,
        opt('accessToken'),
        ' (https://huggingface.co/settings/tokens).',
      ]);
    }
    if (s === 401 || s === 403 || code === 'GatedRepo') {
      return new ModelSourceError([
        `${name}: HTTP ${s}, access to '${file}' denied${detail}. The ${what} is gated or private: open ${pageUrl} while logged in, ${accept}, then give `,
        opt('accessToken'),
        ' with read permission (https://huggingface.co/settings/tokens)' +
          (opts.token ? '; the token given was rejected or has no access to this repository.' : '; no token was given.'),
      ]);
    }
    if (code === 'RevisionNotFound') {
      return new ModelSourceError(`${name}: revision '${revision}' not found in '${id}'${detail}; check the branch, tag or commit on ${pageUrl}.`);
    }
    if (s === 404) {
      return new ModelSourceError(
        `${name}: HTTP 404, no file '${file}' in '${id}' at revision '${revision}'${detail}; check the repo id and the file list on ${pageUrl}/tree/${revision}.`,
      );
    }
    if (s === 416) {
      return new ModelSourceError(`${name}: HTTP 416, requested bytes outside '${file}'${detail}; the file on the Hub may have changed: reload the ${what}.`);
    }
    if (s === 429) return new ModelSourceError([`${name}: HTTP 429, rate limited by the Hub while fetching '${file}'${detail}; wait a minute and try again, or give `, opt('accessToken'), '.']);
    if (s >= 500) return new ModelSourceError(`${name}: HTTP ${s} from the Hub while fetching '${file}'${detail}; the Hub may be down, try again later.`);
    return new ModelSourceError(`${name}: HTTP ${s} ${res.statusText} while fetching '${file}'${detail}.`);
  }

  /** Reads a body, reporting progress; stops (cancelling the rest) once `limit` bytes are in. */
  async function readBody(file: string, res: Response, total: number, limit = Infinity): Promise<Uint8Array> {
    const report = (loaded: number) => opts.onProgress?.({ file, loaded, total: total > 0 ? total : loaded });
    try {
      if (!res.body) {
        const b = new Uint8Array(await res.arrayBuffer());
        report(b.length);
        return b;
      }
      const reader = res.body.getReader();
      const chunks: Uint8Array[] = [];
      let loaded = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.length;
        report(loaded);
        if (loaded >= limit) {
          await reader.cancel().catch(() => {});
          break;
        }
      }
      if (chunks.length === 1) return chunks[0];
      const out = new Uint8Array(loaded);
      let o = 0;
      for (const c of chunks) {
        out.set(c, o);
        o += c.length;
      }
      return out;
    } catch (e) {
      if (e instanceof ModelSourceError) throw e;
      throw new ModelSourceError(
        `${name}: the download of '${file}' failed part way (${(e as Error)?.message ?? String(e)}); check your internet connection and try again.`,
      );
    }
  }

  async function head(file: string): Promise<Response | null> {
    const res = await request(file, 'HEAD');
    if (res.ok) return res;
    const code = res.headers.get('x-error-code');
    if (res.status === 404 && code !== 'RepoNotFound' && code !== 'RevisionNotFound') return null;
    throw httpError(file, res);
  }

  function parseTotal(contentRange: string | null): number | null {
    const m = contentRange?.match(/\/\s*(\d+)\s*$/);
    return m ? Number(m[1]) : null;
  }

  return {
    name,
    async has(file) {
      if (sizes.has(file)) return true;
      return (await head(file)) !== null;
    },
    async text(file) {
      const res = await request(file, 'GET');
      if (!res.ok) throw httpError(file, res);
      const len = Number(res.headers.get('content-length') ?? NaN);
      const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
      const body = await readBody(file, res, Number.isFinite(len) && !encoded ? len : 0);
      return new TextDecoder().decode(body);
    },
    async size(file) {
      const known = sizes.get(file);
      if (known !== undefined) return known;
      let size: number | null = null;
      const h = await head(file);
      if (!h) throw httpError(file, new Response(null, { status: 404 }));
      const linked = h.headers.get('x-linked-size');
      const len = h.headers.get('content-length');
      const encoded = (h.headers.get('content-encoding') ?? 'identity') !== 'identity';
      if (linked && /^\d+$/.test(linked)) size = Number(linked);
      else if (len && /^\d+$/.test(len) && !encoded) size = Number(len);
      if (size === null) {
        const res = await request(file, 'GET', 'bytes=0-0');
        if (res.status === 206 || res.status === 416) size = parseTotal(res.headers.get('content-range'));
        else if (!res.ok) throw httpError(file, res);
        await res.body?.cancel().catch(() => {});
        if (size === null) {
          throw new ModelSourceError(
            `${name}: the Hub did not report the size of '${file}' (no Content-Length or Content-Range header); a proxy may be stripping headers.`,
          );
        }
      }
      sizes.set(file, size);
      return size;
    },
    async range(file, begin, end) {
      checkRange(name, file, begin, end, sizes.get(file));
      if (begin === end) return new Uint8Array(0);
      const res = await request(file, 'GET', `bytes=${begin}-${end - 1}`);
      let bytes: Uint8Array;
      if (res.status === 206) {
        const cr = res.headers.get('content-range');
        const m = cr?.match(/^bytes\s+(\d+)-(\d+)\//);
        if (m && (Number(m[1]) !== begin || Number(m[2]) !== end - 1)) {
          await res.body?.cancel().catch(() => {});
          throw new ModelSourceError(`${name}: the Hub answered bytes ${m[1]}-${m[2]} of '${file}' when ${begin}-${end - 1} were asked for.`);
        }
        const total = parseTotal(cr);
        if (total !== null) sizes.set(file, total);
        bytes = await readBody(file, res, end - begin);
      } else if (res.status === 200) {
        // The server ignored Range: read the start of the body only up to `end`.
        bytes = (await readBody(file, res, end, end)).slice(begin, end);
      } else {
        throw httpError(file, res);
      }
      if (bytes.length !== end - begin) {
        throw new ModelSourceError(
          `${name}: short read of '${file}': got ${bytes.length} of ${end - begin} bytes [${begin}, ${end}); the connection dropped or the file changed: try again.`,
        );
      }
      return bytes;
    },
  };
}
