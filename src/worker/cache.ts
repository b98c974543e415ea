// The model cache: Hub files kept in the browser's Cache API (caches.open('models')), keyed by
// their resolve URL, so a second load of the same model needs no network. `cachingFetch` is handed
// to hubSource as its fetch: a file is downloaded whole once (with progress), stored, and every
// later HEAD / GET / Range request for it is answered from the cached copy. Files the Hub reports
// missing are remembered too (a marker entry), so existence checks stay offline as well.

const MODEL_CACHE = 'models';
const MISSING = 'x-studio-missing';
const SIZE = 'x-studio-size';

interface DownloadProgress {
  url: string;
  file: string;
  loaded: number;
  total: number;
}

interface ParsedHubUrl {
  repo: string;
  revision: string;
  file: string;
}

/** https://huggingface.co/{org}/{name}/resolve/{revision}/{file} → parts (null for other URLs). */
export function parseHubUrl(url: string): ParsedHubUrl | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const parts = u.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  const i = parts.indexOf('resolve');
  if (i < 1 || parts.length < i + 3) return null;
  return { repo: parts.slice(0, i).join('/'), revision: parts[i + 1], file: parts.slice(i + 2).join('/') };
}

function cacheAvailable(): boolean {
  return typeof caches !== 'undefined';
}

function headerValue(init: RequestInit | undefined, name: string): string | null {
  const h = new Headers(init?.headers ?? {});
  return h.get(name);
}

/** Parses "bytes=a-b" (one range; an open end means to the end of the file). */
function parseRange(range: string, size: number): [number, number] | null {
  const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
  if (!m) return null;
  const begin = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return begin <= end ? [begin, end] : null;
}

/**
 * Progress of a whole model download from the per-file reports: bytes in over bytes expected.
 * Weight files are announced (size, nothing loaded) when their existence is checked, before any
 * of them downloads, so the total is known from the start of the first shard.
 */
export class DownloadTotals {
  private readonly files = new Map<string, { loaded: number; total: number }>();

  update(p: { file: string; loaded: number; total: number }): { loaded: number; total: number } {
    const prev = this.files.get(p.file);
    this.files.set(p.file, { loaded: Math.max(prev?.loaded ?? 0, p.loaded), total: Math.max(prev?.total ?? 0, p.total, p.loaded) });
    let loaded = 0;
    let total = 0;
    for (const f of this.files.values()) {
      loaded += f.loaded;
      total += f.total;
    }
    return { loaded, total };
  }
}

/** Weight files (safetensors, PyTorch .bin shards) whose size is announced when their existence is checked. */
function isWeightFile(file: string): boolean {
  return file.endsWith('.safetensors') || file.endsWith('.bin');
}

/** Size of a file from a HEAD answer (the Hub's X-Linked-Size for LFS files, else Content-Length). */
function headSize(res: Response): number | null {
  const linked = res.headers.get('x-linked-size');
  if (linked && /^\d+$/.test(linked)) return Number(linked);
  const len = res.headers.get('content-length');
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  return len && /^\d+$/.test(len) && !encoded ? Number(len) : null;
}

/** Attempts to continue a broken download (with a growing pause between them) before giving up. */
export const RESUME_ATTEMPTS = 4;

/**
 * The body of `first` that survives dropped connections: when the stream errors or ends short of
 * `total`, the rest is asked for with `Range: bytes=<received>-` (up to RESUME_ATTEMPTS times in a
 * row, pausing 0.5, 1, 2, 4 s) and the bytes continue where they stopped. Without a known size
 * nothing can be checked or resumed: the first failure ends it.
 */
