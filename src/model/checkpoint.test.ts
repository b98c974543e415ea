import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../gpu/half';
import { randn, rng } from '../test/gpu';
import { Checkpoint, CheckpointError } from './checkpoint';
import { parseSafetensors, SafetensorsError } from './safetensors';
import { serializeSafetensors, type TensorToWrite } from './safetensors-writer';
import { hubSource, type HubOptions } from './hub-source';
import { parseRepoId } from './hub-url';
import { blobSource, memorySource, ModelSourceError } from './source';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const STORIES_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const Q0 = 'model.layers.0.self_attn.q_proj.weight';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);

describe('Checkpoint on the real stories260K folder (dirSource)', () => {
  it('lists, describes and reads tensors', async () => {
    const src = dirSource(STORIES);
    const ck = await Checkpoint.open(src);
    expect(ck.files).toEqual(['model.safetensors']);
    const names = ck.names();
    expect(names.length).toBe(47);
    expect(names).toContain('model.embed_tokens.weight');
    expect(names).toContain(Q0);
    expect(ck.has(Q0)).toBe(true);
    expect(ck.has('lm_head.weight')).toBe(false); // tied embeddings
    expect(ck.info(Q0)).toEqual({ name: Q0, file: 'model.safetensors', dtype: 'F32', shape: [64, 64] });
    expect(ck.info('model.layers.4.mlp.down_proj.weight').shape).toEqual([64, 172]);

    const q = await ck.readF32(Q0);
    expect(q.length).toBe(4096);
    expect(sum(q)).toBeCloseTo(-23.827822908671806, 9); // checksum computed with Python's struct
    // Same bytes as the whole-file parser.
    const whole = parseSafetensors(new Uint8Array(readFileSync(STORIES + 'model.safetensors')), 'model.safetensors');
    for (const n of ['model.embed_tokens.weight', 'model.norm.weight', 'model.layers.3.mlp.gate_proj.weight']) {
      expect(Array.from(await ck.readF32(n))).toEqual(Array.from(whole.get(n)));
    }
    const raw = await ck.readRaw('model.norm.weight');
    expect(raw.dtype).toBe('F32');
    expect(raw.shape).toEqual([64]);
    expect(raw.bytes.length).toBe(256);
  });

  it('unknown tensor names give close suggestions and name the file', async () => {
    const ck = await Checkpoint.open(dirSource(STORIES));
    let err: Error | null = null;
    try {
      ck.info('model.layers.0.self_attn.q_proj.weights');
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err!.message).toContain('model.safetensors');
    expect(err!.message).toContain(Q0);
    await expect(ck.readF32('nope')).rejects.toThrow(CheckpointError);
  });
});

describe('dirSource', () => {
  it('missing folder, file instead of folder, missing file, bad paths', async () => {
    const missing = join(tmpdir(), 'no-such-model-folder-xyz');
    expect(() => dirSource(missing)).toThrow(ModelSourceError);
    expect(() => dirSource(missing)).toThrow(/no-such-model-folder-xyz.*does not exist/);
    expect(() => dirSource(STORIES + 'config.json')).toThrow(/not a folder/);
    const src = dirSource(STORIES);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('nope.json')).toBe(false);
    const e = await rejects(src.text('nope.json'));
    expect(e).toBeInstanceOf(ModelSourceError);
    expect(e.message).toContain('nope.json');
    expect(e.message).toContain('stories260K');
    await expect(src.range('../stories260K/config.json', 0, 1)).rejects.toThrow(ModelSourceError);
    await expect(src.range('config.json', 0, 10_000)).rejects.toThrow(/invalid byte range/);
    const cfg = JSON.parse(await src.text('config.json'));
    expect(await src.size('config.json')).toBe(readFileSync(STORIES + 'config.json').length);
    expect(new TextDecoder().decode(await src.range('config.json', 0, 1))).toBe('{');
    expect(cfg.hidden_size).toBe(64);
  });
});

