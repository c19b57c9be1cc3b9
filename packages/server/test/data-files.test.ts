import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { startServer } from '../src/server.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

test('the default SQLite store: its folder is created 0700, the database and its -wal/-shm files 0600', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'latchkey-files-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const dir = join(root, 'data');
  const file = join(dir, 'latchkey.db');
  // No LATCHKEY_JWT_SECRET: the generated HS256 secret is kept in this file.
  const server = await startServer(
    parseConfig({
      PORT: '0',
      DATABASE_URL: `sqlite:${file}`,
      LOG_LEVEL: 'silent',
      LATCHKEY_ADMIN_USERNAME: 'root',
      LATCHKEY_ADMIN_PASSWORD: 'root-password-for-tests',
    }),
    { logger: false },
  );
  try {
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'root', password: 'root-password-for-tests' }),
    });
    assert.equal(login.status, 200);
    assert.equal(mode(dir), 0o700);
    for (const path of [file, `${file}-wal`, `${file}-shm`]) {
      assert.ok(existsSync(path), path);
      assert.equal(mode(path).toString(8), '600', path);
    }
  } finally {
    await server.close();
  }
});
