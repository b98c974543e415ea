// The playground's adapter: a run trained on the loaded base, or an adapter folder opened or
// dropped here (PEFT, TRL, Unsloth, LLaMA-Factory), loaded onto the base without reloading it.
import { useId, useRef } from 'react';
import { useStudio } from '../store';
import type { RunRecord } from '../store/types';
import { DropZone, ErrorLine, FolderInput } from './controls';
import { droppedEntries } from './ModelPanel';

/** Runs of the loaded base with a saved adapter (what the picker lists besides opened folders). */
export function useRunAdapters(): RunRecord[] {
  const runs = useStudio((s) => s.runs);
  const loaded = useStudio((s) => s.loaded);
  return runs.filter((r) => loaded && r.model.name === loaded.info.name && r.checkpointStep !== null && r.status !== 'running' && r.status !== 'paused');
}

/** The id the playground answers with: the chosen one, else the first run, else the first opened folder ('' = none). */
export function useSelectedAdapter(): string {
  const chosen = useStudio((s) => s.playground.adapterId);
  const runs = useRunAdapters();
  const folders = useStudio((s) => s.externalAdapters);
  return chosen ?? runs[0]?.id ?? folders[0]?.id ?? '';
}

export function AdapterPicker(props: { busy: boolean }) {
  const runs = useRunAdapters();
  const folders = useStudio((s) => s.externalAdapters);
  const select = useStudio((s) => s.selectAdapter);
  const open = useStudio((s) => s.openAdapterFolder);
  const opening = useStudio((s) => s.openingAdapter);
  const error = useStudio((s) => s.adapterFolderError);
  const loaded = useStudio((s) => s.loaded);
  const selected = useSelectedAdapter();
  const folder = folders.find((f) => f.id === selected);
  const id = useId();
  const dirInput = useRef<HTMLInputElement>(null);
  const disabled = props.busy || opening || !loaded;
  return (
    <div className="field">
      <label htmlFor={id}>Adapter</label>
      <select id={id} value={selected} disabled={props.busy || opening} onChange={(e) => void select(e.target.value || null)} data-testid="pg-adapter" aria-describedby={`${id}-h`}>
        {runs.length + folders.length === 0 && <option value="">no adapter for this model yet</option>}
        {runs.length > 0 && (
          <optgroup label="Runs">
            {runs.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </optgroup>
        )}
        {folders.length > 0 && (
          <optgroup label="Opened adapter folders">
            {folders.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} (folder)
              </option>
            ))}
          </optgroup>
        )}
      </select>
      <span className="help" id={`${id}-h`}>
        Runs trained on the loaded base, or an adapter folder opened below; switching keeps the base in memory. An opened folder stays on the GPU while it is the chosen adapter.
      </span>
      {folder && (
        <span className="small muted" data-testid="pg-adapter-info">
          {folder.info.file}: LoRA rank {folder.info.r}, alpha {folder.info.loraAlpha}
          {folder.info.useRslora ? ' (rsLoRA)' : ''} on {folder.info.modules} modules
          {folder.info.baseModel ? `, trained on ${folder.info.baseModel}` : ''}
        </span>
      )}
      <DropZone
        label="Drop an adapter folder here, or press to open one"
        testId="pg-adapter-dropzone"
        openPicker={() => {
          if (!disabled) dirInput.current?.click();
        }}
        onFiles={(_, e) => {
          if (e && !disabled) void droppedEntries(e).then((entries) => open(entries));
        }}
      >
        {opening
          ? 'Reading the adapter…'
          : 'Drop an adapter folder here, or press to open one (adapter_config.json + adapter_model.safetensors or .bin, as PEFT, TRL, Unsloth or LLaMA-Factory save it).'}
      </DropZone>
      <FolderInput inputRef={dirInput} label="Open an adapter folder" testId="pg-adapter-folder-input" onEntries={(entries) => void open(entries)} />
      <ErrorLine message={error} testId="pg-adapter-error" />
    </div>
  );
}
