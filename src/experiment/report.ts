// The comparison report of an experiment: a table of the runs (configuration, cost, quality) with
// the varied keys marked, and the answers grid (prompt × base/run), as Markdown and CSV. Part of the
// engine: pure text from the runs' metrics (metrics.json as npm run train writes it).

import { quantBits, type Settings } from './spec';

/** The fields of a run's metrics.json the report reads. */
export interface RunMetrics {
  config: {
    r: number; loraAlpha: number; targetModules: string; quant?: string; loraplusLrRatio: number; lr: number; useRslora?: boolean; loraDropout?: number;
    /** 'f32' or 'f16'; absent in metrics written before the setting existed (f32). */
    saveActivations?: string;
    /** 'f32' or 'f16'; absent in metrics written before the setting existed (f32). */
    matmulMath?: string;
    subgroups?: boolean;
  };
  /** The base's weight dtype (f32 or f16) when unquantized. */
  weights_dtype?: string;
  trainable_params: number;
  /** Parameters of the base model (the share's denominator). */
  model_params?: number;
  steps: number;
  wall_seconds?: number;
  tokens_per_second: number;
  peak_gpu_bytes: number;
  eval_loss_before: number | null;
  eval_loss_after: number | null;
}

/** One run in the report. */
export interface ReportRun {
  name: string;
  varied: Settings;
  metrics: RunMetrics;
}

/** One column of the answers grid: the base (per base quantization) or a run, with its answer to each prompt. */
export interface AnswerColumn {
  name: string;
  answers: string[];
}

/** The reference answer of a held-out prompt: the data's trained response, and the record's line in its file. */
interface PromptReference {
  line: number;
  text: string;
}

/** Everything the report shows. */
export interface ExperimentReport {
  name: string;
  runs: ReportRun[];
  prompts: string[];
  answers: AnswerColumn[];
  /** Per prompt, its reference answer (a held-out prompt) or null (a typed prompt); absent: none has one. */
  references?: (PromptReference | null)[];
}

/** Whether any prompt of the report has a reference answer (the grid then shows a reference column). */
export function hasReferences(rep: Pick<ExperimentReport, 'references'>): boolean {
  return !!rep.references?.some((r) => r !== null);
}

interface Column {
  header: string;
  /** The spec key whose variation this column shows (marks the column). */
  key?: string;
  value: (r: ReportRun) => string | number | boolean | null;
  /** Shown only when its key varies. */
  optional?: boolean;
}

const fixed = (x: number | null | undefined, d: number) => (x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(d)));

const COLUMNS: Column[] = [
  { header: 'run', value: (r) => r.name },
  { header: 'r', key: 'r', value: (r) => r.metrics.config.r },
  { header: 'alpha', key: 'lora_alpha', value: (r) => r.metrics.config.loraAlpha },
  { header: 'targets', key: 'target_modules', value: (r) => r.metrics.config.targetModules },
  { header: 'base bits', key: 'quant', value: (r) => ((r.metrics.config.quant ?? 'none') === 'none' && r.metrics.weights_dtype === 'f32' ? 32 : quantBits(r.metrics.config.quant)) },
  { header: 'LoRA+ ratio', key: 'loraPlusRatio', value: (r) => r.metrics.config.loraplusLrRatio },
  { header: 'lr', key: 'lr', value: (r) => r.metrics.config.lr },
  { header: 'rsLoRA', key: 'use_rslora', value: (r) => r.metrics.config.useRslora ?? false, optional: true },
  { header: 'dropout', key: 'lora_dropout', value: (r) => r.metrics.config.loraDropout ?? null, optional: true },
  { header: 'saved activations', key: 'saveActivations', value: (r) => r.metrics.config.saveActivations ?? 'f32', optional: true },
  { header: 'matmul math', key: 'matmulMath', value: (r) => r.metrics.config.matmulMath ?? 'f32', optional: true },
  { header: 'subgroup reductions', key: 'subgroups', value: (r) => r.metrics.config.subgroups ?? false, optional: true },
  { header: 'trainable params', value: (r) => r.metrics.trainable_params },
  { header: 'trainable %', value: (r) => (r.metrics.model_params ? fixed((100 * r.metrics.trainable_params) / r.metrics.model_params, 4) : null) },
  { header: 'steps', value: (r) => r.metrics.steps },
  { header: 'wall s', value: (r) => fixed(r.metrics.wall_seconds, 1) },
  { header: 'tokens/s', value: (r) => fixed(r.metrics.tokens_per_second, 0) },
  { header: 'peak GPU MB', value: (r) => fixed(r.metrics.peak_gpu_bytes / 1e6, 1) },
  { header: 'eval loss before', value: (r) => fixed(r.metrics.eval_loss_before, 4) },
  { header: 'eval loss after', value: (r) => fixed(r.metrics.eval_loss_after, 4) },
  { header: 'perplexity', value: (r) => (r.metrics.eval_loss_after === null ? null : fixed(Math.exp(r.metrics.eval_loss_after), 3)) },
];

