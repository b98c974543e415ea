// The cluster hand-off of a run evaluated on a separate file: the TRL script loads that file as its
// eval set (formatted like the training data, no split), the Axolotl config lists it under
// test_datasets with the same type and fields, and the README says which file to put there. The
// script's data section is run by python3 over a stub `datasets` module (the real one is not
// installed here), so what the script does with the files is checked, not only its text.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultKnobs } from '../plan/knobs';
import { clusterRunOf } from '../store/cluster';
import { emptyMetrics, RUN_SCHEMA } from '../store/runlogic';
import type { RunRecord } from '../store/types';
import { DEFAULT_DATASET_OPTIONS } from '../worker/protocol';
import { axolotlYaml, clusterReadme, trlScript, type ClusterRun } from './cluster';

/** A studio run record trained on train.jsonl (Alpaca records) and, when given, evaluated on `evalFile`. */
function record(evalFile?: string): RunRecord {
  return {
    schema: RUN_SCHEMA, id: 'r1', name: 'frogs', createdAt: 1, updatedAt: 1, status: 'done',
    model: { name: 'm', source: { kind: 'hub', repo: 'org/base', revision: 'main' }, modelType: 'llama', params: 10 },
    knobs: { ...defaultKnobs(null), evalSplit: 0.2 },
    config: { baseModel: 'org/base', r: 8, loraAlpha: 16, loraDropout: 0, useRslora: false, targetModules: 'q_proj', loraplusLrRatio: 1, lr: 1e-3, schedule: 'linear', warmup: 0, epochs: 1, batchSize: 2, gradAccum: 1, seqLen: 32, seed: 1, saveEvery: 2, maxGradNorm: 1, weightDecay: 0 },
    dataset: { name: 'train.jsonl', examples: 4, options: { ...DEFAULT_DATASET_OPTIONS }, shape: 'alpaca', ...(evalFile ? { evalFile: { name: evalFile, examples: 2 } } : {}) },
    trainableParams: 100, totalSteps: 4, metrics: emptyMetrics(), checkpointStep: 4, elapsedBefore: 0, error: null,
  };
}

/** A stub of `datasets` that reads the JSONL / TSV files named to it, enough for the script's data section. */
const STUB = `
import csv, json, sys, types
class Dataset:
    def __init__(self, rows): self.rows = rows
    column_names = property(lambda self: list(self.rows[0].keys()))
    def map(self, fn, remove_columns=()): return Dataset([fn(r) for r in self.rows])
    def train_test_split(self, test_size, seed): raise SystemExit("split although an eval file is given")
class DatasetDict(dict): pass
def read(path, kind, delimiter=","):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()] if kind == "json" else list(csv.DictReader(f, delimiter=delimiter))
def load_dataset(kind, data_files, split=None, delimiter=","):
    if split is not None: return Dataset(read(data_files, kind, delimiter))
    return DatasetDict({k: Dataset(read(v, kind, delimiter)) for k, v in data_files.items()})
sys.modules["datasets"] = types.SimpleNamespace(load_dataset=load_dataset, DatasetDict=DatasetDict)
from datasets import DatasetDict, load_dataset
class Tok: eos_token = "</s>"; chat_template = None
tokenizer = Tok()
`;

