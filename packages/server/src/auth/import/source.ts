/** What every import reader produces: the rows of one file, before any check. */

export type ImportFormat = 'json' | 'csv' | 'vega';

/** The file cannot be read in the given (or guessed) format. */
export class ImportFileError extends Error {
  override readonly name = 'ImportFileError';
}

/** One record of the source, before any check: values as the file holds them. */
export interface SourceRow {
  /** Where the row is in the file, for the report: `row 3`, `line 4`, `id 7`. */
  readonly ref: string;
  readonly username: unknown;
  readonly email: unknown;
  readonly role: unknown;
  readonly passwordHash: unknown;
  /** Why the row cannot be read at all (a CSV record with the wrong number of columns). */
  readonly problem?: string;
}

export interface ImportSource {
  readonly format: ImportFormat;
  readonly rows: readonly SourceRow[];
}

/** The first of `names` that the record has. */
export function field(record: Record<string, unknown>, ...names: string[]): unknown {
  for (const name of names) if (record[name] !== undefined) return record[name];
  return undefined;
}
