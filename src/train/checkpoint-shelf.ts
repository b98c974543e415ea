// Keeping the last N checkpoints, each checksummed, on any storage (a folder in the CLI,
// IndexedDB in the studio, memory in the tests). A new checkpoint is written completely, with a
// checksum of its files, before older ones are removed; loading takes the newest checkpoint whose
// checksum matches and says which newer ones were damaged.

import type { FileMap } from './checkpoint';

/** The file that carries a checkpoint's checksum (JSON: { fnv1a32, files: { name: bytes } }). */
export const CHECKSUM_FILE = 'checksum.json';

/** Checkpoints kept by default (the studio and the CLI's --keep-checkpoints). */
export const DEFAULT_KEEP = 2;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of `bytes`, continuing from `h` (the offset basis to start). */
export function fnv1a32(bytes: Uint8Array, h = FNV_OFFSET): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

function bytesOf(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

/**
 * Checksum of a checkpoint: FNV-1a over every file (adapter, optimizer moments, trainer state,
 * config) in name order, each as its name, a 0 byte, then its bytes. 8 hex digits.
 */
export function checkpointChecksum(files: FileMap): string {
  let h = FNV_OFFSET;
  const enc = new TextEncoder();
  for (const name of [...files.keys()].filter((n) => n !== CHECKSUM_FILE).sort()) {
    h = fnv1a32(enc.encode(name), h);
    h = fnv1a32(Uint8Array.of(0), h);
    h = fnv1a32(bytesOf(files.get(name)!), h);
  }
  return h.toString(16).padStart(8, '0');
}

/** The files plus CHECKSUM_FILE describing them. */
export function withChecksum(files: FileMap): FileMap {
  const sizes: Record<string, number> = {};
  for (const [name, v] of files) if (name !== CHECKSUM_FILE) sizes[name] = bytesOf(v).length;
  const out: FileMap = new Map([...files].filter(([n]) => n !== CHECKSUM_FILE));
  out.set(CHECKSUM_FILE, JSON.stringify({ fnv1a32: checkpointChecksum(files), files: sizes }));
  return out;
}

/** Bytes a checkpoint takes (all its files). */
function checkpointBytes(files: FileMap): number {
  let n = 0;
  for (const v of files.values()) n += typeof v === 'string' ? new TextEncoder().encode(v).length : v.length;
  return n;
}

/**
 * Why a checkpoint's files do not match their checksum, or null when they do. A checkpoint from
 * before checksums (no CHECKSUM_FILE) is accepted as it is.
 */
export function checkpointProblem(files: FileMap): string | null {
  const raw = files.get(CHECKSUM_FILE);
  if (raw === undefined) return null;
  let rec: { fnv1a32?: unknown; files?: Record<string, number> };
  try {
    rec = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw)) as typeof rec;
  } catch {
    return `${CHECKSUM_FILE} is not valid JSON`;
  }
  for (const name of Object.keys(rec.files ?? {})) if (!files.has(name)) return `${name} is missing`;
  for (const [name, v] of files) {
    const want = rec.files?.[name];
    if (name !== CHECKSUM_FILE && want !== undefined && bytesOf(v).length !== want) return `${name} has ${bytesOf(v).length} bytes, not ${want}`;
  }
  const got = checkpointChecksum(files);
  return got === rec.fnv1a32 ? null : `its checksum is ${got}, not the ${String(rec.fnv1a32)} it was saved with`;
}

/** One stored checkpoint: `id` is the storage's own name for it, `label` how messages name it. */
export interface ShelfSlot {
  id: string;
  label: string;
  /** The step the slot holds, when the shelf knows it without reading the files (IndexedDB keys, memory). */
  step?: number;
}

/** Where checkpoints are kept. Slots are listed newest first; `put` stores a whole new newest one. */
export interface CheckpointShelf {
  slots(): Promise<ShelfSlot[]>;
  /** The slot's files, or undefined when they cannot be read at all. */
  read(slot: ShelfSlot): Promise<FileMap | undefined>;
  /** Stores a complete new checkpoint as the newest; must leave the older ones untouched if it fails. */
  put(step: number, files: FileMap): Promise<void>;
  remove(slot: ShelfSlot): Promise<void>;
}

/** Writes a checksummed checkpoint, then removes all but the newest `keep`; returns its size in bytes. */
export async function saveKeeping(shelf: CheckpointShelf, step: number, files: FileMap, keep = DEFAULT_KEEP): Promise<number> {
  const sealed = withChecksum(files);
  await shelf.put(step, sealed);
  const slots = await shelf.slots();
  for (const s of slots.slice(Math.max(1, keep))) await shelf.remove(s);
  return checkpointBytes(sealed);
}

/** What loadNewestGood found: the newest checkpoint whose checksum matches, and the newer damaged ones it skipped. */
export interface GoodCheckpoint {
  /** The checkpoint's files (CHECKSUM_FILE included). */
  files: FileMap;
  /** Where it is kept (its step and how messages name it). */
  slot: ShelfSlot;
  /** Newer checkpoints that were skipped, with why. */
  damaged: { slot: ShelfSlot; why: string }[];
}

/**
 * The newest checkpoint whose checksum matches; the damaged newer ones are listed (and removed
 * when `removeDamaged`, so that keeping N does not later drop the good one for them).
 */
export async function loadNewestGood(shelf: CheckpointShelf, opts: { removeDamaged?: boolean } = {}): Promise<GoodCheckpoint | undefined> {
  const damaged: GoodCheckpoint['damaged'] = [];
  for (const slot of await shelf.slots()) {
    let files: FileMap | undefined;
    let why: string | null;
    try {
      files = await shelf.read(slot);
      why = files ? checkpointProblem(files) : 'it cannot be read';
    } catch (e) {
      why = `it cannot be read (${(e as Error).message})`;
    }
    if (files && why === null) {
      if (opts.removeDamaged) for (const d of damaged) await shelf.remove(d.slot);
      return { files, slot, damaged };
    }
    damaged.push({ slot, why: why ?? 'it cannot be read' });
  }
  return undefined;
}

/** One line about the damaged checkpoints skipped on the way to `good` (null when none were). */
export function fallbackMessage(good: GoodCheckpoint, step: number): string | null {
  if (good.damaged.length === 0) return null;
  const bad = good.damaged.map((d) => `${d.slot.label} (${d.why})`).join('; ');
  return `The newest checkpoint is damaged: ${bad}; resuming from ${good.slot.label} at step ${step} instead.`;
}

/** A shelf in memory (tests). `fail` makes the next put throw it, as a full disk would. */
export class MemoryShelf implements CheckpointShelf {
  readonly entries: { step: number; files: FileMap }[] = [];
  fail: Error | null = null;

  async slots(): Promise<ShelfSlot[]> {
    return [...this.entries].reverse().map((e) => ({ id: String(e.step), label: `the checkpoint of step ${e.step}`, step: e.step }));
  }

  async read(slot: ShelfSlot): Promise<FileMap | undefined> {
    const e = this.entries.find((x) => String(x.step) === slot.id);
    return e ? new Map(e.files) : undefined;
  }

  async put(step: number, files: FileMap): Promise<void> {
    if (this.fail) {
      const f = this.fail;
      this.fail = null;
      throw f;
    }
    const i = this.entries.findIndex((x) => x.step === step);
    if (i >= 0) this.entries.splice(i, 1);
    this.entries.push({ step, files: new Map(files) });
  }

  async remove(slot: ShelfSlot): Promise<void> {
    const i = this.entries.findIndex((x) => String(x.step) === slot.id);
    if (i >= 0) this.entries.splice(i, 1);
  }
}