/** Runs the script's settings and data section (imports of torch/peft/trl and the model left out) in `dir`; returns the eval set's rows. */
function runDataSection(script: string, dir: string): { train: unknown[]; eval: unknown[] | null } {
  const lines = script.split('\n');
  const settings = lines.slice(lines.findIndex((l) => l.startsWith('BASE_MODEL')), lines.findIndex((l) => l.startsWith('NUM_EPOCHS')) + 1);
  const data = lines.slice(lines.indexOf('# Data: the same record shape the studio read, formatted the same way.'), lines.findIndex((l) => l.startsWith('eval_ds = ')) + 1);
  const py = join(dir, 'data_section.py');
  writeFileSync(py, [STUB, ...settings, ...data, 'print(json.dumps({"train": train_ds.rows, "eval": eval_ds.rows if eval_ds is not None else None}))'].join('\n'));
  const r = spawnSync('python3', [py], { cwd: dir, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { train: unknown[]; eval: unknown[] | null };
}

describe('cluster export with a separate evaluation file', () => {
  it('the studio run names its evaluation file; the TRL script evaluates on it, formatted like the training data, without a split', () => {
    const run = clusterRunOf(record('held-out.jsonl'));
    expect(run).toMatchObject({ data: 'train.jsonl', evalFile: 'held-out.jsonl', shape: 'alpaca' });
    expect(clusterRunOf(record()).evalFile).toBeUndefined();

    const dir = mkdtempSync(join(tmpdir(), 'cluster-eval-'));
    const ex = (i: number) => ({ instruction: `Name frog ${i}`, input: '', output: `Frog ${i}` });
    writeFileSync(join(dir, 'train.jsonl'), [0, 1, 2, 3].map((i) => JSON.stringify(ex(i))).join('\n') + '\n');
    writeFileSync(join(dir, 'held-out.jsonl'), [8, 9].map((i) => JSON.stringify(ex(i))).join('\n') + '\n');
    const s = trlScript(run);
    expect(s).toContain('EVAL_FILE = "held-out.jsonl"');
    const out = runDataSection(s, dir);
    expect(out.train).toHaveLength(4);
    // The eval rows are the held-out file's, through the same Alpaca formatting as the training rows.
    expect(out.eval).toEqual([8, 9].map((i) => ({ prompt: expect.stringContaining(`### Instruction:\nName frog ${i}\n\n### Response:\n`), completion: `Frog ${i}` })));

    // Without an eval file the script splits the training data (the stub above refuses a split, so the eval file's branch was the one run).
    expect(trlScript(clusterRunOf(record()))).toMatch(/^if EVAL_SPLIT > 0:\n {4}raw = raw\["train"\]\.train_test_split/m);
  });

  it('a TSV eval file beside a Hub training set is read tab-separated; Axolotl lists it under test_datasets with the same type', () => {
    const run: ClusterRun = { ...clusterRunOf(record('held-out.tsv')), data: 'hub:org/frogs:default:train', shape: 'text' };
    const dir = mkdtempSync(join(tmpdir(), 'cluster-eval-'));
    writeFileSync(join(dir, 'held-out.tsv'), 'text\tid\nA frog sat.\t1\nA frog hopped.\t2\n');
    const s = trlScript(run);
    expect(s).toContain('    raw["test"] = load_dataset("csv", data_files=EVAL_FILE, split="train", delimiter="\\t")');
    expect(s).toMatch(/^raw = DatasetDict\(train=load_dataset\(DATA, DATA_CONFIG, split=DATA_SPLIT\)\)$/m);
    // Run the eval part alone (the training set is on the Hub): the eval rows are the file's texts.
    const evalPart = s.split('\n').filter((l) => l.startsWith('    raw["test"]'))[0].trim();
    const py = join(dir, 'eval_part.py');
    writeFileSync(py, [STUB, 'EVAL_FILE = "held-out.tsv"', 'raw = DatasetDict()', evalPart, 'print(json.dumps([r["text"] for r in raw["test"].rows]))'].join('\n'));
    const r = spawnSync('python3', [py], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['A frog sat.', 'A frog hopped.']);

    const y = axolotlYaml(run);
    expect(y).toContain('datasets:\n  - path: "org/frogs"\n    name: "default"\n    split: "train"\n    type: completion\n    field: text\n');
    expect(y).toContain('test_datasets:\n  - path: "held-out.tsv"\n    ds_type: csv\n    split: train\n    data_files:\n      - "held-out.tsv"\n    type: completion\n    field: text\nval_set_size: 0\n');
    expect(y).not.toMatch(/val_set_size: 0\.2/);
    const lines = y.split('\n');
    const keys = lines.filter((l) => /^[a-z_0-9]+:/.test(l)).map((l) => l.split(':')[0]);
    expect(new Set(keys).size).toBe(keys.length);
    for (const l of lines) expect(l, l).toMatch(/^(#.*|\s*- .+|\s*[a-z_0-9]+:( .+)?|)$/);

    // Without an eval file: the split, no test_datasets.
    const plain = axolotlYaml(clusterRunOf(record()));
    expect(plain).toContain('val_set_size: 0.2');
    expect(plain).not.toContain('test_datasets');
  });

  it('the README says which evaluation file to put next to the files (and says nothing of one when the run used a split)', () => {
    expect(clusterReadme(clusterRunOf(record('held-out.jsonl')))).toMatch(/^Evaluation file `held-out\.jsonl`: .*not on a split of the data\. Put it next to these too/m);
    expect(clusterReadme(clusterRunOf(record()))).not.toMatch(/[Ee]valuation file/);
  });
});
