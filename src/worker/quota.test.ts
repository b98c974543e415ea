// Recognising quota errors from the Cache API and IndexedDB, and what a run writes.
import { describe, expect, it } from 'vitest';
import { isQuotaError, runWriteBytes, storageVerdict } from './quota';

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
