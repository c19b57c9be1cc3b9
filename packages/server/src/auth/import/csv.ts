/**
 * The CSV import format (RFC 4180, read by csv-parse): a header row naming at least `username` (and any of
 * `email`, `role`, `password_hash`), CRLF or LF, an optional BOM, quoted fields holding commas, doubled
 * quotes and line breaks.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { ImportFileError, type SourceRow, field } from './source.ts';

interface ParsedRecord {
  readonly record: string[];
  readonly info: { readonly lines: number };
}

function csvRecords(text: string): { line: number; fields: string[] }[] {
  let parsed: ParsedRecord[];
  try {
    parsed = parse(text, {
      bom: true,
      info: true,
      // A wrong column count is one refused row in the report, not a file that cannot be read.
      relax_column_count: true,
      // A quote inside an unquoted value (`o"brien`) is part of the value.
      relax_quotes: true,
      skip_empty_lines: true,
    }) as unknown as ParsedRecord[];
  } catch (error) {
    if (error instanceof CsvError) throw new ImportFileError(`not valid CSV: ${error.message}`);
    throw error;
  }
  // csv-parse counts lines up to the end of a record; the report names the line the record starts on.
  return parsed.map(({ record, info }) => ({
    line: info.lines - record.reduce((breaks, value) => breaks + (value.match(/\n/g)?.length ?? 0), 0),
    fields: record,
  }));
}

export function parseCsvRows(text: string): SourceRow[] {
  const [header, ...records] = csvRecords(text);
  if (header === undefined) throw new ImportFileError('the CSV file is empty');
  const names = header.fields.map((name) => name.trim().toLowerCase());
  if (!names.includes('username')) throw new ImportFileError('the CSV header must name a username column');
  return records.map(({ line, fields }) => {
    if (fields.length !== names.length) {
      const problem = `has ${fields.length} columns where the header has ${names.length}`;
      return { ref: `line ${line}`, username: undefined, email: undefined, role: undefined, passwordHash: undefined, problem };
    }
    const record: Record<string, string> = {};
    names.forEach((name, index) => (record[name] = fields[index] ?? ''));
    return {
      ref: `line ${line}`,
      username: record.username,
      email: record.email,
      role: record.role,
      passwordHash: field(record, 'password_hash', 'passwordhash'),
    };
  });
}
