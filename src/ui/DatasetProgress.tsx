// While a dataset is read and tokenized in the worker: a progress bar over the file's bytes and the
// counts so far (rows read, examples, tokens), updated from the worker's datasetProgress events.
import { useStudio } from '../store';
import { ProgressBar } from './controls';

const fmt = (x: number) => x.toLocaleString('en-US');

export function DatasetProgress() {
  const status = useStudio((s) => s.dataset.status);
  const p = useStudio((s) => s.dataset.progress);
  if (status !== 'preparing' || !p) return null;
  const total = p.totalBytes ?? 0;
  return (
    <div data-testid="dataset-progress">
      <p className="small muted" data-testid="dataset-progress-counts">
        Read {fmt(p.rows)} rows · {fmt(p.examples)} examples · {fmt(p.tokens)} tokens
        {total > 0 && <> · {Math.floor((100 * Math.min(p.bytes, total)) / total)}% of the file</>}
      </p>
      {total > 0 && <ProgressBar value={Math.min(p.bytes, total)} max={total} label="Reading the dataset" testId="dataset-progress-bar" />}
    </div>
  );
}
