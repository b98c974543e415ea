// npm run experiment as a user runs it: three runs varying rank on stories260K, one report whose
// answers equal npm run generate's, and --resume skipping the runs already complete; prompts drawn
// from the held-out rows with their references.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Papa from 'papaparse';
import { describe, expect, it } from 'vitest';
import { cli, STORIES } from '../test/cli';
import { testContext } from '../test/gpu';

/** The adapter the tools get has shader-f16 (then a matmulMath f16 run can train). */
const HAS_F16 = (await testContext()).adapter.hasF16;

describe('npm run experiment', () => {
  it('three runs varying rank: one report, answers as npm run generate gives them, --resume skips complete runs', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'experiment-test-'));
    const data = join(tmp, 'stories.jsonl');
    writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `Tom had a purple frog number ${i}. The purple frog ate cake with Tom.` })).join('\n') + '\n');
    const spec = join(tmp, 'exp.json');
    const prompts = ['Tom had', 'The purple frog'];
    writeFileSync(spec, JSON.stringify({ name: 'rank-sweep', base: { steps: 2, seqLen: 32, batchSize: 2, lr: 0.01, lora_alpha: 8 }, axes: { r: [2, 4, 8] }, prompts, maxNewTokens: 8 }));
    const out = join(tmp, 'out');
    const r = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', data, '--out', out]);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([]);
    expect(r.code).toBe(0);

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('# Experiment: rank-sweep');
    expect(md).toContain('| run | **r** (varied) | alpha |');
    const csv = Papa.parse<Record<string, string>>(readFileSync(join(out, 'report.csv'), 'utf8').trim(), { header: true }).data;
    expect(csv.map((row) => [row.run, row.r, row.steps])).toEqual([['r2', '2', '2'], ['r4', '4', '2'], ['r8', '8', '2']]);
    // Trainable parameters grow with the rank: r × (in + out) over the same modules.
    expect(Number(csv[1].trainable_params)).toBe(2 * Number(csv[0].trainable_params));
    for (const run of ['r2', 'r4', 'r8']) {
      const m = JSON.parse(readFileSync(join(out, run, 'metrics.json'), 'utf8'));
      expect(m.config.r).toBe(Number(run.slice(1)));
      expect(m.steps).toBe(2);
    }

    // The report's answer equals npm run generate --adapter OUT/<run> for the same prompt.
    const g = cli('generate', ['--model', STORIES, '--adapter', join(out, 'r4'), '--prompt', prompts[1], '--max-new-tokens', '8']);
    expect(g.code).toBe(0);
    expect(csv[1].answer_2).toBe(g.stdout.replace(/\n$/, ''));
    const gb = cli('generate', ['--model', STORIES, '--prompt', prompts[0], '--max-new-tokens', '8']);
    expect(md).toContain('| prompt | base | r2 | r4 | r8 |');
    expect(md).toContain(`| ${prompts[0]} | ${gb.stdout.replace(/\n$/, '')} |`);

    // Interrupted after two runs: --resume trains only the third and writes the same report rows.
    rmSync(join(out, 'r8'), { recursive: true });
    const again = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', data, '--out', out, '--resume']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('run 1/3 r2: complete in');
    expect(again.stderr).toContain('run 2/3 r4: complete in');
    expect(again.stderr).toMatch(/run 3\/3 r8 -> /);
    const csv2 = Papa.parse<Record<string, string>>(readFileSync(join(out, 'report.csv'), 'utf8').trim(), { header: true }).data;
    expect(csv2.map((row) => row.run)).toEqual(['r2', 'r4', 'r8']);
    expect(csv2[0]).toEqual(csv[0]);
  }, 600_000);

  it('held-out prompts: the first row of the seeded eval split, answered by the base and every run, its line and reference in the report', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'experiment-test-'));
    const data = join(tmp, 'pairs.jsonl');
    const rows = Array.from({ length: 8 }, (_, i) => ({ prompt: `Tom had a frog number ${i}.`, completion: ` The frog ${i} ate cake with Sue.` }));
    writeFileSync(data, rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const spec = join(tmp, 'held.json');
    writeFileSync(spec, JSON.stringify({ name: 'held', base: { steps: 1, seqLen: 192, batchSize: 1, evalSplit: 0.25 }, axes: { r: [2, 4] }, prompts: ['Tom had'], heldOutPrompts: 1, maxNewTokens: 4 }));
    const out = join(tmp, 'out');
    const r = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', data, '--out', out]);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([]);
    expect(r.code).toBe(0);
    const line = Number(/1 held-out prompt \(lines (\d+)\)/.exec(r.stderr)?.[1]);
    expect(line).toBeGreaterThanOrEqual(1);
    const row = rows[line - 1];
    const csv = Papa.parse<Record<string, string>>(readFileSync(join(out, 'report.csv'), 'utf8').trim(), { header: true }).data;
    expect(csv.map((x) => x.run)).toEqual(['r2', 'r4']);
    // The reference is the row's completion (the trained tokens after its prompt), the same for every run.
    for (const x of csv) {
      expect(x.reference_2).toBe(row.completion.trim());
      expect(x.answer_2.length).toBeGreaterThan(0);
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| prompt | reference | base | r2 | r4 |');
    // The prompt exactly as training formatted it (prompt/completion rows: the Alpaca template), then its reference.
    const heldRow = md.split('\n').find((l) => l.startsWith(`| (held out, line ${line}) `));
    expect(heldRow).toContain(`### Instruction:<br>${row.prompt}<br>`);
    expect(heldRow).toContain(`| ${row.completion.trim()} |`);
  }, 600_000);

  it('a bad spec is one line naming the file and key (exit code 2)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'experiment-test-'));
    const spec = join(tmp, 'bad.json');
    writeFileSync(spec, JSON.stringify({ name: 'x', base: {}, axes: { r: [8, -1] }, prompts: [] }));
    const r = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', spec, '--out', join(tmp, 'o')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toEqual([`error: ${spec}: axes.r[1] must be a positive integer (got -1).`]);
    writeFileSync(spec, JSON.stringify({ name: 'x', base: {}, axes: { r: [4, 8] }, prompts: [], heldOutPrompts: 'all' }));
    const h = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', spec, '--out', join(tmp, 'o')]);
    expect(h.code).toBe(2);
    expect(h.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toEqual([
      `error: ${spec}: heldOutPrompts must be a non-negative integer, the number of evaluation prompts drawn from the held-out rows (got "all").`,
    ]);
    writeFileSync(spec, JSON.stringify({ name: 'x', base: {}, axes: { saveActivations: ['f32', 'half'] }, prompts: [] }));
    const act = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', spec, '--out', join(tmp, 'o')]);
    expect(act.code).toBe(2);
    expect(act.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toEqual([`error: ${spec}: axes.saveActivations[1] must be one of f32, f16 (got "half").`]);
    writeFileSync(spec, JSON.stringify({ name: 'x', base: {}, axes: { matmulMath: ['f32', 'f8'] }, prompts: [] }));
    const mm = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', spec, '--out', join(tmp, 'o')]);
    expect(mm.code).toBe(2);
    expect(mm.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toEqual([`error: ${spec}: axes.matmulMath[1] must be one of f32, f16 (got "f8").`]);
  });

  it.skipIf(HAS_F16)('a run with f16 matmul math on an adapter without shader-f16 is one line before any run', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'experiment-test-'));
    const spec = join(tmp, 'mm.json');
    writeFileSync(spec, JSON.stringify({ name: 'x', base: {}, axes: { matmulMath: ['f32', 'f16'] }, prompts: [] }));
    const r = cli('experiment', ['--spec', spec, '--model', STORIES, '--data', spec, '--out', join(tmp, 'o')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(new RegExp(`^error: ${spec}: matmulMath "f16" needs a GPU with the WebGPU 'shader-f16' feature, and this one \\(.*\\) has none; use "f32"`))]);
    expect(r.stderr).not.toMatch(/run 1\/2/);
  });
});
