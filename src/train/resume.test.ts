// The one checkpoint → resume path: messages for missing files, and RunCheckpoints over shelves
// (newest step, fallback past a damaged checkpoint with its notice). GPU-free: the adapter is never
// read when a file it needs is missing first.
import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../model/config';
import { STATE_FILE, type FileMap, type TrainerState } from './checkpoint';
import { MemoryShelf } from './checkpoint-shelf';
import { checkpointFile, resumeFromFiles, runPlace, shelfCheckpoints, type CheckpointPlace } from './resume';

const state = (step: number): TrainerState => ({ version: 1, step, totalSteps: 4, epoch: 0, cursor: step * 2, history: [], evalLossBefore: 3.5, config: {} });
const files = (step: number): FileMap => new Map<string, Uint8Array | string>([[STATE_FILE, JSON.stringify(state(step))], ['optimizer.safetensors', new Uint8Array([step, 1, 2])]]);
const place: CheckpointPlace = { file: (n) => `out/checkpoint/${n}`, remedy: 'give --resume an earlier folder' };

describe('checkpoint → resume', () => {
  it('names a missing file with the host\'s place and remedy', () => {
    expect(() => checkpointFile(new Map(), STATE_FILE, 'text', place)).toThrow('out/checkpoint/trainer_state.json is missing: the checkpoint is damaged; give --resume an earlier folder.');
    // The state reads; the adapter's config is the first file missing.
    expect(() => resumeFromFiles({} as ModelSpec, files(3), place)).toThrow('out/checkpoint/adapter_config.json is missing');
    expect(() => resumeFromFiles({} as ModelSpec, new Map([[STATE_FILE, '{']]), place)).toThrow(/out\/checkpoint\/trainer_state\.json: not valid JSON/);
  });

  it('reads text stored as bytes and bytes stored as text', () => {
    const m: FileMap = new Map<string, Uint8Array | string>([['a', new TextEncoder().encode('hé')], ['b', 'hé']]);
    expect(checkpointFile(m, 'a', 'text', place)).toBe('hé');
    expect(Array.from(checkpointFile(m, 'b', 'bytes', place))).toEqual([0x68, 0xc3, 0xa9]);
  });

  it('RunCheckpoints: the newest intact checkpoint, its step, and a notice past a damaged one', async () => {
    const shelves = new Map<string, MemoryShelf>();
    const shelfOf = (id: string) => shelves.get(id) ?? shelves.set(id, new MemoryShelf()).get(id)!;
    const store = shelfCheckpoints(shelfOf);
    expect(await store.load('r')).toBeUndefined();
    const one = await store.save('r', 1, files(1), 2);
    const two = await store.save('r', 2, files(2), 2);
    expect(two).toBe(2 * one); // two kept, of the same size
    await store.save('r', 3, files(3), 2);
    expect(shelfOf('r').entries.map((e) => e.step)).toEqual([2, 3]);
    expect(await store.load('r')).toMatchObject({ runId: 'r', step: 3, notice: null });
    shelfOf('r').entries[1].files.set('optimizer.safetensors', new Uint8Array([9, 9, 9]));
    const ck = await store.load('r', { removeDamaged: true });
    expect(ck).toMatchObject({ step: 2 });
    expect(ck!.notice).toMatch(/^The newest checkpoint is damaged: the checkpoint of step 3 \(its checksum is [0-9a-f]{8}, not the [0-9a-f]{8} it was saved with\); resuming from the checkpoint of step 2 at step 2 instead\.$/);
    expect(shelfOf('r').entries.map((e) => e.step)).toEqual([2]);
    expect(runPlace('r').file(STATE_FILE)).toBe('the checkpoint of run r (trainer_state.json)');
  });

  it('RunCheckpoints: the steps kept, newest first, and one step\'s files checked by its checksum', async () => {
    const shelf = new MemoryShelf();
    const store = shelfCheckpoints(() => shelf);
    expect(await store.steps('r')).toEqual([]);
    for (const step of [4, 8, 12]) await store.save('r', step, files(step), 3);
    expect(await store.steps('r')).toEqual([12, 8, 4]);
    const eight = await store.loadAt('r', 8);
    expect(JSON.parse(eight.get(STATE_FILE) as string).step).toBe(8);
    await expect(store.loadAt('r', 6)).rejects.toThrow(/^The checkpoint of step 6 is no longer kept .*: choose another one\.$/);
    shelf.entries[0].files.set('optimizer.safetensors', new Uint8Array([9, 9, 9]));
    await expect(store.loadAt('r', 4)).rejects.toThrow(/^The checkpoint of step 4 is damaged \(its checksum is [0-9a-f]{8}, not the [0-9a-f]{8} it was saved with\): choose another one\.$/);
  });
});
