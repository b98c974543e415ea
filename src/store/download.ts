// Saving files from the page: one file, or several in one .zip (fflate, stored uncompressed: the
// weights do not compress).
import { Zip, ZipPassThrough } from 'fflate';

export function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** fflate writes classic ZIP (no ZIP64): no entry, and no archive, may reach 4 GiB. */
export const ZIP_LIMIT_BYTES = 2 ** 32 - 2 ** 20;

/**
 * An uncompressed .zip of `files` under `folder/`, built as a stream: each file is read from its
 * Blob in chunks and the archive is collected as Blob parts, so large files are never copied
 * whole into memory. Throws above ZIP_LIMIT_BYTES (download the files one by one then).
 */
export async function zipBlob(folder: string, files: { name: string; data: Blob }[]): Promise<Blob> {
  const total = files.reduce((a, f) => a + f.data.size, 0);
  if (total > ZIP_LIMIT_BYTES) throw new Error(`${folder}: ${(total / 2 ** 30).toFixed(1)} GiB is too large for one .zip (4 GiB at most); download the files one by one.`);
  const parts: Blob[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length) parts.push(new Blob(pending as Uint8Array<ArrayBuffer>[]));
    pending = [];
    pendingBytes = 0;
  };
  let failure: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) {
      failure = err;
      return;
    }
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= 8 * 2 ** 20) flush();
  });
  for (const f of files) {
    const entry = new ZipPassThrough(`${folder}/${f.name}`);
    zip.add(entry);
    const reader = f.data.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      entry.push(value);
    }
    entry.push(new Uint8Array(0), true);
  }
  zip.end();
  if (failure) throw failure;
  flush();
  return new Blob(parts, { type: 'application/zip' });
}

/** A file-name-safe slug of a run name ("SmolLM2 r16 · 3 May" → "SmolLM2-r16-3-May"). */
export function slug(name: string): string {
  const s = name.normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80);
  return s || 'run';
}
