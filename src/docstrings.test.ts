// House rule (common.md, ARCHITECTURE.md): every exported engine function and type has a docstring.
// This lists the exported declarations of DOCUMENTED folders/files that carry no `/** ... */`
// comment and fails with the list.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('./', import.meta.url));

/**
 * Folders (and single files) of src/ whose exported declarations must carry a JSDoc comment.
 * Extend this list as the other engine folders (worker) are documented; the test then covers
 * them too.
 */
export const DOCUMENTED: string[] = [
  'gpu',
  'quant',
  'ops',
  'model',
  'lora',
  'export',
  'experiment',
  'util',
  'options.ts',
  'hosts.ts',
  'net',
  'data',
  'train',
  'plan',
  'flags.ts',
  'worker',
];

function sources(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((f) => sources(join(path, f)))
    .filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f));
}

function isExported(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
  );
}

/** True when a `/** ... *\/` comment (with some text) sits right before the statement. */
function hasDocComment(text: string, node: ts.Node): boolean {
  const ranges = ts.getLeadingCommentRanges(text, node.pos) ?? [];
  return ranges.some(
    (r) =>
      r.kind === ts.SyntaxKind.MultiLineCommentTrivia &&
      text.startsWith('/**', r.pos) &&
      text.slice(r.pos + 3, r.end - 2).replace(/[\s*]/g, '').length > 0,
  );
}

/** The names a top-level exported statement declares (several for `export const a = 1, b = 2`). */
function declaredNames(node: ts.Statement): string[] {
  if (ts.isVariableStatement(node)) {
    return node.declarationList.declarations.map((d) => d.name.getText());
  }
  if (
    ts.isFunctionDeclaration(node) ||
    ts.isClassDeclaration(node) ||
    ts.isInterfaceDeclaration(node) ||
    ts.isTypeAliasDeclaration(node) ||
    ts.isEnumDeclaration(node)
  ) {
    return [node.name?.getText() ?? 'default'];
  }
  return [];
}

/** `file: name` for each undocumented exported declaration; overloads count as one name. */
export function undocumented(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const documented = new Map<string, boolean>();
  for (const st of sf.statements) {
    if (!isExported(st)) continue;
    for (const name of declaredNames(st)) {
      documented.set(name, (documented.get(name) ?? false) || hasDocComment(text, st));
    }
  }
  const rel = relative(SRC, file);
  return [...documented].filter(([, ok]) => !ok).map(([name]) => `${rel}: ${name}`);
}

describe('docstrings', () => {
  it('every exported declaration of the documented engine folders has a JSDoc comment', () => {
    const files = DOCUMENTED.flatMap((p) => sources(join(SRC, p)));
    expect(files.length).toBeGreaterThan(50);
    const missing = files.flatMap(undocumented);
    expect(missing, `exported without a /** docstring */:\n${missing.join('\n')}`).toEqual([]);
  });

  it('notices a missing docstring', () => {
    const sf = ts.createSourceFile('x.ts', 'export function f() {}', ts.ScriptTarget.Latest, true);
    expect(hasDocComment(sf.text, sf.statements[0])).toBe(false);
    const doc = ts.createSourceFile('y.ts', '/** Does f. */\nexport function f() {}', ts.ScriptTarget.Latest, true);
    expect(hasDocComment(doc.text, doc.statements[0])).toBe(true);
    const line = ts.createSourceFile('z.ts', '// not JSDoc\nexport function f() {}', ts.ScriptTarget.Latest, true);
    expect(hasDocComment(line.text, line.statements[0])).toBe(false);
  });
});
