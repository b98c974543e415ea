// Parquet (hyparquet): the footer first, then one row group at a time through random-access reads.
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { DatasetError, readAllBytes, type DataInput } from '../input';
import type { RawRecord } from './types';

async function asyncBufferOf(input: DataInput): Promise<AsyncBuffer> {
  if (input.slice && input.size !== undefined) {
    const slice = input.slice.bind(input);
    const size = input.size;
    return {
      byteLength: size,
      async slice(start: number, end?: number) {
        const b = await slice(start, end ?? size);
        return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
      },
    };
  }
  const all = await readAllBytes(input);
  return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
}

/** The rows of a Parquet file (or of `input.parts` one after another, numbered on), one row group at a time. */
export async function* parquetRecords(input: DataInput): AsyncIterable<RawRecord> {
  if (!input.parts) return yield* parquetFileRecords(input, 0);
  let rows = 0;
  for (const part of input.parts) {
    for await (const r of parquetFileRecords(part, rows)) {
      rows = r.line;
      yield r;
    }
  }
}

/** The rows of one Parquet file, numbered from `first` + 1. */
async function* parquetFileRecords(input: DataInput, first: number): AsyncIterable<RawRecord> {
  const fail = (e: unknown): never => {
    const msg = (e as Error)?.message ?? String(e);
    const codec = /compression|codec|unsupported/i.test(msg) ? ' Re-save it with snappy compression or none (pandas: df.to_parquet(path, compression="snappy")).' : '';
    throw new DatasetError(`${input.name}: cannot read the Parquet file: ${msg}.${codec}`);
  };
  let file: AsyncBuffer;
  let metadata;
  try {
    file = await asyncBufferOf(input);
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    return fail(e);
  }
  let row = 0;
  for (const rg of metadata.row_groups) {
    const n = Number(rg.num_rows);
    let objs: Record<string, unknown>[];
    try {
      objs = await parquetReadObjects({ file, metadata, rowStart: row, rowEnd: row + n });
    } catch (e) {
      return fail(e);
    }
    for (let i = 0; i < objs.length; i++) yield { line: first + row + i + 1, value: objs[i] };
    row += n;
  }
}
