// Model: a curated Hub list, any repo id, or a local folder (opened or dropped); the memory
// estimate before downloading; loading with a progress bar (bytes, speed, ETA); the model cache.
import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { useStudio } from '../store';
import { CATALOG, catalogSpec, fmtParams, KNOB_HELP, KNOB_LABEL, countModelParams, fmtBytes, isQalora, QUANT_MODES, type QuantMode } from '../store/plan';
import { fmtDuration } from '../store/progress';
import { DropZone, ErrorLine, Field, FolderInput, MemoryCard, NumberInput, ProgressBar } from './controls';
import { PersistNote, StorageFit, StorageFullOffer, StorageUse } from './StoragePanel';

type Entry = { path: string; file: File };

/** Files of a dropped folder (or files), with their paths inside it. Entries must be taken during the drop event. */
export function droppedEntries(e: DragEvent): Promise<Entry[]> {
  const roots = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry?.() ?? null).filter((x): x is FileSystemEntry => x !== null);
  const plain = [...e.dataTransfer.files];
  if (roots.length === 0) return Promise.resolve(plain.map((file) => ({ path: file.name, file })));
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<Entry[]> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      return [{ path: prefix + entry.name, file }];
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    const children: FileSystemEntry[] = [];
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      children.push(...batch);
    }
    const nested = await Promise.all(children.map((c) => walk(c, `${prefix}${entry.name}/`)));
    return nested.flat();
  };
  return Promise.all(roots.map((r) => walk(r, ''))).then((x) => x.flat());
}

function LoadProgress() {
  const load = useStudio((s) => s.load);
  if (load.status !== 'loading') return null;
  const download = load.stage === 'download';
  return (
    <div aria-live="polite" data-testid="load-progress">
      <ProgressBar value={load.loaded} max={load.total} label={download ? 'Downloading the model' : 'Uploading weights to the GPU'} />
      <p className="small">
        {load.stage === 'starting' && 'Starting…'}
        {download && (
          <>
            Downloading: {fmtBytes(load.loaded)} of {fmtBytes(load.total)} · {fmtBytes(load.bytesPerSecond)}/s · {fmtDuration(load.etaSeconds)} left · now <code>{load.detail}</code>
          </>
        )}
        {load.stage === 'weights' && (
          <>
            Weights to the GPU: tensor {load.loaded} of {load.total} <code>{load.detail}</code>
          </>
        )}
      </p>
    </div>
  );
}

