// A large dataset read through the CLI's path with bounded memory: generated rows (JSONL,
// then the same rows as Parquet) tokenized with stories260K in a child process, which reports its
// peak heap and ArrayBuffer memory. What may grow is the compact store of token ids and masks
// (5 bytes per token) and small per-example tables — not the file's text, nor a JS object or array
// per row. Figures are printed; only generous memory bounds are asserted (no timing).
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from './testutil';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K', import.meta.url));
/** Rows of the generated file: 50,000 in CI (about 4 MB of JSONL); LARGE_ROWS=200000 for the full-size check (figures in the report). */
const ROWS = Number(process.env.LARGE_ROWS ?? 50_000);
const MB = 1 << 20;

/** LARGE_ROW_BYTES=500 makes each row about that long (the story repeated; 200,000 rows ≈ 100 MB of JSONL); default one sentence pair (≈ 75 bytes). */
const REPEAT = Math.max(1, Math.round(Number(process.env.LARGE_ROW_BYTES ?? 0) / 76));
const rowText = (i: number) => Array.from({ length: REPEAT }, (_, k) => `Tom had a purple frog number ${i + k}. The frog ate ${(i + k) % 7} cakes and sang.`).join(' ');

let tmp = '';
beforeAll(() => void (tmp = mkdtempSync(join(tmpdir(), 'data-large-'))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Report {
  rows: number;
  examples: number;
  tokens: number;
  storeBytes: number;
  fileBytes: number;
  baseHeap: number;
  baseArrayBuffers: number;
  peakHeapGrowth: number;
  peakArrayBuffersGrowth: number;
  /** Peak heapUsed growth without collecting first (garbage included). */
  rawPeakHeapGrowth: number;
  progressEvents: number;
  secs: number;
}

/** Loads `path` with loadDataset over nodeFileInput in a child process (heap capped), sampling memory at each progress event. */
function loadInChild(path: string): Report {
  const script = join(tmp, 'load-child.mts');
  writeFileSync(
    script,
    `import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nodeFileInput } from ${JSON.stringify(join(ROOT, 'src/cli/data-input.ts'))};
import { dirSource } from ${JSON.stringify(join(ROOT, 'src/cli/fs-source.ts'))};
import { loadDataset } from ${JSON.stringify(join(ROOT, 'src/data/dataset.ts'))};
import { readSpec } from ${JSON.stringify(join(ROOT, 'src/model/load.ts'))};
import { loadTokenizer } from ${JSON.stringify(join(ROOT, 'src/model/tokenizer.ts'))};
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const src = dirSource(${JSON.stringify(STORIES)});
const spec = await readSpec(src);
const tok = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
tok.encode('warm up the tokenizer', true);
gc(); gc();
const base = process.memoryUsage();
let peakHeap = 0, peakAb = 0, rawPeakHeap = 0, events = 0;
// Retained memory: a full GC before every 10th sample (heapUsed between GCs is mostly garbage waiting to be collected).
const sample = (collect) => {
  const raw = process.memoryUsage().heapUsed;
  rawPeakHeap = Math.max(rawPeakHeap, raw);
  if (!collect) return;
  gc();
  const m = process.memoryUsage();
  peakHeap = Math.max(peakHeap, m.heapUsed); peakAb = Math.max(peakAb, m.arrayBuffers);
};
const t0 = performance.now();
const ds = await loadDataset(nodeFileInput(process.argv[2], 1 << 20), tok, { seqLen: 64, onProgress: () => { events++; sample(events % 10 === 0); } });
sample(true);
console.log(JSON.stringify({ rows: ds.stats.rows, examples: ds.stats.examples, tokens: ds.stats.tokens, storeBytes: ds.store.bytes, fileBytes: ${'$'}{0} || 0,
  baseHeap: base.heapUsed, baseArrayBuffers: base.arrayBuffers, peakHeapGrowth: peakHeap - base.heapUsed, peakArrayBuffersGrowth: peakAb - base.arrayBuffers,
  rawPeakHeapGrowth: rawPeakHeap - base.heapUsed, progressEvents: events, secs: (performance.now() - t0) / 1000 }));
`.replace('${0} || 0', '0'),
  );
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [script, path], {
    encoding: 'utf8',
    // Far below what a JS array per row would take (the old layout: ~24 bytes per token in ids and mask arrays alone).
    env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=160' },
    timeout: 240_000,
  });
  expect(r.stderr.replace(/npm warn.*\n/g, '')).not.toMatch(/heap out of memory|Error/);
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
  out.fileBytes = statSync(path).size;
  return out;
}

function checkBounded(what: string, r: Report) {
  const idsBytes = r.tokens * 4;
  console.log(
    `${what}: ${r.rows} rows, ${(r.fileBytes / MB).toFixed(1)} MB file, ${r.tokens} tokens (ids ${(idsBytes / MB).toFixed(1)} MB, store ${(r.storeBytes / MB).toFixed(1)} MB); ` +
      `peak retained growth: heap ${(r.peakHeapGrowth / MB).toFixed(1)} MB (${(r.rawPeakHeapGrowth / MB).toFixed(1)} MB with garbage), arrayBuffers ${(r.peakArrayBuffersGrowth / MB).toFixed(1)} MB ` +
      `(base heap ${(r.baseHeap / MB).toFixed(1)} MB); ${r.progressEvents} progress events; ${r.secs.toFixed(1)} s`,
  );
  expect(r.rows).toBe(ROWS);
  expect(r.examples).toBe(ROWS);
  expect(r.progressEvents).toBeGreaterThanOrEqual(Math.floor(ROWS / 1000));
  // The token ids live in ArrayBuffers (the store's chunks): what they grow by is the store, plus read buffers.
  expect(r.peakArrayBuffersGrowth).toBeLessThan(r.storeBytes + 16 * MB);
  // The JS heap retains duplicate keys and the records in flight — not the text nor arrays per row
  // (those alone would be ~24 bytes per token: 6 × the ids).
  expect(r.peakHeapGrowth).toBeLessThan(idsBytes + 24 * MB);
  expect(r.peakHeapGrowth + r.peakArrayBuffersGrowth).toBeLessThan(3 * idsBytes + 32 * MB);
}

describe('a large dataset streams with bounded memory (CLI path, stories260K tokenizer)', () => {
  it(`${ROWS} JSONL rows`, async () => {
    const path = join(tmp, 'large.jsonl');
    const ws = createWriteStream(path);
    for (let i = 0; i < ROWS; i++) if (!ws.write(JSON.stringify({ text: rowText(i) }) + '\n')) await once(ws, 'drain');
    ws.end();
    await once(ws, 'finish');
    checkBounded('JSONL', loadInChild(path));
  }, 300_000);

  it(`the same ${ROWS} rows as Parquet (row groups of 500), read row group by row group`, () => {
    const path = join(tmp, 'large.parquet');
    const values = Array.from({ length: ROWS }, (_, i) => rowText(i));
    writeFileSync(path, writeParquet([{ name: 'text', type: 'string', values }], 500));
    checkBounded('Parquet', loadInChild(path));
  }, 300_000);
});
