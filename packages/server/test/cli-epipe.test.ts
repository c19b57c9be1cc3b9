import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from './support/server.ts';

const BIN = fileURLToPath(new URL('../bin/latchkey.js', import.meta.url));

/** Runs `latchkey` with a stdout whose reader has already gone away, as `latchkey … | head -0` would. */
function withClosedStdout(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a command whose output reader went away (EPIPE) exits with its own code, no stack, and its work done', async () => {
  const database = await createTestDatabase('sqlite');
  try {
    const env = { DATABASE_URL: database.url, LATCHKEY_JWT_ALG: 'EdDSA' };
    const rotated = await withClosedStdout(['keys', 'rotate', '--now'], env);
    assert.deepEqual(rotated, { code: 0, stderr: '' });
    const listed = await withClosedStdout(['keys', 'list', '--json'], env);
    assert.deepEqual(listed, { code: 0, stderr: '' });
    // The rotation committed: a first key and the rotated-in one.
    const created = await withClosedStdout(['users', 'create', '--username', 'piped', '--password', 'Tr0ub4dor&3-horse'], env);
    assert.deepEqual(created, { code: 0, stderr: '' });
    const { execFileSync } = await import('node:child_process');
    const listing = JSON.parse(
      execFileSync(process.execPath, [BIN, 'keys', 'list', '--json'], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
      }).toString(),
    ) as unknown[];
    assert.equal(listing.length, 2);
    const users = execFileSync(process.execPath, [BIN, 'users', 'list'], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    }).toString();
    assert.match(users, /piped/);
  } finally {
    await database.drop();
  }
});
