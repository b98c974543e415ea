// Comparison slice: what the Runs tab compares — an experiment's runs or the ticked runs — as the
// report of src/experiment/report.ts (table rows and the answers grid), its Markdown and CSV
// downloads, the ticked runs' answers to prompts (greedy, seeded, through the playground's generate
// request), and the overlaid loss curves as SVG or PNG. File names carry the experiment's name.
import type { StateCreator } from 'zustand';
import { reportCsv, reportMarkdown, type AnswerColumn, type ExperimentReport } from '../experiment/report';
import { saveBlob, slug } from './download';
import { engine } from './engine';
import type { ExperimentRecord } from './experiment-db';
import { baseColumnName, experimentRun } from './experiment';
import { answerRequest, reportRunOf, variedAcross } from './experimentlogic';
import type { Studio } from './index';
import { runPromptFormat } from './runlogic';
import type { LoadedModelState, RunRecord } from './types';

export interface ComparisonSlice {
  /** The experiment whose runs Runs compares (null: the ticked runs). */
  comparing: string | null;
  /** The ticked runs' answers (`key`: their ids, so a new selection shows none until asked). */
  selectionAnswers: { key: string; prompts: string[]; columns: AnswerColumn[] } | null;
  answersBusy: boolean;
  comparisonError: string | null;
  comparisonNotice: string | null;
  setComparing(id: string | null): void;
  /** The base and every ticked run answer `prompts` (greedy, seeded 0, 64 tokens at most). */
  answerSelection(prompts: string[], maxNewTokens?: number): Promise<void>;
  exportComparison(kind: 'md' | 'csv'): void;
  /** The loss chart (`svg`: its serialized SVG) saved as SVG, or drawn to PNG. */
  exportLossCurves(svg: { text: string; width: number; height: number }, which: 'train' | 'eval', kind: 'svg' | 'png'): Promise<void>;
}

/** What Runs compares, resolved from the state: the report, the run records in its order, and the name of its files. */
interface Comparison {
  name: string;
  records: RunRecord[];
  report: ExperimentReport;
  experiment: ExperimentRecord | null;
}

const selectionKey = (ids: string[]) => [...ids].sort().join('|');

/** The base's stored dtype for a run on the loaded model (an f32 base reads 32 bits in the table). */
const dtypeFor = (loaded: LoadedModelState | null, r: RunRecord) => (loaded && loaded.info.name === r.model.name ? loaded.info.weightsDType : undefined);

/**
 * The comparison of an experiment's runs (its plan order, named as the plan names them, with its
 * answers: the base per quantization, then each run; its typed prompts, then its held-out prompts
 * with their reference answers) or of the ticked runs (varied: the axis keys
 * that differ among them). Null when there is nothing to compare.
 */
export function comparisonOf(s: Pick<Studio, 'comparing' | 'experiments' | 'runs' | 'compare' | 'selectionAnswers' | 'loaded'>): Comparison | null {
  const x = s.comparing ? s.experiments.find((e) => e.id === s.comparing) : undefined;
  if (x) {
    const rows = x.plan.map((p, i) => ({ p, r: experimentRun(s.runs, x.id, i) })).filter((e): e is { p: typeof e.p; r: RunRecord } => e.r !== undefined);
    const held = x.heldOut ?? [];
    const answers: AnswerColumn[] = [
      ...Object.entries(x.baseAnswers).map(([quant, a]) => ({ name: baseColumnName(x, quant.replace(/-g\d+$/, '')), answers: a })),
      ...x.plan.flatMap((p, i) => (x.runAnswers[i] ? [{ name: p.name, answers: x.runAnswers[i] }] : [])),
    ];
    return {
      name: x.name, experiment: x, records: rows.map((e) => e.r),
      report: {
        name: x.name, runs: rows.map(({ p, r }) => reportRunOf(r, p.varied, p.name, dtypeFor(s.loaded, r))), answers,
        prompts: [...x.spec.prompts, ...held.map((h) => h.text)],
        ...(held.length ? { references: [...x.spec.prompts.map(() => null), ...held.map((h) => ({ line: h.line, text: h.reference }))] } : {}),
      },
    };
  }
  const records = s.runs.filter((r) => s.compare.includes(r.id));
  if (records.length === 0) return null;
  const varied = variedAcross(records);
  const sel = s.selectionAnswers && s.selectionAnswers.key === selectionKey(records.map((r) => r.id)) ? s.selectionAnswers : null;
  return {
    name: 'runs-comparison', experiment: null, records,
    report: { name: 'runs-comparison', runs: records.map((r, i) => reportRunOf(r, varied[i], r.name, dtypeFor(s.loaded, r))), prompts: sel?.prompts ?? [], answers: sel?.columns ?? [] },
  };
}

