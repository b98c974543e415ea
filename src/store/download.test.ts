// The streamed .zip of the downloads: valid (fflate reads it back), uncompressed entries under one
// folder, files given as multi-part Blobs; and the 4 GiB limit of a classic .zip is refused early.
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { slug, ZIP_LIMIT_BYTES, zipBlob } from './download';

describe('zipBlob', () => {
  it('zips Blobs as a stream; the archive unzips to the same bytes', async () => {
    const big = new Uint8Array(3 * 2 ** 20 + 17).map((_, i) => (i * 31) & 255); // spans several stream chunks
    const files = [
      { name: 'config.json', data: new Blob(['{"a": 1}']) },
      { name: 'model.safetensors', data: new Blob([big.subarray(0, 1000), big.subarray(1000)]) },
    ];
    const zip = await zipBlob('run-1-merged', files);
    const out = unzipSync(new Uint8Array(await zip.arrayBuffer()));
    expect(Object.keys(out).sort()).toEqual(['run-1-merged/config.json', 'run-1-merged/model.safetensors']);
    expect(new TextDecoder().decode(out['run-1-merged/config.json'])).toBe('{"a": 1}');
    expect(out['run-1-merged/model.safetensors']).toEqual(big);
    expect(zip.size).toBeGreaterThan(big.length); // stored, not compressed
  });

  it('refuses more than a classic .zip holds, before reading anything', async () => {
    const huge = { size: ZIP_LIMIT_BYTES + 1, stream: () => { throw new Error('read'); } } as unknown as Blob;
    await expect(zipBlob('m', [{ name: 'model.safetensors', data: huge }])).rejects.toThrow(/too large for one \.zip .* download the files one by one/);
  });

  it('slugs run names into file names', () => {
    expect(slug('SmolLM2 r16 · 3 May')).toBe('SmolLM2-r16-3-May');
    expect(slug('···')).toBe('run');
  });
});
