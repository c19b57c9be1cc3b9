/** The JSON import format: an array of user objects, or `{"users": [...]}`. */
import { ImportFileError, type SourceRow, field } from './source.ts';

export function parseJsonRows(text: string): SourceRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ImportFileError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { users?: unknown } | null)?.users;
  if (!Array.isArray(list)) throw new ImportFileError('JSON must be an array of users or {"users": [...]}');
  return list.map((item: unknown, index) => {
    const record = typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
    return {
      ref: `row ${index + 1}`,
      username: field(record, 'username'),
      email: field(record, 'email'),
      role: field(record, 'role'),
      passwordHash: field(record, 'password_hash', 'passwordHash'),
    };
  });
}