/** An SVG drawn onto a canvas (white background, 2× for sharpness) as a PNG Blob. */
async function svgToPng(svg: { text: string; width: number; height: number }): Promise<Blob> {
  const url = URL.createObjectURL(new Blob([svg.text], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const scale = 2;
    const canvas = new OffscreenCanvas(svg.width * scale, svg.height * scale);
    const g = canvas.getContext('2d');
    if (!g) throw new Error('this browser cannot draw on a canvas');
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.scale(scale, scale);
    g.drawImage(img, 0, 0, svg.width, svg.height);
    return await canvas.convertToBlob({ type: 'image/png' });
  } finally {
    URL.revokeObjectURL(url);
  }
}

export const createComparisonSlice: StateCreator<Studio, [], [], ComparisonSlice> = (set, get) => ({
  comparing: null,
  selectionAnswers: null,
  answersBusy: false,
  comparisonError: null,
  comparisonNotice: null,

  setComparing(id) {
    set({ comparing: id, comparisonError: null, comparisonNotice: null });
  },

  async answerSelection(prompts, maxNewTokens = 64) {
    const s = get();
    const records = s.runs.filter((r) => s.compare.includes(r.id));
    if (!s.loaded) return set({ comparisonError: 'Load the runs\' base model first (Model tab): the answers are generated on it.' });
    if (s.activeRun) return set({ comparisonError: 'A run is training: answer the prompts once it has finished.' });
    const wrong = records.find((r) => r.model.name !== s.loaded!.info.name);
    if (wrong) return set({ comparisonError: `Run "${wrong.name}" was trained on ${wrong.model.name}, not on the loaded ${s.loaded.info.name}: tick runs of one base.` });
    if (prompts.length === 0) return set({ comparisonError: 'Type at least one prompt (one per line).' });
    set({ answersBusy: true, comparisonError: null });
    try {
      const format = records[0] ? runPromptFormat(records[0]) : undefined;
      const columns: AnswerColumn[] = [];
      for (const who of [null, ...records]) {
        const answers: string[] = [];
        for (const prompt of prompts) {
          const res = await engine().call({ type: 'generate', req: answerRequest(prompt, who ? { runId: who.id } : 'base', { maxNewTokens }, who ? runPromptFormat(who) : format) });
          answers.push(res.text);
        }
        columns.push({ name: who ? who.name : 'base', answers });
      }
      set({ selectionAnswers: { key: selectionKey(records.map((r) => r.id)), prompts, columns } });
    } catch (e) {
      set({ comparisonError: (e as Error).message });
    } finally {
      set({ answersBusy: false });
    }
  },

  exportComparison(kind) {
    const c = comparisonOf(get());
    if (!c) return;
    const text = kind === 'md' ? reportMarkdown(c.report) : reportCsv(c.report);
    const name = `${slug(c.name)}-comparison.${kind}`;
    saveBlob(name, new Blob([text], { type: kind === 'md' ? 'text/markdown' : 'text/csv' }));
    set({ comparisonNotice: `Download ready: ${name}.` });
  },

  async exportLossCurves(svg, which, kind) {
    const c = comparisonOf(get());
    if (!c) return;
    const name = `${slug(c.name)}-${which}-loss.${kind}`;
    try {
      const blob = kind === 'svg' ? new Blob([svg.text], { type: 'image/svg+xml' }) : await svgToPng(svg);
      saveBlob(name, blob);
      set({ comparisonNotice: `Download ready: ${name}.`, comparisonError: null });
    } catch (e) {
      set({ comparisonError: `The ${which} loss chart could not be saved as ${kind.toUpperCase()}: ${(e as Error).message}` });
    }
  },
});
