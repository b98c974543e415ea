// The shader preprocessor (#include, #if, {{NAME}}) and the two hosts' shader libraries.
import { describe, expect, it } from 'vitest';
import { loadShaderLibrary } from '../cli/node-gpu';
import { browserShaderLibrary } from '../worker/shaders';
import { libraryFromFiles, preprocess, type ShaderLibrary } from './shaders';

describe('preprocess', () => {
  const lib: ShaderLibrary = {
    k: 'a\n#include "common/x.wgsl"\n#if F\nf {{N}}\n#else\nnot f\n#endif\nz',
    'common/x': '// x\n#include "common/y.wgsl"\nfn x() {}',
    'common/y': 'fn y() {}',
    twice: '#include "common/x.wgsl"\n#include "common/y.wgsl"\nend',
    cyc: '#include "common/c1.wgsl"',
    'common/c1': 'one\n#include "common/c2.wgsl"',
    'common/c2': 'two\n\n#include "common/c1.wgsl"',
    missing: 'a\n#include "common/nope.wgsl"',
    bad: 'a\n#if F\n#if G\nx\n#endif\n#endif\n#if H\n#endif',
    open: 'a\n#if F\nb',
  };

  it('expands includes in place, depth first, before #if and {{NAME}}', () => {
    expect(preprocess(lib, 'k', { F: true, N: 3 })).toBe('a\n// x\nfn y() {}\nfn x() {}\nf 3\nz');
    expect(preprocess(lib, 'k', { F: false })).toBe('a\n// x\nfn y() {}\nfn x() {}\nnot f\nz');
  });

  it('includes a file once per shader', () => {
    expect(preprocess(lib, 'twice', {})).toBe('// x\nfn y() {}\nfn x() {}\nend');
  });

  it('refuses a cycle, naming the file, the line and the chain', () => {
    expect(() => preprocess(lib, 'cyc', {})).toThrow('shaders/common/c2.wgsl:3: #include cycle cyc.wgsl → common/c1.wgsl → common/c2.wgsl → common/c1.wgsl');
  });

  it('refuses an unknown include, naming the including file and line', () => {
    expect(() => preprocess(lib, 'missing', {})).toThrow('shaders/missing.wgsl:2: #include "common/nope.wgsl": no such file in shaders/');
  });

  it('refuses an #if name that is not a define, even in a branch not taken', () => {
    expect(() => preprocess(lib, 'k', { N: 1 })).toThrow('shaders/k.wgsl:3: #if F is not a define of this kernel (it has N)');
    expect(() => preprocess(lib, 'bad', { F: false, H: true })).toThrow('shaders/bad.wgsl:3: #if G is not a define');
    expect(preprocess(lib, 'bad', { F: true, G: false, H: undefined })).toBe('a');
  });

  it('names the line of an unterminated #if and of a {{NAME}} without a value', () => {
    expect(() => preprocess(lib, 'open', { F: true })).toThrow('shaders/open.wgsl:2: unterminated #if');
    expect(() => preprocess(lib, 'k', { F: true })).toThrow('shaders/k.wgsl:4: define {{N}} has no value');
  });

  it('libraryFromFiles keys files by their path under shaders/ without .wgsl', () => {
    expect(Object.keys(libraryFromFiles({ 'norm.wgsl': '', 'common/f16.wgsl': '', 'README.md': '' })).sort()).toEqual(['common/f16', 'norm']);
  });
});

describe('shader libraries', () => {
  it('Node (files on disk) and the browser (Vite glob) hold the same files, includes among them', () => {
    const node = loadShaderLibrary();
    const browser = browserShaderLibrary();
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
    for (const k of Object.keys(node)) expect(browser[k], k).toBe(node[k]);
    expect(Object.keys(node)).toEqual(expect.arrayContaining(['common/linear_id', 'common/f16', 'common/wg_reduce', 'common/attention', 'attention_fwd']));
  });

  it('every include file says what it provides', () => {
    const lib = loadShaderLibrary();
    for (const k of Object.keys(lib).filter((k) => k.startsWith('common/'))) {
      expect(lib[k].startsWith('// Include: '), `shaders/${k}.wgsl header`).toBe(true);
      expect(lib[k], `shaders/${k}.wgsl header`).toMatch(/\/\/ Provides/);
    }
  });
});
