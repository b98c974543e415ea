// The engine (everything the browser worker and the CLI share) must not depend on Node or the DOM.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('./', import.meta.url));
const ENGINE = ['gpu', 'ops', 'model', 'lora', 'train', 'data', 'quant', 'export', 'experiment'];

function files(dir: string): string[] {
  let out: string[] = [];
  try {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) out = out.concat(files(p));
      else if (/\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f)) out.push(p);
    }
  } catch {
    // a layer that does not exist yet has nothing to check
  }
  return out;
}

describe('engine boundary', () => {
  const sources = [...ENGINE.flatMap((d) => files(join(SRC, d))), join(SRC, 'options.ts'), join(SRC, 'flags.ts')];
  it('finds the engine sources', () => expect(sources.length).toBeGreaterThan(20));
  for (const f of sources) {
    it(f.slice(SRC.length), () => {
      const text = readFileSync(f, 'utf8');
      expect(text).not.toMatch(/from ['"](node:|fs|path|os|url|child_process|webgpu)['"/]/);
      expect(text).not.toMatch(/\b(document|window)\.[A-Za-z_]/); // property access, not prose
      expect(text).not.toMatch(/\bprocess\.(env|argv|exit)/);
      expect(text).not.toMatch(/from ['"]\.\.\/(cli|ui|test)\//);
    });
  }
});
