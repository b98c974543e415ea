// The Hugging Face Hub as a ModelSource: hub-url.ts addresses the repository (id, revision,
// endpoint, token, error messages), hub-size.ts finds files and their sizes, hub-fetch.ts
// downloads (text, byte ranges, progress). This file joins them and caches sizes.
import { checkRange, type ModelSource } from './source';
import { fetchRange, fetchText, type HubProgress } from './hub-fetch';
import { headFile, probeSize } from './hub-size';
import { hubRepo } from './hub-url';

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
  onProgress?: HubProgress;
}

/**
 * Hugging Face Hub by repo id ("org/name"): GET {endpoint}/{repo}/resolve/{revision}/{file}, HTTP
 * Range requests for range(), HEAD (or a Range 0-0 request's Content-Range) for size, clear errors
 * for 401/403 (gated: accept the licence on the model page and give a token), 404 (no such repo or
 * file), network failure. Validates the repo id format (throws ModelSourceError).
 */
export function hubSource(repo: string, opts: HubOptions = {}): ModelSource {
  const r = hubRepo(repo, opts);
  const c = {
    repo: r,
    fetch: opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)),
    onProgress: opts.onProgress,
  };
  const sizes = new Map<string, number>();
  return {
    name: r.name,
    async has(file) {
      if (sizes.has(file)) return true;
      return (await headFile(c, file)) !== null;
    },
    text: (file) => fetchText(c, file),
    async size(file) {
      const known = sizes.get(file);
      if (known !== undefined) return known;
      const size = await probeSize(c, file);
      sizes.set(file, size);
      return size;
    },
    async range(file, begin, end) {
      checkRange(r.name, file, begin, end, sizes.get(file));
      if (begin === end) return new Uint8Array(0);
      return fetchRange(c, file, begin, end, sizes);
    },
  };
}
