// Exports nobody imports. Every exported name of a non-test module under src/ (functions,
// constants, classes, enums, types and interfaces) must be imported by some OTHER file: a module
// of src/, a test, an e2e spec or a config file (vite.config.ts, playwright.config.ts). Tests count
// as importers: an export that only a test imports is a tested seam (a reference implementation, a
// pure helper tested on its own), not dead code. A name used only inside its own file is not
// exported; a function nobody calls is deleted. The few entry points that nothing in the repository
// imports by design are listed in ALLOWED with the reason.
//
// The scan is syntactic (TypeScript's parser, no type checker, so it takes about a second):
// `import { a as b }`, default and namespace imports (`ns.a`, or every export when `ns` is used
// whole), `import('./x')` expressions and `import('./x').T` types (every export of x when the
// names are not spelled out), `export { a } from` / `export * from` re-exports followed to the
// declaring module. Only relative specifiers are resolved (the project has no path aliases).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Public entry points that nothing in the repository imports, by design: file → names and why. */
const ALLOWED: Record<string, { names: string[]; why: string }> = {};

const isTest = (f: string) => /\.test\.tsx?$/.test(f);

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== 'node_modules') walk(p, out);
    } else if (/\.(ts|tsx|mts)$/.test(e) && !e.endsWith('.d.ts')) {
      out.push(p);
    }
  }
  return out;
}

interface ModuleInfo {
  /** Exported name → declared here (line) or re-exported from (file, name). */
  exports: Map<string, { line: number } | { from: string; name: string }>;
  /** `export * from` sources. */
  stars: string[];
  /** (module, name) pairs this file imports; name '*' = every export of the module. */
  uses: [string, string][];
}

function resolveSpecifier(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec.replace(/\?.*$/, ''));
  for (const c of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts'), join(base, 'index.tsx')]) {
    try {
      if (statSync(c).isFile() && /\.tsx?$/.test(c)) return c;
    } catch {
      // not this candidate
    }
  }
  return null;
}

function scan(file: string): ModuleInfo {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const info: ModuleInfo = { exports: new Map(), stars: [], uses: [] };
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const namespaces = new Map<string, string>(); // local namespace name → module
  const hasExport = (n: ts.Node) => ts.canHaveModifiers(n) && !!ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const isDefault = (n: ts.Node) => ts.canHaveModifiers(n) && !!ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
  const bindingNames = (b: ts.BindingName, out: ts.Identifier[] = []): ts.Identifier[] => {
    if (ts.isIdentifier(b)) out.push(b);
    else for (const e of b.elements) if (!ts.isOmittedExpression(e)) bindingNames(e.name, out);
    return out;
  };

  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const target = resolveSpecifier(file, st.moduleSpecifier.text);
      const clause = st.importClause;
      if (!target || !clause) continue;
      if (clause.name) info.uses.push([target, 'default']);
      const nb = clause.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) namespaces.set(nb.name.text, target);
      if (nb && ts.isNamedImports(nb)) for (const el of nb.elements) info.uses.push([target, (el.propertyName ?? el.name).text]);
      continue;
    }
    if (ts.isExportDeclaration(st)) {
      const target = st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) ? resolveSpecifier(file, st.moduleSpecifier.text) : null;
      if (st.moduleSpecifier && !target) continue; // a package
      if (!st.exportClause) {
        info.stars.push(target!);
      } else if (ts.isNamespaceExport(st.exportClause)) {
        info.exports.set(st.exportClause.name.text, { from: target!, name: '*' });
      } else {
        for (const el of st.exportClause.elements) {
          const local = (el.propertyName ?? el.name).text;
          info.exports.set(el.name.text, target ? { from: target, name: local } : { line: lineOf(el) });
        }
      }
      continue;
    }
    if (ts.isExportAssignment(st)) {
      info.exports.set('default', { line: lineOf(st) });
      continue;
    }
    if (!hasExport(st)) continue;
    if (isDefault(st)) info.exports.set('default', { line: lineOf(st) });
    else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) for (const id of bindingNames(d.name)) info.exports.set(id.text, { line: lineOf(id) });
    } else if (
      (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st) || ts.isModuleDeclaration(st)) && st.name && ts.isIdentifier(st.name)
    ) {
      info.exports.set(st.name.text, { line: lineOf(st) });
    }
  }

  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n) && namespaces.has(n.text) && !ts.isNamespaceImport(n.parent)) {
      const target = namespaces.get(n.text)!;
      const p = n.parent;
      if (ts.isPropertyAccessExpression(p) && p.expression === n) info.uses.push([target, p.name.text]);
      else if (ts.isQualifiedName(p) && p.left === n) info.uses.push([target, p.right.text]);
      else info.uses.push([target, '*']);
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      const target = a && ts.isStringLiteral(a) ? resolveSpecifier(file, a.text) : null;
      if (target) info.uses.push([target, '*']);
    }
    if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      const target = resolveSpecifier(file, n.argument.literal.text);
      if (target) {
        let q = n.qualifier;
        while (q && ts.isQualifiedName(q)) q = q.left;
        info.uses.push([target, q ? q.text : '*']);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return info;
}

/** `file:name` of every export declared in a non-test module under src/ that no other file imports. */
function unusedExports(): string[] {
  const files = [...walk(join(ROOT, 'src')), ...walk(join(ROOT, 'e2e')), join(ROOT, 'vite.config.ts'), join(ROOT, 'playwright.config.ts')];
  const mods = new Map(files.map((f) => [f, scan(f)]));
  const used = new Set<string>();
  const seen = new Set<string>();
  const use = (file: string, name: string): boolean => {
    const key = `${file}\0${name}`;
    if (seen.has(key)) return used.has(key);
    seen.add(key);
    const m = mods.get(file);
    if (!m) return false;
    if (name === '*') {
      for (const n of m.exports.keys()) use(file, n);
      for (const s of m.stars) use(s, '*');
      used.add(key);
      return true;
    }
    const e = m.exports.get(name);
    if (e) {
      if ('from' in e) use(e.from, e.name);
      used.add(key);
      return true;
    }
    for (const s of m.stars) {
      if (use(s, name)) {
        used.add(key);
        return true;
      }
    }
    return false;
  };
  for (const [file, m] of mods) for (const [target, name] of m.uses) if (target !== file) use(target, name);

  const out: string[] = [];
  for (const [file, m] of mods) {
    const rel = relative(ROOT, file);
    if (!rel.startsWith('src/') || isTest(file)) continue;
    for (const [name, e] of m.exports) {
      if ('from' in e || used.has(`${file}\0${name}`)) continue;
      if (ALLOWED[rel]?.names.includes(name)) continue;
      out.push(`${rel}:${e.line} ${name}`);
    }
  }
  return out.sort();
}

describe('exports', () => {
  it('every export of a module under src/ is imported by another file (or allowed, with a reason)', () => {
    const unused = unusedExports();
    expect(unused, `exported but imported by no other file; un-export it, delete it, or add it to ALLOWED with the reason:\n${unused.join('\n')}`).toEqual([]);
  });

  it('the allow-list names only exports that exist and are unused', () => {
    for (const [rel, { names }] of Object.entries(ALLOWED)) {
      const m = scan(join(ROOT, rel));
      for (const n of names) expect(m.exports.has(n), `${rel}: ${n} is not exported`).toBe(true);
    }
  });
});
