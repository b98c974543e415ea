// Every op wrapper's uniform layout (the type letters it hands ctx.uniform) against the uniform
// struct of the shader it dispatches, for every variant the wrappers build: the wrappers run on a
// recording stand-in for the GpuContext (no GPU), each recorded kernel is preprocessed with its
// own defines (which also proves that every #if name of the variant is one of its defines), and
// the struct bound at @binding(0) is parsed field by field: one u/i/f letter per u32/i32/f32
// field, in order. The storage bindings the shader declares are checked against the wrapper's
// binding kinds too.
import { describe, expect, it } from 'vitest';
import { loadShaderLibrary } from '../cli/node-gpu';
import type { Bindable, BindingKind, Dispatch, GpuContext, Kernel, KernelSpec } from '../gpu/context';
import { preprocess } from '../gpu/shaders';
import type { QuantWeight } from '../quant/weight';
import { QUANT_PARAMS, quantKernelSpec } from '../quant/gpu';
import type { QuantFormat } from '../quant/formats';
import { geluBackward, geluForward, swigluBackward, swigluForward } from './activation';
import { attentionBackward, attentionForward } from './attention';
import { packF16, packF16Segments, unpackF16, unpackF16Segments } from './convert';
import { crossEntropy, lossReduce } from './crossentropy';
import { accumulate, add, dropout } from './elementwise';
import { embeddingForward } from './embedding';
import { attentionDecode, kvWrite } from './kvcache';
import { matmul, matmulSplitK, splitKPlan, splitKReduce } from './matmul';
import { matmulGrouped, matmulSplitKGrouped } from './matmul-grouped';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from './norm';
import { adamw, gradNorm } from './optimizer';
import { groupPool, groupUnpool } from './pool';
import { rope } from './rope';

interface Recorded {
  label: string;
  spec: KernelSpec;
  /** Letters given to ctx.uniform for the slice bound at binding 0. */
  types: string;
}

const UNIFORM = Symbol('uniform');

/** A GpuContext stand-in that records kernels and uniforms instead of touching a GPU. */
function recordingContext(isSoftware: boolean): { ctx: GpuContext; recorded: Recorded[] } {
  const recorded: Recorded[] = [];
  const limits = {
    maxComputeWorkgroupStorageSize: isSoftware ? 16384 : 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxStorageBufferBindingSize: 1 << 30,
  };
  const fake = {
    device: { limits },
    adapter: { isSoftware },
    kernel: (spec: KernelSpec): Kernel => ({ key: spec.shader, spec, pipeline: {} as GPUComputePipeline, layout: {} as GPUBindGroupLayout }),
    uniform: (types: string, values: number[]) => {
      expect(values.length, `uniform '${types}'`).toBe(types.length);
      return { buffer: {} as GPUBuffer, [UNIFORM]: types };
    },
    dispatch: (label: string, kernel: Kernel, resources: Bindable[], workgroups: number[]): Dispatch => {
      const u = resources[0] as { [UNIFORM]?: string };
      if (u[UNIFORM] === undefined) throw new Error(`${label}: binding 0 is not a ctx.uniform slice`);
      expect(resources.length, `${label}: resources vs bindings`).toBe(kernel.spec.bindings.length);
      recorded.push({ label, spec: kernel.spec, types: u[UNIFORM] });
      return { label, kernel, bindGroup: {} as GPUBindGroup, workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1] };
    },
  };
  return { ctx: fake as unknown as GpuContext, recorded };
}

const buf = (size = 1 << 20): Bindable => ({ buffer: {} as GPUBuffer, size });

function quantWeight(mode: QuantFormat, rows: number, cols: number, zerosF32 = false): QuantWeight {
  const qa = mode.startsWith('qalora');
  const b = {} as GPUBuffer;
  return {
    name: `w-${mode}`, mode, shape: [rows, cols], groupSize: qa ? 32 : 64, codes: b, scales: b,
    zeros: qa ? b : null, zerosF32, extra: mode === 'nf4-dq' ? b : null, bytes: 0,
  };
}

