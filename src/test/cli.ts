// For the command-line tests (src/cli/cli*.test.ts): run a tool as a user does (tsx on its source,
// in a child process), read its error lines, and write the small stories dataset they train on
// (cliScratch: a temporary folder per test file with that dataset).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The real tiny pretrained model in ../shared/models (a Llama layout with a SentencePiece vocabulary). */
export const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Runs `npm run <tool> -- args` (src/cli/<tool>.ts) to completion: its exit code, stdout and stderr. */
export function cli(tool: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(TSX, [join(ROOT, 'src', 'cli', `${tool}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** stderr minus the GPU driver's start-up chatter and our progress lines. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error:'));
}

/** Writes 12 JSONL rows of short stories text to dir/stories.jsonl and returns its path. */
function writeStoriesData(dir: string): string {
  const data = join(dir, 'stories.jsonl');
  const lines = [];
  for (let i = 0; i < 12; i++) lines.push(JSON.stringify({ text: `Tom had a purple frog number ${i}. The purple frog ate cake with Tom.` }));
  writeFileSync(data, lines.join('\n') + '\n');
  return data;
}

/** A fresh temporary folder for one CLI test file, with writeStoriesData's dataset in it: `{ tmp, data }`. */
export function cliScratch(): { tmp: string; data: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'cli-test-'));
  return { tmp, data: writeStoriesData(tmp) };
}
