// Size probing of Hub files (HEAD headers, then a Range 0-0 request), and exact range reads, against
// a fake fetch that answers each request from a table: no network, no sleeping.
import { describe, expect, it } from 'vitest';
import { fetchRange, type HubClient } from './hub-fetch';
import { headFile, headSize, probeSize } from './hub-size';
import { hubRepo } from './hub-url';
import { ModelSourceError } from './source';

type Answer = { status: number; headers?: Record<string, string>; body?: Uint8Array<ArrayBuffer> };

/** A client whose fetch answers HEAD and GET (by Range header) from `answers`, logging each request. */
function client(answers: { head?: Answer; get?: (range: string | null) => Answer }) {
  const log: { method: string; range: string | null; url: string }[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const range = (init?.headers as Record<string, string> | undefined)?.Range ?? null;
    log.push({ method, range, url: String(input) });
    const a = method === 'HEAD' ? answers.head! : answers.get!(range);
    return new Response(method === 'HEAD' ? null : (a.body ?? null), { status: a.status, headers: a.headers });
  }) as typeof fetch;
  const c: HubClient = { repo: hubRepo('org/model', {}), fetch: fetchFn };
  return { c, log };
}

describe('Hub size probing', () => {
  it('takes X-Linked-Size over Content-Length, ignores the length of an encoded body', () => {
    const h = (headers: Record<string, string>) => headSize(new Response(null, { headers }));
    expect(h({ 'x-linked-size': '1048576', 'content-length': '1350' })).toBe(1048576);
    expect(h({ 'content-length': '1350' })).toBe(1350);
    expect(h({ 'content-length': '1350', 'content-encoding': 'gzip' })).toBeNull();
    expect(h({ 'content-length': '1350', 'content-encoding': 'identity' })).toBe(1350);
    expect(h({ 'x-linked-size': 'lots' })).toBeNull();
    expect(h({})).toBeNull();
  });

  it('uses HEAD alone when it gives a length', async () => {
    const { c, log } = client({ head: { status: 200, headers: { 'x-linked-size': '4096' } } });
    expect(await probeSize(c, 'model.safetensors')).toBe(4096);
    expect(log).toEqual([{ method: 'HEAD', range: null, url: 'https://huggingface.co/org/model/resolve/main/model.safetensors' }]);
  });

  it('falls back to a Range 0-0 request: 206 or 416 Content-Range total', async () => {
    for (const status of [206, 416]) {
      const { c, log } = client({
        head: { status: 200, headers: { 'content-length': '10', 'content-encoding': 'br' } },
        get: () => ({ status, headers: { 'content-range': status === 206 ? 'bytes 0-0/777' : 'bytes */777' } }),
      });
      expect(await probeSize(c, 'config.json')).toBe(777);
      expect(log.map((e) => `${e.method} ${e.range}`)).toEqual(['HEAD null', 'GET bytes=0-0']);
    }
  });

  it('says so when no size is reported, and when the file is missing', async () => {
    let { c } = client({ head: { status: 200 }, get: () => ({ status: 200, body: new Uint8Array(3) }) });
    await expect(probeSize(c, 'config.json')).rejects.toThrow(/did not report the size of 'config.json'.*proxy/);

    ({ c } = client({ head: { status: 404 } }));
    expect(await headFile(c, 'missing.json')).toBeNull();
    const e = await probeSize(c, 'missing.json').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelSourceError);
    expect((e as Error).message).toMatch(/HTTP 404, no file 'missing.json' in 'org\/model'/);

    // A 404 for the repository is an error, not a missing file.
    ({ c } = client({ head: { status: 404, headers: { 'x-error-code': 'RepoNotFound' } } }));
    await expect(headFile(c, 'config.json')).rejects.toThrow(/'org\/model' does not exist/);
  });
});

describe('Hub range reads', () => {
  const file = Uint8Array.from({ length: 50 }, (_, i) => i);

  it('learns the file size from a 206 answer and rejects bytes other than those asked for', async () => {
    const sizes = new Map<string, number>();
    let { c } = client({ get: () => ({ status: 206, headers: { 'content-range': 'bytes 10-19/50' }, body: file.slice(10, 20) }) });
    expect(Array.from(await fetchRange(c, 'w.bin', 10, 20, sizes))).toEqual(Array.from(file.slice(10, 20)));
    expect(sizes.get('w.bin')).toBe(50);

    ({ c } = client({ get: () => ({ status: 206, headers: { 'content-range': 'bytes 0-9/50' }, body: file.slice(0, 10) }) }));
    await expect(fetchRange(c, 'w.bin', 10, 20, sizes)).rejects.toThrow(/answered bytes 0-9 of 'w.bin' when 10-19 were asked for/);

    ({ c } = client({ get: () => ({ status: 206, headers: { 'content-range': 'bytes 10-19/50' }, body: file.slice(10, 15) }) }));
    await expect(fetchRange(c, 'w.bin', 10, 20, sizes)).rejects.toThrow(/short read of 'w.bin': got 5 of 10 bytes \[10, 20\)/);
  });
});
