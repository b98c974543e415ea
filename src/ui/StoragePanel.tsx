// Browser storage: what this site uses and may use, per kind, and whether it is persistent; what
// a download or a run will write next to what is free; and, when storage is full, the message with
// cached models and old runs to delete right there.
import { useEffect, useState } from 'react';
import { useStudio } from '../store';
import { DEFAULT_KEEP, runWriteBytes, storageVerdict, CATALOG, storageBytes, fmtBytes, countModelParams } from '../store/plan';
import { usePlan } from './usePlan';

const KIND_LABEL = { models: 'Models (Cache API)', checkpoints: 'Checkpoints', datasets: 'Datasets', runs: 'Runs' } as const;
const VERDICT = { fits: 'fits', tight: 'tight', 'wont-fit': 'will not fit' } as const;

/** What the origin uses and may use, per kind, and whether the browser keeps it persistent. */
export function StorageUse() {
  const storage = useStudio((s) => s.storage);
  const refresh = useStudio((s) => s.refreshStorage);
  const refreshCache = useStudio((s) => s.refreshCache);
  useEffect(() => {
    void refresh();
    void refreshCache(); // the models' share comes from the cache's list
  }, [refresh, refreshCache]);
  if (storage.status === 'unsupported') return <p className="small muted">This browser does not report how much storage the site uses.</p>;
  const free = Math.max(0, storage.quota - storage.usage);
  return (
    <div className="small" data-testid="storage-use" data-usage={storage.usage} data-quota={storage.quota} data-persisted={String(storage.persisted)}>
      <p>
        This site uses <b data-testid="storage-usage">{fmtBytes(storage.usage)}</b> of <b data-testid="storage-quota">{fmtBytes(storage.quota)}</b> it may use ({fmtBytes(free)} free).{' '}
        <span data-testid="storage-persisted">
          {storage.persisted === null ? '' : storage.persisted ? 'Storage is persistent: the browser keeps it when the disk runs low.' : 'Storage is not persistent: the browser may delete it when the disk runs low.'}
        </span>
      </p>
      <dl className="kv">
        {(Object.keys(KIND_LABEL) as (keyof typeof KIND_LABEL)[]).map((k) => (
          <div key={k} style={{ display: 'contents' }}>
            <dt>{KIND_LABEL[k]}</dt>
            <dd data-testid={`storage-${k}`}>{fmtBytes(storage.kinds[k])}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

/** The sentence saying why the studio asked for persistent storage, once it has. */
export function PersistNote() {
  const note = useStudio((s) => s.persistNote);
  const persisted = useStudio((s) => s.storage.persisted);
  if (!note) return null;
  return (
    <p className="small muted" role="status" data-testid="persist-note">
      {note} {persisted === null ? '' : persisted ? 'It did.' : 'It did not (yet): browsers grant it to sites you use often or install.'}
    </p>
  );
}

/** Bytes the chosen Hub model will add to the model cache (none for a local folder or a cached repo). */
function downloadNeed(s: ReturnType<typeof useStudio.getState>): number {
  const c = s.choice;
  if (c?.kind !== 'hub') return 0;
  const cached = s.cache.entries.filter((e) => e.repo === c.repo).reduce((a, e) => a + e.bytes, 0);
  const entry = CATALOG.find((m) => m.repo === c.repo);
  const spec = s.candidate.spec;
  const total = entry ? entry.downloadBytes : spec ? countModelParams(spec) * storageBytes(spec) : 0;
  return Math.max(0, total - cached);
}

/** What a download (Model tab) or a run (beside the memory estimate) will write, next to what is free. */
export function StorageFit(props: { kind: 'download' | 'run' }) {
  const storage = useStudio((s) => s.storage);
  const datasetBytes = useStudio((s) => s.dataset.file?.size ?? 0);
  const download = useStudio(downloadNeed);
  const plan = usePlan();
  if (storage.status !== 'ready') return null;
  const free = Math.max(0, storage.quota - storage.usage);
  let need: number;
  let what: string;
  if (props.kind === 'download') {
    if (download === 0) return null;
    need = download;
    what = `The download writes ≈${fmtBytes(need)} to the model cache`;
  } else {
    if (!plan?.estimate) return null;
    const w = runWriteBytes(plan.estimate.trainableParams, DEFAULT_KEEP, datasetBytes);
    need = w.total;
    what = `A run writes ≈${fmtBytes(need)} to browser storage (${DEFAULT_KEEP + 1} checkpoints of ${fmtBytes(w.checkpoint)} while one is saved, the dataset copy ${fmtBytes(datasetBytes)})`;
  }
  const v = storageVerdict(need, free);
  return (
    <p className="small" data-testid={`storage-fit-${props.kind}`} data-verdict={v}>
      Storage: <span className={`verdict ${v}`}>{VERDICT[v]}</span> — {what}; {fmtBytes(free)} is free of {fmtBytes(storage.quota)}.
      {v === 'wont-fit' ? ' Delete cached models (Model cache) or old runs (Runs) first.' : ''}
    </p>
  );
}

/** When storage is full: the one-line message, and cached models and old runs to delete right here. */
export function StorageFullOffer() {
  const full = useStudio((s) => s.storageFull);
  const cache = useStudio((s) => s.cache.entries);
  const runs = useStudio((s) => s.runs);
  const activeRun = useStudio((s) => s.activeRun);
  const refreshCache = useStudio((s) => s.refreshCache);
  const clearCache = useStudio((s) => s.clearCache);
  const deleteRun = useStudio((s) => s.deleteRun);
  const storage = useStudio((s) => s.storage);
  const refreshStorage = useStudio((s) => s.refreshStorage);
  const [confirm, setConfirm] = useState<string | null>(null);
  useEffect(() => {
    if (!full) return;
    void refreshCache();
    // The browser counts freed space a little later (and other tabs may free some): keep the figure current.
    const t = setInterval(() => void refreshStorage(), 2000);
    return () => clearInterval(t);
  }, [full, refreshCache, refreshStorage]);
  if (!full) return null;
  const free = Math.max(0, storage.quota - storage.usage);
  const repos = new Map<string, number>();
  for (const e of cache) repos.set(e.repo, (repos.get(e.repo) ?? 0) + e.bytes);
  const old = runs.filter((r) => r.id !== activeRun?.runId);
  return (
    <section className="alert" aria-label="Storage is full" data-testid="storage-full" data-what={full.what} data-free={storage.status === 'ready' ? free : ''}>
      <p role="alert" data-testid="storage-full-message">
        {full.message}
      </p>
      {storage.status === 'ready' && (
        <p className="small" data-testid="storage-free">
          Free now: {fmtBytes(free)} of {fmtBytes(storage.quota)}.
        </p>
      )}
      {repos.size === 0 && old.length === 0 && <p className="small">Nothing the studio stored can go: free space in the browser's site data settings.</p>}
      <ul className="small">
        {[...repos].map(([repo, bytes]) => (
          <li key={repo} data-testid="free-model">
            Cached model <b>{repo}</b> ({fmtBytes(bytes)}){' '}
            <button type="button" onClick={() => void clearCache(repo)} aria-label={`Clear the cache of ${repo}`}>
              Clear
            </button>
          </li>
        ))}
        {old.map((r) => (
          <li key={r.id} data-testid="free-run">
            Run <b>{r.name}</b> ({r.stored ? fmtBytes(r.stored.checkpoints + r.stored.dataset) : 'size unknown'}){' '}
            {confirm === r.id ? (
              <button type="button" className="danger" onClick={() => void deleteRun(r.id)}>
                Delete for good
              </button>
            ) : (
              <button type="button" className="danger" onClick={() => setConfirm(r.id)} aria-label={`Delete ${r.name}`}>
                Delete
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