export function resumableBody(
  url: string, headers: Headers, first: Response, total: number, fetchFn: typeof fetch, pauseMs = (attempt: number) => 250 * 2 ** attempt,
): { body: ReadableStream<Uint8Array>; failure: () => Error | null } {
  let reader = first.body!.getReader();
  let loaded = 0;
  let attempts = 0;
  let failure: Error | null = null;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        let why: string;
        try {
          const { done, value } = await reader.read();
          if (!done) {
            loaded += value.length;
            attempts = 0;
            ctl.enqueue(value);
            return;
          }
          if (total <= 0 || loaded >= total) {
            ctl.close();
            return;
          }
          why = `the connection closed after ${loaded} of ${total} bytes`;
        } catch (e) {
          why = (e as Error)?.message ?? String(e);
        }
        if (total <= 0 || attempts >= RESUME_ATTEMPTS) {
          failure = new Error(`${why}${attempts ? ` (resumed ${attempts} times)` : ''}`);
          ctl.error(failure);
          return;
        }
        attempts++;
        await new Promise((r) => setTimeout(r, pauseMs(attempts)));
        const h = new Headers(headers);
        h.set('range', `bytes=${loaded}-`);
        const again = await fetchFn(url, { method: 'GET', headers: h }).catch(() => null);
        const start = Number(/^bytes\s+(\d+)-/.exec(again?.headers.get('content-range') ?? '')?.[1] ?? NaN);
        if (again && again.status === 206 && again.body && start === loaded) reader = again.body.getReader();
        else await again?.body?.cancel().catch(() => {}); // not a continuation: try again (or give up)
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { body, failure: () => failure };
}

/**
 * A fetch for hubSource that serves model files from the Cache API. A download that breaks off
 * continues where it stopped (resumableBody). Only GET/HEAD of URLs are handled; `onDownload` reports bytes of each file fetched from the network, and announces the
 * size of each weight file whose existence is checked on the network (loaded 0). `onNotCached`
 * hears of a file that could not be stored (a full disk: the file is served from memory).
 * `pauseMs` is resumableBody's pause before each attempt to continue (tests pass () => 0).
 */
export function cachingFetch(
  onDownload: (p: DownloadProgress) => void, baseFetch: typeof fetch = (i, init) => fetch(i, init), onNotCached?: (file: string, error: unknown) => void,
  pauseMs?: (attempt: number) => number,
): typeof fetch {
  const blobs = new Map<string, Blob | null>();
  const inflight = new Map<string, Promise<Response | Blob | null>>();
  let cachePromise: Promise<Cache | null> | null = null;
  const cache = () => (cachePromise ??= cacheAvailable() ? caches.open(MODEL_CACHE).catch(() => null) : Promise.resolve(null));

  /** The cached blob, null when cached as missing, undefined when not cached. */
  async function lookup(url: string): Promise<Blob | null | undefined> {
    if (blobs.has(url)) return blobs.get(url)!;
    const c = await cache();
    const hit = await c?.match(url);
    if (!hit) return undefined;
    const value = hit.headers.get(MISSING) ? null : await hit.blob();
    blobs.set(url, value);
    return value;
  }

  /** Downloads the whole file into the cache; returns its blob, or the failed network response. */
  function download(url: string, init: RequestInit | undefined): Promise<Response | Blob | null> {
    let p = inflight.get(url);
    if (p) return p;
    p = (async () => {
      const headers = new Headers(init?.headers ?? {});
      headers.delete('range');
      const res = await baseFetch(url, { method: 'GET', headers });
      if (!res.ok || !res.body) return res;
      const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
      const len = Number(res.headers.get('content-length') ?? NaN);
      const total = Number.isFinite(len) && !encoded ? len : 0;
      const file = parseHubUrl(url)?.file ?? url;
      let loaded = 0;
      let lastReport = 0;
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          loaded += chunk.length;
          const now = Date.now();
          if (now - lastReport > 100) {
            lastReport = now;
            onDownload({ url, file, loaded, total: Math.max(total, loaded) });
          }
          ctl.enqueue(chunk);
        },
        flush() {
          onDownload({ url, file, loaded, total: loaded });
        },
      });
      const resumable = resumableBody(url, headers, res, total, baseFetch, pauseMs);
      const body = resumable.body.pipeThrough(counter);
      const contentType = res.headers.get('content-type') ?? 'application/octet-stream';
      const c = await cache();
      let blob: Blob;
      try {
        if (!c) throw new Error('no cache');
        // The size goes with the entry, so listing the cache opens no body (a Blob of a cached body keeps its disk space held until collected).
        await c.put(url, new Response(body, { headers: { 'content-type': contentType, ...(total > 0 ? { [SIZE]: String(total) } : {}) } }));
        const stored = await c.match(url);
        if (!stored) throw new Error('the cache dropped the entry');
        blob = await stored.blob();
      } catch (e) {
        // The network gave out (after resuming): say so; nothing to fall back to.
        const broken = () => {
          const f = resumable.failure();
          return f ? new Error(`the download of '${file}' failed part way: ${f.message}`) : null;
        };
        if (broken()) throw broken();
        // No Cache API (or over quota): keep this session's copy in memory only.
        if (body.locked) {
          // The body was consumed by the failed put: fetch again without caching.
          const again = await baseFetch(url, { method: 'GET', headers });
          if (!again.ok) return again;
          blob = await again.blob();
        } else {
          blob = await new Response(body).blob().catch((err: unknown) => {
            throw broken() ?? err;
          });
        }
        if (c) {
          console.warn(`model cache: ${file} is not cached (${(e as Error).message})`);
          onNotCached?.(file, e);
        }
      }
      blobs.set(url, blob);
      return blob;
    })().finally(() => inflight.delete(url));
    inflight.set(url, p);
    return p;
  }

  async function rememberMissing(url: string): Promise<void> {
    blobs.set(url, null);
    const c = await cache();
    await c?.put(url, new Response('', { headers: { [MISSING]: '1' } })).catch(() => {});
  }

  return (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return baseFetch(input, init);
    let blob = await lookup(url);
    if (blob === null) return new Response(null, { status: 404, statusText: 'Not Found (cached)' });
    if (blob === undefined) {
      // HEAD (an existence check) asks the Hub without downloading; GET downloads the whole file.
      const got = method === 'HEAD' ? await baseFetch(url, init) : await download(url, init);
      // A weight file that is about to be needed: announce its size (nothing loaded yet).
      const file = parseHubUrl(url)?.file ?? url;
      const size = got instanceof Response && got.ok && method === 'HEAD' && isWeightFile(file) ? headSize(got) : null;
      if (size !== null) onDownload({ url, file, loaded: 0, total: size });
      if (got instanceof Response) {
        // A missing file (not a missing repo, revision or access) is remembered.
        const code = got.headers.get('x-error-code');
        if (got.status === 404 && code !== 'RepoNotFound' && code !== 'RevisionNotFound' && code !== 'GatedRepo') await rememberMissing(url);
        return got;
      }
      if (got === null) return new Response(null, { status: 404 });
      blob = got;
    }
    const size = blob.size;
    if (method === 'HEAD') return new Response(null, { status: 200, headers: { 'content-length': String(size), [SIZE]: String(size) } });
    const range = headerValue(init, 'range');
    if (range) {
      const r = parseRange(range, size);
      if (!r) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
      return new Response(blob.slice(r[0], r[1] + 1), {
        status: 206, headers: { 'content-range': `bytes ${r[0]}-${r[1]}/${size}`, 'content-length': String(r[1] - r[0] + 1) },
      });
    }
    return new Response(blob, { status: 200, headers: { 'content-length': String(size) } });
  }) as typeof fetch;
}

