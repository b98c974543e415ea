// Open a Hugging Face dataset by id: the id field, then its config and split (from the Hub's
// dataset viewer listing) and the download of the chosen split's Parquet files. Gated or private
// datasets use the access token given in the Model tab.
import { useId, useState } from 'react';
import { useStudio } from '../store';
import { Field, ProgressBar } from './controls';

function mb(bytes: number): string {
  return `${(bytes / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} MB`;
}

export function HubDataset() {
  const hub = useStudio((s) => s.dataset.hub);
  const download = useStudio((s) => s.dataset.download);
  const busy = useStudio((s) => s.dataset.status === 'preparing');
  const open = useStudio((s) => s.openHubDataset);
  const setSplit = useStudio((s) => s.setHubSplit);
  const [id, setId] = useState('');
  const idField = useId();
  const config = hub?.configs.find((c) => c.config === hub.config);
  const size = hub ? hub.sizes[`${hub.config}/${hub.split}`] : undefined;
  return (
    <div className="hub-dataset">
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (id.trim()) void open(id);
        }}
      >
        <label htmlFor={idField}>Hub dataset</label>
        <input id={idField} value={id} onChange={(e) => setId(e.target.value)} placeholder="OWNER/NAME, e.g. tatsu-lab/alpaca" spellCheck={false} data-testid="hub-dataset-id" />
        <button type="submit" disabled={!id.trim() || busy} data-testid="hub-dataset-open">
          Open
        </button>
      </form>
      <p className="muted small">
        Read from the Hub's Parquet export (huggingface.co) and cached in this browser; nothing is uploaded. Gated or private datasets use the access token of the
        Model tab.
      </p>
      {hub && (
        <div className="grid2">
          <Field label="Config" help="The dataset's subset.">
            {(fid, h) => (
              <select id={fid} aria-describedby={h} value={hub.config} onChange={(e) => setSplit(e.target.value)} data-testid="hub-config">
                {hub.configs.map((c) => (
                  <option key={c.config} value={c.config}>
                    {c.config}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Split" help={size ? `${size.files} Parquet file${size.files === 1 ? '' : 's'}, ${mb(size.bytes)}${hub.partial ? ' (the Hub converted only the first part of this dataset)' : ''}.` : 'Which rows to train on.'}>
            {(fid, h) => (
              <select id={fid} aria-describedby={h} value={hub.split} onChange={(e) => setSplit(hub.config, e.target.value)} data-testid="hub-split">
                {(config?.splits ?? []).map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
      )}
      {download && download.total > 0 && (
        <>
          <p className="small muted">
            Downloading {download.detail}: {mb(download.loaded)} of {mb(download.total)}
          </p>
          <ProgressBar value={download.loaded} max={download.total} label="Dataset download" testId="hub-download" />
        </>
      )}
    </div>
  );
}
