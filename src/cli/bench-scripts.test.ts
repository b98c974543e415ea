// The Python / shell benchmark scripts under bench/ at least parse (they need a GPU machine to run),
// and gpu.sh's merge (bench/gpu_merge.py) writes one JSON file with the f16 matmul-math run, or the
// error that run ended with, on made-up inputs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const has = (cmd: string) => spawnSync(cmd, ['--version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'bench-scripts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** gpu_merge.py over made-up bench outputs; the f16 run's stdout / stderr as given. Returns the JSON written and the line printed. */
function merge(f16Stdout: string, f16Stderr: string): { json: Record<string, unknown>; line: string } {
  const p = (n: string) => join(tmp, n);
  writeFileSync(p('ours.json'), JSON.stringify({ train: { tokens_per_second: 300 }, config: { matmul_math: 'f32' } }));
  writeFileSync(p('peft.json'), JSON.stringify({ train: { tokens_per_second: 1000 } }));
  writeFileSync(p('f16.json'), f16Stdout);
  writeFileSync(p('f16.err'), f16Stderr);
  const line = execFileSync('python3', ['bench/gpu_merge.py', p('out.json'), p('ours.json'), p('peft.json'), p('f16.json'), p('f16.err')], { cwd: root, encoding: 'utf8' });
  return { json: JSON.parse(readFileSync(p('out.json'), 'utf8')), line: line.trim() };
}

describe('bench scripts', () => {
  it.skipIf(!has('python3'))('bench/peft_bench.py and bench/gpu_merge.py compile', () => {
    for (const f of ['bench/peft_bench.py', 'bench/gpu_merge.py']) {
      execFileSync('python3', ['-c', 'import os, py_compile, sys, tempfile; py_compile.compile(sys.argv[1], doraise=True, cfile=os.path.join(tempfile.mkdtemp(), "x.pyc"))', f], { cwd: root });
    }
  });
  it.skipIf(!has('bash'))('bench/gpu.sh parses, and runs the f16 bench without letting its failure stop the script', () => {
    expect(spawnSync('bash', ['-n', 'bench/gpu.sh'], { cwd: root }).status).toBe(0);
    const sh = readFileSync(join(root, 'bench/gpu.sh'), 'utf8');
    expect(sh).toMatch(/npm run -s bench -- .*--matmul-math f16 .*\|\| true$/m);
    expect(sh).toMatch(/^python3 bench\/gpu_merge\.py /m);
  });
  it.skipIf(!has('python3'))('gpu_merge.py: the f16 run and its speed ratio, or its error text when it failed', () => {
    const ok = merge(JSON.stringify({ train: { tokens_per_second: 450 }, config: { matmul_math: 'f16' } }), 'GPU: acme\n');
    expect(ok.json).toMatchObject({ tokens_per_second_ratio_webgpu_over_peft: 0.3, webgpu_f16: { config: { matmul_math: 'f16' } }, tokens_per_second_ratio_f16_over_f32_matmul_math: 1.5 });
    expect(ok.line).toMatch(/WebGPU\/PEFT tokens\/s = 0\.300; f16\/f32 matmul math tokens\/s = 1\.500$/);
    const failed = merge('', "GPU: acme\rloading\nerror: --matmul-math f16 needs a GPU with the WebGPU 'shader-f16' feature\n");
    expect(failed.json.webgpu_f16).toEqual({ error: "error: --matmul-math f16 needs a GPU with the WebGPU 'shader-f16' feature" });
    expect(failed.json).not.toHaveProperty('tokens_per_second_ratio_f16_over_f32_matmul_math');
    expect(failed.json.tokens_per_second_ratio_webgpu_over_peft).toBe(0.3);
    expect(failed.line).toMatch(/no f16 matmul math run \(error: --matmul-math f16 needs/);
    expect(merge('', 'Segmentation fault\n').json.webgpu_f16).toEqual({ error: 'Segmentation fault' });
  });
});
