// Where a Hugging Face Hub repository's files are: the repo id, revision and endpoint, the
// resolve URL of a file, the Authorization header of an access token, and the message for a
// refused or failed response (which names the repository page and the access token option).
import { HUB_ENDPOINT } from '../hosts';
import { opt } from '../options';
import { ModelSourceError, normalizeModelPath } from './source';

/**
 * One Hub repository at one revision, as hubSource addresses it: `name` ('hf://org/name',
 * '@revision' when not main) heads messages; `what` / `accept` word them for a model or a dataset.
 */
export interface HubRepo {
  /** 'org/name' (or a legacy single 'name'). */
  readonly id: string;
  readonly revision: string;
  /** Without a trailing '/'. */
  readonly endpoint: string;
  /** The id, under 'datasets/' for a dataset repo. */
  readonly repoPath: string;
  readonly name: string;
  /** The repository's page, where a gated repo's licence is accepted. */
  readonly pageUrl: string;
  readonly what: 'model' | 'dataset';
  readonly accept: string;
  readonly token?: string;
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
 * The repository `repo` ("org/name", "hf://org/name") at `revision` (default main) on `endpoint`
 * (default HUB_ENDPOINT). Throws ModelSourceError for an invalid repo id or a revision that is
 * empty or holds whitespace.
 */
export function hubRepo(
  repo: string,
  opts: { revision?: string; token?: string; endpoint?: string; repoType?: 'model' | 'dataset' },
): HubRepo {
  const id = parseRepoId(repo);
  const revision = opts.revision ?? 'main';
  if (!revision || /\s/.test(revision)) throw new ModelSourceError(`'${revision}' is not a valid revision (a branch, tag or commit hash) for ${id}.`);
  const endpoint = (opts.endpoint ?? HUB_ENDPOINT).replace(/\/+$/, '');
  const dataset = opts.repoType === 'dataset';
  const repoPath = dataset ? `datasets/${id}` : id;
  return {
    id,
    revision,
    endpoint,
    repoPath,
    name: `hf://${repoPath}${revision !== 'main' ? `@${revision}` : ''}`,
    pageUrl: `${endpoint}/${repoPath}`,
    what: dataset ? 'dataset' : 'model',
    accept: dataset ? 'accept its access conditions' : 'accept its licence',
    token: opts.token,
  };
}

/** GET/HEAD URL of a file: {endpoint}/{repoPath}/resolve/{revision}/{file}, each part URL-encoded. Throws ModelSourceError for an invalid path. */
export function hubFileUrl(r: HubRepo, file: string): string {
  return `${r.endpoint}/${r.repoPath}/resolve/${encodeURIComponent(r.revision)}/${normalizeModelPath(r.name, file).split('/').map(encodeURIComponent).join('/')}`;
}

/** Request headers: `Authorization: Bearer <token>` when a token is given, `Range` when asked for. */
export function hubHeaders(r: HubRepo, range?: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (r.token) headers.Authorization = `Bearer ${r.token}`;
  if (range) headers.Range = range;
  return headers;
}

/**
 * A clear error for a failed response to a request for `file` (uses the Hub's X-Error-Code /
 * X-Error-Message when exposed): unknown/private repo, gated or refused token, unknown revision,
 * missing file, range outside the file, rate limit, server error.
 */
export function hubHttpError(r: HubRepo, file: string, res: Response): ModelSourceError {
  const { name, id, what, accept, pageUrl, revision } = r;
  const code = res.headers.get('x-error-code') ?? '';
  const serverMsg = res.headers.get('x-error-message');
  const detail = serverMsg ? ` (Hub says: ${serverMsg})` : '';
  const s = res.status;
  if (code === 'RepoNotFound' || (s === 401 && !r.token && code !== 'GatedRepo')) {
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
        (r.token ? '; the token given was rejected or has no access to this repository.' : '; no token was given.'),
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