function writeShards(dir: string, seed: number) {
  const r = rng(seed);
  const mk = (n: number) => Float32Array.from(randn(n, r));
  const shard1: TensorToWrite[] = [
    { name: 'model.embed_tokens.weight', dtype: 'F16', shape: [11, 6], data: mk(66) },
    { name: 'model.norm.weight', dtype: 'F32', shape: [6], data: mk(6) },
  ];
  const shard2: TensorToWrite[] = [
    { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'BF16', shape: [6, 6], data: mk(36) },
    { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [5, 6], data: mk(30) },
  ];
  const f1 = 'model-00001-of-00002.safetensors';
  const f2 = 'model-00002-of-00002.safetensors';
  writeFileSync(join(dir, f1), serializeSafetensors(shard1));
  writeFileSync(join(dir, f2), serializeSafetensors(shard2));
  const weight_map: Record<string, string> = {};
  for (const t of shard1) weight_map[t.name] = f1;
  for (const t of shard2) weight_map[t.name] = f2;
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
  return { tensors: [...shard1, ...shard2], f1, f2, weight_map };
}

function expected(t: TensorToWrite): number[] {
  const d = t.data as Float32Array;
  if (t.dtype === 'F16') return Array.from(d, (v) => f16BitsToF32(f32ToF16Bits(v)));
  if (t.dtype === 'BF16') return Array.from(d, (v) => bf16BitsToF32(f32ToBf16Bits(v)));
  return Array.from(d);
}

describe('sharded checkpoints', () => {
  it('opens an index + shards and reads every tensor from its shard', async () => {
    const dir = tmp();
    const { tensors, f1, f2 } = writeShards(dir, 3);
    const ck = await Checkpoint.open(dirSource(dir));
    expect(ck.files).toEqual([f1, f2]);
    expect(ck.names()).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      const info = ck.info(t.name);
      expect(info.file).toBe(t.name.includes('layers') ? f2 : f1);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(Array.from(await ck.readF32(t.name))).toEqual(expected(t));
    }
    expect(ck.metadata.get(f1)).toEqual({ format: 'pt' });
  });

  it('index and shards that disagree, missing shards, corrupt shards, bad index', async () => {
    const dir = tmp();
    const { f1, f2, weight_map } = writeShards(dir, 4);
    const idx = join(dir, 'model.safetensors.index.json');

    writeFileSync(idx, JSON.stringify({ weight_map: { ...weight_map, 'model.extra.weight': f2 } }));
    let e = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(new RegExp(`${f2}.*model\\.extra\\.weight`));

    writeFileSync(idx, JSON.stringify({ weight_map: { ...weight_map, 'model.extra.weight': 'model-00003-of-00003.safetensors' } }));
    e = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e.message).toMatch(/model-00003-of-00003\.safetensors.*missing/);

    writeFileSync(idx, JSON.stringify({ weight_map: { ...weight_map, x: '../evil.safetensors' } }));
    e = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e).toBeInstanceOf(CheckpointError);

    writeFileSync(idx, '{"weight_map": ');
    e = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e.message).toMatch(/index\.json.*not valid JSON/);

    writeFileSync(idx, JSON.stringify({ weight_map }));
    const bytes = readFileSync(join(dir, f1));
    writeFileSync(join(dir, f1), bytes.subarray(0, bytes.length - 2)); // truncated shard
    e = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toContain(f1);
    expect(e.message).toMatch(/truncated/);
  });

  it('a model.pt-only folder says which formats are supported and how to convert; a non-zip pytorch_model.bin is refused in one line', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), '{}');
    writeFileSync(join(dir, 'model.pt'), new Uint8Array(16));
    const e = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(/model\.pt/);
    expect(e.message).toMatch(/[Oo]nly safetensors and PyTorch pytorch_model\.bin/);
    expect(e.message).toMatch(/safe_serialization=True/);
    writeFileSync(join(dir, 'pytorch_model.bin'), new Uint8Array(16));
    const e3 = await rejects(Checkpoint.open(dirSource(dir)));
    expect(e3.message).toMatch(/pytorch_model\.bin: not a PyTorch checkpoint: it starts with bytes 00 00 00 00/);
    expect(e3.message).not.toContain('\n');
    const e2 = await rejects(Checkpoint.open(memorySource('mem', new Map([['config.json', '{}']]))));
    expect(e2.message).toMatch(/mem: no model\.safetensors/);
  });
});

