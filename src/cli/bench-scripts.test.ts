// The Python / shell benchmark scripts under bench/ at least parse (they need a GPU machine to run).
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const has = (cmd: string) => spawnSync(cmd, ['--version']).status === 0;

describe('bench scripts', () => {
  it.skipIf(!has('python3'))('bench/peft_bench.py compiles', () => {
    execFileSync('python3', ['-c', 'import os, py_compile, sys, tempfile; py_compile.compile(sys.argv[1], doraise=True, cfile=os.path.join(tempfile.mkdtemp(), "x.pyc"))', 'bench/peft_bench.py'], { cwd: root });
  });
  it.skipIf(!has('bash'))('bench/gpu.sh parses', () => {
    expect(spawnSync('bash', ['-n', 'bench/gpu.sh'], { cwd: root }).status).toBe(0);
  });
});