/** The CSV's names of the table columns (snake case, no units in words). */
const CSV_NAMES: Record<string, string> = {
  run: 'run', r: 'r', alpha: 'lora_alpha', targets: 'target_modules', 'base bits': 'base_bits', 'LoRA+ ratio': 'loraplus_lr_ratio', lr: 'lr', rsLoRA: 'use_rslora',
  dropout: 'lora_dropout', 'saved activations': 'save_activations', 'matmul math': 'matmul_math', 'trainable params': 'trainable_params', 'trainable %': 'trainable_percent', steps: 'steps', 'wall s': 'wall_seconds',
  'tokens/s': 'tokens_per_second', 'peak GPU MB': 'peak_gpu_mb', 'eval loss before': 'eval_loss_before', 'eval loss after': 'eval_loss_after', perplexity: 'perplexity',
};

function columnsOf(rep: ExperimentReport): { col: Column; varied: boolean }[] {
  const varied = new Set(rep.runs.flatMap((r) => Object.keys(r.varied)));
  return COLUMNS.filter((c) => !c.optional || varied.has(c.key!)).map((col) => ({ col, varied: !!col.key && varied.has(col.key) }));
}

/** A cell of the comparison table: text, a number, a flag, or null (not measured). */
export type ReportCell = string | number | boolean | null;

/**
 * The comparison table as data (the studio renders and sorts it): the columns the Markdown and CSV
 * show, each with whether its key varies, and one row of cells per run in `rep.runs` order.
 */
export function reportTable(rep: ExperimentReport): { columns: { header: string; key?: string; varied: boolean }[]; rows: ReportCell[][] } {
  const cols = columnsOf(rep);
  return {
    columns: cols.map((c) => ({ header: c.col.header, key: c.col.key, varied: c.varied })),
    rows: rep.runs.map((r) => cols.map((c) => c.col.value(r))),
  };
}

const cell = (v: string | number | boolean | null) => (v === null ? '-' : String(v));
/** Text in a Markdown table cell: pipes escaped, line breaks as <br>. */
const mdCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');

/**
 * The report as Markdown: the comparison table (a varied column's header reads "r (varied)"), then
 * the answers grid, one row per prompt (a held-out one marked with its line in the data), the
 * reference answer when any prompt has one, then one column per base/run.
 */
export function reportMarkdown(rep: ExperimentReport): string {
  const cols = columnsOf(rep);
  const lines = [`# Experiment: ${rep.name}`, '', `${rep.runs.length} run${rep.runs.length === 1 ? '' : 's'}; columns marked (varied) are the axes of the experiment.`, ''];
  lines.push(`| ${cols.map((c) => (c.varied ? `**${c.col.header}** (varied)` : c.col.header)).join(' | ')} |`);
  lines.push(`|${cols.map(() => ' --- ').join('|')}|`);
  for (const r of rep.runs) lines.push(`| ${cols.map((c) => mdCell(cell(c.col.value(r)))).join(' | ')} |`);
  lines.push('', '## Answers', '');
  if (rep.prompts.length === 0) lines.push('(no evaluation prompts in the experiment)');
  else {
    const refs = hasReferences(rep);
    lines.push(`Greedy, seeded; a typed prompt wrapped as the training data was, a held-out prompt (drawn from the evaluation rows) fed as training formatted it${refs ? ', with its reference answer from the data' : ''}.`, '');
    const heads = ['prompt', ...(refs ? ['reference'] : []), ...rep.answers.map((a) => a.name)];
    lines.push(`| ${heads.map(mdCell).join(' | ')} |`);
    lines.push(`|${heads.map(() => ' --- ').join('|')}|`);
    rep.prompts.forEach((p, i) => {
      const ref = rep.references?.[i] ?? null;
      const prompt = ref ? `(held out, line ${ref.line}) ${p}` : p;
      lines.push(`| ${[prompt, ...(refs ? [ref ? ref.text : '-'] : []), ...rep.answers.map((a) => a.answers[i] ?? '')].map(mdCell).join(' | ')} |`);
    });
  }
  return lines.join('\n') + '\n';
}

const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * The report as CSV: a header and one row per run (the table's columns, then the run's answer to
 * each prompt, `answer_i`, followed by `reference_i`, the data's reference answer, for a held-out prompt).
 */
export function reportCsv(rep: ExperimentReport): string {
  const cols = columnsOf(rep);
  const ref = (i: number) => rep.references?.[i] ?? null;
  const header = [...cols.map((c) => CSV_NAMES[c.col.header]), ...rep.prompts.flatMap((_, i) => [`answer_${i + 1}`, ...(ref(i) ? [`reference_${i + 1}`] : [])])];
  const rows = rep.runs.map((r) => {
    const answers = rep.answers.find((a) => a.name === r.name)?.answers ?? [];
    return [
      ...cols.map((c) => { const v = c.col.value(r); return v === null ? '' : String(v); }),
      ...rep.prompts.flatMap((_, i) => [answers[i] ?? '', ...(ref(i) ? [ref(i)!.text] : [])]),
    ];
  });
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}
