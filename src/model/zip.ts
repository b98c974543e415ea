// Reading a zip archive's directory and the bytes of its stored (uncompressed) entries with range
// reads only, never the whole file: the end-of-central-directory record (and its ZIP64 form) from
// the file's tail, then the central directory, then one read per entry (local header + data).
// Follows the PKWARE APPNOTE (6.3): EOCD 0x06054b50, ZIP64 locator 0x07064b50 / record 0x06064b50,
// central headers 0x02014b50, local headers 0x04034b50, ZIP64 extra field 0x0001.
//
// The readers are written as "read plans": generators that yield the byte ranges they need and get
// the bytes back, so the same code runs over an async ModelSource (runPlan) and over bytes already
// in memory (runPlanSync). No Node or DOM APIs here.

/** A damaged, truncated or unsupported zip archive; the message names the file and what to do. */
export class ZipError extends Error {
  override name = 'ZipError';
}

/** Bytes [begin, end) of the file, asked for by a read plan. */
interface ReadRequest {
  begin: number;
  end: number;
}

/** A reader as a generator: yields the ranges it needs, receives their bytes, returns T. */
export type ReadPlan<T> = Generator<ReadRequest, T, Uint8Array>;

/**
 * Runs a plan over an async range reader (e.g. ModelSource.range); checks every read's length.
 * Throws ZipError for a short read (truncated or changed file).
 */
export async function runPlan<T>(plan: ReadPlan<T>, read: (begin: number, end: number) => Promise<Uint8Array>, label: string): Promise<T> {
  let step = plan.next();
  while (!step.done) {
    const { begin, end } = step.value;
    const bytes = await read(begin, end);
    if (bytes.length !== end - begin) {
      throw new ZipError(`${label}: read ${bytes.length} of ${end - begin} bytes at offset ${begin}; the file is truncated or changed while reading: re-download it.`);
    }
    step = plan.next(bytes);
  }
  return step.value;
}

/**
 * Runs a plan over a whole file held in memory (small files such as adapters). Throws ZipError when
 * a plan reads past the end (truncated file).
 */
export function runPlanSync<T>(plan: ReadPlan<T>, file: Uint8Array, label: string): T {
  let step = plan.next();
  while (!step.done) {
    const { begin, end } = step.value;
    if (end > file.length) throw new ZipError(`${label}: the file ends at byte ${file.length}, before byte ${end}; it is truncated: re-download it.`);
    step = plan.next(file.subarray(begin, end));
  }
  return step.value;
}

/** One central-directory entry. Sizes and offsets are bytes; ZIP64 values already resolved. */
export interface ZipEntry {
  name: string;
  /** Byte length of the name as stored (the local header repeats it). */
  nameLength: number;
  /** 0 = stored (uncompressed), 8 = deflate, ... */
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
/** EOCD (22) + the longest comment (65535) + ZIP64 locator (20) + ZIP64 record (56). */
const TAIL_BYTES = 22 + 65535 + 20 + 56;
/** Central directories larger than this are refused (a checkpoint has a few hundred entries). */
const MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024;
/** Bytes read past a local header's name for its extra field, so that header and data come in one read. */
const LOCAL_EXTRA_GUESS = 256;

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000;
}
function u64(b: Uint8Array, o: number, label: string): number {
  const v = u32(b, o) + u32(b, o + 4) * 0x100000000;
  if (!Number.isSafeInteger(v)) throw new ZipError(`${label}: a ZIP64 size or offset (${v}) is beyond 2^53 bytes; the file is damaged: re-download it.`);
  return v;
}

function damaged(label: string, what: string): ZipError {
  return new ZipError(`${label}: ${what}; the zip archive is damaged or truncated: re-download the file.`);
}

/**
 * The archive's entries by name, from the end-of-central-directory record (ZIP64 aware) and the
 * central directory: two or three range reads near the end of the file. Throws ZipError for a file
 * without an EOCD record (truncated, or not a zip), multi-disk archives, and entries that point
 * outside the file.
 */
