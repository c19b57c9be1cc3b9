/**
 * The SQLite database holds password hashes, refresh-token hashes and (unless LATCHKEY_JWT_SECRET or
 * LATCHKEY_KEY_ENCRYPTION_SECRET is set) the generated signing secret in clear: no other local user may read it.
 *
 * @example
 *   createPrivateFile('./data/latchkey.db'); // ./data is 0700 if created here, the file 0600 if created here
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Creates the folders leading to `file` as 0700 and the file itself as 0600, when they do not exist yet.
 * SQLite gives the `-wal` and `-shm` files it creates the same permissions as the database file. Existing
 * folders (the working directory, /var/lib) and files keep the permissions their owner chose.
 */
export function createPrivateFile(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // 'a' creates without truncating; the mode applies only when the file is created here.
  closeSync(openSync(file, 'a', 0o600));
}
