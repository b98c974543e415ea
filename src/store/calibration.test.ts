// The pace key of the studio's current settings: every knob that changes the work of a step enters
// it (saved activations included), and nothing is keyed without a loaded model on a working GPU.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../model/config';
import { defaultKnobs, type Knobs } from '../plan/knobs';
import { currentPaceKey } from './calibration';
import type { Studio } from './index';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const spec = parseConfig(JSON.parse(readFileSync(`${SHARED}configs/SmolLM2-135M.json`, 'utf8')), 'SmolLM2-135M.json');

/** The slice of the studio currentPaceKey reads: a loaded f16 SmolLM2 on a named GPU, with these knobs. */
function studio(knobs: Partial<Knobs>, gpuOk = true, hasF16 = false, hasSubgroups = true): Studio {
  return {
    loaded: { info: { name: 'SmolLM2-135M', weightsDType: 'f16', quant: 'none' }, spec },
    gpu: gpuOk ? { status: 'ok', adapter: { vendor: 'acme', architecture: 'x1', description: '', hasF16, hasSubgroups } } : { status: 'none' },
    knobs: { ...defaultKnobs(spec), ...knobs },
  } as unknown as Studio;
}

describe('currentPaceKey', () => {
  it('keys f16-saved activations apart from f32; an f32 key is the key stored before the knob existed', () => {
    const f32 = currentPaceKey(studio({ saveActivations: 'f32' }));
    expect(f32).toBe('acme x1|SmolLM2-135M f16|none|B4|T512|r16|q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj|nogc');
    expect(currentPaceKey(studio({ saveActivations: 'f16' }))).toBe(`${f32}|a16`);
    expect(currentPaceKey(studio({ saveActivations: 'f16', gradCheckpointing: true }))).toBe(`${f32!.replace('|nogc', '|gc')}|a16`);
  });

  it('keys f16 matmul math apart on a GPU with shader-f16; none on a GPU without (it cannot run there)', () => {
    const f32 = currentPaceKey(studio({ matmulMath: 'f32' }, true, true));
    expect(f32).toBe(currentPaceKey(studio({}, true, false)));
    expect(currentPaceKey(studio({ matmulMath: 'f16' }, true, true))).toBe(`${f32}|m16`);
    expect(currentPaceKey(studio({ matmulMath: 'f16' }, true, false))).toBeNull();
  });

  it('keys subgroup reductions apart ("|sg") on a GPU with subgroups; none on a GPU without', () => {
    const off = currentPaceKey(studio({ subgroups: false }));
    expect(off).toBe(currentPaceKey(studio({}, true, false, false)));
    expect(currentPaceKey(studio({ subgroups: true }))).toBe(`${off}|sg`);
    expect(currentPaceKey(studio({ subgroups: true }, true, false, false))).toBeNull();
  });

  it('is null without a working GPU or when the base is loaded with another quantization', () => {
    expect(currentPaceKey(studio({}, false))).toBeNull();
    expect(currentPaceKey(studio({ quant: 'nf4' }))).toBeNull();
  });
});
