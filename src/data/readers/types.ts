// What every reader yields: raw records with the line (or Parquet row) they came from.

export type FileFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet' | 'text';
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

