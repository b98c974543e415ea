// The live plan of the chosen model and knobs: memory estimate, fit verdict, trainable parameters.
import { useMemo } from 'react';
import { useStudio } from '../store';
import { storageBytes } from '../plan/catalog';
import { knobProblems, targetsString } from '../plan/knobs';
import { estimateMemory, judgeFit, tilingOfAdapter, type FitReport, type MemoryEstimate } from '../plan/memory';

export interface Plan {
  estimate: MemoryEstimate | null;
  fit: FitReport | null;
  /** Why there is no estimate (bad knobs), one line. */
  error: string | null;
  problems: string[];
  modelName: string;
}

export function usePlan(): Plan | null {
  const loaded = useStudio((s) => s.loaded);
  const candidate = useStudio((s) => s.candidate);
  const choice = useStudio((s) => s.choice);
  const knobs = useStudio((s) => s.knobs);
  const gpu = useStudio((s) => s.gpu);
  const budgetGiB = useStudio((s) => s.budgetGiB);
  return useMemo(() => {
    const spec = loaded?.spec ?? candidate.spec;
    if (!spec) return null;
    const modelName = loaded?.info.name ?? (choice?.kind === 'hub' ? choice.repo : choice?.name ?? 'model');
    const problems = knobProblems(knobs, spec);
    const weightBytes = loaded ? (loaded.info.weightsDType === 'f16' ? 2 : 4) : storageBytes(spec);
    const maxBinding = gpu.status === 'ok' ? gpu.adapter.maxStorageBufferBindingSize : undefined;
    const input = {
      spec, weightBytes, quant: knobs.quant, groupSize: knobs.groupSize, rank: knobs.rank, targets: targetsString(knobs.targetKinds, spec.arch),
      batchSize: knobs.batchSize, seqLen: knobs.seqLen, gradCheckpointing: knobs.gradCheckpointing, maxBinding,
      tiling: gpu.status === 'ok' ? tilingOfAdapter(gpu.adapter) : undefined,
    } as const;
    try {
      const estimate = estimateMemory(input);
      const fit = judgeFit(input, { budgetBytes: budgetGiB * 2 ** 30, maxBufferSize: gpu.status === 'ok' ? gpu.adapter.maxBufferSize : Infinity });
      return { estimate, fit, error: null, problems, modelName };
    } catch (e) {
      return { estimate: null, fit: null, error: (e as Error).message, problems, modelName };
    }
  }, [loaded, candidate.spec, choice, knobs, gpu, budgetGiB]);
}