function CachePanel() {
  const cache = useStudio((s) => s.cache);
  const refresh = useStudio((s) => s.refreshCache);
  const clear = useStudio((s) => s.clearCache);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  const byRepo = new Map<string, { files: number; bytes: number }>();
  for (const e of cache.entries) {
    const r = byRepo.get(e.repo) ?? { files: 0, bytes: 0 };
    r.files++;
    r.bytes += e.bytes;
    byRepo.set(e.repo, r);
  }
  const total = cache.entries.reduce((a, e) => a + e.bytes, 0);
  return (
    <section className="panel" aria-labelledby="cache-h">
      <h2 id="cache-h">Model cache</h2>
      <p className="muted small">Hub downloads are kept in this browser (Cache API), so loading the same model again needs no network.</p>
      <StorageUse />
      <ErrorLine message={cache.error} />
      {byRepo.size === 0 ? (
        <p data-testid="cache-empty">{cache.status === 'loading' ? 'Reading the cache…' : 'The cache is empty.'}</p>
      ) : (
        <div className="table-wrap">
          <table className="data" data-testid="cache-table">
            <thead>
              <tr>
                <th>Repository</th>
                <th className="num">Files</th>
                <th className="num">Size</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {[...byRepo].map(([repo, r]) => (
                <tr key={repo}>
                  <td>{repo}</td>
                  <td className="num">{r.files}</td>
                  <td className="num">{fmtBytes(r.bytes)}</td>
                  <td>
                    <button type="button" onClick={() => void clear(repo)} aria-label={`Clear the cache of ${repo}`}>
                      Clear
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="row">
        <span className="small muted" data-testid="cache-total">
          {fmtBytes(total)} cached
        </span>
        <button type="button" onClick={() => void refresh()}>
          Refresh
        </button>
        <button type="button" className="danger" disabled={byRepo.size === 0} onClick={() => void clear()}>
          Clear all
        </button>
      </div>
    </section>
  );
}

export function ModelPanel() {
  const choice = useStudio((s) => s.choice);
  const chooseHub = useStudio((s) => s.chooseHub);
  const chooseFiles = useStudio((s) => s.chooseFiles);
  const checkHubConfig = useStudio((s) => s.checkHubConfig);
  const revision = useStudio((s) => s.revision);
  const setRevision = useStudio((s) => s.setRevision);
  const token = useStudio((s) => s.token);
  const setToken = useStudio((s) => s.setToken);
  const candidate = useStudio((s) => s.candidate);
  const folderIssue = useStudio((s) => (s.choice?.kind === 'files' ? s.folderIssue : null));
  const load = useStudio((s) => s.load);
  const loaded = useStudio((s) => s.loaded);
  const loadModel = useStudio((s) => s.loadModel);
  const quant = useStudio((s) => s.knobs.quant);
  const groupSize = useStudio((s) => s.knobs.groupSize);
  const setKnob = useStudio((s) => s.setKnob);
  const activeRun = useStudio((s) => s.activeRun);
  const tryDemo = useStudio((s) => s.tryDemo);
  const [repoText, setRepoText] = useState('');
  const dirInput = useRef<HTMLInputElement>(null);
  const ids = { repo: useId(), rev: useId(), token: useId() };
  const selectedRepo = choice?.kind === 'hub' ? choice.repo : null;
  const gated = CATALOG.find((m) => m.repo === selectedRepo)?.gated ?? false;
  const chosenLabel = choice ? (choice.kind === 'hub' ? choice.repo : `${choice.name} (local folder, ${choice.files.length} files)`) : null;

  return (
    <div>
      <section className="panel" aria-labelledby="model-h">
        <h2 id="model-h">Choose a model</h2>
        <div className="row">
          <button type="button" onClick={() => void tryDemo()} disabled={!!activeRun} data-testid="try-demo">
            Try the demo
          </button>
          <span className="small muted">
            stories260K (a real 260K-parameter model, 1 MB, served by this page) and 64 short stories about a purple frog, with settings
            that finish a first fine-tune in about a minute. Nothing is downloaded from the Hub.
          </span>
        </div>
        <fieldset>
          <legend>Curated Hub models</legend>
          <ul className="catalog">
            {CATALOG.map((m) => {
              const params = countModelParams(catalogSpec(m));
              return (
                <li key={m.repo}>
                  <label>
                    <input type="radio" name="catalog-model" value={m.repo} checked={selectedRepo === m.repo && choice?.kind === 'hub' && choice.catalog} onChange={() => chooseHub(m.repo, true)} />
                    <b>{m.label}</b>
                    <span className="small muted">
                      {' '}
                      · {fmtParams(params)} params · ≈{fmtBytes(m.downloadBytes)} download
                    </span>
                    <br />
                    <span className="small muted">{m.note}</span>
                  </label>
                </li>
              );
            })}
          </ul>
        </fieldset>
        <fieldset>
          <legend>Any Hub repository</legend>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              if (!repoText.trim()) return;
              chooseHub(repoText.trim(), false);
              void checkHubConfig();
            }}
          >
            <div className="field" style={{ flex: '1 1 18rem' }}>
              <label htmlFor={ids.repo}>Repo id</label>
              <input id={ids.repo} type="text" placeholder="org/name, e.g. HuggingFaceTB/SmolLM2-135M" value={repoText} onChange={(e) => setRepoText(e.target.value)} aria-describedby={`${ids.repo}-h`} />
              <span className="help" id={`${ids.repo}-h`}>
                Llama, Mistral, Qwen2 or GPT-2 checkpoints in safetensors or pytorch_model.bin with a tokenizer.json. Checking reads only its config.json.
              </span>
            </div>
            <button type="submit">Check</button>
          </form>
          <div className="grid2">
            <div className="field">
              <label htmlFor={ids.rev}>Revision</label>
              <input id={ids.rev} type="text" placeholder="main" value={revision} onChange={(e) => setRevision(e.target.value)} aria-describedby={`${ids.rev}-h`} />
              <span className="help" id={`${ids.rev}-h`}>
                Branch, tag or commit (default main).
              </span>
            </div>
            <div className="field">
              <label htmlFor={ids.token}>Access token{gated ? ' (needed for this gated model)' : ''}</label>
              <input id={ids.token} type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} aria-describedby={`${ids.token}-h`} />
              <span className="help" id={`${ids.token}-h`}>
                Only for gated or private repos: sent to huggingface.co only, never stored.
              </span>
            </div>
          </div>
        </fieldset>
        <fieldset>
          <legend>Local model folder</legend>
          <DropZone
            label="Drop a model folder here, or press to open one"
            testId="model-dropzone"
            openPicker={() => dirInput.current?.click()}
            onFiles={(_, e) => {
              if (e) void droppedEntries(e).then((entries) => chooseFiles(entries));
            }}
          >
            Drop a model folder here (config.json, model.safetensors or pytorch_model.bin, tokenizer.json), or press to open one. The files stay on this computer.
          </DropZone>
          <FolderInput inputRef={dirInput} label="Open a model folder" testId="model-folder-input" onEntries={(entries) => void chooseFiles(entries)} />
        </fieldset>
      </section>

      <section className="panel" aria-labelledby="chosen-h">
        <h2 id="chosen-h">Memory and loading</h2>
        {chosenLabel ? (
          <p>
            Chosen: <b data-testid="chosen-model">{chosenLabel}</b>
            {candidate.status === 'checking' && <span className="muted"> — reading its config…</span>}
          </p>
        ) : (
          <p className="muted">No model chosen yet.</p>
        )}
        <ErrorLine message={candidate.error} testId="candidate-error" />
        <MemoryCard />
        <StorageFit kind="download" />
        <div className="grid2" style={{ marginTop: '0.75rem' }}>
          <Field label={KNOB_LABEL.quant} help="How the frozen base is stored on the GPU (applies when the model is loaded).">
            {(id, h) => (
              <select id={id} aria-describedby={h} value={quant} onChange={(e) => setKnob('quant', e.target.value as QuantMode)} data-testid="model-quant">
                {QUANT_MODES.map((q) => (
                  <option key={q} value={q}>
                    {q === 'none' ? 'none (f16/f32)' : q}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {isQalora(quant) && (
            <Field label={KNOB_LABEL.groupSize} help={KNOB_HELP.groupSize}>
              {(id, h) => <NumberInput id={id} value={groupSize} integer min={1} describedBy={h} onCommit={(v) => setKnob('groupSize', v)} />}
            </Field>
          )}
        </div>
        <div className="row" style={{ marginTop: '0.75rem' }}>
          <button type="button" className="primary" data-testid="load-model" disabled={!choice || load.status === 'loading' || activeRun !== null || folderIssue !== null} aria-describedby={folderIssue ? 'load-blocked' : undefined} onClick={() => void loadModel()}>
            {load.status === 'loading' ? 'Loading…' : choice?.kind === 'hub' ? 'Download and load' : 'Load model'}
          </button>
        </div>
        {folderIssue && (
          <p className="note small" id="load-blocked" data-testid="load-blocked">
            {folderIssue}
          </p>
        )}
        <LoadProgress />
        <PersistNote />
        <StorageFullOffer />
        <ErrorLine message={load.status === 'error' ? load.message : null} testId="load-error" />
        {loaded && (
          <div data-testid="model-loaded" data-loaded-at={loaded.loadedAt} aria-live="polite">
            <p className="okline">
              Loaded <b data-testid="loaded-name">{loaded.info.name}</b>
            </p>
            <dl className="kv small">
              <dt>Architecture</dt>
              <dd>{loaded.info.modelType}</dd>
              <dt>Parameters</dt>
              <dd data-testid="loaded-params">{loaded.info.params.toLocaleString('en-US')}</dd>
              <dt>Layers × hidden</dt>
              <dd>
                {loaded.info.layers} × {loaded.info.hidden}
              </dd>
              <dt>Vocabulary</dt>
              <dd>{loaded.info.vocab.toLocaleString('en-US')}</dd>
              <dt>Context</dt>
              <dd>{loaded.info.maxPositions.toLocaleString('en-US')} tokens</dd>
              <dt>Weights on the GPU</dt>
              <dd data-testid="loaded-weights">
                {fmtBytes(loaded.info.baseWeightBytes)} ({loaded.info.quant === 'none' ? loaded.info.weightsDType : `${loaded.info.quant}${isQalora(loaded.info.quant) ? `, group size ${loaded.info.groupSize}` : ''}; the rest ${loaded.info.weightsDType}`})
              </dd>
              {loaded.info.unquantized.length > 0 && (
                <>
                  <dt>Kept unquantized</dt>
                  <dd className="small">
                    {loaded.info.unquantized.length} matrices: {loaded.info.unquantized[0].reason}
                  </dd>
                </>
              )}
            </dl>
          </div>
        )}
      </section>
      <CachePanel />
    </div>
  );
}
