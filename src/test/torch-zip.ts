// Test helpers: PyTorch-style zip checkpoints built by hand as bytes (a pickle assembler and a
// stored-entry zip writer), for views, tied storages and hostile inputs the fixtures do not have.

const enc = new TextEncoder();

/** A pickle assembled opcode by opcode (protocol 2, as torch.save writes it). */
export class PickleBytes {
  private readonly parts: number[] = [];
  raw(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  proto(): this {
    return this.raw(0x80, 2);
  }
  mark(): this {
    return this.raw(0x28);
  }
  str(s: string): this {
    const b = enc.encode(s);
    return this.raw(0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b);
  }
  int(n: number): this {
    if (n < 256) return this.raw(0x4b, n);
    if (n < 65536) return this.raw(0x4d, n & 0xff, n >> 8);
    return this.raw(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
  }
  global(module: string, name: string): this {
    return this.raw(0x63, ...enc.encode(`${module}\n${name}\n`));
  }
  tuple(): this {
    return this.raw(0x74);
  }
  emptyTuple(): this {
    return this.raw(0x29);
  }
  reduce(): this {
    return this.raw(0x52);
  }
  ints(a: number[]): this {
    this.mark();
    for (const n of a) this.int(n);
    return this.tuple();
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface PickleTensorSpec {
  name: string;
  storageType: string;
  key: string;
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

/** A state dict pickle laid out as torch.save writes it (EMPTY_DICT, MARK, ..., SETITEMS, STOP). */
export function stateDictPickle(tensors: PickleTensorSpec[], opts: { parameter?: boolean; metadata?: boolean } = {}): Uint8Array {
  const p = new PickleBytes().proto();
  if (opts.metadata) p.global('collections', 'OrderedDict').emptyTuple().reduce();
  else p.raw(0x7d);
  p.mark();
  for (const t of tensors) {
    p.str(t.name);
    if (opts.parameter) p.global('torch._utils', '_rebuild_parameter').mark();
    p.global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', t.storageType).str(t.key).str('cpu').int(t.numel).tuple().raw(0x51);
    p.int(t.offset).ints(t.shape).ints(t.stride).raw(0x89).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    if (opts.parameter) p.raw(0x89).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  }
  p.raw(0x75);
  if (opts.metadata) p.raw(0x7d).str('_metadata').raw(0x7d).raw(0x73).raw(0x62);
  return p.raw(0x2e).bytes();
}

function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}

/**
 * A zip with stored entries (CRC left 0: the reader does not check it), local extra fields padded
 * as given; `zip64` writes sizes and offsets only in ZIP64 extra fields and adds the ZIP64 end
 * record and locator, as writers do for files over 4 GiB.
 */
export function zipStored(entries: [string, Uint8Array][], localExtra = 0, zip64 = false): Uint8Array {
  const chunks: number[] = [];
  const central: number[] = [];
  const FF = 0xffffffff;
  for (const [name, data] of entries) {
    const nb = enc.encode(name);
    const offset = chunks.length;
    const sizes = zip64 ? [...le(FF, 4), ...le(FF, 4)] : [...le(data.length, 4), ...le(data.length, 4)];
    const common = [...le(45, 2), ...le(0, 2), ...le(0, 2), ...le(0, 2), ...le(0, 2), ...le(0, 4), ...sizes, ...le(nb.length, 2)];
    chunks.push(...le(0x04034b50, 4), ...common, ...le(localExtra ? localExtra + 4 : 0, 2), ...nb);
    if (localExtra) chunks.push(...le(0xcafe, 2), ...le(localExtra, 2), ...new Array<number>(localExtra).fill(0x5a));
    for (const b of data) chunks.push(b);
    const extra = zip64 ? [...le(0x0001, 2), ...le(24, 2), ...le(data.length, 8), ...le(data.length, 8), ...le(offset, 8)] : [];
    central.push(...le(0x02014b50, 4), ...le(45, 2), ...common, ...le(extra.length, 2), ...le(0, 2), ...le(0, 2), ...le(0, 2), ...le(0, 4), ...le(zip64 ? FF : offset, 4), ...nb, ...extra);
  }
  const cdOffset = chunks.length;
  chunks.push(...central);
  if (zip64) {
    const recAt = chunks.length;
    chunks.push(...le(0x06064b50, 4), ...le(44, 8), ...le(45, 2), ...le(45, 2), ...le(0, 4), ...le(0, 4), ...le(entries.length, 8), ...le(entries.length, 8), ...le(central.length, 8), ...le(cdOffset, 8));
    chunks.push(...le(0x07064b50, 4), ...le(0, 4), ...le(recAt, 8), ...le(1, 4));
    chunks.push(...le(0x06054b50, 4), 0, 0, 0, 0, ...le(0xffff, 2), ...le(0xffff, 2), ...le(FF, 4), ...le(FF, 4), 0, 0);
  } else {
    chunks.push(...le(0x06054b50, 4), 0, 0, 0, 0, ...le(entries.length, 2), ...le(entries.length, 2), ...le(central.length, 4), ...le(cdOffset, 4), 0, 0);
  }
  return Uint8Array.from(chunks);
}

/** A torch.save-style checkpoint: `<archive>/data.pkl`, `<archive>/data/<key>` storages, version and byteorder. */
export function torchZip(archive: string, pickle: Uint8Array, storages: [string, Uint8Array][], byteorder = 'little', zip64 = false): Uint8Array {
  return zipStored(
    [
      [`${archive}/data.pkl`, pickle],
      [`${archive}/byteorder`, enc.encode(byteorder)],
      ...storages.map(([k, b]): [string, Uint8Array] => [`${archive}/data/${k}`, b]),
      [`${archive}/version`, enc.encode('3\n')],
    ],
    40,
    zip64,
  );
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
