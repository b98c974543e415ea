// "Export run for a cluster" in the studio: a run record (knobs, config, dataset name and options)
// mapped to the settings src/export/cluster.ts writes the TRL script, the Axolotl YAML and the
// README from — the same three files `npm run export-run` writes from a run folder; a run evaluated
// on a separate file names that file for the cluster's eval set. Pure.
import { axolotlYaml, clusterReadme, trlScript, type ClusterRun } from '../export/cluster';
import { moduleKinds } from '../plan/knobs';
import type { StoredDataset } from './run-files';
import type { RunRecord } from './types';

/**
 * The dataset as the cluster files reference it: a Hub dataset as `hub:OWNER/NAME:CONFIG:SPLIT`
 * (from the stored dataset, else from the record's name "OWNER/NAME (CONFIG/SPLIT)"), a file by its
 * name (copied next to the files on the cluster). Never the data itself.
 */
function clusterDataRef(r: RunRecord, stored?: Pick<StoredDataset, 'hub'>): string {
  const h = stored?.hub;
  if (h) return `hub:${h.dataset}:${h.config}:${h.split}`;
  const m = /^(\S+\/\S+) \(([^/()]+)\/([^/()]+)\)$/.exec(r.dataset.name);
  return m ? `hub:${m[1]}:${m[2]}:${m[3]}` : r.dataset.name;
}

/** The base model as the cluster loads it: the Hub repo id, or the opened folder's name. */
function baseModelRef(r: RunRecord): string {
  return r.model.source.kind === 'hub' ? r.model.source.repo : r.model.source.name;
}

/** A studio run's settings in the form src/export/cluster.ts takes. */
export function clusterRunOf(r: RunRecord, stored?: Pick<StoredDataset, 'hub'>): ClusterRun {
  const k = r.knobs;
  const arch = r.model.modelType === 'gpt2' ? 'gpt2' : 'llama';
  // The studio's target kinds are PEFT suffix entries already ("q_proj", GPT-2 "attn.c_proj"), in model order.
  const targets = moduleKinds(arch).filter((m) => k.targetModules.includes(m));
  return {
    name: r.name,
    baseModel: baseModelRef(r),
    data: clusterDataRef(r, stored),
    // A separate evaluation file replaced the split: the cluster files read it by name, like the data.
    ...(r.dataset.evalFile ? { evalFile: r.dataset.evalFile.name } : {}),
    evalSplit: k.evalSplit,
    r: k.r,
    loraAlpha: k.loraAlpha,
    loraDropout: k.loraDropout,
    useRslora: k.useRslora,
    targetModules: targets,
    loraplusLrRatio: k.loraplusLrRatio,
    lr: k.lr,
    schedule: k.schedule,
    warmup: k.warmup,
    steps: k.lengthBy === 'steps' ? k.steps : undefined,
    epochs: k.epochs,
    batchSize: k.batchSize,
    gradAccum: k.gradAccum,
    seqLen: k.seqLen,
    seed: k.seed,
    maxGradNorm: k.maxGradNorm,
    weightDecay: k.weightDecay,
    gradCheckpointing: k.gradCheckpointing,
    quant: k.quant,
    groupSize: k.groupSize,
    shape: r.dataset.shape ?? (r.dataset.options.format === 'auto' ? 'text' : r.dataset.options.format),
    trainOnPrompt: r.dataset.options.trainOnPrompt,
    packing: r.dataset.options.packing,
  };
}

/** The three files of the hand-off, by name. */
export function clusterFiles(run: ClusterRun): { name: string; text: string }[] {
  return [
    { name: 'train_trl.py', text: trlScript(run) },
    { name: 'axolotl.yml', text: axolotlYaml(run) },
    { name: 'README.md', text: clusterReadme(run) },
  ];
}
