// The CLI's checkpoint folders: OUT/checkpoint is always the newest complete checkpoint,
// OUT/checkpoint-prev the one before it (then checkpoint-prev2, ... with --keep-checkpoints 3+).
// A new checkpoint is written into OUT/checkpoint.tmp with its checksum, then the folders shift
// down one name by renames (no fsync) and checkpoint.tmp becomes checkpoint; the oldest beyond N is
// deleted last. A crash at any point leaves every earlier checkpoint whole.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FileMap } from '../train/checkpoint';
import type { CheckpointShelf, ShelfSlot } from '../train/checkpoint-shelf';
import { writeFiles } from './common';

/** Folder name of slot i of the shelf rooted at `root` (0: root itself, 1: root-prev, 2: root-prev2, ...). */
function slotDir(root: string, i: number): string {
  return i === 0 ? root : `${root}-prev${i === 1 ? '' : i}`;
}

/** Checkpoint folders rooted at `root` (e.g. OUT/checkpoint), newest first. */
export class FolderShelf implements CheckpointShelf {
  constructor(readonly root: string) {}

  /** Slot folders that exist, in name order (checkpoint, checkpoint-prev, checkpoint-prev2, ...). */
  async slots(): Promise<ShelfSlot[]> {
    const dir = dirname(this.root);
    const base = basename(this.root);
    if (!existsSync(dir)) return [];
    const prev = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-prev(\\d*)$`);
    const found: number[] = [];
    for (const name of readdirSync(dir)) {
      if (!statSync(join(dir, name)).isDirectory()) continue;
      if (name === base) found.push(0);
      const m = prev.exec(name);
      if (m && m[1] !== '1' && m[1] !== '0') found.push(m[1] === '' ? 1 : Number(m[1]));
    }
    return found.sort((a, b) => a - b).map((i) => ({ id: slotDir(this.root, i), label: `${slotDir(this.root, i)}/` }));
  }

  async read(slot: ShelfSlot): Promise<FileMap | undefined> {
    if (!existsSync(slot.id)) return undefined;
    const files: FileMap = new Map();
    for (const name of readdirSync(slot.id)) {
      const p = join(slot.id, name);
      if (!statSync(p).isFile()) continue;
      files.set(name, name.endsWith('.json') ? readFileSync(p, 'utf8') : new Uint8Array(readFileSync(p)));
    }
    return files;
  }

  async put(_step: number, files: FileMap): Promise<void> {
    const tmp = `${this.root}.tmp`;
    rmSync(tmp, { recursive: true, force: true }); // a leftover of an interrupted write
    writeFiles(tmp, files);
    // Shift the existing folders down one name, oldest first, closing any gaps.
    const existing = await this.slots();
    for (let j = existing.length - 1; j >= 0; j--) {
      const to = slotDir(this.root, j + 1);
      if (existing[j].id !== to) renameSync(existing[j].id, to);
    }
    renameSync(tmp, this.root);
  }

  async remove(slot: ShelfSlot): Promise<void> {
    rmSync(slot.id, { recursive: true, force: true });
  }
}
