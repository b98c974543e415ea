// The live plan of the chosen model and knobs, memoized per render (the computation is the store's
// planOf: memory estimate, fit verdict, problems).
import { useMemo } from 'react';
import { useStudio } from '../store';
import { planOf, type Plan } from '../store/plan';


export function usePlan(): Plan | null {
  const loaded = useStudio((s) => s.loaded);
  const candidate = useStudio((s) => s.candidate);
  const choice = useStudio((s) => s.choice);
  const knobs = useStudio((s) => s.knobs);
  const gpu = useStudio((s) => s.gpu);
  const budgetGiB = useStudio((s) => s.budgetGiB);
  return useMemo(
    () =>
      planOf({
        spec: loaded?.spec ?? candidate.spec,
        loadedWeightBytes: loaded ? (loaded.info.weightsDType === 'f16' ? 2 : 4) : null,
        modelName: loaded?.info.name ?? (choice?.kind === 'hub' ? choice.repo : choice?.name ?? 'model'),
        knobs, gpu, budgetGiB,
      }),
    [loaded, candidate.spec, choice, knobs, gpu, budgetGiB],
  );
}