interface CachedFile extends ParsedHubUrl {
  url: string;
  bytes: number;
}

/** Every cached model file with its size (recorded with the entry; older entries are measured), missing-file markers left out. */
export async function listCachedFiles(): Promise<CachedFile[]> {
  if (!cacheAvailable()) return [];
  const c = await caches.open(MODEL_CACHE);
  const out: CachedFile[] = [];
  for (const req of await c.keys()) {
    const res = await c.match(req);
    if (!res || res.headers.get(MISSING)) {
      await res?.body?.cancel();
      continue;
    }
    const p = parseHubUrl(req.url);
    const recorded = Number(res.headers.get(SIZE) ?? NaN);
    // An open body holds the entry's disk space even after a delete: cancel it once the size is known.
    const bytes = Number.isFinite(recorded) ? (await res.body?.cancel(), recorded) : (await res.blob()).size;
    out.push({ url: req.url, repo: p?.repo ?? req.url, revision: p?.revision ?? '', file: p?.file ?? req.url, bytes });
  }
  return out;
}

/** Deletes the cached files of one repo (or all); returns how many entries went. */
export async function clearCachedFiles(repo?: string): Promise<number> {
  if (!cacheAvailable()) return 0;
  if (repo === undefined) {
    const c = await caches.open(MODEL_CACHE);
    const n = (await c.keys()).length;
    await caches.delete(MODEL_CACHE);
    return n;
  }
  const c = await caches.open(MODEL_CACHE);
  let n = 0;
  for (const req of await c.keys()) {
    if (parseHubUrl(req.url)?.repo === repo && (await c.delete(req))) n++;
  }
  return n;
}
