// Whether a file is in a Hugging Face Hub repository, and its size: a HEAD request (the Hub's
// X-Linked-Size for LFS files, else Content-Length unless the body is content-encoded), else a
// Range 0-0 request's Content-Range total.
import { ModelSourceError } from './source';
import { hubRequest, parseTotal, type HubClient } from './hub-fetch';
import { hubHttpError } from './hub-url';

/** The HEAD response for `file`, or null when the file (not the repo or revision) is not found. Throws ModelSourceError for other failures. */
export async function headFile(c: HubClient, file: string): Promise<Response | null> {
  const res = await hubRequest(c, file, 'HEAD');
  if (res.ok) return res;
  const code = res.headers.get('x-error-code');
  if (res.status === 404 && code !== 'RepoNotFound' && code !== 'RevisionNotFound') return null;
  throw hubHttpError(c.repo, file, res);
}

/** The size in bytes from a HEAD response's headers, or null when it gives none that can be trusted. */
export function headSize(h: Response): number | null {
  const linked = h.headers.get('x-linked-size');
  const len = h.headers.get('content-length');
  const encoded = (h.headers.get('content-encoding') ?? 'identity') !== 'identity';
  if (linked && /^\d+$/.test(linked)) return Number(linked);
  if (len && /^\d+$/.test(len) && !encoded) return Number(len);
  return null;
}

/**
 * A file's size in bytes: HEAD, then a Range 0-0 request when HEAD gives no usable length.
 * Throws ModelSourceError for a missing file, a failed request, or when no size is reported.
 */
export async function probeSize(c: HubClient, file: string): Promise<number> {
  const h = await headFile(c, file);
  if (!h) throw hubHttpError(c.repo, file, new Response(null, { status: 404 }));
  let size = headSize(h);
  if (size === null) {
    const res = await hubRequest(c, file, 'GET', 'bytes=0-0');
    if (res.status === 206 || res.status === 416) size = parseTotal(res.headers.get('content-range'));
    else if (!res.ok) throw hubHttpError(c.repo, file, res);
    await res.body?.cancel().catch(() => {});
    if (size === null) {
      throw new ModelSourceError(
        `${c.repo.name}: the Hub did not report the size of '${file}' (no Content-Length or Content-Range header); a proxy may be stripping headers.`,
      );
    }
  }
  return size;
}
