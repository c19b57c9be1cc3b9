/**
 * Preparing Latchkey databases for a bench run: users and sessions are created through the server's own
 * `openCore` on the same database the server will use (same configuration, same signing secret), and the
 * filler sessions of the growth measurement with direct SQL in one transaction.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { hashJti } from '../../packages/server/src/auth/sessions.ts';
import { parseConfig } from '../../packages/server/src/config.ts';
import { type Core, openCore } from '../../packages/server/src/core.ts';
import type { User } from '../../packages/server/src/auth/users.ts';

export const SECRET = 'bench-secret-that-is-at-least-32-bytes-long!!';
export const PASSWORD = 'Tr0ub4dor&3-horse';

/** The environment `latchkey serve` gets in the bench: limits off (we measure work, not refusals), quiet logs. */
export function latchkeyEnv(databaseUrl: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    LATCHKEY_JWT_SECRET: SECRET,
    LATCHKEY_LIMITS: 'off',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export async function withCore<T>(env: Readonly<Record<string, string>>, run: (core: Core) => Promise<T>): Promise<T> {
  const core = await openCore(parseConfig({ ...env, PORT: '0' }), { background: false });
  try {
    return await run(core);
  } finally {
    await core.close();
  }
}

/** `count` users `<prefix>0…` with the same password, hashed once with the configured algorithm. */
export async function seedUsers(core: Core, prefix: string, count: number): Promise<User[]> {
  const passwordHash = await core.hasher.hash(PASSWORD);
  const users: User[] = [];
  for (let i = 0; i < count; i++) {
    users.push(
      await core.accounts.create({ username: `${prefix}${i}`, email: `${prefix}${i}@bench.example`, role: 'STANDARD', passwordHash }),
    );
  }
  return users;
}

/** Opens `count` sessions (as logins would); returns their token pairs. */
export async function seedSessions(core: Core, user: User, count: number): Promise<{ access: string; refresh: string }[]> {
  const out: { access: string; refresh: string }[] = [];
  for (let i = 0; i < count; i++) {
    const issued = await core.sessions.start(user, { ip: '127.0.0.1', userAgent: 'bench' });
    out.push({ access: issued.accessToken, refresh: issued.refreshToken });
  }
  return out;
}

/**
 * Adds `count` stored sessions, each holding one live refresh token, with direct SQL in one transaction (a
 * million rows in seconds, where a million logins would take hours of hashing). Rows are shaped as
 * `sessions.start` writes them.
 */
export async function seedFillerSessions(databaseUrl: string, userId: number, count: number, now = Date.now()): Promise<void> {
  const expires = now + 30 * 24 * 3600_000;
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(databaseUrl.slice('sqlite:'.length));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const insertSession = db.prepare(
      'insert into sessions (id, user_id, created_at, expires_at, last_used_at, revoked_at, revoke_reason, ip, user_agent, refresh_hash) values (?, ?, ?, ?, ?, null, null, ?, ?, ?)',
    );
    db.transaction(() => {
      const BATCH = 4096;
      for (let done = 0; done < count; done += BATCH) {
        const n = Math.min(BATCH, count - done);
        const ids = randomBytes(16 * n);
        const jtis = randomBytes(16 * n);
        for (let i = 0; i < n; i++) {
          const sid = ids.subarray(i * 16, i * 16 + 16).toString('base64url');
          insertSession.run(
            sid,
            userId,
            now,
            expires,
            now,
            '127.0.0.1',
            'bench',
            hashJti(jtis.subarray(i * 16, i * 16 + 16).toString('base64url')),
          );
        }
      }
    })();
    db.close();
    return;
  }
  // PostgreSQL: generated rows in one statement each, inside one transaction.
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(
      `insert into sessions (id, user_id, created_at, expires_at, last_used_at, revoked_at, revoke_reason, ip, user_agent, refresh_hash)
       select 'filler-' || g || '-' || md5(random()::text), $1, $2, $3, $2, null, null, '127.0.0.1', 'bench', md5(random()::text || g)
       from generate_series(1, $4) g`,
      [userId, now, expires, count],
    );
    await client.query('commit');
  } finally {
    await client.end();
  }
}

/** A database of its own: a SQLite file in a temporary folder, or a new PostgreSQL database. */
export async function createDatabase(engine: 'sqlite' | 'postgres', adminUrl?: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'));
    return { url: `sqlite:${join(dir, 'latchkey.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `latchkey_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
