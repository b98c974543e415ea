// A Program: a fixed list of GPU work (dispatches with their bind groups, buffer clears and copies)
// built once and recorded into a command encoder every time it runs, creating no GPU object.

import type { Dispatch } from './context';

/** One step of a Program: a dispatch, a clearBuffer, or a copyBufferToBuffer (offsets and sizes in bytes). */
type ProgramStep =
  | { kind: 'dispatch'; d: Dispatch }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };

/** A fixed sequence of GPU work, built once and recorded every time it runs. */
export class Program {
  readonly steps: ProgramStep[] = [];
  constructor(readonly label: string) {}
  dispatch(d: Dispatch): this {
    this.steps.push({ kind: 'dispatch', d });
    return this;
  }
  clear(buffer: GPUBuffer, offset = 0, size = buffer.size - offset): this {
    this.steps.push({ kind: 'clear', buffer, offset, size });
    return this;
  }
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): this {
    this.steps.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
    return this;
  }
  append(other: Program): this {
    this.steps.push(...other.steps);
    return this;
  }
  get dispatchCount(): number {
    let n = 0;
    for (const s of this.steps) if (s.kind === 'dispatch') n++;
    return n;
  }
  /** Records the steps into `enc`, opening one compute pass per run of consecutive dispatches. */
  encode(enc: GPUCommandEncoder): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const s of this.steps) {
      if (s.kind === 'dispatch') {
        if (!pass) pass = enc.beginComputePass({ label: this.label });
        pass.setPipeline(s.d.kernel.pipeline);
        pass.setBindGroup(0, s.d.bindGroup);
        const [x, y, z] = s.d.workgroups;
        pass.dispatchWorkgroups(x, y, z);
        continue;
      }
      if (pass) {
        pass.end();
        pass = null;
      }
      if (s.kind === 'clear') enc.clearBuffer(s.buffer, s.offset, s.size);
      else enc.copyBufferToBuffer(s.src, s.srcOffset, s.dst, s.dstOffset, s.size);
    }
    if (pass) pass.end();
  }
}
