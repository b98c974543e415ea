// The model cache with a stand-in Cache API: one download per file, later requests (HEAD, GET,
// Range) answered from the cache by a fresh instance with no network, missing files remembered.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { hubSource } from '../model/hub-source';
import { Checkpoint } from '../model/checkpoint';
import { serializeSafetensors } from '../model/safetensors-writer';
import { cachingFetch, clearCachedFiles, DownloadTotals, listCachedFiles, parseHubUrl, RESUME_ATTEMPTS, resumableBody } from './cache';

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

  it('a sharded pytorch_model.bin model from the Hub: found after the safetensors names, whole-model progress, tensors read', async () => {
    installCaches();
    const dir = fileURLToPath(new URL('../../../shared/models/stories260K-bin-sharded-bf16/', import.meta.url));
    const names = ['pytorch_model.bin.index.json', 'pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin'];
    const files = new Map(names.map((n) => [n, new Uint8Array(readFileSync(dir + n))]));
    const asked: string[] = [];
    const hub = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const file = parseHubUrl(String(input))!.file;
      asked.push(`${init?.method ?? 'GET'} ${file}`);
      const bytes = files.get(file);
      if (!bytes) return new Response(null, { status: 404, headers: { 'x-error-code': 'EntryNotFound' } });
      return new Response(init?.method === 'HEAD' ? null : (bytes as Uint8Array<ArrayBuffer>), { status: 200, headers: { 'content-length': String(bytes.length) } });
    }) as typeof fetch;
    const totals = new DownloadTotals();
    const seen: { file: string; loaded: number; total: number }[] = [];
    const src = hubSource('org/bin-sharded', { fetch: cachingFetch((p) => seen.push({ file: p.file, ...totals.update(p) }), hub) });
    const ck = await Checkpoint.open(src);
    expect(ck.format).toBe('pytorch');
    expect(asked.slice(0, 3)).toEqual(['HEAD model.safetensors', 'HEAD model.safetensors.index.json', 'HEAD pytorch_model.bin']);
    const all = [...files.values()].reduce((a, b) => a + b.length, 0);
    const firstShardBytes = seen.find((e) => e.file === names[1] && e.loaded > files.get(names[0])!.length);
    expect(firstShardBytes?.total).toBe(all);
    expect(seen[seen.length - 1]).toMatchObject({ loaded: all, total: all });
    expect((await ck.readF32('model.norm.weight')).length).toBe(64);
  });

  /** A body that delivers `bytes` in chunks of `chunk`, then fails (or ends early) after `cut` bytes. */
  function brokenBody(bytes: Uint8Array, cut: number, how: 'error' | 'close', chunk = 1000): ReadableStream<Uint8Array> {
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (at >= cut) {
          if (how === 'error') ctl.error(new TypeError('network error (connection reset)'));
          else ctl.close();
          return;
        }
        const n = Math.min(chunk, cut - at);
        ctl.enqueue(bytes.slice(at, at + n));
        at += n;
      },
    });
  }

  it('a download that breaks off continues where it stopped (Range from the bytes received)', async () => {
    installCaches();
    const full = new Uint8Array(5000).map((_, i) => (i * 7) & 255);
    const log: string[] = [];
    const hub = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      const range = new Headers(init?.headers).get('range');
      log.push(`${init?.method ?? 'GET'} ${range ?? ''}`.trim());
      if (init?.method === 'HEAD') return new Response(null, { status: 200, headers: { 'content-length': '5000' } });
      if (!range) return new Response(brokenBody(full, 3000, 'error'), { status: 200, headers: { 'content-length': '5000' } });
      const from = Number(/bytes=(\d+)-/.exec(range)![1]);
      const to = from === 3000 ? 4000 : 5000; // the second piece also ends early (a clean close)
      return new Response(brokenBody(full.subarray(from), to - from, 'close'), { status: 206, headers: { 'content-range': `bytes ${from}-4999/5000`, 'content-length': String(5000 - from) } });
    }) as typeof fetch;
    const progress: number[] = [];
    const src = hubSource('org/name', { fetch: cachingFetch((p) => progress.push(p.loaded), hub, undefined, () => 0) });
    expect(await src.range('model.safetensors', 0, 5000)).toEqual(full);
    expect(log.filter((l) => l.startsWith('GET'))).toEqual(['GET', 'GET bytes=3000-', 'GET bytes=4000-']);
    expect(progress[progress.length - 1]).toBe(5000);
  }, 20_000);

  it('gives up after a few attempts with a message that says the download broke off', async () => {
    const full = new Uint8Array(4000);
    let calls = 0;
    const failing = (async () => {
      calls++;
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    const first = new Response(brokenBody(full, 1000, 'error'), { status: 200 });
    const { body, failure } = resumableBody('https://huggingface.co/o/n/resolve/main/model.safetensors', new Headers(), first, 4000, failing, () => 0);
    await expect(new Response(body).arrayBuffer()).rejects.toThrow(/network error \(connection reset\)|Failed to fetch|resumed/);
    expect(calls).toBe(RESUME_ATTEMPTS);
    expect(failure()?.message).toMatch(new RegExp(`resumed ${RESUME_ATTEMPTS} times`));

    // A server that ignores Range (200 from the start) is not a continuation either.
    const ignoring = (async () => new Response(full, { status: 200 })) as typeof fetch;
    const r2 = resumableBody('u', new Headers(), new Response(brokenBody(full, 1000, 'close'), { status: 200 }), 4000, ignoring, () => 0);
    await expect(new Response(r2.body).arrayBuffer()).rejects.toThrow();
    expect(r2.failure()?.message).toMatch(/the connection closed after 1000 of 4000 bytes/);

    // Through the hub source: one clear error naming the file.
    installCaches();
    const hub = (async (_: RequestInfo | URL, init?: RequestInit) => {
      if (init?.method === 'HEAD') return new Response(null, { status: 200, headers: { 'content-length': '4000' } });
      if (new Headers(init?.headers).get('range')) throw new TypeError('Failed to fetch');
      return new Response(brokenBody(full, 1000, 'error'), { status: 200, headers: { 'content-length': '4000' } });
    }) as typeof fetch;
    const src = hubSource('org/name', { fetch: cachingFetch(() => {}, hub, undefined, () => 0) });
    await expect(src.range('model.safetensors', 0, 10)).rejects.toThrow(/model\.safetensors.*failed part way/);
  }, 30_000);
});
