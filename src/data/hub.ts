// Datasets by Hub id: the Hub's dataset viewer converts every public dataset to Parquet
// (branch refs/convert/parquet) and lists the files:
//   GET {DATASETS_SERVER}/parquet?dataset=OWNER/NAME
//   → {"parquet_files": [{dataset, config, split, url, filename, size}], "pending": [], "failed": [], "partial": false}
// A split of a config may be several files; they are read with HTTP range requests through
// hubSource (src/model/source.ts: URLs, token, errors) and read one after another as one dataset
// (DataInput.parts). Everything takes a `fetch`, so tests serve it from memory and the browser
// passes its caching fetch.

import { DATASETS_SERVER, HUB_ENDPOINT } from '../hosts';
import { hubSource } from '../model/hub-source';
import { ModelSourceError } from '../model/source';
import { DatasetError, type DataInput } from './input';
import { opt } from '../options';

/** A dataset named by Hub id, with an optional config (subset) and split. */
export interface HubDatasetSpec {
  dataset: string;
  config?: string;
  split?: string;
}

/** One Parquet file of the export, as the viewer API lists it. */
interface HubParquetFile {
  config: string;
  split: string;
  url: string;
  filename: string;
  size: number;
}

/** The Parquet export of a dataset: its files, and its configs with their splits in listed order. */
export interface HubDatasetListing {
  dataset: string;
  files: HubParquetFile[];
  configs: { config: string; splits: string[] }[];
  /** True when the export holds only the first part of a big dataset (the viewer converts up to 5 GB). */
  partial: boolean;
}

/**
 * How the Hub dataset functions reach the Hub: the fetch to use (nothing else touches the network),
 * the token, the endpoints, and progress. listParquetFiles / openHubDataset throw DatasetError
 * naming the dataset for a network failure, an unknown, gated or private dataset (401/403/404), or
 * one the viewer has not converted; a failed Parquet read (hubSource's ModelSourceError) is rethrown
 * as DatasetError.
 */
export interface HubDatasetOptions {
  /** The fetch to use (tests pass a fake; the browser its caching fetch for the Parquet files). */
  fetch?: typeof fetch;
  /** Fetch for the viewer API listing (default: `fetch`; the browser does not cache the listing). */
  listFetch?: typeof fetch;
  /** An access token for gated or private datasets. */
  token?: string;
  /** Defaults HUB_ENDPOINT and DATASETS_SERVER. */
  endpoint?: string;
  server?: string;
  /** Bytes received of a Parquet file (per request; see HubOptions.onProgress). */
  onProgress?: (p: { file: string; loaded: number; total: number }) => void;
}

const ID_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;
const HUB_PREFIX = 'hub:';

/** True for a `hub:...` data argument. */
export function isHubDataSpec(arg: string): boolean {
  return arg.startsWith(HUB_PREFIX);
}

/** Checks "OWNER/NAME" (a dataset id); returns it trimmed. */
function parseDatasetId(id: string): string {
  const t = id.trim();
  const parts = t.split('/');
  if (parts.length !== 2 || !parts.every((p) => ID_PART.test(p) && !p.includes('--') && !p.includes('..'))) {
    throw new DatasetError(`'${id}' is not a Hugging Face dataset id: expected OWNER/NAME (letters, digits, '-', '_', '.'), for example tatsu-lab/alpaca.`);
  }
  return t;
}

/** "hub:OWNER/NAME[:config][:split]" → its parts; throws DatasetError saying the expected form. */
export function parseHubDataSpec(arg: string): HubDatasetSpec {
  if (!isHubDataSpec(arg)) throw new DatasetError(`'${arg}' is not a Hub dataset: expected hub:OWNER/NAME[:config][:split].`);
  const [id, config, split, ...rest] = arg.slice(HUB_PREFIX.length).split(':');
  const form = 'expected hub:OWNER/NAME, hub:OWNER/NAME:CONFIG or hub:OWNER/NAME:CONFIG:SPLIT (for example hub:tatsu-lab/alpaca or hub:nyu-mll/glue:mrpc:validation)';
  if (rest.length || config === '' || split === '') throw new DatasetError(`'${arg}' is not a Hub dataset: ${form}.`);
  let dataset: string;
  try {
    dataset = parseDatasetId(id);
  } catch {
    throw new DatasetError(`'${arg}' is not a Hub dataset: '${id}' is not a dataset id OWNER/NAME; ${form}.`);
  }
  return { dataset, ...(config !== undefined ? { config } : {}), ...(split !== undefined ? { split } : {}) };
}

