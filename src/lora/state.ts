// Trainable LoRA state on the GPU. Every A and B of every targeted module lives in one flat f32
// buffer (`params`), with gradients and Adam moments in buffers of the same layout, so the
// gradient norm is one reduction and AdamW one dispatch per parameter group. All A matrices come
// first, then all B matrices: the LoRA+ groups (A at lr, B at ratio × lr) are two contiguous ranges.

import type { GpuContext } from '../gpu/context';
import type { LinearModule } from '../model/modules';
import type { AdapterTensors, LoraHyper } from './peft';
import { mulberry32 } from '../util/random';
import { loraInF, loraScaling } from './peft';

/** Where one targeted module's A [r, aIn] and B [outF, r] live in the LoraState's flat buffers. */
export interface LoraSlot {
  module: LinearModule;
  /** Columns of A: inF, or inF/g for QA-LoRA. */
  aIn: number;
  /** Element offsets of A [r, aIn] and B [outF, r] in the flat buffers. */
  offA: number;
  offB: number;
  /** Distinct per module, so each module's dropout mask differs (PEFT has one Dropout per module). */
  salt: number;
}

/** A contiguous range of the flat buffers with one learning rate (LoRA+): elements [offset, offset + n). */
interface LoraParamGroup {
  name: 'lora_A' | 'lora_B';
  offset: number;
  n: number;
}

/**
 * The trainable adapter on the GPU: params, grads and Adam m, v as four f32 buffers of `total`
 * elements each, all A matrices first, then all B matrices (LoRA+ groups). `scale` is PEFT's scaling
 * (lora_alpha / r, or / √r with rsLoRA); `maxIn` the widest input of a targeted module (in features).
 * Creating it throws GpuError when a buffer exceeds the device's limits.
 */
export class LoraState {
  readonly slots: LoraSlot[] = [];
  readonly bySlotName = new Map<string, LoraSlot>();
  readonly total: number;
  readonly groups: LoraParamGroup[];
  readonly scale: number;
  readonly maxIn: number;
  /** QA-LoRA pooling group (0 = plain LoRA). */
  readonly qaloraGroupSize: number;
  params: GPUBuffer;
  grads: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;

  constructor(
    readonly ctx: GpuContext,
    readonly modules: LinearModule[],
    readonly hyper: LoraHyper,
  ) {
    const { r } = hyper;
    let off = 0;
    const offA: number[] = [];
    for (const m of modules) {
      offA.push(off);
      off += r * loraInF(m, hyper);
    }
    const nA = off;
    modules.forEach((m, i) => {
      const slot: LoraSlot = { module: m, aIn: loraInF(m, hyper), offA: offA[i], offB: off, salt: Math.imul(i + 1, 0x9e3779b1) >>> 0 };
      off += m.outF * r;
      this.slots.push(slot);
      this.bySlotName.set(m.name, slot);
    });
    this.total = off;
    this.groups = [
      { name: 'lora_A', offset: 0, n: nA },
      { name: 'lora_B', offset: nA, n: off - nA },
    ];
    this.scale = loraScaling(hyper);
    this.maxIn = Math.max(1, ...modules.map((m) => m.inF));
    this.qaloraGroupSize = hyper.qaloraGroupSize ?? 0;
    const bytes = Math.max(4, off * 4);
    this.params = ctx.createBuffer('lora.params', bytes);
    this.grads = ctx.createBuffer('lora.grads', bytes);
    this.m = ctx.createBuffer('lora.adam_m', bytes);
    this.v = ctx.createBuffer('lora.adam_v', bytes);
  }

  slot(moduleName: string): LoraSlot | undefined {
    return this.bySlotName.get(moduleName);
  }

  /**
   * PEFT's default init: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a=√5), B = 0.
   * QA-LoRA (official code): A xavier-uniform, U(±sqrt(6/(in/g + r))), B = 0.
   */
  initialize(seed: number): void {
    const rand = mulberry32(seed ^ 0x5eed1057);
    const host = new Float32Array(this.total);
    const { r } = this.hyper;
    for (const s of this.slots) {
      const bound = this.qaloraGroupSize ? Math.sqrt(6 / (s.aIn + r)) : 1 / Math.sqrt(s.module.inF);
      for (let i = 0; i < r * s.aIn; i++) host[s.offA + i] = (rand() * 2 - 1) * bound;
    }
    this.ctx.write(this.params, host);
    this.resetOptimizer();
  }

  /** Zeroes the Adam moments and the gradients. */
  resetOptimizer(): void {
    const zeros = new Float32Array(this.total);
    this.ctx.write(this.m, zeros);
    this.ctx.write(this.v, zeros);
    this.ctx.write(this.grads, zeros);
  }

  /**
   * Loads adapter tensors (e.g. from a PEFT folder) into params. Throws Error when a module of this
   * state is missing from `weights` or its A / B has the wrong number of values.
   */
  load(weights: Map<string, AdapterTensors>): void {
    const host = new Float32Array(this.total);
    const { r } = this.hyper;
    for (const s of this.slots) {
      const w = weights.get(s.module.name);
      if (!w) throw new Error(`adapter has no weights for ${s.module.name}`);
      if (w.A.length !== r * s.aIn || w.B.length !== s.module.outF * r) {
        throw new Error(`adapter weights for ${s.module.name} have the wrong size`);
      }
      host.set(w.A, s.offA);
      host.set(w.B, s.offB);
    }
    this.ctx.write(this.params, host);
  }

  /** Reads back the flat parameters (`total` f32 values). */
  async readParams(): Promise<Float32Array> {
    return this.ctx.readF32(this.params, 0, this.total);
  }

  /** Reads back the parameters as A, B per module name. */
  async tensors(): Promise<Map<string, AdapterTensors>> {
    const host = await this.readParams();
    return this.split(host);
  }

  /** Splits flat parameters (this state's layout) into A [r, aIn] and B [outF, r] per module name (copies). */
  split(host: Float32Array): Map<string, AdapterTensors> {
    const { r } = this.hyper;
    const out = new Map<string, AdapterTensors>();
    for (const s of this.slots) {
      out.set(s.module.name, {
        A: host.slice(s.offA, s.offA + r * s.aIn),
        B: host.slice(s.offB, s.offB + s.module.outF * r),
      });
    }
    return out;
  }
}

/** Adam moments for checkpoints: read back and restored as flat f32 arrays. */
export async function readMoments(s: LoraState): Promise<{ m: Float32Array; v: Float32Array }> {
  return { m: await s.ctx.readF32(s.m, 0, s.total), v: await s.ctx.readF32(s.v, 0, s.total) };
}
