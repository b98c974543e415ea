// What every reader yields: raw records with the line (or Parquet row) they came from.

/**
 * A data file's container format: 'jsonl' (JSON Lines, one value per line), 'json' (an array of
 * records, or an object holding one), 'csv' / 'tsv' (RFC 4180 with a header row, read by
 * papaparse), 'parquet' (Apache Parquet, read by hyparquet), 'text' (one example per non-blank line).
 */
export type FileFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet' | 'text';
/** Every FileFormat, in the order the CLI's --file-format help and the studio's menu list them. */
export const FILE_FORMATS: readonly FileFormat[] = ['jsonl', 'json', 'csv', 'tsv', 'parquet', 'text'];

/** One record of the file: a value, or why it could not be read. `line` is 1-based (Parquet: the row number). */
export interface RawRecord {
  line: number;
  value?: unknown;
  error?: string;
}

/** "file:12" for text formats, "file: row 12" for Parquet. */
export function locate(file: string, format: FileFormat, line: number): string {
  return format === 'parquet' ? `${file}: row ${line}` : `${file}:${line}`;
}

