// WGSL sources come from the top-level shaders/ folder. The host loads them (Vite's
// import.meta.glob in the browser, the file system in Node) and hands the engine a ShaderLibrary
// keyed by the path under shaders/ without `.wgsl` ('matmul', 'common/linear_id').
// Variants of one kernel (transposes, weight formats, optional bindings) are produced by a tiny
// line preprocessor, applied in this order:
//   #include "common/x.wgsl"  replaced by that library file (path relative to shaders/), itself
//                          expanded; a file already included into this shader is skipped (so two
//                          includes may share a third; decided before #if, so include a file
//                          from one branch only); a cycle or a missing file is an error
//   #if NAME / #if !NAME   keep the following lines when define NAME is truthy / falsy; NAME must
//                          be one of the defines passed (false / 0 / '' / undefined are falsy),
//                          so a misspelt or forgotten flag is an error, never silently false
//   #else / #endif         (nestable)
//   {{NAME}}               replaced by the define's value (numbers, WGSL snippets)
// Errors name the file under shaders/ and the line, e.g. `shaders/norm.wgsl:12: ...`.

/** WGSL sources keyed by their path under shaders/ without `.wgsl` ('norm', 'common/f16'). */
export type ShaderLibrary = Record<string, string>;
/** Preprocessor defines: for `#if NAME` (truthy unless undefined, false, 0 or '') and `{{NAME}}` (its String value). */
export type Defines = Record<string, string | number | boolean | undefined>;

interface SourceLine {
  text: string;
  /** Library key of the file the line comes from. */
  file: string;
  /** 1-based line number in that file. */
  line: number;
}

const where = (file: string, line?: number) => `shaders/${file}.wgsl${line === undefined ? '' : `:${line}`}`;

const INCLUDE = /^#include\s+"([^"]+)"\s*$/;

/** Library key of an `#include "path"` argument: the path under shaders/, `.wgsl` optional. */
function includeKey(arg: string): string {
  return arg.replace(/^\.?\//, '').replace(/\.wgsl$/, '');
}

/**
 * The lines of library file `name` with every `#include` expanded (depth first, each file at
 * most once per shader). Throws naming the including file and line for an unknown file or a cycle.
 */
function expandIncludes(lib: ShaderLibrary, name: string): SourceLine[] {
  const out: SourceLine[] = [];
  const done = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    done.add(file);
    const lines = lib[file]!.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i].trim();
      if (t.startsWith('#include')) {
        const m = INCLUDE.exec(t);
        if (!m) throw new Error(`${where(file, i + 1)}: malformed #include (write #include "common/name.wgsl")`);
        const key = includeKey(m[1]);
        if (chain.includes(key)) {
          throw new Error(`${where(file, i + 1)}: #include cycle ${[...chain, key].map((k) => `${k}.wgsl`).join(' → ')}`);
        }
        if (lib[key] === undefined) {
          throw new Error(`${where(file, i + 1)}: #include "${m[1]}": no such file in shaders/ (paths are relative to shaders/)`);
        }
        if (!done.has(key)) visit(key, [...chain, key]);
        continue;
      }
      out.push({ text: lines[i], file, line: i + 1 });
    }
  };
  if (lib[name] === undefined) throw new Error(`shader '${name}.wgsl' is not in the shader library`);
  visit(name, [name]);
  return out;
}

/**
 * Preprocesses library file `name` for one variant: includes, then #if / #else / #endif against
 * `defines`, then {{NAME}} substitution. Throws (naming file and line) on an #if name that is not
 * a key of `defines`, a {{NAME}} without a value, or unbalanced #if / #else / #endif.
 */
export function preprocess(lib: ShaderLibrary, name: string, defines: Defines): string {
  const out: string[] = [];
  const stack: { active: boolean; parent: boolean; file: string; line: number }[] = [];
  let active = true;
  for (const { text, file, line } of expandIncludes(lib, name)) {
    const t = text.trim();
    if (t.startsWith('#if ')) {
      const cond = t.slice(4).trim();
      const neg = cond.startsWith('!');
      const flag = neg ? cond.slice(1).trim() : cond;
      if (!Object.prototype.hasOwnProperty.call(defines, flag)) {
        const known = Object.keys(defines).sort();
        throw new Error(
          `${where(file, line)}: #if ${flag} is not a define of this kernel (it has ${known.length ? known.join(', ') : 'none'}); ` +
            'pass it explicitly in the wrapper\'s defines',
        );
      }
      const v = defines[flag];
      const truthy = v !== undefined && v !== false && v !== 0 && v !== '';
      stack.push({ active, parent: active, file, line });
      active = active && (neg ? !truthy : truthy);
      continue;
    }
    if (t === '#else') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`${where(file, line)}: #else without #if`);
      active = top.parent && !active;
      continue;
    }
    if (t === '#endif') {
      const top = stack.pop();
      if (!top) throw new Error(`${where(file, line)}: #endif without #if`);
      active = top.active;
      continue;
    }
    if (t.startsWith('#')) throw new Error(`${where(file, line)}: unknown directive '${t.split(/\s/)[0]}'`);
    if (!active) continue;
    out.push(
      text.replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
        const v = defines[key];
        if (v === undefined) throw new Error(`${where(file, line)}: define {{${key}}} has no value`);
        return String(v);
      }),
    );
  }
  const open = stack.pop();
  if (open) throw new Error(`${where(open.file, open.line)}: unterminated #if`);
  return out.join('\n');
}

/**
 * Turns a map of paths under shaders/ (as a directory walk gives: 'norm.wgsl',
 * 'common/f16.wgsl') into a library keyed by the path without `.wgsl`. Files not ending in
 * `.wgsl` are ignored.
 */
export function libraryFromFiles(files: Record<string, string>): ShaderLibrary {
  const lib: ShaderLibrary = {};
  for (const [path, src] of Object.entries(files)) {
    if (!path.endsWith('.wgsl')) continue;
    lib[path.replace(/^\.?\//, '').replace(/\.wgsl$/, '')] = src;
  }
  return lib;
}
