// The studio page: header (WebGPU status, theme), tabs for each step of the flow, and the memory
// estimate beside them on wide screens. Panels talk only to the store.
import { useEffect, useRef, type KeyboardEvent } from 'react';
import { useStudio } from '../store';
import { OPTION_PLACE } from '../store/plan';
import type { Tab } from '../store/types';
import type { Theme } from '../store/ui';
import { DatasetPanel } from './DatasetPanel';
import { ExperimentPanel } from './ExperimentPanel';
import { GpuStatus } from './GpuStatus';
import { ModelPanel } from './ModelPanel';
import { PlaygroundPanel } from './PlaygroundPanel';
import { RunsPanel } from './RunsPanel';
import { ResumeBanner } from './ResumeBanner';
import { PlanAside, SettingsPanel } from './SettingsPanel';
import { TrainPanel } from './TrainPanel';

const TABS: { id: Tab; label: string }[] = [
  { id: 'model', label: 'Model' },
  { id: 'dataset', label: 'Dataset' },
  { id: 'settings', label: 'Settings' },
  { id: 'train', label: 'Train' },
  { id: 'experiment', label: 'Experiment' },
  { id: 'playground', label: 'Playground' },
  { id: 'runs', label: 'Runs' },
];

/** Tabs that show the memory estimate beside them (the Model tab shows its own, full card). */
const ASIDE_TABS: Tab[] = ['dataset', 'settings', 'train'];

function TabState(props: { tab: Tab }) {
  const loaded = useStudio((s) => s.loaded !== null);
  const ds = useStudio((s) => s.dataset.status);
  const warned = useStudio((s) => (s.dataset.summary?.ok && s.dataset.summary.stats?.warnings.length ? true : false));
  const active = useStudio((s) => s.activeRun?.phase ?? null);
  const n = useStudio((s) => s.runs.length);
  let text = '';
  if (props.tab === 'model') text = loaded ? '✓' : '';
  if (props.tab === 'dataset') text = ds === 'ready' ? (warned ? '⚠' : '✓') : ds === 'error' ? '!' : '';
  if (props.tab === 'train') text = active ?? '';
  if (props.tab === 'runs') text = n ? String(n) : '';
  return text ? <span className="tab-state">{text}</span> : null;
}

/** The message of an error that named a control, above the panel that holds it; the control takes the focus. */
function FocusNote() {
  const focus = useStudio((s) => s.focus);
  const tab = useStudio((s) => s.tab);
  const clear = useStudio((s) => s.clearFocus);
  useEffect(() => {
    if (!focus) return;
    // After the tab's panel has rendered: the control that sets the option.
    const id = requestAnimationFrame(() => {
      const el = document.querySelector<HTMLElement>(`main [data-option="${focus.option}"]`);
      el?.focus();
      el?.scrollIntoView({ block: 'center' });
    });
    return () => cancelAnimationFrame(id);
  }, [focus, tab]);
  if (!focus || OPTION_PLACE[focus.option].tab !== tab) return null;
  return (
    <div className="alert row" role="alert" data-testid="focus-message" style={{ justifyContent: 'space-between' }}>
      <span>{focus.message}</span>
      <button type="button" onClick={clear}>
        Dismiss
      </button>
    </div>
  );
}

function ThemePicker() {
  const theme = useStudio((s) => s.theme);
  const setTheme = useStudio((s) => s.setTheme);
  return (
    <label className="small">
      Theme{' '}
      <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)} data-testid="theme">
        <option value="system">system</option>
        <option value="light">light</option>
        <option value="dark">dark</option>
      </select>
    </label>
  );
}

export function App() {
  const tab = useStudio((s) => s.tab);
  const setTab = useStudio((s) => s.setTab);
  const theme = useStudio((s) => s.theme);
  const checkGpu = useStudio((s) => s.checkGpu);
  const loadRuns = useStudio((s) => s.loadRuns);
  const loadExperiments = useStudio((s) => s.loadExperiments);
  const gpuMissing = useStudio((s) => s.gpu.status === 'missing');
  const tabRefs = useRef<Map<Tab, HTMLButtonElement>>(new Map());

  useEffect(() => {
    void checkGpu();
    void loadRuns();
    void loadExperiments();
  }, [checkGpu, loadRuns, loadExperiments]);

  useEffect(() => {
    const root = document.documentElement;
    if (theme === 'system') root.removeAttribute('data-theme');
    else root.setAttribute('data-theme', theme);
  }, [theme]);

  // Arrow keys move between tabs (the WAI-ARIA tabs pattern); Tab moves into the panel.
  const onTabKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = TABS.length - 1;
    if (j < 0) return;
    e.preventDefault();
    setTab(TABS[j].id);
    tabRefs.current.get(TABS[j].id)?.focus();
  };

  return (
    <div className="app">
      <header className="topbar">
        <h1>LoRA Studio</h1>
        <p className="tagline">Fine-tune language models with LoRA on your own GPU. Nothing leaves your machine except model downloads from the Hub.</p>
        <ThemePicker />
      </header>
      <GpuStatus />
      {!gpuMissing && (
        <>
          <ResumeBanner />
          <nav className="tabs" role="tablist" aria-label="Studio steps" onKeyDown={onTabKey}>
            {TABS.map((t) => (
              <button
                key={t.id}
                ref={(el) => {
                  if (el) tabRefs.current.set(t.id, el);
                }}
                type="button"
                role="tab"
                id={`tab-${t.id}`}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                onClick={() => setTab(t.id)}
              >
                {t.label}
                <TabState tab={t.id} />
              </button>
            ))}
          </nav>
          <div className={ASIDE_TABS.includes(tab) ? 'layout' : 'layout single'}>
            <main role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
              <FocusNote />
              {tab === 'model' && <ModelPanel />}
              {tab === 'dataset' && <DatasetPanel />}
              {tab === 'settings' && <SettingsPanel />}
              {tab === 'train' && <TrainPanel />}
              {tab === 'experiment' && <ExperimentPanel />}
              {tab === 'playground' && <PlaygroundPanel />}
              {tab === 'runs' && <RunsPanel />}
            </main>
            {ASIDE_TABS.includes(tab) && <PlanAside />}
          </div>
        </>
      )}
    </div>
  );
}
