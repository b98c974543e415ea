// The time estimate beside the memory estimate: the run's steps × this GPU's measured pace for
// these settings ("about 4 minutes for 200 steps on this GPU"); while a run trains, its own time
// left. Asks the store to measure the pace when the settings change (the store debounces, caches
// and never measures during a run).
import { useEffect } from 'react';
import { useStudio } from '../store';
import { currentPaceKey } from '../store/calibration';
import { estimateLine, estimateSeconds, fmtEstimate, paceTokensPerSecond, runSteps, trainExamples } from '../store/estimate';

export function TimeEstimate() {
  const key = useStudio(currentPaceKey);
  const pace = useStudio((s) => (key ? s.paces[key] : undefined));
  const calibrating = useStudio((s) => key !== null && s.calibrating === key);
  const error = useStudio((s) => s.calibrationError);
  const knobs = useStudio((s) => s.knobs);
  const loaded = useStudio((s) => s.loaded !== null);
  const nExamples = useStudio((s) => (s.dataset.summary?.ok ? (s.dataset.summary.stats?.examples ?? null) : null));
  const evalFile = useStudio((s) => s.evalFile.file !== null);
  const live = useStudio((s) => {
    const a = s.activeRun;
    return a ? s.runs.find((r) => r.id === a.runId) : undefined;
  });
  const request = useStudio((s) => s.requestCalibration);
  // Measured only where the estimate matters (Settings, Train), not while a dataset is being chosen.
  const shown = useStudio((s) => s.tab === 'settings' || s.tab === 'train');
  useEffect(() => {
    if (key && shown) request();
  }, [key, shown, request]);
  if (!shown) return null;

  let text: string;
  let seconds: number | null = null;
  if (live) {
    seconds = live.status === 'running' && Number.isFinite(live.metrics.etaSeconds) ? live.metrics.etaSeconds : null;
    text = seconds !== null ? `${fmtEstimate(seconds)} left, at this run's own pace` : 'measuring this run\'s pace…';
  } else if (!loaded) text = 'Load the model to measure how fast it trains on this GPU.';
  else if (!key) text = 'Load the model with these settings\' quantization to measure its speed.';
  else if (!pace) text = calibrating ? 'Measuring this GPU\'s speed with these settings (a few training steps)…' : error ? `Could not measure the speed: ${error}` : 'Measuring this GPU\'s speed soon…';
  else {
    const steps = runSteps(knobs, nExamples === null ? null : trainExamples(nExamples, knobs.evalSplit, evalFile));
    if (steps === null) text = `${fmtEstimate(estimateSeconds(pace, 1, knobs.gradAccum))} per step on this GPU; add a dataset to count the steps of ${knobs.epochs} epochs.`;
    else {
      seconds = estimateSeconds(pace, steps, knobs.gradAccum);
      text = estimateLine(seconds, steps);
    }
  }
  return (
    <p className="small" aria-live="polite" data-testid="time-estimate" data-seconds={seconds ?? ''} data-source={live ? 'run' : (pace?.source ?? '')}>
      <b>Time:</b> {text}
      {!live && pace && (
        <span className="muted">
          {' '}
          (≈ {Math.round(paceTokensPerSecond(pace, knobs.batchSize, knobs.seqLen)).toLocaleString('en-US')} tokens/s, {pace.source === 'run' ? 'measured by a run with these settings' : pace.scaled ? 'scaled from a shorter measured step' : 'measured'})
        </span>
      )}
    </p>
  );
}
