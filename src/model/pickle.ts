// The pickle inside a PyTorch checkpoint (`<archive>/data.pkl`), read as data by a small
// allow-list virtual machine: it knows the opcodes torch.save emits (protocols 2 to 4) and the few
// globals a state dict needs, and calls nothing. A global is never imported or called: the allowed
// ones are markers that REDUCE interprets (an empty OrderedDict, a tensor view of a storage);
// anything else is refused with one line before anything is built from it. Why not the
// `pickleparser` package: see ARCHITECTURE.md ("PyTorch checkpoints").
//
// Source format: Python's pickle (Lib/pickle.py, Lib/pickletools.py) and torch/serialization.py:
// values are `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
// backward_hooks[, metadata])`, storages are persistent ids `('storage', torch.FloatStorage, key,
// location, numel)`. No Node or DOM APIs here.

import type { SafetensorsDType } from './safetensors';

/** A pickle this reader refuses or cannot read; the message is one line naming the file. */
export class PickleError extends Error {
  override name = 'PickleError';
}

/** The storage classes a state dict may name, with their element type and size in bytes. */
const TORCH_STORAGES: Record<string, { dtype: SafetensorsDType; bytes: number }> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  LongStorage: { dtype: 'I64', bytes: 8 },
  IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 },
  CharStorage: { dtype: 'I8', bytes: 1 },
  ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
};

/** A storage named by a persistent id: its bytes are the zip entry `<archive>/data/<key>`. */
interface PickledStorage {
  kind: 'storage';
  /** The class name, e.g. 'FloatStorage'. */
  type: string;
  dtype: SafetensorsDType;
  /** Bytes per element. */
  itemBytes: number;
  key: string;
  /** Elements in the storage. */
  numel: number;
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage, in elements. */
export interface PickledTensor {
  kind: 'tensor';
  storage: PickledStorage;
  /** First element of the view in the storage. */
  offset: number;
  shape: number[];
  stride: number[];
}

class Global {
  constructor(readonly module: string, readonly name: string) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
class Dict {
  readonly map = new Map<string | number, Value>();
}
type Value = null | boolean | number | string | Value[] | Dict | Global | PickledStorage | PickledTensor;

const ALLOWED_GLOBALS = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter']);
/** Pickles larger than this are not state dicts (a 70B model's data.pkl is a few MB). */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT', 0x4b: 'BININT1',
  0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT',
  0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE',
  0x8a: 'LONG1', 0x8b: 'LONG4', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
};

function describe(v: Value): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a tuple';
  if (v instanceof Dict) return 'a dict';
  if (v instanceof Global) return v.full;
  if (typeof v === 'object') return `a ${v.kind}`;
  return `a ${typeof v}`;
}

/**
 * Reads a state-dict pickle as data: returns the top-level dict's tensors by name, in file order
 * (entries that are not tensors, e.g. None extra state, are left out). Throws PickleError for a
 * global outside the allow-list ("the pickle asks for posix.system, which a model checkpoint never
 * needs; refusing to load it (nothing was run)"), an opcode torch.save never emits, malformed
 * tensor arguments, a truncated pickle, or a top level that is not a dict of tensors.
 */
