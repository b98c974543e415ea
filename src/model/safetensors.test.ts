import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../gpu/half';
import { randn, rng } from '../test/gpu';
import { dtypeBytes, parseSafetensors, parseSafetensorsHeader, readHeaderLength, SafetensorsError, toF32 } from './safetensors';
import { SafetensorsStreamWriter, serializeSafetensors, type TensorToWrite } from './safetensors-writer';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const FILE = 'bad.safetensors';

/** Builds a file from a raw header (object or exact string) and a data buffer, with optional tweaks. */
function rawFile(header: object | string, data: Uint8Array | number, opts: { n?: number; pad?: boolean } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (opts.pad !== false && typeof header !== 'string') text = text.padEnd(Math.ceil(text.length / 8) * 8, ' ');
  const h = new TextEncoder().encode(text);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  const dv = new DataView(out.buffer);
  const n = opts.n ?? h.length;
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

function parseAll(bytes: Uint8Array, name = FILE) {
  return parseSafetensors(bytes, name);
}

function expectCorrupt(bytes: Uint8Array, ...fragments: (string | RegExp)[]): void {
  let err: unknown;
  try {
    parseAll(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  const msg = (err as Error).message;
  expect(msg).toContain(FILE);
  expect(msg).toMatch(/re-download|re-export/);
  for (const f of fragments) expect(msg).toMatch(f);
}

const f32Entry = (shape: number[], begin: number, end: number, dtype = 'F32') => ({ dtype, shape, data_offsets: [begin, end] });

describe('safetensors round trip', () => {
  it('serialize -> parse for F32/F16/BF16, odd shapes, raw 16-bit data, metadata, alignment', () => {
    const r = rng(7);
    const mk = (n: number, scale = 1) => Float32Array.from(randn(n, r, scale));
    const rawF16 = Uint16Array.from(mk(5), (v) => f32ToF16Bits(v));
    const tensors: TensorToWrite[] = [
      { name: 'b.f16', dtype: 'F16', shape: [3, 5, 1], data: mk(15, 3) },
      { name: 'a.bf16', dtype: 'BF16', shape: [7], data: mk(7, 100) },
      { name: 'z.f32', dtype: 'F32', shape: [3, 5], data: mk(15) },
      { name: 'scalar', dtype: 'F32', shape: [], data: mk(1) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      { name: 'raw.f16', dtype: 'F16', shape: [5], data: rawF16 },
      { name: 'a.f32', dtype: 'F32', shape: [1, 1, 3], data: mk(3) },
      { name: 'tiny.bf16', dtype: 'BF16', shape: [1], data: Float32Array.of(1.00390625) /* tie: rounds to even (1.0) */ },
    ];
    const bytes = serializeSafetensors(tensors, { format: 'pt', note: 'héllo' });
    const { header, get } = parseAll(bytes, 'rt.safetensors');

    expect(header.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect(header.headerLength % 8).toBe(0);
    expect(header.dataStart).toBe(8 + header.headerLength);
    expect(header.fileSize).toBe(bytes.length);
    // Header bytes end with space padding, and start with '{'.
    expect(bytes[8]).toBe(0x7b);
    // Order in the data buffer: by dtype size (largest first), then name.
    const order = [...header.tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end).map((t) => t.name);
    expect(order).toEqual(['a.f32', 'empty', 'scalar', 'z.f32', 'a.bf16', 'b.f16', 'raw.f16', 'tiny.bf16']);
    // Every tensor aligned to its element size in the file.
    for (const t of header.tensors.values()) expect(t.begin % dtypeBytes(t.dtype)).toBe(0);

    for (const t of tensors) {
      const info = header.tensors.get(t.name)!;
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(info.end - info.begin).toBe(t.data.length * dtypeBytes(t.dtype));
      const got = get(t.name);
      let want: number[];
      if (t.data instanceof Uint16Array) want = Array.from(t.data, f16BitsToF32);
      else if (t.dtype === 'F16') want = Array.from(t.data, (v) => f16BitsToF32(f32ToF16Bits(v)));
      else if (t.dtype === 'BF16') want = Array.from(t.data, (v) => bf16BitsToF32(f32ToBf16Bits(v)));
      else want = Array.from(t.data);
      expect(Array.from(got)).toEqual(want);
    }
    expect(get('tiny.bf16')[0]).toBe(1);
    // Rounding actually happened for the 16-bit tensors (the test would not notice a lossless path otherwise).
    expect(Array.from(get('b.f16'))).not.toEqual(Array.from(tensors[0].data as Float32Array));
    expect(() => get('z.f23')).toThrow(/rt\.safetensors.*z\.f32/);
  });

  it('raw bytes on disk are little-endian IEEE values at the stated offsets', () => {
    const bytes = serializeSafetensors([
      { name: 'h', dtype: 'F16', shape: [2], data: Float32Array.of(1, -2) },
      { name: 'w', dtype: 'F32', shape: [1], data: Float32Array.of(1.5) },
      { name: 'b', dtype: 'BF16', shape: [1], data: Float32Array.of(-1) },
    ]);
    const { header } = parseAll(bytes);
    const at = (n: string) => Array.from(bytes.subarray(header.tensors.get(n)!.begin, header.tensors.get(n)!.end));
    expect(at('w')).toEqual([0, 0, 0xc0, 0x3f]);
    expect(at('b')).toEqual([0x80, 0xbf]);
    expect(at('h')).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    const json = new TextDecoder().decode(bytes.subarray(8, header.dataStart));
    expect(json.trimEnd().endsWith('}')).toBe(true);
    expect(JSON.parse(json).__metadata__).toEqual({ format: 'pt' });
    expect(Object.keys(JSON.parse(json))[0]).toBe('__metadata__');
  });

  it('reads unaligned files and unaligned views by copying; F64 supported; integer dtypes rejected', () => {
    // F16 [1] then F32 [2]: the F32 tensor starts 2 bytes into the data buffer (a writer would not do this).
    const header = { h: f32Entry([1], 0, 2, 'F16'), w: f32Entry([2], 2, 10) };
    const data = new Uint8Array(10);
    const dv = new DataView(data.buffer);
    dv.setUint16(0, f32ToF16Bits(0.5), true);
    dv.setFloat32(2, 3.25, true);
    dv.setFloat32(6, -7.5, true);
    const file = rawFile(header, data);
    const { get, header: h } = parseAll(file, 'unaligned.safetensors');
    expect(h.tensors.get('w')!.begin % 4).not.toBe(0);
    expect(Array.from(get('w'))).toEqual([3.25, -7.5]);
    expect(Array.from(get('h'))).toEqual([0.5]);

    const cases: [Parameters<typeof toF32>[0], (v: DataView, i: number, x: number) => void, number][] = [
      ['F64', (v, i, x) => v.setFloat64(i * 8, x, true), 8],
      ['F32', (v, i, x) => v.setFloat32(i * 4, x, true), 4],
      ['F16', (v, i, x) => v.setUint16(i * 2, f32ToF16Bits(x), true), 2],
      ['BF16', (v, i, x) => v.setUint16(i * 2, f32ToBf16Bits(x), true), 2],
    ];
    const vals = [1, -0.5, 3, 1024, -0.125];
    for (const [dtype, set, size] of cases) {
      const buf = new Uint8Array(1 + vals.length * size);
      const view = buf.subarray(1); // odd byteOffset
      const v = new DataView(view.buffer, view.byteOffset, view.byteLength);
      vals.forEach((x, i) => set(v, i, x));
      expect(Array.from(toF32(dtype, view, `m.safetensors: tensor 'x'`))).toEqual(vals);
    }
    expect(() => toF32('I32', new Uint8Array(8), "m.safetensors: tensor 'ids'")).toThrow(SafetensorsError);
    expect(() => toF32('I32', new Uint8Array(8), "m.safetensors: tensor 'ids'")).toThrow(/m\.safetensors.*I32/);
    expect(() => toF32('F32', new Uint8Array(6), "m.safetensors: tensor 'x'")).toThrow(SafetensorsError);
  });

  it('writer rejects bad input', () => {
    expect(() => serializeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }])).toThrow(SafetensorsError);
    expect(() =>
      serializeSafetensors([
        { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
        { name: 'a', dtype: 'F16', shape: [1], data: new Float32Array(1) },
      ]),
    ).toThrow(/duplicate/);
    expect(() => serializeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: new Uint16Array(1) }])).toThrow(SafetensorsError);
    expect(() => serializeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [1], data: new Float32Array(1) }])).toThrow(SafetensorsError);
  });

  it('the streaming writer produces a valid file tensor by tensor, in its layout order', async () => {
    const r = rng(12);
    const tensors: TensorToWrite[] = [
      { name: 'w.f16', dtype: 'F16', shape: [3, 5], data: Float32Array.from(randn(15, r)) },
      { name: 'codes', dtype: 'I32', shape: [4], data: Int32Array.of(1, -2, 3, 2 ** 30) },
      { name: 'b.f32', dtype: 'F32', shape: [7], data: Float32Array.from(randn(7, r)) },
      { name: 'raw.bf16', dtype: 'BF16', shape: [2], data: Uint16Array.of(0x3f80, 0xc000) },
    ];
    const chunks: Uint8Array[] = [];
    const w = new SafetensorsStreamWriter(tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), (c) => void chunks.push(c), { format: 'pt', by: 'test' });
    await w.begin();
    for (const t of tensors) await w.write(t);
    w.end();
    expect(chunks).toHaveLength(1 + tensors.length); // the header, then one chunk per tensor
    const bytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    const streamed = parseAll(bytes);
    const wholeBytes = serializeSafetensors(tensors, { format: 'pt', by: 'test' });
    const whole = parseAll(wholeBytes);
    expect(streamed.header.metadata).toEqual({ format: 'pt', by: 'test' });
    for (const t of tensors) {
      const a = streamed.header.tensors.get(t.name)!;
      const b = whole.header.tensors.get(t.name)!;
      expect([a.dtype, a.shape], t.name).toEqual([b.dtype, b.shape]);
      expect(Array.from(bytes.subarray(a.begin, a.end)), t.name).toEqual(Array.from(wholeBytes.subarray(b.begin, b.end)));
    }
    // Offsets follow the layout order (the in-memory writer sorts by dtype size instead).
    expect([...streamed.header.tensors.values()].map((i) => i.begin)).toEqual([...streamed.header.tensors.values()].map((i) => i.begin).sort((a, b) => a - b));
  });

  it('the streaming writer refuses tensors out of order, of another shape, or missing', async () => {
    const layout = [
      { name: 'a', dtype: 'F32' as const, shape: [2] },
      { name: 'b', dtype: 'F32' as const, shape: [3] },
    ];
    const w = new SafetensorsStreamWriter(layout, () => {});
    await w.begin();
    await expect(w.write({ name: 'b', dtype: 'F32', shape: [3], data: new Float32Array(3) })).rejects.toThrow(/does not match the planned 'a'/);
    await w.write({ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array(2) });
    await expect(w.write({ name: 'b', dtype: 'F32', shape: [1, 3], data: new Float32Array(3) })).rejects.toThrow(SafetensorsError);
    expect(() => w.end()).toThrow(/1 planned tensors were not written/);
    await w.write({ name: 'b', dtype: 'F32', shape: [3], data: new Float32Array(3) });
    await expect(w.write({ name: 'c', dtype: 'F32', shape: [1], data: new Float32Array(1) })).rejects.toThrow(/end of the file/);
    w.end();
  });

  it('an empty tensor list is a valid file', () => {
    const bytes = serializeSafetensors([]);
    const { header } = parseAll(bytes);
    expect(header.tensors.size).toBe(0);
    expect(bytes.length).toBe(8 + header.headerLength);
  });
});

