// The live plan's GPU problems: f16 “Matmul math” is a problem on an adapter without shader-f16,
// “Subgroup reductions” on one without subgroups (each knob's reason), and on no other GPU state.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AdapterSummary } from '../gpu/device';
import { parseConfig } from '../model/config';
import { defaultKnobs } from '../plan/knobs';
import { gpuProblems, planOf } from './plan';
import type { GpuState } from './types';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const spec = parseConfig(JSON.parse(readFileSync(`${SHARED}configs/SmolLM2-135M.json`, 'utf8')), 'SmolLM2-135M.json');
const gpu = (hasF16: boolean, hasSubgroups = true): GpuState => ({ status: 'ok', adapter: { vendor: 'acme', architecture: 'x1', description: '', hasF16, hasSubgroups } as AdapterSummary });
const WHY = '“Matmul math” f16 needs a GPU with the WebGPU shader-f16 feature, and this one has none: use f32.';
const WHY_SG = '“Subgroup reductions” need a GPU with the WebGPU subgroups feature, and this one has none: leave them off.';

describe('gpuProblems', () => {
  it('f16 matmul math is a problem only on an adapter known to lack shader-f16', () => {
    expect(gpuProblems({ matmulMath: 'f16', subgroups: false }, gpu(false))).toEqual([WHY]);
    expect(gpuProblems({ matmulMath: 'f16', subgroups: false }, gpu(true))).toEqual([]);
    expect(gpuProblems({ matmulMath: 'f32', subgroups: false }, gpu(false))).toEqual([]);
    expect(gpuProblems({ matmulMath: 'f16', subgroups: false }, { status: 'checking' })).toEqual([]);
  });

  it('subgroup reductions are a problem only on an adapter known to lack subgroups; both reasons when both knobs ask too much', () => {
    expect(gpuProblems({ matmulMath: 'f32', subgroups: true }, gpu(true, false))).toEqual([WHY_SG]);
    expect(gpuProblems({ matmulMath: 'f32', subgroups: true }, gpu(true, true))).toEqual([]);
    expect(gpuProblems({ matmulMath: 'f32', subgroups: false }, gpu(true, false))).toEqual([]);
    expect(gpuProblems({ matmulMath: 'f16', subgroups: true }, gpu(false, false))).toEqual([WHY, WHY_SG]);
    expect(gpuProblems({ matmulMath: 'f32', subgroups: true }, { status: 'checking' })).toEqual([]);
  });

  it('the plan lists it among the problems', () => {
    const input = { spec, loadedWeightBytes: null, modelName: 'SmolLM2-135M', budgetGiB: 4 } as const;
    expect(planOf({ ...input, knobs: { ...defaultKnobs(spec), matmulMath: 'f16' }, gpu: gpu(false) })!.problems).toEqual([WHY]);
    expect(planOf({ ...input, knobs: { ...defaultKnobs(spec), matmulMath: 'f16' }, gpu: gpu(true) })!.problems).toEqual([]);
    expect(planOf({ ...input, knobs: { ...defaultKnobs(spec), subgroups: true }, gpu: gpu(true, false) })!.problems).toEqual([WHY_SG]);
  });
});
