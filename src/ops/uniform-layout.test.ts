// Every op wrapper's uniform layout (the type letters it hands ctx.uniform) against the uniform
// struct of the shader it dispatches, for every variant the wrappers build: the wrappers run on a
// recording stand-in for the GpuContext (no GPU), each recorded kernel is preprocessed with its
// own defines (which also proves that every #if name of the variant is one of its defines), and
// the struct bound at @binding(0) is parsed field by field: one u/i/f letter per u32/i32/f32
// field, in order. The storage bindings the shader declares are checked against the wrapper's
// binding kinds too. The wrappers and the stand-in are src/test/wrappers.ts'.
import { describe, expect, it } from 'vitest';
import { loadShaderLibrary } from '../cli/node-gpu';
import type { BindingKind } from '../gpu/context';
import { preprocess } from '../gpu/shaders';
import { QUANT_PARAMS, quantKernelSpec } from '../quant/gpu';
import { recordAllVariants, type Recorded } from '../test/wrappers';

const stripComments = (s: string) => s.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');

/** The text of entry point `entry` (up to the next function or entry), or null. */
function entryBody(src: string, entry: string): string | null {
  const start = src.search(new RegExp(`fn\\s+${entry}\\s*\\(`));
  if (start < 0) return null;
  const next = src.slice(start + 1).search(/\n\s*(fn\s|@compute)/);
  return src.slice(start, next < 0 ? undefined : start + 1 + next);
}

/** Whether `name` is read in `body` (as a struct, `name.`, or an array, `name[`). */
const reads = (body: string, name: string, how: string) => new RegExp(`\\b${name}${how}`).test(body);

/** The type letters of the uniform struct an entry point reads at @group(0) @binding(0). */
function uniformLetters(wgsl: string, entry: string, where: string): string {
  const src = stripComments(wgsl);
  const decls = [...src.matchAll(/@group\(0\)\s*@binding\(0\)\s*var<uniform>\s*(\w+)\s*:\s*(\w+)\s*;/g)];
  if (!decls.length) throw new Error(`${where}: no var<uniform> at @group(0) @binding(0)`);
  let decl = decls[0];
  if (decls.length > 1) {
    // Several entries in one module, each with its own struct (optimizer.wgsl): take the one the
    // entry's body reads.
    const body = entryBody(src, entry);
    if (body === null) throw new Error(`${where}: no entry point ${entry}`);
    const used = decls.filter((d) => reads(body, d[1], '\\.'));
    if (used.length !== 1) throw new Error(`${where}: entry ${entry} reads ${used.length} of the uniform structs`);
    decl = used[0];
  }
  const struct = new RegExp(`struct\\s+${decl[2]}\\s*\\{([^}]*)\\}`).exec(src);
  if (!struct) throw new Error(`${where}: struct ${decl[2]} not found`);
  // A fixed array of vec4 (matmul_splitk.wgsl's product table) is 4·N scalar fields.
  const body = struct[1].replace(/array<vec4<(u32|i32|f32)>\s*,\s*(\d+)\s*>/g, (_, t: string, n: string) => `vec4x${n}_${t}`);
  const fields = body.split(',').map((f) => f.trim()).filter(Boolean);
  return fields
    .map((f) => {
      const arr = /^(\w+)\s*:\s*vec4x(\d+)_(\w+)$/.exec(f);
      if (arr) return ({ u32: 'u', i32: 'i', f32: 'f' } as Record<string, string>)[arr[3]].repeat(4 * Number(arr[2]));
      const m = /^(\w+)\s*:\s*(\w+)$/.exec(f);
      if (!m) throw new Error(`${where}: cannot read field '${f}' of struct ${decl[2]}`);
      const letter = { u32: 'u', i32: 'i', f32: 'f' }[m[2]];
      if (!letter) throw new Error(`${where}: field ${m[1]} of struct ${decl[2]} has type ${m[2]}; uniforms are packed as u32/i32/f32`);
      return letter;
    })
    .join('');
}

/**
 * The binding kinds the shader declares (binding index → kind). In a module with several entries
 * that reuse binding numbers (optimizer.wgsl), only the bindings the entry's body reads.
 */
function declaredBindings(wgsl: string, entry: string): Map<number, BindingKind> {
  const src = stripComments(wgsl);
  const decls = [...src.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage\s*,\s*read_write|storage\s*,\s*read|storage)>\s*(\w+)/g)];
  const counts = new Map<number, number>();
  for (const m of decls) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  const shared = [...counts.values()].some((c) => c > 1);
  const body = shared ? entryBody(src, entry) ?? '' : '';
  const out = new Map<number, BindingKind>();
  for (const m of decls) {
    if (shared && !reads(body, m[3], '[.[]')) continue;
    out.set(Number(m[1]), m[2] === 'uniform' ? 'uniform' : /read_write/.test(m[2]) ? 'rw' : 'read');
  }
  return out;
}

const lib = loadShaderLibrary();

function check(r: Recorded): void {
  const where = `${r.label} (shaders/${r.spec.shader}.wgsl, entry ${r.spec.entry ?? 'main'}, defines ${JSON.stringify(r.spec.defines ?? {})})`;
  const src = preprocess(lib, r.spec.shader, r.spec.defines ?? {});
  expect(r.types, `${where}: uniform layout`).toBe(uniformLetters(src, r.spec.entry ?? 'main', where));
  for (const [i, kind] of declaredBindings(src, r.spec.entry ?? 'main')) expect(r.spec.bindings[i], `${where}: binding ${i}`).toBe(kind);
}

describe('uniform layouts of the op wrappers match their shaders', () => {
  // Software and hardware tiling, each without and with shader-f16 + subgroups (the f16-math and subgroup variants).
  const all = recordAllVariants();
  const variants = new Map<string, Recorded>();
  for (const r of all) variants.set(`${r.spec.shader}:${r.spec.entry}:${JSON.stringify(r.spec.defines)}:${r.types}`, r);

  it(`each of the ${variants.size} kernel variants the wrappers build`, () => {
    for (const r of variants.values()) check(r);
  });

  it('quantize.wgsl: QUANT_PARAMS against every entry, with and without QA', () => {
    for (const [entry, bits] of [['nf4_absmax', 0], ['nf4_codes', 0], ['int8_absmax', 0], ['int8_codes', 0], ['qa_params', 4], ['qa_codes', 3]] as const) {
      check({ label: `quantize.${entry}`, spec: quantKernelSpec(entry, bits), types: QUANT_PARAMS });
    }
  });

  it('every kernel file in shaders/ (outside common/) is covered', () => {
    const covered = new Set([...all.map((r) => r.spec.shader), 'quantize']);
    const kernels = Object.keys(lib).filter((k) => !k.startsWith('common/'));
    expect(kernels.filter((k) => !covered.has(k))).toEqual([]);
  });

  it('a mismatch is caught: a dropped field, a swapped type', () => {
    const src = 'struct Params {\n  N: u32, // rows\n  eps: f32,\n}\n@group(0) @binding(0) var<uniform> P: Params;\nfn main() {}';
    expect(uniformLetters(src, 'main', 't')).toBe('uf');
    expect(uniformLetters(src, 'main', 't')).not.toBe('uu');
    expect(() => uniformLetters(src.replace('f32', 'vec2f'), 'main', 't')).toThrow(/type vec2f/);
  });
});