export function* readZipDirectory(fileSize: number, label: string): ReadPlan<Map<string, ZipEntry>> {
  if (fileSize < 22) throw damaged(label, `the file is only ${fileSize} bytes long, too short for a zip archive`);
  const tailStart = Math.max(0, fileSize - TAIL_BYTES);
  const tail = yield { begin: tailStart, end: fileSize };
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (u32(tail, i) === EOCD_SIG && i + 22 + u16(tail, i + 20) <= tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw damaged(label, 'no end-of-central-directory record at the end of the file');
  if (u16(tail, at + 4) !== 0 || u16(tail, at + 6) !== 0) throw new ZipError(`${label}: a multi-part (split) zip archive is not supported; use a single-file checkpoint.`);
  let count = u16(tail, at + 10);
  let cdSize = u32(tail, at + 12);
  let cdOffset = u32(tail, at + 16);
  const loc = at - 20;
  let endRecords = tailStart + at;
  if (loc >= 0 && u32(tail, loc) === ZIP64_LOCATOR_SIG) {
    const recAt = u64(tail, loc + 8, label);
    if (recAt + 56 > tailStart + loc) throw damaged(label, `the ZIP64 end record offset ${recAt} is out of place`);
    const rec = recAt >= tailStart ? tail.subarray(recAt - tailStart, recAt - tailStart + 56) : yield { begin: recAt, end: recAt + 56 };
    if (u32(rec, 0) !== ZIP64_EOCD_SIG) throw damaged(label, `no ZIP64 end record at offset ${recAt}`);
    count = u64(rec, 32, label);
    cdSize = u64(rec, 40, label);
    cdOffset = u64(rec, 48, label);
    endRecords = recAt;
  }
  const cdEnd = cdOffset + cdSize;
  if (cdEnd > endRecords) {
    throw damaged(label, `the central directory [${cdOffset}, ${cdEnd}) runs past its end record`);
  }
  if (cdSize > MAX_CENTRAL_DIRECTORY) throw new ZipError(`${label}: the zip central directory is ${cdSize} bytes, more than the ${MAX_CENTRAL_DIRECTORY} accepted; this is not a model checkpoint.`);
  const cd = cdOffset >= tailStart ? tail.subarray(cdOffset - tailStart, cdEnd - tailStart) : yield { begin: cdOffset, end: cdEnd };

  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || u32(cd, p) !== CENTRAL_SIG) throw damaged(label, `central directory entry ${n} of ${count} is missing or damaged`);
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    let compressedSize = u32(cd, p + 20);
    let size = u32(cd, p + 24);
    const nameLength = u16(cd, p + 28);
    const extraLength = u16(cd, p + 30);
    const commentLength = u16(cd, p + 32);
    let localHeaderOffset = u32(cd, p + 42);
    const next = p + 46 + nameLength + extraLength + commentLength;
    if (next > cd.length) throw damaged(label, `central directory entry ${n} runs past the directory's end`);
    const name = names.decode(cd.subarray(p + 46, p + 46 + nameLength));
    // ZIP64 extended information: the 8-byte values, in this order, of the fields that are 0xFFFFFFFF.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = u16(cd, e);
      const len = u16(cd, e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        const take = () => {
          if (q + 8 > e + 4 + len) throw damaged(label, `the ZIP64 field of '${name}' is too short`);
          const v = u64(cd, q, label);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    if (localHeaderOffset + 30 + nameLength + compressedSize > cdOffset) {
      throw damaged(label, `entry '${name}' (${compressedSize} bytes at offset ${localHeaderOffset}) runs into the central directory`);
    }
    entries.set(name, { name, nameLength, method, flags, compressedSize, size, localHeaderOffset });
    p = next;
  }
  return entries;
}

/**
 * Bytes [begin, end) of a stored (uncompressed, unencrypted) entry's data, in one read that takes
 * the local header with it (a second one when the header's extra field is unusually long, or when
 * `begin` lies more than 64 KiB into the entry, so that the bytes before it are not fetched).
 * Throws ZipError for compressed or encrypted entries, ranges outside the entry, and a local
 * header that does not match the central directory.
 */
export function* readStoredEntry(entry: ZipEntry, begin: number, end: number, fileSize: number, label: string): ReadPlan<Uint8Array> {
  if (entry.flags & 1) throw new ZipError(`${label}: entry '${entry.name}' is encrypted; a model checkpoint never is: re-save it with torch.save.`);
  if (entry.method !== 0 || entry.compressedSize !== entry.size) {
    throw new ZipError(`${label}: entry '${entry.name}' is compressed (method ${entry.method}); torch.save stores entries uncompressed, so the file was re-zipped: re-save it with torch.save or convert it to safetensors.`);
  }
  if (!(0 <= begin && begin <= end && end <= entry.size)) {
    throw new ZipError(`${label}: bytes [${begin}, ${end}) asked of entry '${entry.name}', which holds ${entry.size}; the file is damaged: re-download it.`);
  }
  const lho = entry.localHeaderOffset;
  const fixed = 30 + entry.nameLength;
  // From the header through `end` in one read, unless that would also fetch many unneeded bytes
  // before `begin` (a view deep inside a storage): then the header alone first.
  const withData = begin <= 64 * 1024;
  const first = yield { begin: lho, end: Math.min(fileSize, lho + fixed + LOCAL_EXTRA_GUESS + (withData ? end : 0)) };
  if (first.length < 30 || u32(first, 0) !== LOCAL_SIG) throw damaged(label, `no local header for entry '${entry.name}' at offset ${lho}`);
  if (u16(first, 26) !== entry.nameLength) throw damaged(label, `the local header of '${entry.name}' does not match the central directory`);
  const dataStart = fixed + u16(first, 28);
  if (lho + dataStart + entry.size > fileSize) throw damaged(label, `entry '${entry.name}' runs past the end of the file (${fileSize} bytes)`);
  if (withData && dataStart + end <= first.length) return first.subarray(dataStart + begin, dataStart + end);
  if (begin === end) return new Uint8Array(0);
  return yield { begin: lho + dataStart + begin, end: lho + dataStart + end };
}