/** Runs every wrapper in every variant it can build, on the recording context. */
function exerciseWrappers(ctx: GpuContext): void {
  for (const N of [3]) {
    swigluForward(ctx, 'swiglu', { N, FF: 8, gu: buf(), h: buf() });
    swigluBackward(ctx, 'swiglu.bwd', { N, FF: 8, gu: buf(), dh: buf(), dgu: buf() });
    geluForward(ctx, 'gelu', { n: 8, inp: buf(), out: buf() });
    geluBackward(ctx, 'gelu.bwd', { n: 8, inp: buf(), dout: buf(), dinp: buf() });
  }
  for (const HS of [8, 64]) {
    const d = { B: 2, T: 5, NH: 4, NKV: 2, HS };
    attentionForward(ctx, 'attn', d, { qkv: buf(), segStart: buf(), out: buf(), lse: buf() });
    attentionBackward(ctx, 'attn.bwd', d, { qkv: buf(), segStart: buf(), out: buf(), lse: buf(), dout: buf(), dqkv: buf(), D: buf() });
    kvWrite(ctx, 'kv', { NH: 4, NKV: 2, HS, Tc: 16 }, { N: 3, qkv: buf(), pos: buf(), kc: buf(), vc: buf() });
    attentionDecode(ctx, 'decode', { NH: 4, NKV: 2, HS, Tc: 16 }, { qkv: buf(), pos: buf(), kc: buf(), vc: buf(), out: buf() });
  }
  for (const backward of [false, true]) {
    crossEntropy(ctx, 'ce', { N: 3, V: 10, logits: buf(), targets: buf(), losses: buf(), scale: buf(), backward });
  }
  lossReduce(ctx, 'loss', { N: 3, losses: buf(), out: buf(), outIndex: 0, accumulate: true });
  add(ctx, 'add', { n: 8, a: buf(), b: buf(), out: buf() });
  accumulate(ctx, 'acc', { n: 8, inp: buf(), out: buf(), scale: 2 });
  dropout(ctx, 'dropout', { n: 8, inp: buf(), out: buf(), seed: buf(), salt: 1, p: 0.1 });
  packF16(ctx, 'pack', { n: 8, inp: buf(), out: buf() });
  unpackF16(ctx, 'unpack', { n: 8, inp: buf(), out: buf() });
  for (let count = 1; count <= 5; count++) {
    const segs = Array.from({ length: count }, (_, k) => ({ n: 8, f32: buf(), offset: 4 * k }));
    packF16Segments(ctx, `packSegs${count}`, { segs, out: buf() });
    unpackF16Segments(ctx, `unpackSegs${count}`, { inp: buf(), segs });
  }
  for (const wDType of ['f32', 'f16'] as const) {
    embeddingForward(ctx, 'emb', { N: 3, C: 8, tokens: buf(), wte: buf(), wDType, out: buf() });
    embeddingForward(ctx, 'emb.pos', { N: 3, C: 8, tokens: buf(), wte: buf(), wDType, out: buf(), pos: buf(), wpe: buf() });
    const n = { N: 3, C: 8, inp: buf(), weight: buf(), wDType, rstd: buf() };
    rmsnormForward(ctx, 'rms', { ...n, eps: 1e-5, out: buf() });
    rmsnormBackward(ctx, 'rms.bwd', { ...n, dout: buf(), dinp: buf(), accumulate: true });
    layernormForward(ctx, 'ln', { ...n, eps: 1e-5, bias: buf(), out: buf(), mean: buf() });
    layernormBackward(ctx, 'ln.bwd', { ...n, mean: buf(), dout: buf(), dinp: buf(), accumulate: false });
  }
  // Dense matmul on the vec4 core (FIT and bounds-checked, transposes, f16 B, bias), on the legacy
  // kernel, and with every quantized B.
  for (const [M, N, K] of [[64, 64, 64], [7, 5, 3]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const bDType of ['f32', 'f16'] as const) {
          for (const bias of [undefined, buf()]) {
            for (const kernel of ['auto', 'legacy'] as const) {
              matmul(ctx, 'mm', { M, N, K, A: buf(), B: buf(), out: buf(), transA, transB, bDType, bias, biasDType: bDType, kernel });
            }
          }
        }
      }
    }
  }
  // Grouped products (matmul-grouped.ts): the table after the fusion words, with and without
  // dropout, FIT and bounds-checked, and split-K.
  for (const [M, K] of [[64, 64], [7, 3]]) {
    const groups = [{ M, K }, { M, K, offC: M * 16 }];
    for (const drop of [undefined, { operand: 'A' as const, seed: buf(), p: 0.1 }]) {
      matmulGrouped(ctx, 'mm.grouped', { N: 16, A: buf(), B: buf(), out: buf(), transB: true, lda: K, ldb: K, ldc: 16, groups, drop });
    }
  }
  const gPlan = splitKPlan(8, 16, 4096, ctx.device.limits, 64);
  matmulSplitKGrouped(ctx, 'splitk.grouped', { N: 16, A: buf(), B: buf(), out: buf(), transA: true, lda: 8, ldb: 16, ldc: 16, groups: [{ M: 8, K: 4096 }, { M: 8, K: 4096 }], drop: { operand: 'B', seed: buf(), p: 0.1 } }, [gPlan, gPlan], buf(), [0, gPlan.scratch]);
  // Quantized B on the vec4 core (FIT at M = 128, bounds-checked at M = 5) and on the legacy kernel.
  for (const [mode, zf] of [['int8', false], ['nf4', false], ['nf4-dq', false], ['qalora-int4', false], ['qalora-int3', true]] as const) {
    for (const transB of [false, true]) {
      const q = quantWeight(mode, 64, 128, zf);
      const [N, K] = transB ? [64, 128] : [128, 64];
      for (const M of [5, 128]) {
        for (const kernel of ['auto', 'legacy'] as const) {
          matmul(ctx, 'mm.q', { M, N, K, A: buf(), bQuant: q, out: buf(), transB, kernel });
          matmul(ctx, 'mm.q.bias', { M, N, K, A: buf(), bQuant: q, out: buf(), transB, bias: buf(), kernel });
        }
      }
    }
  }
  const lim = ctx.device.limits;
  const plan = splitKPlan(8, 16, 4096, lim, 8);
  expect(plan.S).toBeGreaterThan(1);
  matmulSplitK(ctx, 'splitk', { M: 8, N: 16, K: 4096, A: buf(), B: buf(), out: buf(), transA: true }, plan, buf(), 0);
  splitKReduce(ctx, 'splitk.reduce', [{ n: 128, S: plan.S, offP: 0, offC: 0 }, { n: 64, S: 2, offP: 4096, offC: 128 }], buf(), buf(), 2, 1);
  // The fusions of common/matmul_fuse.wgsl: dropout in the loads, second product, residual addend.
  const seed = buf();
  for (const [M, N, K] of [[64, 64, 64], [7, 5, 3]]) {
    matmul(ctx, 'mm.dropA', { M, N, K, A: buf(), B: buf(), out: buf(), transB: true, drop: { operand: 'A', seed, salt: 3, p: 0.1 } });
    matmul(ctx, 'mm.dropB', { M, N, K, A: buf(), B: buf(), out: buf(), transA: true, drop: { operand: 'B', seed, salt: 3, p: 0.1 } });
    matmul(ctx, 'mm.fwd', { M, N, K, A: buf(), B: buf(), out: buf(), transB: true, bias: buf(), second: { A: buf(), B: buf(), K: 4, transB: true }, addend: buf() });
    matmul(ctx, 'mm.dinp', { M, N, K, A: buf(), B: buf(), out: buf(), beta: 1, second: { A: buf(), B: buf(), K: 4 }, drop: { operand: 'second', seed, salt: 3, p: 0.1 } });
    const segs = [{ K: 4, offA: 0, offB: 0, start: 0, end: 2, salt: 3 }, { K: 4, offA: 8, offB: 8, start: 2, end: N, salt: 5 }];
    matmul(ctx, 'mm.fwd.seg', { M, N, K, A: buf(), B: buf(), out: buf(), transB: true, bias: buf(), second: { A: buf(), B: buf(), K: 0, transB: true, segments: { mode: 'N', list: segs } } });
    matmul(ctx, 'mm.dinp.seg', { M, N, K, A: buf(), B: buf(), out: buf(), beta: 1, second: { A: buf(), B: buf(), K: 0, segments: { mode: 'K', list: segs } }, drop: { operand: 'second', seed, salt: 3, p: 0.1 } });
  }
  matmulSplitK(ctx, 'splitk.dropB', { M: 8, N: 16, K: 4096, A: buf(), B: buf(), out: buf(), transA: true, drop: { operand: 'B', seed, salt: 3, p: 0.1 } }, plan, buf(), 0);
  for (const transB of [false, true]) {
    const q = quantWeight('nf4', 64, 128);
    const [N, K] = transB ? [64, 128] : [128, 64];
    matmul(ctx, 'mm.q.fuse', { M: 5, N, K, A: buf(), bQuant: q, out: buf(), transB, second: { A: buf(), B: buf(), K: 4, transB }, addend: buf(), drop: { operand: 'second', seed, salt: 3, p: 0.1 } });
  }
  gradNorm(ctx, 'norm', { n: 1000, grads: buf(), partial: buf(), stats: buf(), outIndex: 0 });
  adamw(ctx, 'adamw', {
    n: 1000, offset: 0, params: buf(), grads: buf(), m: buf(), v: buf(), step: buf(), stats: buf(), normIndex: 0, lrMul: 1,
    beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxNorm: 1,
  });
  groupPool(ctx, 'pool', { N: 3, C: 8, g: 4, inp: buf(), out: buf() });
  groupUnpool(ctx, 'unpool', { N: 3, C: 8, g: 4, dout: buf(), dinp: buf(), scale: 0.25, accumulate: true });
  rope(ctx, 'rope', { x: buf(), pos: buf(), invFreq: buf(), N: 3, nHeads: 2, HS: 8, ldx: 16, offX: 0 });
}

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
  const rec = recordingContext(true);
  exerciseWrappers(rec.ctx);
  const hw = recordingContext(false);
  exerciseWrappers(hw.ctx);
  const all = [...rec.recorded, ...hw.recorded];
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
