/**
 * Better Auth, configured for the benchmark at its fastest honest setting: production mode, SQLite through
 * better-sqlite3 (WAL, like Latchkey), email and password sign-in, the bearer plugin (sessions checked with
 * `Authorization: Bearer`), the JWT plugin (`GET /api/auth/token`) without the per-request `set-auth-jwt`
 * header, the session cookie cache (a signed `session_data` cookie that skips the database), no rate
 * limit (ours is off too) and no logging. Served by Node's http server through Better Auth's own
 * `toNodeHandler`. Run as a child process by `bench/run.ts`; env: PORT, BA_DATABASE, BA_HASH (scrypt = its
 * default, or argon2id with Latchkey's parameters, to compare like with like).
 */
import { createServer } from 'node:http';
import * as argon2 from '@node-rs/argon2';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
import { bearer, jwt } from 'better-auth/plugins';

const port = Number(process.env.PORT ?? '0');
const file = process.env.BA_DATABASE ?? ':memory:';
const hash = process.env.BA_HASH === 'argon2id' ? 'argon2id' : 'scrypt';

const sqlite = new Database(file);
sqlite.pragma('journal_mode = WAL');
sqlite.pragma('synchronous = NORMAL');

// The same argon2id parameters as Latchkey (OWASP: m=19456 KiB, t=2, p=1), on libuv's thread pool.
const ARGON2 = { algorithm: 2 as argon2.Algorithm, memoryCost: 19456, timeCost: 2, parallelism: 1 };

const auth = betterAuth({
  baseURL: `http://127.0.0.1:${port}`,
  secret: 'bench-better-auth-secret-at-least-32-bytes-long',
  database: sqlite,
  emailAndPassword: {
    enabled: true,
    ...(hash === 'argon2id'
      ? {
          password: {
            hash: (password: string) => argon2.hash(password, ARGON2),
            verify: ({ hash: stored, password }: { hash: string; password: string }) => argon2.verify(stored, password),
          },
        }
      : {}),
  },
  session: { cookieCache: { enabled: true, maxAge: 5 * 60 } },
  plugins: [bearer(), jwt({ disableSettingJwtHeader: true })],
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { disabled: true },
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

const server = createServer(toNodeHandler(auth));
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
