// A recording stand-in for the GpuContext and a tour of every op wrapper in every variant it can
// build, without a GPU: what the uniform-layout test (ops/uniform-layout.test.ts) checks against
// each shader's uniform struct and what the WGSL validation test (gpu/naga.test.ts) compiles. The
// stand-in's device can claim 'shader-f16' and 'subgroups', so the f16-math and subgroup variants
// are built too.
import { expect } from 'vitest';
import type { Bindable, Dispatch, GpuContext, Kernel, KernelSpec } from '../gpu/context';
import type { QuantWeight } from '../quant/weight';
import type { QuantFormat } from '../quant/formats';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../ops/activation';
import { attentionBackward, attentionForward } from '../ops/attention';
import { packF16, packF16Segments, unpackF16, unpackF16Segments } from '../ops/convert';
import { crossEntropy, lossReduce } from '../ops/crossentropy';
import { accumulate, add, dropout } from '../ops/elementwise';
import { embeddingForward } from '../ops/embedding';
import { attentionDecode, kvWrite } from '../ops/kvcache';
import { matmul, matmulSplitK, splitKPlan, splitKReduce } from '../ops/matmul';
import { matmulGrouped, matmulSplitKGrouped } from '../ops/matmul-grouped';
import { deviceHasF16 } from '../ops/matmul-math';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../ops/norm';
import { adamw, gradNorm } from '../ops/optimizer';
import { groupPool, groupUnpool } from '../ops/pool';
import { rope } from '../ops/rope';

/** One kernel the wrappers built: its label, spec, and the type letters of its uniform. */
export interface Recorded {
  label: string;
  spec: KernelSpec;
  /** Letters given to ctx.uniform for the slice bound at binding 0. */
  types: string;
}

const UNIFORM = Symbol('uniform');

/**
 * A GpuContext stand-in that records kernels and uniforms instead of touching a GPU; `features`:
 * what its device claims ('shader-f16', 'subgroups': the f16-math and subgroup variants).
 */
function recordingContext(isSoftware: boolean, features: string[] = []): { ctx: GpuContext; recorded: Recorded[] } {
  const recorded: Recorded[] = [];
  const limits = {
    maxComputeWorkgroupStorageSize: isSoftware ? 16384 : 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxStorageBufferBindingSize: 1 << 30,
  };
  const fake = {
    device: { limits, features: new Set(features) },
    adapter: { isSoftware, hasF16: features.includes('shader-f16'), hasSubgroups: features.includes('subgroups') },
    subgroups: features.includes('subgroups'),
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

/** A stand-in binding of `size` bytes. */
const buf = (size = 1 << 20): Bindable => ({ buffer: {} as GPUBuffer, size });

function quantWeight(mode: QuantFormat, rows: number, cols: number, zerosF32 = false): QuantWeight {
  const qa = mode.startsWith('qalora');
  const b = {} as GPUBuffer;
  return {
    name: `w-${mode}`, mode, shape: [rows, cols], groupSize: qa ? 32 : 64, codes: b, scales: b,
    zeros: qa ? b : null, zerosF32, extra: mode === 'nf4-dq' ? b : null, bytes: 0,
  };
}

/** Runs every wrapper in every variant it can build on the recording context (with f16 matmul math when its device claims 'shader-f16'). */
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
  if (deviceHasF16(ctx)) {
    // f16 matmul math (HALF_F16): dense f32 / f16 B, FIT and bounds-checked, fusions, grouped, split-K.
    const math = 'f16' as const;
    const seed = buf();
    for (const [M, N, K] of [[64, 64, 64], [7, 5, 3]]) {
      for (const bDType of ['f32', 'f16'] as const) {
        matmul(ctx, 'mm.f16', { M, N, K, A: buf(), B: buf(), out: buf(), transB: true, bDType, bias: buf(), biasDType: bDType, math });
        matmul(ctx, 'mm.f16.dinp', { M, N, K, A: buf(), B: buf(), out: buf(), bDType, beta: 1, math, second: { A: buf(), B: buf(), K: 4 }, drop: { operand: 'second', seed, salt: 3, p: 0.1 } });
      }
      matmul(ctx, 'mm.f16.dropA', { M, N, K, A: buf(), B: buf(), out: buf(), transB: true, math, drop: { operand: 'A', seed, salt: 3, p: 0.1 } });
      matmul(ctx, 'mm.f16.dropB', { M, N, K, A: buf(), B: buf(), out: buf(), transA: true, math, drop: { operand: 'B', seed, salt: 3, p: 0.1 } });
      const segs = [{ K: 4, offA: 0, offB: 0, start: 0, end: 2 }, { K: 4, offA: 8, offB: 8, start: 2, end: N }];
      matmul(ctx, 'mm.f16.seg', { M, N, K, A: buf(), B: buf(), out: buf(), transB: true, math, second: { A: buf(), B: buf(), K: 0, transB: true, segments: { mode: 'N', list: segs } }, addend: buf() });
      matmulGrouped(ctx, 'mm.f16.grouped', { N: 16, A: buf(), B: buf(), out: buf(), transB: true, lda: K, ldb: K, ldc: 16, groups: [{ M, K }, { M, K, offC: M * 16 }], math });
    }
    const plan = splitKPlan(8, 16, 4096, ctx.device.limits, 8);
    matmulSplitK(ctx, 'splitk.f16', { M: 8, N: 16, K: 4096, A: buf(), B: buf(), out: buf(), transA: true, math }, plan, buf(), 0);
  }
}


/** Every kernel the wrappers build on software and hardware tiling, each without and with shader-f16 + subgroups. */
export function recordAllVariants(): Recorded[] {
  const all: Recorded[] = [];
  for (const isSoftware of [true, false]) {
    for (const features of [[], ['shader-f16', 'subgroups']]) {
      const rec = recordingContext(isSoftware, features);
      exerciseWrappers(rec.ctx);
      all.push(...rec.recorded);
    }
  }
  return all;
}
