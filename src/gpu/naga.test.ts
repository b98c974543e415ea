// Every kernel variant the op wrappers build, compiled by a second WGSL compiler: naga (wgpu's
// front end and validator, as WebAssembly: the naga-wasm dev dependency) parses and validates the
// preprocessed source of each (src/test/wrappers.ts tours the wrappers on a stand-in context,
// with and without 'shader-f16' and 'subgroups'). This machine's GPU (SwiftShader) has no
// shader-f16, so the real f16 build of the matmul (`enable f16`, HALF_F16) is compiled nowhere
// else before it meets a GPU that has the feature; here its types, f16 literals and conversions
// are checked. naga does not take `enable subgroups;` yet (it allows the subgroup builtins
// without it) nor know subgroupElect(), so for it that line is dropped and subgroupElect() reads
// (subgroupExclusiveAdd(1u) == 0u), the same lane; Tint's uniformity analysis has no naga
// counterpart, so the real devices' compilers (Dawn's Tint, in the other tests) still have the last word.
import { parseWgsl, validate } from 'naga-wasm';
import { describe, expect, it } from 'vitest';
import { loadShaderLibrary } from '../cli/node-gpu';
import { quantKernelSpec } from '../quant/gpu';
import { recordAllVariants } from '../test/wrappers';
import type { KernelSpec } from './context';
import { preprocess } from './shaders';

const lib = loadShaderLibrary();

/** naga's error for `src` (with the two subgroup substitutions above), or null when it parses and validates. */
function nagaError(src: string): string | null {
  try {
    validate(parseWgsl(src.replace(/^enable subgroups;$/m, '').replace(/subgroupElect\(\)/g, '(subgroupExclusiveAdd(1u) == 0u)')));
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('WGSL validation of every kernel variant by naga', () => {
  const specs = new Map<string, KernelSpec>();
  for (const r of recordAllVariants()) specs.set(`${r.spec.shader}:${r.spec.entry}:${JSON.stringify(r.spec.defines)}`, r.spec);
  for (const sg of [false, true]) {
    for (const [entry, bits] of [['nf4_absmax', 0], ['nf4_codes', 0], ['int8_absmax', 0], ['int8_codes', 0], ['qa_params', 4], ['qa_codes', 3]] as const) {
      const spec = quantKernelSpec(entry, bits, sg);
      specs.set(`quantize:${entry}:${JSON.stringify(spec.defines)}`, spec);
    }
  }

  it(`each of the ${specs.size} variants, the real f16 matmul builds among them`, () => {
    const sources = [...specs.values()].map((spec) => ({ spec, src: preprocess(lib, spec.shader, spec.defines ?? {}) }));
    expect(sources.filter((s) => /^enable f16;/m.test(s.src)).length).toBeGreaterThanOrEqual(10);
    expect(sources.filter((s) => /subgroupAdd/.test(s.src)).length).toBeGreaterThanOrEqual(5);
    const failed = sources.flatMap(({ spec, src }) => {
      const err = nagaError(src);
      return err ? [`shaders/${spec.shader}.wgsl ${spec.entry ?? 'main'} ${JSON.stringify(spec.defines)}:\n${err}`] : [];
    });
    expect(failed).toEqual([]);
  });

  it('the validator catches what it is here for: an f16 value where f32 is wanted, f16 without its enable', () => {
    expect(nagaError('enable f16;\n@compute @workgroup_size(1) fn main() { let a: f16 = 1.0h; let b: f32 = f32(a); }')).toBeNull();
    expect(nagaError('enable f16;\n@compute @workgroup_size(1) fn main() { let a: f16 = 1.0h; let b: f32 = a; }')).toMatch(/f32/);
    expect(nagaError('@compute @workgroup_size(1) fn main() { let a: f16 = 1.0h; }')).toMatch(/f16/);
    // The matmul's real f16 build with one conversion removed: a type error naga must report.
    const spec = [...specs.values()].find((s) => s.shader === 'matmul_vec4' && s.defines?.HALF_F16)!;
    const src = preprocess(lib, spec.shader, spec.defines ?? {});
    const broken = src.replace('acc[i] += vec4<f32>(fma(', 'acc[i] += (fma(');
    expect(broken).not.toBe(src);
    expect(nagaError(broken)).not.toBeNull();
  });
});
