// Pure bookkeeping of run records: applying engine events, resuming, naming, comparing. Kept free
// of IndexedDB and the worker so it is unit-tested (runlogic.test.ts).
import type { RecordShape } from '../data/shapes';
import type { ProgressInfo } from '../train/run';
import { withPeftNames } from '../train/peft-names';
import { defaultKnobs } from '../plan/knobs';
import type { RunMetrics, RunRecord, RunStatus } from './types';

/**
 * Layout version of the run records this studio writes: 2 names the LoRA settings of `config` and
 * `knobs` as PEFT does (r, loraAlpha, ...); 1 had rank, alpha, ... (read through withPeftNames).
 */
export const RUN_SCHEMA = 2;

/**
 * A record read back from IndexedDB, or why it is left alone: records from before the schema field
 * are version 1, and an older record's settings are read under PEFT's names (withPeftNames) and
 * marked RUN_SCHEMA (knobs it lacks, added since, take their defaults); a record from a newer studio is not touched (it stays in IndexedDB unchanged).
 */
export function readRecord(raw: unknown): { record: RunRecord } | { skipped: string } {
  const r = raw as Partial<RunRecord> | null;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || !r.metrics || !r.config) return { skipped: 'an entry that is not a run record' };
  const schema = r.schema ?? 1;
  if (!Number.isInteger(schema) || schema < 1) return { skipped: `run "${r.name ?? r.id}" has an unknown record format (${String(r.schema)})` };
  if (schema > RUN_SCHEMA) return { skipped: `run "${r.name ?? r.id}" was saved by a newer version of the studio (record format ${schema}, this one reads ${RUN_SCHEMA}); it is kept unchanged` };
  if (schema === RUN_SCHEMA) return { record: { ...(r as RunRecord), schema } };
  return { record: { ...(r as RunRecord), schema: RUN_SCHEMA, config: withPeftNames(r.config), ...(r.knobs ? { knobs: { ...defaultKnobs(null), ...withPeftNames(r.knobs) } } : {}) } };
}

/** How prompts are wrapped for a run's adapter (its data's shape and chat template); none for plain text or older records. */
export function runPromptFormat(r: RunRecord): { shape: RecordShape; chatTemplate: string } | undefined {
  const shape = r.dataset.shape;
  return shape && shape !== 'text' ? { shape, chatTemplate: r.dataset.options.chatTemplate } : undefined;
}

export function emptyMetrics(): RunMetrics {
  return { train: [], eval: [], samples: [], tokensPerSecond: 0, elapsedSeconds: 0, etaSeconds: NaN, evalLossBefore: null, evalLossAfter: null, peakBytes: 0 };
}

export function withStep(r: RunRecord, info: ProgressInfo): RunRecord {
  const train = r.metrics.train.filter((p) => p.step < info.step);
  train.push({ step: info.step, loss: info.loss, lr: info.lr, gradNorm: info.gradNorm });
  return {
    ...r, totalSteps: info.totalSteps, updatedAt: Date.now(),
    metrics: { ...r.metrics, train, tokensPerSecond: info.tokensPerSecond, elapsedSeconds: r.elapsedBefore + info.elapsedSeconds, etaSeconds: info.etaSeconds },
  };
}

/** An eval-loss point of the curve. */
export function withEval(r: RunRecord, step: number, loss: number): RunRecord {
  const eval_ = [...r.metrics.eval.filter((p) => p.step !== step), { step, loss }].sort((a, b) => a.step - b.step);
  return { ...r, metrics: { ...r.metrics, eval: eval_ }, updatedAt: Date.now() };
}

/** The eval loss before training (the curve's point at step 0). */
export function withEvalBefore(r: RunRecord, loss: number | null): RunRecord {
  if (loss === null || r.metrics.evalLossBefore !== null) return r;
  return withEval({ ...r, metrics: { ...r.metrics, evalLossBefore: loss } }, 0, loss);
}

export function withSample(r: RunRecord, step: number, text: string): RunRecord {
  const samples = [...r.metrics.samples.filter((s) => s.step !== step), { step, text }].sort((a, b) => a.step - b.step);
  return { ...r, metrics: { ...r.metrics, samples }, updatedAt: Date.now() };
}

export function withStatus(r: RunRecord, status: RunStatus, error: string | null = null): RunRecord {
  return { ...r, status, error, updatedAt: Date.now() };
}

/** Before resuming from a checkpoint: forget what was measured after it (those steps run again). */
export function rewindTo(r: RunRecord, step: number): RunRecord {
  const m = r.metrics;
  const elapsed = m.train.length ? m.elapsedSeconds * (Math.min(step, m.train[m.train.length - 1].step) / m.train[m.train.length - 1].step) : 0;
  return {
    ...r,
    elapsedBefore: Number.isFinite(elapsed) ? elapsed : 0,
    metrics: {
      ...m,
      train: m.train.filter((p) => p.step <= step),
      eval: m.eval.filter((p) => p.step <= step),
      samples: m.samples.filter((s) => s.step <= step),
      evalLossAfter: null,
    },
    updatedAt: Date.now(),
  };
}

/** Runs left 'running' or 'paused' by a closed tab are interrupted. */
export function settleStale(r: RunRecord): RunRecord {
  return r.status === 'running' || r.status === 'paused' ? withStatus(r, 'interrupted', r.error) : r;
}

/**
 * The run a closed (or reloaded) page left behind: the newest interrupted run that was not lost to
 * the GPU (those carry their error) and can resume. The studio announces it on every tab.
 */
export function closedRun(runs: readonly RunRecord[]): RunRecord | null {
  return runs.filter((r) => r.status === 'interrupted' && r.error === null && canResume(r)).sort((a, b) => b.createdAt - a.createdAt)[0] ?? null;
}

/** The last step a run recorded (its checkpoint when it has no curve). */
export function lastStep(r: RunRecord): number {
  const t = r.metrics.train;
  return t.length ? t[t.length - 1].step : (r.checkpointStep ?? 0);
}

/** Whether a run can resume from a checkpoint. */
export function canResume(r: RunRecord): boolean {
  return (r.status === 'interrupted' || r.status === 'failed' || r.status === 'stopped') && r.checkpointStep !== null && r.totalSteps !== null && r.checkpointStep < r.totalSteps;
}

/** "SmolLM2-135M-Instruct r16 all-linear" (+ a counter when the name is taken); `targets` is a short label. */
export function defaultRunName(modelName: string, rank: number, targets: string, taken: Set<string>): string {
  const short = modelName.replace(/^hf:\/\//, '').split('/').pop() ?? modelName;
  const base = `${short} r${rank} ${targets}`;
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base} (${i})`)) return `${base} (${i})`;
}

export function newRunId(now = Date.now()): string {
  return `run-${now.toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`;
}

/** Final eval loss: after training, else the latest eval point. */
export function finalEvalLoss(r: RunRecord): number | null {
  if (r.metrics.evalLossAfter !== null) return r.metrics.evalLossAfter;
  const e = r.metrics.eval;
  return e.length > 1 ? e[e.length - 1].loss : null;
}

/** Loss curves of several runs on one step axis: [{ step, [runId]: loss }]. */
export function overlay(runs: RunRecord[], which: 'train' | 'eval'): Record<string, number>[] {
  const byStep = new Map<number, Record<string, number>>();
  for (const r of runs) {
    for (const p of which === 'train' ? r.metrics.train : r.metrics.eval) {
      let row = byStep.get(p.step);
      if (!row) byStep.set(p.step, (row = { step: p.step }));
      row[r.id] = p.loss;
    }
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}
