// Recognising quota errors from the Cache API and IndexedDB, and what a run writes.
import { describe, expect, it } from 'vitest';
import { MemoryShelf, saveKeeping } from '../train/checkpoint-shelf';
import { isQuotaError, runWriteBytes, storageVerdict, writeWaitingForSpace } from './quota';

describe('quota errors', () => {
  it('a QuotaExceededError DOMException, an aborted transaction carrying one, or a wrapped one', () => {
    expect(isQuotaError(new DOMException('The quota has been exceeded.', 'QuotaExceededError'))).toBe(true);
    expect(isQuotaError({ name: 'AbortError', error: new DOMException('x', 'QuotaExceededError') })).toBe(true);
    expect(isQuotaError(new Error('saving failed', { cause: new DOMException('x', 'QuotaExceededError') }))).toBe(true);
    expect(isQuotaError(new DOMException('Transaction was aborted.', 'AbortError'))).toBe(false);
    expect(isQuotaError(new Error('network error'))).toBe(false);
    expect(isQuotaError(undefined)).toBe(false);
  });

  it('a run writes keep + 1 checkpoints at its peak plus the dataset copy; the verdict compares with what is free', () => {
    const w = runWriteBytes(1000, 2, 5000);
    expect(w.checkpoint).toBe(12 * 1000 + 4096);
    expect(w.total).toBe(3 * w.checkpoint + 5000 + 65536);
    expect(storageVerdict(100, 1000)).toBe('fits');
    expect(storageVerdict(900, 1000)).toBe('tight');
    expect(storageVerdict(1001, 1000)).toBe('wont-fit');
  });
});

describe('a checkpoint write that meets a full disk waits instead of failing', () => {
  const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  const ck = (step: number) => new Map<string, Uint8Array | string>([['trainer_state.json', JSON.stringify({ step })], ['adapter_model.safetensors', new Uint8Array([step])]]);

  it('holds until resumed, then writes; the kept checkpoints are untouched meanwhile', async () => {
    const shelf = new MemoryShelf();
    await saveKeeping(shelf, 1, ck(1));
    shelf.fail = quota();
    const events: string[] = [];
    let release!: () => void;
    const written = writeWaitingForSpace(
      () => saveKeeping(shelf, 2, ck(2)),
      () => events.push('full'),
      () => new Promise<void>((r) => (release = r)),
      () => false,
    );
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(events).toEqual(['full']);
    expect(shelf.entries.map((e) => e.step)).toEqual([1]);
    release(); // space freed, Resume pressed
    expect(await written).toBeGreaterThan(0);
    expect(shelf.entries.map((e) => e.step)).toEqual([1, 2]);
  });

  it('stop while held: nothing written, no error; other errors are thrown', async () => {
    const shelf = new MemoryShelf();
    await saveKeeping(shelf, 1, ck(1));
    shelf.fail = quota();
    let stopped = false;
    const r = await writeWaitingForSpace(() => saveKeeping(shelf, 2, ck(2)), () => undefined, async () => void (stopped = true), () => stopped);
    expect(r).toBeUndefined();
    expect(shelf.entries.map((e) => e.step)).toEqual([1]);
    const broken = new Error('disk on fire');
    await expect(writeWaitingForSpace(() => Promise.reject(broken), () => undefined, async () => undefined, () => false)).rejects.toBe(broken);
  });
});
