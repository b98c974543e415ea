// Saving files from the page: one file, or several in one .zip (fflate, stored uncompressed: the
// weights do not compress).
import { zipSync } from 'fflate';

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

export function zipFiles(folder: string, files: { name: string; bytes: Uint8Array }[]): Uint8Array {
  const entries: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const f of files) entries[`${folder}/${f.name}`] = [f.bytes, { level: 0 }];
  return zipSync(entries);
}

export function bytesBlob(bytes: Uint8Array, type = 'application/octet-stream'): Blob {
  return new Blob([bytes as Uint8Array<ArrayBuffer>], { type });
}

/** A file-name-safe slug of a run name ("SmolLM2 r16 · 3 May" → "SmolLM2-r16-3-May"). */
export function slug(name: string): string {
  const s = name.normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80);
  return s || 'run';
}
