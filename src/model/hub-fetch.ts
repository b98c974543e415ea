// Downloads from a Hugging Face Hub repository: one request (a network failure becomes a clear
// error), a body read chunk by chunk with progress (and stopped early when only its start is
// needed), a whole text file, and an exact byte range (also when the server ignores Range).
// No retries: a failed request is reported, and the caller (the user) tries again.
import { ModelSourceError } from './source';
import { hubFileUrl, hubHeaders, hubHttpError, type HubRepo } from './hub-url';

/** Progress of one request: `total` is the bytes it asked for (the range, or the whole file for a text read). */
export type HubProgress = (p: { file: string; loaded: number; total: number }) => void;

/** What hubSource's parts share: the repository, the fetch to use and the progress callback. */
export interface HubClient {
  readonly repo: HubRepo;
  readonly fetch: typeof fetch;
  readonly onProgress?: HubProgress;
}

/** One request for `file` (with the token and an optional Range header). Throws ModelSourceError on a network failure; HTTP errors are returned as responses. */
export async function hubRequest(c: HubClient, file: string, method: 'GET' | 'HEAD', range?: string): Promise<Response> {
  try {
    return await c.fetch(hubFileUrl(c.repo, file), { method, headers: hubHeaders(c.repo, range) });
  } catch (e) {
    throw new ModelSourceError(
      `${c.repo.name}: network error while fetching '${file}' from ${c.repo.endpoint} (${(e as Error)?.message ?? String(e)}). ` +
        'Check your internet connection; a proxy, firewall or browser extension may be blocking the Hub.',
    );
  }
}

/** The file's total size from a `Content-Range: bytes a-b/total` header, or null. */
export function parseTotal(contentRange: string | null): number | null {
  const m = contentRange?.match(/\/\s*(\d+)\s*$/);
  return m ? Number(m[1]) : null;
}

/**
 * Reads a body, reporting progress against `total` (bytes; 0 when unknown: then against what has
 * arrived); stops (cancelling the rest) once `limit` bytes are in. Throws ModelSourceError when the
 * download fails part way.
 */
async function readBody(c: HubClient, file: string, res: Response, total: number, limit = Infinity): Promise<Uint8Array> {
  const report = (loaded: number) => c.onProgress?.({ file, loaded, total: total > 0 ? total : loaded });
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
    for (const chunk of chunks) {
      out.set(chunk, o);
      o += chunk.length;
    }
    return out;
  } catch (e) {
    if (e instanceof ModelSourceError) throw e;
    throw new ModelSourceError(
      `${c.repo.name}: the download of '${file}' failed part way (${(e as Error)?.message ?? String(e)}); check your internet connection and try again.`,
    );
  }
}

/** A whole file decoded as UTF-8, progress against its Content-Length (unless content-encoded). Throws ModelSourceError for a failed request. */
export async function fetchText(c: HubClient, file: string): Promise<string> {
  const res = await hubRequest(c, file, 'GET');
  if (!res.ok) throw hubHttpError(c.repo, file, res);
  const len = Number(res.headers.get('content-length') ?? NaN);
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const body = await readBody(c, file, res, Number.isFinite(len) && !encoded ? len : 0);
  return new TextDecoder().decode(body);
}

/**
 * Bytes [begin, end) of a file (begin < end) with a Range request; when the server ignores Range,
 * the start of the whole body up to `end`. A file size a 206 answer reports is put in `sizes`.
 * Throws ModelSourceError for a failed request, a 206 for other bytes than asked, or a short read.
 */
export async function fetchRange(c: HubClient, file: string, begin: number, end: number, sizes: Map<string, number>): Promise<Uint8Array> {
  const name = c.repo.name;
  const res = await hubRequest(c, file, 'GET', `bytes=${begin}-${end - 1}`);
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
    bytes = await readBody(c, file, res, end - begin);
  } else if (res.status === 200) {
    // The server ignored Range: read the start of the body only up to `end`.
    bytes = (await readBody(c, file, res, end, end)).slice(begin, end);
  } else {
    throw hubHttpError(c.repo, file, res);
  }
  if (bytes.length !== end - begin) {
    throw new ModelSourceError(
      `${name}: short read of '${file}': got ${bytes.length} of ${end - begin} bytes [${begin}, ${end}); the connection dropped or the file changed: try again.`,
    );
  }
  return bytes;
}
