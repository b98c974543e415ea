// PyTorch zip checkpoints (.bin): the fixtures in ../shared equal their safetensors twins, views
// and tied storages read right, and hostile or damaged files are refused in one line.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { bf16BitsToF32, f32ToBf16Bits } from '../gpu/half';
import { f32Bytes, PickleBytes, stateDictPickle, torchZip, zipStored, type PickleTensorSpec } from '../test/torch-zip';
import { Checkpoint } from './checkpoint';
import { PickleError } from './pickle';
import { memorySource, type ModelSource } from './source';
import { readTensorFile } from './tensor-dir';
import { ZipError } from './zip';

const MODELS = fileURLToPath(new URL('../../../shared/models/', import.meta.url));
const STORIES = MODELS + 'stories260K/';
const BIN = MODELS + 'stories260K-bin/';
const BF16 = MODELS + 'stories260K-bin-sharded-bf16/';

/** A source that records every range read. */
function recording(src: ModelSource): { src: ModelSource; reads: { file: string; begin: number; end: number }[] } {
  const reads: { file: string; begin: number; end: number }[] = [];
  return {
    reads,
    src: { ...src, name: src.name, has: (f) => src.has(f), text: (f) => src.text(f), size: (f) => src.size(f), range: (f, b, e) => (reads.push({ file: f, begin: b, end: e }), src.range(f, b, e)) },
  };
}

