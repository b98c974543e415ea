// Checksummed checkpoints kept N at a time, and the fall-back to the newest good one, on a shelf in memory.
import { describe, expect, it } from 'vitest';
import type { FileMap } from './checkpoint';
import { CHECKSUM_FILE, checkpointChecksum, checkpointProblem, fallbackMessage, fnv1a32, loadNewestGood, MemoryShelf, saveKeeping, withChecksum } from './checkpoint-shelf';

function files(step: number): FileMap {
  const adapter = new Uint8Array(64).map((_, i) => (i * 7 + step) & 255);
  const opt = new Uint8Array(128).map((_, i) => (i * 13 + step) & 255);
  return new Map<string, Uint8Array | string>([
    ['adapter_config.json', '{"r":8}'],
    ['adapter_model.safetensors', adapter],
    ['optimizer.safetensors', opt],
    ['trainer_state.json', JSON.stringify({ version: 1, step })],
  ]);
}

describe('FNV-1a checksum', () => {
  it('matches the published FNV-1a 32-bit values', () => {
    const enc = new TextEncoder();
    expect(fnv1a32(new Uint8Array(0))).toBe(0x811c9dc5);
    expect(fnv1a32(enc.encode('a'))).toBe(0xe40c292c);
    expect(fnv1a32(enc.encode('foobar'))).toBe(0xbf9cf968);
  });

  it('changes with any byte of any file, and with a file moved to another name', () => {
    const a = checkpointChecksum(files(1));
    const flipped = files(1);
    (flipped.get('optimizer.safetensors') as Uint8Array)[100] ^= 1;
    expect(checkpointChecksum(flipped)).not.toBe(a);
    const renamed = files(1);
    renamed.set('optimizer2.safetensors', renamed.get('optimizer.safetensors')!);
    renamed.delete('optimizer.safetensors');
    expect(checkpointChecksum(renamed)).not.toBe(a);
    expect(checkpointChecksum(files(1))).toBe(a);
  });

  it('a sealed checkpoint verifies; a flipped bit, a truncated or a missing file does not; one without a checksum is accepted', () => {
    const sealed = withChecksum(files(3));
    expect(JSON.parse(sealed.get(CHECKSUM_FILE) as string).fnv1a32).toBe(checkpointChecksum(files(3)));
    expect(checkpointProblem(sealed)).toBeNull();
    const flip = new Map(sealed);
    const ad = (flip.get('adapter_model.safetensors') as Uint8Array).slice();
    ad[5] ^= 0x80;
    flip.set('adapter_model.safetensors', ad);
    expect(checkpointProblem(flip)).toMatch(/checksum is [0-9a-f]{8}, not the [0-9a-f]{8}/);
    const short = new Map(sealed);
    short.set('optimizer.safetensors', (sealed.get('optimizer.safetensors') as Uint8Array).slice(0, 100));
    expect(checkpointProblem(short)).toBe('optimizer.safetensors has 100 bytes, not 128');
    const missing = new Map(sealed);
    missing.delete('trainer_state.json');
    expect(checkpointProblem(missing)).toBe('trainer_state.json is missing');
    expect(checkpointProblem(files(3))).toBeNull();
  });
});

describe('keeping the last N checkpoints', () => {
  it('keeps the newest N, newest first', async () => {
    const shelf = new MemoryShelf();
    for (let s = 1; s <= 5; s++) await saveKeeping(shelf, s, files(s), 2);
    expect(shelf.entries.map((e) => e.step)).toEqual([4, 5]);
    for (let s = 6; s <= 7; s++) await saveKeeping(shelf, s, files(s), 3);
    expect(shelf.entries.map((e) => e.step)).toEqual([5, 6, 7]);
    await saveKeeping(shelf, 8, files(8), 1);
    expect(shelf.entries.map((e) => e.step)).toEqual([8]);
  });

  it('a failed write (a full disk) leaves every saved checkpoint as it was', async () => {
    const shelf = new MemoryShelf();
    await saveKeeping(shelf, 1, files(1), 2);
    await saveKeeping(shelf, 2, files(2), 2);
    const full = Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
    shelf.fail = full;
    await expect(saveKeeping(shelf, 3, files(3), 2)).rejects.toBe(full);
    expect(shelf.entries.map((e) => e.step)).toEqual([1, 2]);
    const good = await loadNewestGood(shelf);
    expect(good?.slot.id).toBe('2');
    expect(good?.damaged).toEqual([]);
    // Space freed: the same save goes through.
    await saveKeeping(shelf, 3, files(3), 2);
    expect(shelf.entries.map((e) => e.step)).toEqual([2, 3]);
  });
});

describe('falling back to the previous good checkpoint', () => {
  it('skips a damaged newest checkpoint, says so, and removes it when asked', async () => {
    const shelf = new MemoryShelf();
    for (let s = 1; s <= 3; s++) await saveKeeping(shelf, s, files(s), 3);
    (shelf.entries[2].files.get('adapter_model.safetensors') as Uint8Array)[0] ^= 1;
    const good = await loadNewestGood(shelf);
    expect(good?.slot.id).toBe('2');
    expect(JSON.parse(good!.files.get('trainer_state.json') as string).step).toBe(2);
    expect(good?.damaged.map((d) => d.slot.id)).toEqual(['3']);
    expect(fallbackMessage(good!, 2)).toMatch(/^The newest checkpoint is damaged: the checkpoint of step 3 \(its checksum is .*\); resuming from the checkpoint of step 2 at step 2 instead\.$/);
    expect(shelf.entries.map((e) => e.step)).toEqual([1, 2, 3]); // only reading
    await loadNewestGood(shelf, { removeDamaged: true });
    expect(shelf.entries.map((e) => e.step)).toEqual([1, 2]);
    // Keeping 2 from here keeps the good one, not the damaged one.
    await saveKeeping(shelf, 3, files(3), 2);
    expect(shelf.entries.map((e) => e.step)).toEqual([2, 3]);
  });

  it('none good: undefined; a good one with nothing skipped has no message', async () => {
    const shelf = new MemoryShelf();
    expect(await loadNewestGood(shelf)).toBeUndefined();
    await saveKeeping(shelf, 1, files(1), 2);
    expect(fallbackMessage((await loadNewestGood(shelf))!, 1)).toBeNull();
    (shelf.entries[0].files.get('optimizer.safetensors') as Uint8Array)[3] ^= 4;
    expect(await loadNewestGood(shelf)).toBeUndefined();
  });
});
