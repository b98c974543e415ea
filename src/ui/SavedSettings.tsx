// Saved settings on the Settings tab: name and save the knobs, load or delete them later, export
// and import them as JSON; and "Copy as command": the npm run train line of these settings.
import { useRef, useState } from 'react';
import { useStudio } from '../store';

export function SavedSettingsPanel() {
  const saved = useStudio((s) => s.savedSettings);
  const message = useStudio((s) => s.settingsMessage);
  const save = useStudio((s) => s.saveSettings);
  const load = useStudio((s) => s.loadSettings);
  const remove = useStudio((s) => s.deleteSettings);
  const exportOne = useStudio((s) => s.exportSettings);
  const importFile = useStudio((s) => s.importSettings);
  const copy = useStudio((s) => s.copyCommand);
  // The command follows the knobs, the model and the data.
  const command = useStudio((s) => s.commandLine());
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState('');
  const file = useRef<HTMLInputElement>(null);
  const pick = chosen && saved.some((s) => s.name === chosen) ? chosen : (saved[0]?.name ?? '');
  return (
    <section className="panel" aria-labelledby="saved-h">
      <h2 id="saved-h">Saved settings</h2>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          save(name);
        }}
      >
        <label htmlFor="settings-name">Name</label>
        <input id="settings-name" type="text" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. small model, short run" data-testid="settings-name" />
        <button type="submit" data-testid="settings-save">
          Save these settings
        </button>
      </form>
      <div className="row" style={{ marginTop: '0.5rem' }}>
        <label htmlFor="settings-saved">Saved</label>
        <select id="settings-saved" value={pick} onChange={(e) => setChosen(e.target.value)} disabled={saved.length === 0} data-testid="settings-saved">
          {saved.length === 0 && <option value="">none yet</option>}
          {saved.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
        <button type="button" disabled={!pick} onClick={() => load(pick)} data-testid="settings-load">
          Load
        </button>
        <button type="button" disabled={!pick} onClick={() => exportOne(pick)} data-testid="settings-export">
          Export (.json)
        </button>
        <button type="button" className="danger" disabled={!pick} onClick={() => remove(pick)}>
          Delete
        </button>
        <button type="button" onClick={() => file.current?.click()}>
          Import (.json)
        </button>
        <input
          ref={file}
          type="file"
          hidden
          accept=".json,application/json"
          aria-label="Import settings from a JSON file"
          data-testid="settings-import"
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f) void importFile(f);
          }}
        />
      </div>
      <div className="row" style={{ marginTop: '0.5rem' }}>
        <button type="button" onClick={() => void copy()} data-testid="copy-command">
          Copy as command
        </button>
        <span className="small muted">The same run from a terminal, in the project folder (npm run train).</span>
      </div>
      <pre className="small" data-testid="command-line" aria-label="The command">
        {command}
      </pre>
      {message && (
        <p className={message.error ? 'alert' : 'small'} role={message.error ? 'alert' : 'status'} data-testid="settings-message">
          {message.text}
        </p>
      )}
    </section>
  );
}