async function rejects(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function oneLine(e: Error, ...parts: (string | RegExp)[]): void {
  expect(e.message).not.toContain('\n');
  for (const p of parts) expect(e.message).toMatch(p);
}

describe('the stories260K .bin fixtures', () => {
  it('pytorch_model.bin gives exactly the tensors of model.safetensors, with range reads only', async () => {
    const st = await Checkpoint.open(dirSource(STORIES));
    const rec = recording(dirSource(BIN));
    const bin = await Checkpoint.open(rec.src);
    expect(bin.format).toBe('pytorch');
    expect(bin.files).toEqual(['pytorch_model.bin']);
    expect(bin.names()).toEqual(st.names());
    const openReads = rec.reads.length;
    expect(openReads).toBeLessThanOrEqual(4); // magic, tail (directory), byteorder, data.pkl
    for (const n of st.names()) {
      expect(bin.info(n).dtype).toBe('F32');
      expect(bin.info(n).shape).toEqual(st.info(n).shape);
      expect(Buffer.from((await bin.readRaw(n)).bytes).equals(Buffer.from((await st.readRaw(n)).bytes))).toBe(true);
    }
    const size = readFileSync(BIN + 'pytorch_model.bin').length;
    expect(rec.reads.length).toBe(openReads + st.names().length); // one read per tensor
    const largest = Math.max(...st.names().map((n) => st.info(n).shape.reduce((a, b) => a * b, 4)));
    for (const r of rec.reads) expect(r.end - r.begin).toBeLessThanOrEqual(Math.min(size / 2, largest + 512));
  });

  it('the sharded bf16 checkpoint equals stories260K rounded to bfloat16 (nearest even)', async () => {
    const st = await Checkpoint.open(dirSource(STORIES));
    const bin = await Checkpoint.open(dirSource(BF16));
    expect(bin.files).toEqual(['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']);
    expect(bin.names()).toEqual(st.names());
    let changed = 0;
    for (const n of st.names()) {
      expect(bin.info(n).dtype).toBe('BF16');
      const want = await st.readF32(n);
      const got = await bin.readF32(n);
      const rounded = want.map((v) => bf16BitsToF32(f32ToBf16Bits(v)));
      expect(Array.from(got)).toEqual(Array.from(rounded));
      changed += want.filter((v, i) => v !== got[i]).length;
    }
    expect(changed).toBeGreaterThan(0);
  });

  it('a truncated .bin (its end cut off) is refused in one line', async () => {
    const bytes = readFileSync(BIN + 'pytorch_model.bin');
    const src = memorySource('cut', new Map([['pytorch_model.bin', bytes.subarray(0, bytes.length - 100)]]));
    const e = await rejects(Checkpoint.open(src));
    expect(e).toBeInstanceOf(ZipError);
    oneLine(e, /cut\/pytorch_model\.bin: no end-of-central-directory record/, /re-download/);
  });

  it('readTensorFile reads the adapter .bin whole in memory', () => {
    const file = fileURLToPath(new URL('../../../shared/adapters/stories260K-lora-bin/adapter_model.bin', import.meta.url));
    const t = readTensorFile(readFileSync(file), 'adapter_model.bin');
    expect(t.names().length).toBe(20);
    const a = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    expect(t.info(a)).toMatchObject({ dtype: 'F32', shape: [4, 64] });
    expect(t.get(a).length).toBe(256);
  });
});

const spec = (o: Partial<PickleTensorSpec> & { name: string }): PickleTensorSpec => ({ storageType: 'FloatStorage', key: '0', numel: 6, offset: 0, shape: [2, 3], stride: [3, 1], ...o });
const open = (bytes: Uint8Array, file = 'pytorch_model.bin') => Checkpoint.open(memorySource('m', new Map([[file, bytes]])), file);
const values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

describe('views and storages', () => {
  it('tied weights share one storage; offsets, transposed (gathered) views and parameters read right', async () => {
    const pkl = stateDictPickle(
      [
        spec({ name: 'embed', numel: 12, shape: [4, 3], stride: [3, 1] }),
        spec({ name: 'head', numel: 12, shape: [4, 3], stride: [3, 1] }), // tied: same storage
        spec({ name: 'tail', numel: 12, offset: 6, shape: [2, 3], stride: [3, 1] }),
        spec({ name: 'embedT', numel: 12, shape: [3, 4], stride: [1, 3] }), // a transposed view
        spec({ name: 'cols', numel: 12, offset: 1, shape: [4, 2], stride: [3, 1] }), // a column slice
        spec({ name: 'ints', storageType: 'LongStorage', key: '1', numel: 1, shape: [], stride: [] }),
      ],
      { parameter: true, metadata: true },
    );
    const ck = await open(torchZip('archive', pkl, [['0', f32Bytes(values)], ['1', new Uint8Array(8)]]));
    expect(ck.names()).toEqual(['cols', 'embed', 'embedT', 'head', 'ints', 'tail']);
    expect(Array.from(await ck.readF32('embed'))).toEqual(values);
    expect(Array.from(await ck.readF32('head'))).toEqual(values);
    expect(Array.from(await ck.readF32('tail'))).toEqual([6, 7, 8, 9, 10, 11]);
    expect(Array.from(await ck.readF32('embedT'))).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    expect(Array.from(await ck.readF32('cols'))).toEqual([1, 2, 4, 5, 7, 8, 10, 11]);
    expect(ck.info('ints')).toMatchObject({ dtype: 'I64', shape: [] });
    oneLine(await rejects(ck.readRaw('ints')), /m\/pytorch_model\.bin: tensor 'ints' is stored as torch\.LongStorage \(I64\); only F32, F16 and BF16/);
  });

  it('a view deep inside a large storage reads only its own bytes (plus the small local header)', async () => {
    const n = 20000;
    const data = Array.from({ length: n }, (_, i) => i);
    const pkl = stateDictPickle([spec({ name: 'head', numel: n, offset: 0, shape: [2], stride: [1] }), spec({ name: 'deep', numel: n, offset: 18000, shape: [2000], stride: [1] })]);
    const rec = recording(memorySource('m', new Map([['pytorch_model.bin', torchZip('a', pkl, [['0', f32Bytes(data)]])]])));
    const ck = await Checkpoint.open(rec.src, 'pytorch_model.bin');
    const before = rec.reads.length;
    expect(Array.from(await ck.readF32('deep'))).toEqual(data.slice(18000));
    const reads = rec.reads.slice(before);
    expect(reads.map((r) => r.end - r.begin).reduce((a, b) => a + b, 0)).toBeLessThan(2000 * 4 + 1024);
    expect(Array.from(await ck.readF32('head'))).toEqual([0, 1]);
  });

  it('a ZIP64 archive (sizes and offsets in ZIP64 fields, as in shards over 4 GiB) reads the same', async () => {
    const pkl = stateDictPickle([spec({ name: 'w', numel: 12, offset: 3, shape: [3, 3], stride: [3, 1] })]);
    const z = torchZip('big', pkl, [['0', f32Bytes(values)]], 'little', true);
    expect(Array.from(await (await open(z)).readF32('w'))).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // The ZIP64 end record is what says where the directory is: damage it and the file is refused.
    const at = z.length - 22 - 20 - 56;
    const broken = z.slice();
    broken[at] = 0;
    oneLine(await rejects(open(broken)), /no ZIP64 end record at offset/);
  });

  it('a view or storage past the storage\'s end is refused at open', async () => {
    const past = stateDictPickle([spec({ name: 'w', offset: 2 })]); // elements 2..7 of 6
    oneLine(await rejects(open(torchZip('a', past, [['0', f32Bytes(values.slice(0, 6))]]))), /tensor 'w' \(storage '0'\): the view .* reaches element 7 of a storage of 6/);
    const short = stateDictPickle([spec({ name: 'w' })]);
    oneLine(await rejects(open(torchZip('a', short, [['0', f32Bytes(values.slice(0, 5))]]))), /the storage entry holds 20 bytes but the pickle says 6 FloatStorage elements/);
    oneLine(await rejects(open(torchZip('a', short, []))), /the zip has no entry a\/data\/0/);
  });

  it('the legacy (pre-1.6) format, big-endian storages and non-zip files are refused in one line', async () => {
    const legacy = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    oneLine(await rejects(open(legacy)), /m\/pytorch_model\.bin: this is the legacy PyTorch checkpoint format \(before PyTorch 1\.6/, /re-save it with PyTorch 1\.6 or later/);
    expect(() => readTensorFile(legacy, 'adapter_model.bin')).toThrow(/legacy PyTorch checkpoint format/);
    const big = torchZip('a', stateDictPickle([spec({ name: 'w' })]), [['0', f32Bytes(values.slice(0, 6))]], 'big');
    oneLine(await rejects(open(big)), /the storages are big-endian/);
    const two = zipStored([['a/data.pkl', new Uint8Array(1)], ['b/data.pkl', new Uint8Array(1)]]);
    oneLine(await rejects(open(two)), /2 archives \(a\/data\.pkl, b\/data\.pkl\)/);
  });
});

describe('hostile pickles run nothing', () => {
  const zipOf = (pkl: Uint8Array) => torchZip('x', pkl, [['0', f32Bytes(values.slice(0, 6))]]);

  it('a posix.system global is refused before anything is built', async () => {
    // The classic payload: posix.system('touch /tmp/pwned') as the whole pickle.
    const pkl = new PickleBytes().proto().global('posix', 'system').mark().str('touch /tmp/pwned').tuple().reduce().raw(0x2e).bytes();
    const e = await rejects(open(zipOf(pkl)));
    expect(e).toBeInstanceOf(PickleError);
    oneLine(e, 'm/pytorch_model.bin: the pickle asks for posix.system, which a model checkpoint never needs; refusing to load it (nothing was run).');
    // Also when it hides inside an otherwise valid state dict (as a tensor's value).
    const inner = new PickleBytes().proto().raw(0x7d).mark().str('w').global('builtins', 'eval').mark().str('1').tuple().reduce().raw(0x75, 0x2e).bytes();
    oneLine(await rejects(open(zipOf(inner))), /asks for builtins\.eval/);
    expect(() => readTensorFile(zipOf(pkl), 'adapter_model.bin')).toThrow(/adapter_model\.bin: the pickle asks for posix\.system/);
  });

  it('opcodes torch.save never emits, calls of non-functions and malformed data are refused', async () => {
    const unknown = new PickleBytes().proto().raw(0x7d, 0xff, 0x2e).bytes();
    oneLine(await rejects(open(zipOf(unknown))), /the pickle has opcode 0xff at byte 3, which a PyTorch state dict never uses; refusing to load it \(nothing was run\)/);
    const inst = new PickleBytes().proto().mark().raw(0x69, ...new TextEncoder().encode('os\nsystem\n')).raw(0x2e).bytes();
    oneLine(await rejects(open(zipOf(inst))), /opcode 0x69 \(INST\) at byte 3/);
    const callStorage = new PickleBytes().proto().global('torch', 'FloatStorage').emptyTuple().reduce().raw(0x2e).bytes();
    oneLine(await rejects(open(zipOf(callStorage))), /calls torch\.FloatStorage as a function/);
    const truncated = stateDictPickle([spec({ name: 'w' })]).subarray(0, 60);
    oneLine(await rejects(open(zipOf(truncated))), /the pickle ends early/);
    const noTensors = new PickleBytes().proto().raw(0x7d).mark().str('epoch').int(3).raw(0x75, 0x2e).bytes();
    oneLine(await rejects(open(zipOf(noTensors))), /the top-level dict holds no tensors \(keys: epoch\)/);
  });
});