/** The dataset's page on the Hub (for messages). */
function datasetPage(dataset: string, endpoint = HUB_ENDPOINT): string {
  return `${endpoint.replace(/\/+$/, '')}/datasets/${dataset}`;
}

/** Lists the Parquet export of a dataset through the viewer API; errors name the dataset and what to do. */
export async function listParquetFiles(dataset: string, opts: HubDatasetOptions = {}): Promise<HubDatasetListing> {
  const id = parseDatasetId(dataset);
  const server = (opts.server ?? DATASETS_SERVER).replace(/\/+$/, '');
  const doFetch = opts.listFetch ?? opts.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(i, init));
  const page = datasetPage(id, opts.endpoint);
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await doFetch(`${server}/parquet?dataset=${encodeURIComponent(id)}`, { headers });
  } catch (e) {
    throw new DatasetError(
      `${id}: network error while asking ${server} for the dataset's files (${(e as Error)?.message ?? String(e)}); check your internet connection (a proxy, firewall or browser extension may block the Hub) and try again.`,
    );
  }
  const body = await res.text().catch(() => '');
  let json: { parquet_files?: unknown; partial?: unknown; failed?: unknown; pending?: unknown; error?: unknown } | null = null;
  try {
    json = JSON.parse(body);
  } catch {
    // an HTML error page, or nothing
  }
  const said = typeof json?.error === 'string' ? ` (the Hub says: ${json.error})` : '';
  const tokenAdvice = ['give ', opt('accessToken'), ' with read permission (https://huggingface.co/settings/tokens)'];
  if (res.status === 401 || res.status === 403) {
    throw new DatasetError([
      `${id}: HTTP ${res.status}, access denied${said}. The dataset is gated or private: open ${page} while logged in, accept its access conditions, then `,
      ...tokenAdvice,
      opts.token ? '; the token given was rejected or has no access to this dataset.' : '; no token was given.',
    ]);
  }
  if (res.status === 404) {
    throw new DatasetError([
      `${id}: HTTP 404, the Hub has no dataset '${id}'${said}; check the spelling on ${page}. A private or gated dataset also answers 404 without a token: `,
      ...tokenAdvice,
      '.',
    ]);
  }
  if (res.status === 429) throw new DatasetError([`${id}: HTTP 429, rate limited by the Hub's dataset viewer${said}; wait a minute and try again, or give `, opt('accessToken'), '.']);
  if (!res.ok) throw new DatasetError(`${id}: HTTP ${res.status} from the Hub's dataset viewer (${server})${said}; it may be down or still converting the dataset: try again later.`);
  if (!json || !Array.isArray(json.parquet_files)) throw new DatasetError(`${id}: the dataset viewer's answer is not the expected JSON list of Parquet files; try again later.`);
  const files: HubParquetFile[] = [];
  for (const f of json.parquet_files as Record<string, unknown>[]) {
    if (typeof f?.config !== 'string' || typeof f.split !== 'string' || typeof f.url !== 'string' || typeof f.size !== 'number') continue;
    files.push({ config: f.config, split: f.split, url: f.url, filename: typeof f.filename === 'string' ? f.filename : f.url.split('/').pop()!, size: f.size });
  }
  if (files.length === 0) {
    const failed = Array.isArray(json.failed) && json.failed.length > 0;
    const pending = Array.isArray(json.pending) && json.pending.length > 0;
    const why = failed ? 'the Hub failed to convert it to Parquet' : pending ? 'its conversion to Parquet is still running' : 'the Hub has no Parquet export of it';
    throw new DatasetError(
      `${id}: ${why}, so it cannot be read by id${pending && !failed ? ': try again in a few minutes' : ''}; download its data files from ${page}/tree/main and open one as a file instead.`,
    );
  }
  const configs: HubDatasetListing['configs'] = [];
  for (const f of files) {
    let c = configs.find((x) => x.config === f.config);
    if (!c) configs.push((c = { config: f.config, splits: [] }));
    if (!c.splits.includes(f.split)) c.splits.push(f.split);
  }
  return { dataset: id, files, configs, partial: json.partial === true };
}

