// The run a closed or reloaded page left behind, announced on every tab: where it stopped, and
// Resume / Discard. Its settings, dataset and model choice are already back (store/run.ts
// restoreClosedRun); resuming asks only for what a browser cannot keep: a local model folder.
import { useStudio } from '../store';
import { closedRun, lastStep } from '../store/runlogic';

export function ResumeBanner() {
  const run = useStudio((s) => closedRun(s.runs));
  const choice = useStudio((s) => s.choice);
  const busy = useStudio((s) => s.activeRun !== null);
  const resume = useStudio((s) => s.resumeInterrupted);
  const resumeExperiment = useStudio((s) => s.resumeExperiment);
  const experiment = useStudio((s) => (run?.experiment ? s.experiments.find((x) => x.id === run.experiment!.id) ?? null : null));
  const discard = useStudio((s) => s.discardClosedRun);
  const setTab = useStudio((s) => s.setTab);
  if (!run || busy) return null;
  const src = run.model.source;
  const needsFolder = src.kind === 'files' && !(choice?.kind === 'files' && choice.name === src.name);
  const stopped = lastStep(run);
  return (
    <section className="banner" role="status" aria-label="Interrupted run" data-testid="resume-banner" data-run-id={run.id}>
      <p>
        {experiment && <>Experiment “{experiment.name}”, run {run.experiment!.index + 1} of {experiment.plan.length}: </>}
        Run “<span className="ellipsis" title={run.name}>{run.name}</span>” stopped at step {stopped} of {run.totalSteps} (page closed).
        {run.checkpointStep !== stopped && <> It continues from its checkpoint of step {run.checkpointStep}.</>} Its settings, dataset and model choice are back.
      </p>
      {needsFolder && (
        <p className="small" data-testid="resume-needs-folder">
          To resume, open the model folder “{src.name}” again (Model tab): a browser does not keep a folder between visits.
        </p>
      )}
      <div className="row">
        <button
          type="button"
          className="primary"
          disabled={needsFolder}
          data-testid="banner-resume"
          onClick={() => {
            // A run of an experiment resumes the experiment: that run, then the runs after it.
            setTab(experiment ? 'experiment' : 'train');
            void (experiment ? resumeExperiment(experiment.id) : resume(run.id));
          }}
        >
          Resume
        </button>
        {needsFolder && (
          <button type="button" onClick={() => setTab('model')}>
            Open the Model tab
          </button>
        )}
        <button type="button" data-testid="banner-discard" onClick={() => void discard(run.id)}>
          Discard
        </button>
      </div>
    </section>
  );
}