describe('memorySource and blobSource', () => {
  const file = serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }]);

  it('memorySource serves whole files and ranges', async () => {
    const src = memorySource('mem', new Map<string, Uint8Array | string>([['model.safetensors', file], ['config.json', '{"a":1}']]));
    expect(await src.text('config.json')).toBe('{"a":1}');
    expect(await src.size('config.json')).toBe(7);
    expect(Array.from(await src.range('model.safetensors', 0, 4))).toEqual(Array.from(file.subarray(0, 4)));
    await expect(src.range('model.safetensors', 4, 2)).rejects.toThrow(ModelSourceError);
    await expect(src.text('x.json')).rejects.toThrow(/mem: file 'x\.json' not found.*config\.json/);
    const ck = await Checkpoint.open(src);
    expect(Array.from(await ck.readF32('w'))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('blobSource strips a common top folder and reads ranges from Blobs', async () => {
    const files = new Map<string, Blob>([
      ['outer/my-model/model.safetensors', new Blob([file])],
      ['outer/my-model/config.json', new Blob(['{"hidden_size": 6}'])],
      ['outer/my-model/sub/notes.txt', new Blob(['hi'])],
    ]);
    const src = blobSource('my-model', files);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('sub/notes.txt')).toBe(true);
    expect(await src.has('my-model/config.json')).toBe(false);
    expect(JSON.parse(await src.text('config.json')).hidden_size).toBe(6);
    expect(await src.size('model.safetensors')).toBe(file.length);
    expect(Array.from(await src.range('model.safetensors', 3, 9))).toEqual(Array.from(file.subarray(3, 9)));
    const ck = await Checkpoint.open(src);
    expect(Array.from(await ck.readF32('w'))).toEqual([1, 2, 3, 4, 5, 6]);
    await expect(src.text('tokenizer.json')).rejects.toThrow(/my-model: file 'tokenizer\.json' not found/);
    // Plain names (no folder) are kept as they are.
    const flat = blobSource('flat', new Map([['config.json', new Blob(['{}'])], ['model.safetensors', new Blob([file])]]));
    expect(await flat.has('model.safetensors')).toBe(true);
  });
});

// ---- Hub against a fake fetch --------------------------------------------------------------

interface Served {
  url: string;
  method: string;
  range: string | null;
  auth: string | null;
  bytes: number;
}

