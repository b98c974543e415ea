// The model cache with a stand-in Cache API: one download per file, later requests (HEAD, GET,
// Range) answered from the cache by a fresh instance with no network, missing files remembered.
import { afterEach, describe, expect, it } from 'vitest';
import { hubSource } from '../model/source';
import { Checkpoint } from '../model/checkpoint';
import { serializeSafetensors } from '../model/safetensors';
import { cachingFetch, clearCachedFiles, DownloadTotals, listCachedFiles, parseHubUrl } from './cache';

class FakeCache {
  readonly entries = new Map<string, { body: Uint8Array; headers: [string, string][] }>();
  async put(req: string, res: Response): Promise<void> {
    this.entries.set(req, { body: new Uint8Array(await res.arrayBuffer()), headers: [...res.headers] });
  }
  async match(req: string | Request): Promise<Response | undefined> {
    const e = this.entries.get(typeof req === 'string' ? req : req.url);
    return e ? new Response(e.body as Uint8Array<ArrayBuffer>, { headers: e.headers }) : undefined;
  }
  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((u) => new Request(u));
  }
  async delete(req: string | Request): Promise<boolean> {
    return this.entries.delete(typeof req === 'string' ? req : req.url);
  }
}

function installCaches(): Map<string, FakeCache> {
  const stores = new Map<string, FakeCache>();
  (globalThis as { caches?: unknown }).caches = {
    open: async (name: string) => stores.get(name) ?? stores.set(name, new FakeCache()).get(name)!,
    delete: async (name: string) => stores.delete(name),
  };
  return stores;
}

afterEach(() => {
  delete (globalThis as { caches?: unknown }).caches;
});

const FILES: Record<string, string> = { 'config.json': '{"a": 1}', 'model.safetensors': 'x'.repeat(5000) };

function fakeHub(log: string[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    log.push(`${method} ${parseHubUrl(url)?.file} ${new Headers(init?.headers).get('range') ?? ''}`.trim());
    const file = parseHubUrl(url)!.file;
    const body = FILES[file];
    if (body === undefined) return new Response(null, { status: 404, headers: { 'x-error-code': 'EntryNotFound' } });
    return new Response(method === 'HEAD' ? null : body, { status: 200, headers: { 'content-length': String(body.length) } });
  }) as typeof fetch;
}

describe('model cache', () => {
  it('parses resolve URLs', () => {
    expect(parseHubUrl('https://huggingface.co/org/name/resolve/main/sub/model.safetensors')).toEqual({ repo: 'org/name', revision: 'main', file: 'sub/model.safetensors' });
    expect(parseHubUrl('https://huggingface.co/org/name')).toBeNull();
  });

  it('downloads each file once; a second session needs no network', async () => {
    installCaches();
    const log: string[] = [];
    const progress: number[] = [];
    const src = hubSource('org/name', { fetch: cachingFetch((p) => progress.push(p.loaded), fakeHub(log)) });
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('model.safetensors.index.json')).toBe(false);
    expect(await src.text('config.json')).toBe('{"a": 1}');
    expect(await src.size('model.safetensors')).toBe(5000);
    expect(new TextDecoder().decode(await src.range('model.safetensors', 10, 20))).toBe('x'.repeat(10));
    expect(await src.range('model.safetensors', 4990, 5000)).toHaveLength(10);
    expect(log.filter((l) => l.startsWith('GET'))).toEqual(['GET config.json', 'GET model.safetensors']);
    expect(progress[progress.length - 1]).toBe(5000);

    const log2: string[] = [];
    const again = hubSource('org/name', { fetch: cachingFetch(() => {}, fakeHub(log2)) });
    expect(await again.has('config.json')).toBe(true);
    expect(await again.has('model.safetensors.index.json')).toBe(false);
    expect(await again.size('model.safetensors')).toBe(5000);
    expect(await again.range('model.safetensors', 0, 3)).toEqual(new TextEncoder().encode('xxx'));
    expect(log2).toEqual([]);

    const listed = await listCachedFiles();
    expect(listed.map((f) => [f.repo, f.file, f.bytes])).toEqual([
      ['org/name', 'config.json', 8],
      ['org/name', 'model.safetensors', 5000],
    ]);
    expect(await clearCachedFiles('other/repo')).toBe(0);
    expect(await clearCachedFiles('org/name')).toBe(3); // two files and the missing-file marker
    expect(await listCachedFiles()).toEqual([]);
  });

  it('passes Hub errors through and works without a Cache API', async () => {
    const log: string[] = [];
    const src = hubSource('org/name', { fetch: cachingFetch(() => {}, fakeHub(log)) });
    await expect(src.text('nope.json')).rejects.toThrow(/HTTP 404, no file 'nope\.json'/);
    expect(await src.text('config.json')).toBe('{"a": 1}');
    expect(await src.text('config.json')).toBe('{"a": 1}'); // kept in memory for the session
    expect(log.filter((l) => l === 'GET config.json')).toHaveLength(1);
  });

  it('a sharded model: the whole download is counted, its total known before the first shard arrives', async () => {
    installCaches();
    const shard1 = serializeSafetensors([{ name: 'a', dtype: 'F32', shape: [300], data: new Float32Array(300) }]);
    const shard2 = serializeSafetensors([{ name: 'b', dtype: 'F32', shape: [500], data: new Float32Array(500) }]);
    const index = JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } });
    const files: Record<string, Uint8Array | string> = { 'model.safetensors.index.json': index, 'model-00001-of-00002.safetensors': shard1, 'model-00002-of-00002.safetensors': shard2 };
    const hub = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const body = files[parseHubUrl(String(input))!.file];
      if (body === undefined) return new Response(null, { status: 404, headers: { 'x-error-code': 'EntryNotFound' } });
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
      return new Response(init?.method === 'HEAD' ? null : (bytes as Uint8Array<ArrayBuffer>), { status: 200, headers: { 'content-length': String(bytes.length) } });
    }) as typeof fetch;
    const totals = new DownloadTotals();
    const seen: { file: string; loaded: number; total: number }[] = [];
    const src = hubSource('org/sharded', { fetch: cachingFetch((p) => seen.push({ file: p.file, ...totals.update(p) }), hub) });
    const ck = await Checkpoint.open(src);
    expect(ck.names().sort()).toEqual(['a', 'b']);
    const all = index.length + shard1.length + shard2.length;
    const firstShardBytes = seen.find((e) => e.file === 'model-00001-of-00002.safetensors' && e.loaded > index.length);
    expect(firstShardBytes?.total).toBe(all);
    expect(seen[seen.length - 1]).toMatchObject({ loaded: all, total: all });
    for (let i = 1; i < seen.length; i++) expect(seen[i].loaded).toBeGreaterThanOrEqual(seen[i - 1].loaded);
  });
});