describe('safetensors corruption is rejected with SafetensorsError naming the file', () => {
  const valid = () => rawFile({ __metadata__: { format: 'pt' }, a: f32Entry([2], 0, 8), b: f32Entry([1, 3], 8, 20) }, 20);

  it('the valid baseline parses', () => {
    const { header } = parseAll(valid());
    expect([...header.tensors.keys()]).toEqual(['a', 'b']);
  });

  it('header length beyond the file', () => {
    const f = valid();
    new DataView(f.buffer).setUint32(0, f.length, true);
    expectCorrupt(f, /header length/, /truncated/);
    expect(() => readHeaderLength(f.subarray(0, 8), f.length, FILE)).toThrow(SafetensorsError);
  });

  it('header length above 100,000,000 and above 2^32', () => {
    expectCorrupt(rawFile({}, 0, { n: 100_000_001 }), /limit/);
    expectCorrupt(rawFile({}, 0, { n: 2 ** 40 }), /limit/);
    expect(readHeaderLength(rawFile({}, 0, { n: 100_000_000 }).subarray(0, 8), 100_000_008, FILE)).toBe(100_000_000);
  });

  it('file shorter than 8 bytes', () => {
    expectCorrupt(new Uint8Array(5), /too short/);
  });

  it('header not JSON', () => {
    expectCorrupt(rawFile('{"a": {"dtype": "F32", ', 0), /not valid JSON/);
    expectCorrupt(rawFile('{"a": 1}'.padEnd(16, '\0'), 0), /JSON/);
  });

  it('header not starting with {', () => {
    expectCorrupt(rawFile(' {}     ', 0), /start with '\{'/);
    expectCorrupt(rawFile('[]      ', 0), /start with '\{'/);
  });

  it('header not valid UTF-8', () => {
    const f = rawFile('{"a":"xx"}      ', 0);
    f[8 + 6] = 0xff;
    expectCorrupt(f, /UTF-8/);
  });

  it('gap between tensors', () => {
    expectCorrupt(rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([2], 12, 20) }, 20), /gap/);
  });

  it('data not starting at offset 0', () => {
    expectCorrupt(rawFile({ b: f32Entry([2], 4, 12) }, 12), /gap/);
  });

  it('overlapping tensors', () => {
    expectCorrupt(rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([2], 4, 12) }, 12), /overlaps/);
    expectCorrupt(rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([2], 0, 8) }, 8), /overlaps/);
  });

  it('byte count not matching shape x dtype', () => {
    expectCorrupt(rawFile({ a: f32Entry([3], 0, 8) }, 8), /needs 12 bytes/);
    expectCorrupt(rawFile({ a: f32Entry([3], 0, 8, 'F16') }, 8), /F16 shape \[3\] needs 6 bytes/);
    expectCorrupt(rawFile({ a: f32Entry([2], 8, 0) }, 8), /data_offsets/);
  });

  it('unknown dtype', () => {
    let err: unknown;
    try {
      parseAll(rawFile({ a: f32Entry([2], 0, 8, 'Q4_K') }, 8));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toMatch(new RegExp(`${FILE}.*Q4_K.*F32`));
  });

  it('missing fields, bad shapes, bad metadata', () => {
    expectCorrupt(rawFile({ a: { dtype: 'F32', shape: [2] } }, 8), /data_offsets/);
    expectCorrupt(rawFile({ a: { shape: [2], data_offsets: [0, 8] } }, 8), /dtype/);
    expectCorrupt(rawFile({ a: f32Entry([-2], 0, 8) }, 8), /shape/);
    expectCorrupt(rawFile({ a: f32Entry([2.5], 0, 10) }, 10), /shape/);
    expectCorrupt(rawFile({ a: 5 }, 0), /not a JSON object/);
    expectCorrupt(rawFile({ __metadata__: { format: 1 } }, 0), /__metadata__/);
    expectCorrupt(rawFile({ __metadata__: ['pt'] }, 0), /__metadata__/);
  });

  it('truncated file', () => {
    const f = valid();
    expectCorrupt(f.subarray(0, f.length - 1), /truncated/, /1 missing/);
  });

  it('trailing bytes', () => {
    const f = valid();
    const g = new Uint8Array(f.length + 3);
    g.set(f);
    expectCorrupt(g, /3 trailing bytes/);
  });

  it('parseSafetensorsHeader alone checks the file size against the header', () => {
    const f = valid();
    const n = readHeaderLength(f.subarray(0, 8), f.length, FILE);
    expect(parseSafetensorsHeader(f.subarray(8, 8 + n), f.length, FILE).tensors.get('b')!.begin).toBe(8 + n + 8);
    expect(() => parseSafetensorsHeader(f.subarray(8, 8 + n), f.length + 1, FILE)).toThrow(/trailing/);
  });
});

describe('the real stories260K file', () => {
  it('parses in memory with the expected tensors and values', () => {
    const bytes = new Uint8Array(readFileSync(STORIES + 'model.safetensors'));
    const { header, get } = parseSafetensors(bytes, 'model.safetensors');
    expect(header.metadata.format).toBe('pt');
    expect(header.tensors.size).toBe(47);
    expect(header.tensors.get('model.embed_tokens.weight')!.shape).toEqual([512, 64]);
    const q = get('model.layers.0.self_attn.q_proj.weight');
    expect(q.length).toBe(64 * 64);
    // Checksums computed independently with Python's struct module.
    const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
    expect(sum(q)).toBeCloseTo(-23.827822908671806, 9);
    expect(sum(get('model.embed_tokens.weight'))).toBeCloseTo(-752.3677446640068, 8);
    expect(Array.from(get('model.norm.weight').subarray(0, 3))).toEqual([2.4583089351654053, 1.3673226833343506, 1.7504382133483887]);
  });
});
