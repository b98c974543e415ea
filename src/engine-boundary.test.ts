// The house as drawn (ARCHITECTURE.md): layers import one way, and the engine (everything the
// browser worker and the CLI share) depends on neither Node nor the DOM.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('./', import.meta.url));

/**
 * Each unit's rank, lowest first. A unit is a folder of src/ or a single file at its top. A source
 * file may import a file of its own unit or of a unit of lower rank, never one of higher or equal
 * rank (so two units of one rank cannot import each other). This list is ARCHITECTURE.md's drawing.
 */
export const LAYERS: string[][] = [
  ['util', 'options', 'hosts'], // leaves: PRNG/hash, option-keyed errors, the Hub's hosts
  ['gpu'], // device, buffers, programs, shader preprocessor
  ['quant'], // quantization formats, references, GPU quantize, QuantWeight
  ['ops'], // one wrapper per kernel family
  ['model'], // config, module names, sources, checkpoint formats, tokenizers, weights, load
  ['lora'], // PEFT targets and files, the adapter's GPU state, merges
  ['net'], // the transformer (Llama, GPT-2) as compositions of ops with LoRA linears, generation
  ['data'], // readers, shapes, templates, tokenization, packing, stats, batches
  ['train'], // trainer, schedule, checkpoints, the run loop
  ['export', 'experiment'], // GGUF and cluster hand-off; experiment specs and reports
  ['plan', 'flags'], // knob defaults and checks, memory estimate, catalog, WebGPU help; CLI flags
  ['worker'], // the engine behind the typed worker protocol
  ['store'], // zustand slices: the page's only caller of the worker
  ['ui', 'cli'], // hosts: React panels (talk only to the store); the Node CLI
  ['main'], // the page's entry
];
/** Units restricted further than by rank: the UI's panels talk only to the store. */
const ONLY: Record<string, string[]> = { ui: ['store'] };
const ENGINE = ['util', 'options', 'hosts', 'gpu', 'quant', 'ops', 'model', 'lora', 'net', 'data', 'train', 'export', 'experiment', 'plan', 'flags'];

const rankOf = new Map(LAYERS.flatMap((units, rank) => units.map((u) => [u, rank] as const)));

function files(dir: string): string[] {
  let out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (/\.tsx?$/.test(f)) out.push(p);
  }
  return out;
}

/** The unit of a path under src/: its first folder, or the file's name without extension. */
function unitOf(path: string): string {
  const rel = relative(SRC, path);
  const [first] = rel.split(/[\\/]/);
  return rel.includes('/') || rel.includes('\\') ? first : first.replace(/\.tsx?$/, '');
}

/** Relative specifiers of static imports, re-exports and dynamic imports (any depth of ../). */
export function relativeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]*)['"]/g)) out.push(m[1]);
  return out;
}

/** The violations of one source file: imports of a unit of higher or equal rank, or outside ONLY. */
export function violations(file: string, text: string): string[] {
  const from = unitOf(file);
  const rFrom = rankOf.get(from);
  if (rFrom === undefined) return [`${relative(SRC, file)}: unit "${from}" has no rank in LAYERS`];
  const bad: string[] = [];
  for (const spec of relativeImports(text)) {
    const target = resolve(dirname(file), spec.replace(/\?.*$/, ''));
    if (!target.startsWith(SRC)) continue; // shaders/ and other files outside src/
    const to = unitOf(target);
    if (to === from) continue;
    const rTo = rankOf.get(to);
    const allowed = ONLY[from] ? ONLY[from].includes(to) : rTo !== undefined && rTo < rFrom;
    if (!allowed) bad.push(`${relative(SRC, file)} imports ${spec} (${from} → ${to})`);
  }
  return bad;
}

// Tests and the shared test helpers (src/test/) are integration code: they may import any layer.
const sources = files(SRC).filter((f) => !/\.test\.tsx?$/.test(f) && unitOf(f) !== 'test');

describe('layers import one way', () => {
  it('finds the sources of every layer', () => {
    const units = new Set(sources.map(unitOf));
    for (const u of rankOf.keys()) expect(units.has(u), `no sources for ${u}`).toBe(true);
  });
  it('every unit under src/ has a rank', () => {
    const unranked = [...new Set(sources.map(unitOf))].filter((u) => !rankOf.has(u));
    expect(unranked).toEqual([]);
  });
  it('no file imports a unit of higher or equal rank; ui imports only the store', () => {
    expect(sources.flatMap((f) => violations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });
  it('the check itself catches an upward import at any depth and a same-rank import', () => {
    expect(violations(join(SRC, 'model/x.ts'), "import { a } from '../net/transformer';")).toHaveLength(1);
    expect(violations(join(SRC, 'model/sub/x.ts'), "export { a } from '../../store/index';")).toHaveLength(1);
    expect(violations(join(SRC, 'data/x.ts'), "const m = await import('../worker/dataset');")).toHaveLength(1);
    expect(violations(join(SRC, 'cli/x.ts'), "import { b } from '../ui/knobs';")).toHaveLength(1); // same rank
    expect(violations(join(SRC, 'ui/x.tsx'), "import type { Knobs } from '../plan/knobs';")).toHaveLength(1);
    expect(violations(join(SRC, 'ui/x.tsx'), "import { useStudio } from '../store';")).toEqual([]);
    expect(violations(join(SRC, 'net/x.ts'), "import { x } from './y';\nimport { m } from '../model/config';")).toEqual([]);
  });
  it("ARCHITECTURE.md's diagram lists exactly these layers, highest first", () => {
    const doc = readFileSync(join(SRC, '../ARCHITECTURE.md'), 'utf8');
    const block = doc.slice(doc.indexOf('```') + 3, doc.indexOf('```', doc.indexOf('```') + 3));
    // A layer's row starts in the second column: " ui/ · cli/    hosts…", " util/ · options.ts · hosts.ts".
    const rows = block.split('\n').filter((l) => /^ [a-z]/.test(l)).map((l) => l.slice(1).split(/\s{2,}/)[0]);
    const drawn = rows.map((head) => [...head.matchAll(/([a-z]+)(?:\/|\.tsx?\b)/g)].map((m) => m[1])).filter((u) => !u.includes('shaders'));
    expect(drawn).toEqual([...LAYERS].reverse());
  });
});

describe('engine boundary', () => {
  const engine = sources.filter((f) => ENGINE.includes(unitOf(f)));
  it('finds the engine sources', () => expect(engine.length).toBeGreaterThan(20));
  for (const f of engine) {
    it(relative(SRC, f), () => {
      const text = readFileSync(f, 'utf8');
      expect(text).not.toMatch(/from ['"](node:|fs|path|os|url|child_process|webgpu)['"/]/);
      expect(text).not.toMatch(/\b(document|window)\.[A-Za-z_]/); // property access, not prose
      expect(text).not.toMatch(/\bprocess\.(env|argv|exit)/);
    });
  }
});