export function parseStateDictPickle(bytes: Uint8Array, label: string): Map<string, PickledTensor> {
  if (bytes.length > MAX_PICKLE_BYTES) throw new PickleError(`${label}: the pickle is ${bytes.length} bytes, more than a state dict's ${MAX_PICKLE_BYTES}; refusing to read it.`);
  const refuse = (why: string): never => {
    throw new PickleError(`${label}: ${why}; refusing to load it (nothing was run).`);
  };
  const bad = (why: string): never => {
    throw new PickleError(`${label}: ${why}; the checkpoint is damaged or not a PyTorch state dict: re-download it or re-save it with torch.save(model.state_dict()).`);
  };
  const text = new TextDecoder();
  let pos = 0;
  let stack: Value[] = [];
  const metastack: Value[][] = [];
  const memo = new Map<number, Value>();

  const need = (n: number) => {
    if (pos + n > bytes.length) bad(`the pickle ends early (byte ${bytes.length}, ${n} more needed at ${pos})`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => {
    const a = need(2);
    return bytes[a] | (bytes[a + 1] << 8);
  };
  const u32 = () => {
    const a = need(4);
    return (bytes[a] | (bytes[a + 1] << 8) | (bytes[a + 2] << 16)) + bytes[a + 3] * 0x1000000;
  };
  const str = (n: number) => text.decode(bytes.subarray(need(n), pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) bad(`the pickle ends early inside a GLOBAL name at byte ${pos}`);
    const s = text.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): Value => {
    if (!stack.length) bad(`the pickle pops an empty stack at byte ${pos - 1}`);
    return stack.pop()!;
  };
  const top = (): Value => {
    if (!stack.length) bad(`the pickle reads an empty stack at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): Value[] => {
    const items = stack;
    if (!metastack.length) bad(`the pickle closes a MARK it never opened at byte ${pos - 1}`);
    stack = metastack.pop()!;
    return items;
  };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    if (ALLOWED_GLOBALS.has(full) || (module === 'torch' && Object.prototype.hasOwnProperty.call(TORCH_STORAGES, name))) return new Global(module, name);
    if (module === 'torch' && name.endsWith('Storage')) refuse(`the pickle names torch.${name}, a storage type this reader does not support (F32, F16 and BF16 weights are)`);
    return refuse(`the pickle asks for ${full}, which a model checkpoint never needs`);
  };
  const setItem = (d: Value, k: Value, v: Value) => {
    if (!(d instanceof Dict)) return bad(`SETITEM on ${describe(d)}`);
    if (typeof k !== 'string' && typeof k !== 'number') return bad(`a dict key is ${describe(k)}`);
    d.map.set(k, v);
  };
  const nonNegInts = (v: Value, what: string): number[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) return bad(`${what} is not a tuple of non-negative integers`);
    return v as number[];
  };

  const reduce = (f: Value, args: Value): Value => {
    if (!(f instanceof Global)) return refuse(`the pickle calls ${describe(f)}, which is not a function a state dict uses`);
    if (!Array.isArray(args)) return bad(`the arguments of ${f.full} are not a tuple`);
    switch (f.full) {
      case 'collections.OrderedDict':
        if (args.length !== 0) return bad('OrderedDict is built with arguments');
        return new Dict();
      case 'torch._utils._rebuild_tensor_v2': {
        if (args.length < 6 || args.length > 7) return bad(`_rebuild_tensor_v2 has ${args.length} arguments, not 6 or 7`);
        const [storage, offset, size, stride] = args;
        if (storage === null || typeof storage !== 'object' || Array.isArray(storage) || !('kind' in storage) || storage.kind !== 'storage') {
          return bad(`_rebuild_tensor_v2's storage is ${describe(storage)}`);
        }
        if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return bad('a tensor storage offset is not a non-negative integer');
        const shape = nonNegInts(size, 'a tensor size');
        const strides = nonNegInts(stride, 'a tensor stride');
        if (shape.length !== strides.length) return bad(`a tensor has ${shape.length} sizes but ${strides.length} strides`);
        return { kind: 'tensor', storage, offset, shape, stride: strides };
      }
      case 'torch._utils._rebuild_parameter': {
        const t = args[0];
        if (args.length !== 3 || t === null || typeof t !== 'object' || Array.isArray(t) || !('kind' in t) || t.kind !== 'tensor') {
          return bad('_rebuild_parameter is not given a tensor');
        }
        return t;
      }
      default:
        return refuse(`the pickle calls ${f.full} as a function`);
    }
  };

  const persistent = (pid: Value): PickledStorage => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') return bad(`a persistent id is ${describe(pid)}, not ('storage', type, key, location, numel)`);
    const [, type, key, , numel] = pid;
    if (!(type instanceof Global) || type.module !== 'torch' || !TORCH_STORAGES[type.name]) return bad(`a storage's type is ${describe(type)}`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) return bad(`a storage key is ${JSON.stringify(key)}`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return bad(`storage '${key}' has a size of ${String(numel)} elements`);
    const { dtype, bytes: itemBytes } = TORCH_STORAGES[type.name];
    return { kind: 'storage', type: type.name, dtype, itemBytes, key, numel };
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) bad('the pickle protocol is newer than 5');
        break;
      case 0x95: // FRAME (protocol 4): the frame length is only a hint
        need(8);
        break;
      case 0x2e: { // STOP
        const result = pop();
        if (!(result instanceof Dict)) return bad(`the pickle holds ${describe(result)}, not a state dict`);
        const out = new Map<string, PickledTensor>();
        for (const [k, v] of result.map) {
          if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'kind' in v && v.kind === 'tensor') out.set(String(k), v);
        }
        if (out.size === 0) {
          const keys = [...result.map.keys()].slice(0, 5).join(', ');
          bad(`the top-level dict holds no tensors (keys: ${keys || 'none'}); save the state dict itself`);
        }
        return out;
      }
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Dict());
        break;
      case 0x64: { // DICT
        const items = popMark();
        const d = new Dict();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) bad('SETITEMS with an odd number of items');
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: { // LIST
        const items = popMark(); // (before reading `stack`, which popMark replaces)
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) bad(`APPEND to ${describe(l)}`);
        (l as Value[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) bad(`APPENDS to ${describe(l)}`);
        (l as Value[]).push(...items);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        stack.push(op === 0x88);
        break;
      case 0x4a: { // BININT (signed)
        const v = u32();
        stack.push(v >= 0x80000000 ? v - 0x100000000 : v);
        break;
      }
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: { // LONG1: n bytes, little-endian two's complement
        const n = u8();
        const a = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[a + i]);
        if (n > 0 && bytes[a + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) bad(`an integer at byte ${at} is beyond 2^53`);
        stack.push(Number(v));
        break;
      }
      case 0x47: { // BINFLOAT (big-endian double)
        const a = need(8);
        stack.push(new DataView(bytes.buffer, bytes.byteOffset + a, 8).getFloat64(0, false));
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad(`STACK_GLOBAL with ${describe(module)} and ${describe(name)}`);
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      }
      case 0x62: { // BUILD: only the attributes (e.g. _metadata) of a state dict, which are ignored
        const state = pop();
        const obj = top();
        if (!(obj instanceof Dict) || !(state instanceof Dict || state === null)) refuse(`the pickle sets the state of ${describe(obj)}`);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) bad(`the pickle reads memo slot ${i}, never written, at byte ${at}`);
        stack.push(memo.get(i)!);
        break;
      }
      default:
        refuse(`the pickle has opcode 0x${op.toString(16).padStart(2, '0')}${OPNAMES[op] ? ` (${OPNAMES[op]})` : ''} at byte ${at}, which a PyTorch state dict never uses`);
    }
  }
}