/** A fake huggingface.co: karpathy/stories260K (public), org/gated (needs token 'hf_good'). */
function fakeHub(opts: { ignoreRange?: boolean; chunk?: number } = {}) {
  const log: Served[] = [];
  const files = new Map(STORIES_FILES.map((f) => [f, new Uint8Array(readFileSync(STORIES + f))]));
  const repos = new Map([
    ['karpathy/stories260K', { gated: false }],
    ['org/gated', { gated: true }],
  ]);
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const h = new Headers(init?.headers);
    const entry: Served = { url, method, range: h.get('range'), auth: h.get('authorization'), bytes: 0 };
    log.push(entry);
    const m = url.match(/^https:\/\/huggingface\.co\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (!m) return new Response('bad url', { status: 400 });
    const [, repo, rev, path] = m;
    const info = repos.get(repo);
    if (!info) return new Response(null, { status: 401, headers: { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' } });
    if (info.gated && entry.auth !== 'Bearer hf_good') {
      return new Response(null, { status: entry.auth ? 403 : 401, headers: { 'X-Error-Code': 'GatedRepo', 'X-Error-Message': 'Access to model org/gated is restricted.' } });
    }
    if (rev !== 'main') return new Response(null, { status: 404, headers: { 'X-Error-Code': 'RevisionNotFound' } });
    const body = files.get(decodeURIComponent(path));
    if (!body) return new Response(null, { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    if (method === 'HEAD') return new Response(null, { status: 200, headers: { 'Content-Length': String(body.length) } });
    let part = body;
    let status = 200;
    const headers: Record<string, string> = {};
    const rm = entry.range?.match(/^bytes=(\d+)-(\d+)$/);
    if (rm && !opts.ignoreRange) {
      const a = Number(rm[1]);
      const b = Math.min(Number(rm[2]), body.length - 1);
      if (a >= body.length) return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${body.length}` } });
      part = body.subarray(a, b + 1);
      status = 206;
      headers['Content-Range'] = `bytes ${a}-${b}/${body.length}`;
    }
    headers['Content-Length'] = String(part.length);
    const chunk = opts.chunk ?? 4096;
    let off = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (off >= part.length) return ctrl.close();
        const c = part.slice(off, off + chunk);
        off += c.length;
        entry.bytes += c.length;
        ctrl.enqueue(c);
      },
    });
    return new Response(stream, { status, headers });
  }) as typeof fetch;
  return { fetchFn, log };
}

describe('hubSource (fake fetch serving stories260K)', () => {
  it('validates repo ids', () => {
    for (const bad of ['', 'a/b/c', 'not a repo', '-bad/x', 'org/na me', 'org/', '/name', 'org/a..b', 'org/x--y']) {
      expect(() => hubSource(bad, { fetch: fakeHub().fetchFn })).toThrow(ModelSourceError);
    }
    expect(() => hubSource('org/na me')).toThrow(/org\/name/);
    expect(parseRepoId('karpathy/tinyllamas')).toBe('karpathy/tinyllamas');
    expect(parseRepoId('hf://meta-llama/Llama-3.2-1B')).toBe('meta-llama/Llama-3.2-1B');
    expect(parseRepoId('gpt2')).toBe('gpt2');
  });

  it('reads a checkpoint header with range requests only, then tensors one by one', async () => {
    const { fetchFn, log } = fakeHub();
    const src = hubSource('karpathy/stories260K', { fetch: fetchFn });
    expect(src.name).toBe('hf://karpathy/stories260K');
    const ck = await Checkpoint.open(src);
    const fileSize = readFileSync(STORIES + 'model.safetensors').length;
    const served = log.reduce((s, e) => s + e.bytes, 0);
    expect(served).toBeLessThan(70_000); // header only, not the 1 MB file
    expect(log.filter((e) => e.method === 'GET').every((e) => e.range !== null)).toBe(true);
    expect(log[0].url).toBe('https://huggingface.co/karpathy/stories260K/resolve/main/model.safetensors');
    expect(ck.info(Q0).shape).toEqual([64, 64]);

    log.length = 0;
    const q = await ck.readF32(Q0);
    expect(log.length).toBe(1);
    const info = ck.info(Q0);
    expect(info.file).toBe('model.safetensors');
    expect(log[0].range).toMatch(/^bytes=\d+-\d+$/);
    expect(log[0].bytes).toBe(4096 * 4);
    const local = await Checkpoint.open(dirSource(STORIES));
    expect(Array.from(q)).toEqual(Array.from(await local.readF32(Q0)));
    expect(await src.size('model.safetensors')).toBe(fileSize);
    expect(JSON.parse(await src.text('config.json')).vocab_size).toBe(512);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('pytorch_model.bin')).toBe(false);
  });

  it('range reads are exact, also when the server ignores Range', async () => {
    const disk = readFileSync(STORIES + 'tokenizer.json');
    for (const ignoreRange of [false, true]) {
      const { fetchFn } = fakeHub({ ignoreRange, chunk: 1000 });
      const src = hubSource('karpathy/stories260K', { fetch: fetchFn });
      expect(Array.from(await src.range('tokenizer.json', 5, 2222))).toEqual(Array.from(disk.subarray(5, 2222)));
      expect((await src.range('tokenizer.json', 7, 7)).length).toBe(0);
    }
    const { fetchFn } = fakeHub();
    const src = hubSource('karpathy/stories260K', { fetch: fetchFn });
    await expect(src.range('tokenizer.json', disk.length + 10, disk.length + 20)).rejects.toThrow(/416/);
  });

  it('reports progress per request', async () => {
    const { fetchFn } = fakeHub({ chunk: 1000 });
    const events: { file: string; loaded: number; total: number }[] = [];
    const src = hubSource('karpathy/stories260K', { fetch: fetchFn, onProgress: (p) => events.push(p) });
    await src.range('model.safetensors', 100, 3600);
    expect(events.length).toBe(4);
    expect(events.map((e) => e.loaded)).toEqual([1000, 2000, 3000, 3500]);
    expect(events.every((e) => e.file === 'model.safetensors' && e.total === 3500)).toBe(true);
    events.length = 0;
    const text = await src.text('tokenizer.json');
    const n = new TextEncoder().encode(text).length;
    expect(n).toBe(readFileSync(STORIES + 'tokenizer.json').length);
    expect(events.at(-1)).toEqual({ file: 'tokenizer.json', loaded: n, total: n });
  });

  it('404, 401/403 (gated), unknown repo, bad revision and network errors have clear messages', async () => {
    const { fetchFn, log } = fakeHub();
    const src = hubSource('karpathy/stories260K', { fetch: fetchFn });
    let e = await rejects(src.text('missing.json'));
    expect(e).toBeInstanceOf(ModelSourceError);
    expect(e.message).toMatch(/404.*missing\.json.*karpathy\/stories260K/);

    e = await rejects(hubSource('org/gated', { fetch: fetchFn }).text('config.json'));
    expect(e.message).toMatch(/401/);
    expect(e.message).toMatch(/gated/);
    expect(e.message).toMatch(/licence/);
    expect(e.message).toMatch(/token/);
    expect(e.message).toContain('https://huggingface.co/org/gated');

    e = await rejects(hubSource('org/gated', { fetch: fetchFn, token: 'hf_bad' }).has('config.json'));
    expect(e.message).toMatch(/403.*rejected/);
    expect(log.at(-1)!.auth).toBe('Bearer hf_bad');
    expect(await hubSource('org/gated', { fetch: fetchFn, token: 'hf_good' }).has('model.safetensors')).toBe(true);

    e = await rejects(Checkpoint.open(hubSource('nobody/nothing', { fetch: fetchFn })));
    expect(e).toBeInstanceOf(ModelSourceError);
    expect(e.message).toMatch(/nobody\/nothing.*does not exist/);

    e = await rejects(hubSource('karpathy/stories260K', { fetch: fetchFn, revision: 'v9' }).text('config.json'));
    expect(e.message).toMatch(/revision 'v9' not found/);

    const offline = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    e = await rejects(hubSource('karpathy/stories260K', { fetch: offline }).text('config.json'));
    expect(e).toBeInstanceOf(ModelSourceError);
    expect(e.message).toMatch(/network error.*fetch failed.*connection/);
  });

  it('size falls back to a Range 0-0 request when HEAD gives no length', async () => {
    const { fetchFn, log } = fakeHub();
    const noLen = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await fetchFn(input, init);
      if ((init?.method ?? 'GET') === 'HEAD' && res.ok) return new Response(null, { status: 200 });
      return res;
    }) as typeof fetch;
    const opts: HubOptions = { fetch: noLen };
    const src = hubSource('karpathy/stories260K', opts);
    expect(await src.size('config.json')).toBe(readFileSync(STORIES + 'config.json').length);
    expect(log.at(-1)!.range).toBe('bytes=0-0');
  });
});

it('the stories260K files used by the fake hub exist', () => {
  for (const f of STORIES_FILES) expect(existsSync(STORIES + f)).toBe(true);
});
