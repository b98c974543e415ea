// Hub datasets in the worker: the viewer API's listing (kept per dataset and token, so changing
// the config, split or options does not ask again) and a split's Parquet files read through the
// model cache (./cache cachingFetch: downloaded whole once with progress and resumption, then
// every range request is answered from the Cache API, also after a reload).
import { hubParquetInput, listParquetFiles, pickSplit, type HubDatasetListing } from '../data/hub';
import type { DataInput } from '../data/input';
import { cachingFetch, DownloadTotals } from './cache';
import type { DatasetSourceSpec, EngineEvent } from './protocol';

const listings = new Map<string, HubDatasetListing>();
const key = (dataset: string, token?: string) => `${dataset}\n${token ?? ''}`;

/** The Parquet export of a dataset (asked of the viewer API each time the user opens it by id). */
export async function listHubDataset(dataset: string, token?: string): Promise<HubDatasetListing> {
  const listing = await listParquetFiles(dataset, { token: token || undefined });
  listings.set(key(listing.dataset, token), listing);
  return listing;
}

/** One split as a DataInput over the cached Parquet files; download progress goes out as datasetDownload events. */
export async function hubDatasetInput(src: Extract<DatasetSourceSpec, { kind: 'hub' }>, emit: (e: EngineEvent) => void): Promise<DataInput> {
  const listing = listings.get(key(src.dataset, src.token)) ?? (await listHubDataset(src.dataset, src.token));
  const { files } = pickSplit(listing, src.config, src.split);
  const totals = new DownloadTotals();
  for (const f of files) totals.update({ file: fileOf(f.url), loaded: 0, total: f.size });
  const fetch = cachingFetch((p) => emit({ kind: 'datasetDownload', ...totals.update(p), detail: p.file }));
  return hubParquetInput(listing.dataset, files, { fetch, token: src.token || undefined });
}

/** The path after /resolve/<revision>/ (what cachingFetch reports as the file). */
function fileOf(url: string): string {
  const i = url.indexOf('/resolve/');
  return i < 0 ? url : url.slice(i + '/resolve/'.length).split('/').slice(1).map(decodeURIComponent).join('/');
}
