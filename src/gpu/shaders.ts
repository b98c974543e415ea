// WGSL sources come from the top-level shaders/ folder. The host loads them (Vite's
// import.meta.glob in the browser, the file system in Node) and hands the engine a ShaderLibrary.
// Variants of one kernel (transposes, weight formats, optional bindings) are produced by a tiny
// line preprocessor:
//   #if NAME / #if !NAME   keep the following lines when define NAME is truthy / falsy
//   #else / #endif         (nestable)
//   {{NAME}}               replaced by the define's value (numbers, WGSL snippets)

/** WGSL sources keyed by the base name of their file in shaders/ (without .wgsl). */
export type ShaderLibrary = Record<string, string>;
/** Preprocessor defines: for `#if NAME` (truthy unless undefined, false, 0 or '') and `{{NAME}}` (its String value). */
export type Defines = Record<string, string | number | boolean | undefined>;

/**
 * Applies the `#if NAME` / `#if !NAME` / `#else` / `#endif` and `{{NAME}}` preprocessor described above.
 * `fileName` (base name) is used in messages. Throws Error naming file and line for an #else or #endif
 * without #if, an unterminated #if, or a `{{NAME}}` whose define has no value (in a kept line).
 */
export function preprocess(source: string, defines: Defines, fileName = 'shader'): string {
  const out: string[] = [];
  // Stack of [branchActive, anyTaken, parentActive]
  const stack: { active: boolean; parent: boolean }[] = [];
  let active = true;
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const t = line.trim();
    if (t.startsWith('#if ')) {
      const cond = t.slice(4).trim();
      const neg = cond.startsWith('!');
      const name = neg ? cond.slice(1).trim() : cond;
      const v = defines[name];
      const truthy = v !== undefined && v !== false && v !== 0 && v !== '';
      stack.push({ active, parent: active });
      active = active && (neg ? !truthy : truthy);
      continue;
    }
    if (t === '#else') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`${fileName}.wgsl:${i + 1}: #else without #if`);
      active = top.parent && !active;
      continue;
    }
    if (t === '#endif') {
      const top = stack.pop();
      if (!top) throw new Error(`${fileName}.wgsl:${i + 1}: #endif without #if`);
      active = top.active;
      continue;
    }
    if (!active) continue;
    out.push(
      line.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
        const v = defines[name];
        if (v === undefined) throw new Error(`${fileName}.wgsl:${i + 1}: define {{${name}}} has no value`);
        return String(v);
      }),
    );
  }
  if (stack.length) throw new Error(`${fileName}.wgsl: unterminated #if`);
  return out.join('\n');
}

/** Turns a map of paths (as import.meta.glob or a directory listing gives) into a library keyed by base name. */
export function libraryFromFiles(files: Record<string, string>): ShaderLibrary {
  const lib: ShaderLibrary = {};
  for (const [path, src] of Object.entries(files)) {
    const base = path.split('/').pop()!.replace(/\.wgsl$/, '');
    lib[base] = src;
  }
  return lib;
}