/** The files of one config and split (default: the first config, split 'train' else its first split), in order. */
export function pickSplit(listing: HubDatasetListing, config?: string, split?: string): { config: string; split: string; files: HubParquetFile[] } {
  const { dataset } = listing;
  const c = config === undefined ? listing.configs[0] : listing.configs.find((x) => x.config === config);
  if (!c) {
    const asSplit = listing.configs[0].splits.includes(config!) ? ` ('${config}' is a split of config '${listing.configs[0].config}': name the config first)` : '';
    throw new DatasetError(`${dataset}: no config '${config}'${asSplit}; its configs are ${listing.configs.map((x) => x.config).join(', ')}.`);
  }
  const s = split ?? (c.splits.includes('train') ? 'train' : c.splits[0]);
  if (!c.splits.includes(s)) throw new DatasetError(`${dataset}: config '${c.config}' has no split '${s}'; its splits are ${c.splits.join(', ')}.`);
  const byName = (a: HubParquetFile, b: HubParquetFile) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0);
  return { config: c.config, split: s, files: listing.files.filter((f) => f.config === c.config && f.split === s).sort(byName) };
}

const RESOLVE = '/resolve/';

/**
 * The Parquet files of one split as one DataInput: each file is read with range requests through
 * hubSource (the dataset repo at refs/convert/parquet, with the token), the files one after
 * another (`parts`). Its name is "OWNER/NAME (config/split)"; each part is named by its path.
 */
export function hubParquetInput(dataset: string, files: HubParquetFile[], opts: HubDatasetOptions = {}): DataInput {
  const id = parseDatasetId(dataset);
  if (files.length === 0) throw new DatasetError(`${id}: no Parquet files to read.`);
  const endpoint = (opts.endpoint ?? HUB_ENDPOINT).replace(/\/+$/, '');
  const prefix = `${endpoint}/datasets/${id}${RESOLVE}`;
  const sources = new Map<string, ReturnType<typeof hubSource>>();
  const parts = files.map((f): DataInput => {
    if (!f.url.startsWith(prefix)) throw new DatasetError(`${id}: the Parquet file ${f.url} is not in the dataset's repository on ${endpoint}; refusing to read it.`);
    const [rev, ...path] = f.url.slice(prefix.length).split('/').map(decodeURIComponent);
    let src = sources.get(rev);
    if (!src) sources.set(rev, (src = hubSource(id, { repoType: 'dataset', revision: rev, token: opts.token, endpoint, fetch: opts.fetch, onProgress: opts.onProgress })));
    const file = path.join('/');
    const source = src;
    const read = async (start: number, end: number) => {
      try {
        return await source.range(file, start, end);
      } catch (e) {
        throw e instanceof ModelSourceError ? new DatasetError(e.parts) : e;
      }
    };
    return {
      name: `${id}/${file}`,
      size: f.size,
      async *stream() {
        for (let o = 0; o < f.size; o += 1 << 20) yield await read(o, Math.min(f.size, o + (1 << 20)));
      },
      slice: (start, end) => read(Math.max(0, start), Math.min(f.size, end)),
    };
  });
  const first = files[0];
  return {
    name: `${id} (${first.config}/${first.split})`,
    size: files.reduce((a, f) => a + f.size, 0),
    parts,
    async *stream() {
      for (const p of parts) yield* p.stream();
    },
    slice: parts.length === 1 ? parts[0].slice : undefined,
  };
}

/** Lists the dataset, picks the config and split, and returns them as one DataInput. */
export async function openHubDataset(spec: HubDatasetSpec, opts: HubDatasetOptions = {}): Promise<{ input: DataInput; listing: HubDatasetListing; config: string; split: string }> {
  const listing = await listParquetFiles(spec.dataset, opts);
  const { config, split, files } = pickSplit(listing, spec.config, spec.split);
  return { input: hubParquetInput(listing.dataset, files, opts), listing, config, split };
}
