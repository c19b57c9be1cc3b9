/**
 * `npm run bench`: measures Latchkey on this machine, in one run, against the floors the issue names —
 * the hash-bound login ceiling, a bare Fastify route, and Better Auth — and writes
 * `bench/results/<date>.json`, `docs/benchmarks.md` and `docs/benchmarks.svg` (both generated).
 *
 *   npm run bench                  the full run (3 × 8 s windows after a 3 s warm-up, per measurement)
 *   npm run bench -- --quick       the same measurements, shorter (under 90 s); results in <date>-quick.json
 *   npm run bench -- --profile     also writes CPU profiles of every Latchkey server to bench/profiles/
 *   npm run bench -- --only a,b    only some sections (machine, hash, floor, latchkey, bcrypt, better-auth,
 *                                  growth, rss, postgres, workers), for tuning
 *   npm run bench -- --report FILE regenerates the docs from a results file
 *   npm run bench -- --only rss --rss-seconds 600   a longer RSS run (does growth level off?)
 *
 * PostgreSQL is measured too when TEST_DATABASE_URL is set. Servers and load generators are child
 * processes on loopback addresses; every one is stopped when the run ends.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { cpus, freemem, loadavg, release, totalmem, type as osType } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadSpec } from './load.ts';
import { PASSWORD, createDatabase, latchkeyEnv, seedFillerSessions, seedSessions, seedUsers, withCore } from './lib/latchkey.ts';
import { type LoadResult, ROOT, type Server, StartFailed, load, loadAll, startBetterAuth, startFloor, startLatchkey } from './lib/processes.ts';
import { type BenchResults, renderMarkdown, renderSvg } from './lib/report.ts';
import { type Measurement, summarize, target } from './lib/stats.ts';
import * as argon2 from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';
import { PasswordHasher } from '../packages/server/src/auth/passwords.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    report: { type: 'string' },
    'rss-seconds': { type: 'string' },
  },
  strict: true,
});

const SECTIONS = ['machine', 'hash', 'floor', 'latchkey', 'bcrypt', 'better-auth', 'growth', 'rss', 'postgres', 'workers'] as const;
type Section = (typeof SECTIONS)[number];
const only = flags.only === undefined ? new Set<Section>(SECTIONS) : new Set(flags.only.split(',') as Section[]);
const wanted = (section: Section) => only.has(section);

const quick = flags.quick === true;
const rssSeconds = flags['rss-seconds'] === undefined ? undefined : Number(flags['rss-seconds']);
if (rssSeconds !== undefined && !(rssSeconds > 0)) throw new Error('--rss-seconds must be a positive number');
/** Fixed durations: the same for every measurement of a run. */
const SETTINGS = quick
  ? { warmupS: 0.4, durationS: 0.6, reps: 3, connections: 16, rssSeconds: 3, growthLarge: 100_000, bcryptCost: 10, hashSeconds: 0.5 }
  : { warmupS: 3, durationS: 8, reps: 3, connections: 16, rssSeconds: 60, growthLarge: 1_000_000, bcryptCost: 12, hashSeconds: 3 };
if (rssSeconds !== undefined) SETTINGS.rssSeconds = rssSeconds;

/** /verify latency during a login storm and idle: the same fixed rate both times, so only the storm differs. */
const VERIFY_RATE = 500;
const VERIFY_RATE_CONNECTIONS = 4;
const GROWTH_SMALL = 1000;
const RSS_LOGINS = 100_000;
const LOGIN_USERS = SETTINGS.connections;

const CORES = cpus().length;
const startedAt = new Date();
const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)}s] ${line}\n`);
const profileDir = join(ROOT, 'bench', 'profiles');
const nodeArgs = flags.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];

function spec(url: string, method: 'GET' | 'POST', extra: Partial<LoadSpec> = {}): LoadSpec {
  return {
    url,
    method,
    connections: SETTINGS.connections,
    warmupS: SETTINGS.warmupS,
    durationS: SETTINGS.durationS,
    reps: SETTINGS.reps,
    ...extra,
  };
}

function summarizeRuns(label: string, s: LoadSpec, runs: LoadResult['runs']): Measurement {
  const m = summarize(label, s.method, new URL(s.url).pathname, s.connections, runs, s.rate);
  log(`${label}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms${m.failures ? `, ${m.failures} FAILED` : ''}`);
  return m;
}

async function measure(label: string, s: LoadSpec): Promise<Measurement> {
  return summarizeRuns(label, s, (await load(s)).runs);
}

/** Several measurements one after another, from one load-generator process. */
async function measureAll<const T extends readonly (readonly [string, LoadSpec])[]>(items: T): Promise<{ -readonly [K in keyof T]: Measurement }> {
  const results = await loadAll(items.map(([, s]) => s));
  return items.map(([label, s], i) => summarizeRuns(label, s, results[i]!.runs)) as { -readonly [K in keyof T]: Measurement };
}

const json = { 'content-type': 'application/json' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const loginBodies = (prefix: string) => Array.from({ length: LOGIN_USERS }, (_, i) => JSON.stringify({ username: `${prefix}${i}`, password: PASSWORD }));
/** How long a load process takes to start, with room to spare: concurrent loads start at a set instant after it. */
const LOAD_START_MS = 2000;
const specSeconds = (s: LoadSpec) => s.warmupS + s.reps * s.durationS + (s.tailS ?? 0);

/**
 * /verify at a fixed rate with nothing else running, then the same side by side with a login storm
 * (both load generators start the storm part at the same instant). Returns the three measurements.
 */
async function loginStorm(
  server: Server,
  prefix: string,
  verifyToken: string,
  label: string,
): Promise<{ idle: Measurement; storm: Measurement; verify: Measurement }> {
  // autocannon paces a set rate per whole second (a burst each second): windows of whole seconds.
  const seconds = { durationS: Math.ceil(SETTINGS.durationS) };
  const verifyAtRate = (extra: Partial<LoadSpec> = {}) =>
    spec(`${server.url}/api/auth/verify`, 'GET', { headers: bearer(verifyToken), rate: VERIFY_RATE, connections: VERIFY_RATE_CONNECTIONS, ...seconds, ...extra });
  const idleSpec = verifyAtRate();
  const startAt = Date.now() + LOAD_START_MS + specSeconds(idleSpec) * 1000 + 500;
  const [verifyResults, stormResult] = await Promise.all([
    loadAll([idleSpec, verifyAtRate({ startAt })]),
    load(spec(`${server.url}/api/auth/login`, 'POST', { headers: json, bodies: loginBodies(prefix), startAt, tailS: 1, ...seconds })),
  ]);
  return {
    idle: summarizeRuns(`${label}: /verify idle`, idleSpec, verifyResults[0]!.runs),
    verify: summarizeRuns(`${label}: /verify during the storm`, verifyAtRate({ startAt }), verifyResults[1]!.runs),
    storm: summarizeRuns(`${label}: logins`, spec(`${server.url}/api/auth/login`, 'POST', { startAt, ...seconds }), stormResult.runs),
  };
}

/** Enough refresh tokens for every connection, with spares for those cut off at the end of the run. */
const refreshSeeds = () => SETTINGS.connections * 3;

function refreshSpec(server: Server, seeds: readonly string[]): LoadSpec {
  return spec(`${server.url}/api/auth/refresh`, 'POST', { headers: json, chain: { field: 'refresh_token', from: 'refresh_token', seeds } });
}

/**
 * Single-hash rate of the configured algorithm: verifications one at a time, before any server starts,
 * of a hash made by the server's own `PasswordHasher` (so the parameters are the configured ones),
 * verified by the same @node-rs function at normal priority (the server's hashing threads run at nice
 * 10: on a busy machine that would flatter the ceiling). The ceiling is cores × that rate. The rate with
 * one verification per core at once is kept too: below the ceiling, it shows what the machine gives
 * right now (memory bandwidth shared by the hashes, other work on the machine).
 */
async function hashRate(
  hasher: PasswordHasher,
  seconds: number,
): Promise<{ perHashMs: number; perSecondOneCore: number; ceiling: number; samples: number; parallelPerSecond: number }> {
  const stored = await hasher.hash(PASSWORD);
  const verify = stored.startsWith('$argon2') ? () => argon2.verify(stored, PASSWORD) : () => bcrypt.verify(PASSWORD, stored);
  if (!(await verify())) throw new Error('hash did not verify');
  let n = 0;
  let started = performance.now();
  while (performance.now() - started < seconds * 1000 || n < 5) {
    await verify();
    n++;
  }
  const perHashMs = (performance.now() - started) / n;
  const perSecondOneCore = 1000 / perHashMs;
  let done = 0;
  started = performance.now();
  await Promise.all(
    Array.from({ length: CORES }, async () => {
      while (performance.now() - started < seconds * 1000) {
        await verify();
        done++;
      }
    }),
  );
  const parallelPerSecond = (done * 1000) / (performance.now() - started);
  return { perHashMs, perSecondOneCore, ceiling: perSecondOneCore * CORES, samples: n, parallelPerSecond };
}

function machine(): BenchResults['machine'] {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout.
  }
  return {
    cores: CORES,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    os: `${osType()} ${release()}`,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
    loadAverageAtEnd: [],
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    commit,
  };
}

async function main(): Promise<void> {
  if (flags.report !== undefined) {
    writeDocs(JSON.parse(readFileSync(flags.report, 'utf8')) as BenchResults, relative(ROOT, resolve(flags.report)));
    return;
  }
  log(`${quick ? 'quick' : 'full'} run on ${CORES} cores; ${SETTINGS.reps} × ${SETTINGS.durationS} s after ${SETTINGS.warmupS} s of warm-up per measurement`);
  const results: BenchResults = {
    version: 1,
    date: startedAt.toISOString(),
    quick,
    settings: { ...SETTINGS, verifyRate: VERIFY_RATE, verifyRateConnections: VERIFY_RATE_CONNECTIONS, growthSmall: GROWTH_SMALL, rssTargetLogins: RSS_LOGINS },
    machine: machine(),
    measurements: {},
    hash: {},
    notes: [],
    targets: [],
  };
  const m = results.measurements;

  // Hash-bound ceilings first, while nothing else runs.
  if (wanted('hash') || wanted('latchkey') || wanted('bcrypt')) {
    results.hash.argon2id = { ...(await hashRate(new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 12 }), SETTINGS.hashSeconds)), params: 'm=19456 KiB, t=2, p=1' };
    results.hash.bcrypt = {
      ...(await hashRate(new PasswordHasher({ algorithm: 'bcrypt', bcryptCost: SETTINGS.bcryptCost }), SETTINGS.hashSeconds)),
      params: `cost ${SETTINGS.bcryptCost}`,
    };
    const { argon2id: a, bcrypt: b } = results.hash;
    log(`argon2id ${a.perHashMs.toFixed(1)} ms/hash (${a.parallelPerSecond.toFixed(0)}/s on ${CORES} at once), bcrypt ${b.perHashMs.toFixed(1)} ms/hash (${b.parallelPerSecond.toFixed(1)}/s)`);
  }

  if (wanted('floor')) {
    const floor = await startFloor();
    try {
      m.floor = await measure('bare Fastify (floor)', spec(`${floor.url}/`, 'GET'));
    } finally {
      await floor.stop();
    }
  }

  if (wanted('latchkey')) {
    const db = await createDatabase('sqlite');
    try {
      const env = latchkeyEnv(db.url);
      const seeds = refreshSeeds();
      const { userId, access, refresh, later } = await withCore(env, async (core) => {
        await seedUsers(core, 'login', LOGIN_USERS);
        const [user] = await seedUsers(core, 'verify', 1);
        const tokens = await seedSessions(core, user!, 2 * seeds);
        return { userId: user!.id, access: tokens[0]!.access, refresh: tokens.slice(0, seeds).map((t) => t.refresh), later: tokens.slice(seeds).map((t) => t.refresh) };
      });
      // 1,000 sessions stored for the main measurements: they are the small end of the growth test too.
      await seedFillerSessions(db.url, userId, GROWTH_SMALL - 2 * seeds);
      results.sessionsStored = { small: countSessions(db.url) };
      const server = await startLatchkey({ env, nodeArgs });
      try {
        [m.verify, m.refresh] = await measureAll([
          ['Latchkey /verify', spec(`${server.url}/api/auth/verify`, 'GET', { headers: bearer(access) })],
          ['Latchkey refresh (SQLite)', refreshSpec(server, refresh)],
        ]);
        const { idle, storm, verify } = await loginStorm(server, 'login', access, 'argon2id');
        m.verifyIdleArgon2 = idle;
        m.loginArgon2 = storm;
        m.verifyStormArgon2 = verify;
      } finally {
        await server.stop();
      }
      if (wanted('growth')) {
        m.growthRefreshSmall = m.refresh;
        m.growthVerifySmall = m.verify;
        await growthLarge(results, env, db.url, userId, access, later);
      }
    } finally {
      await db.drop();
    }
  }

  if (wanted('bcrypt')) {
    const db = await createDatabase('sqlite');
    try {
      const env = latchkeyEnv(db.url, { LATCHKEY_PASSWORD_HASH: 'bcrypt', LATCHKEY_BCRYPT_COST: String(SETTINGS.bcryptCost) });
      const access = await withCore(env, async (core) => {
        await seedUsers(core, 'login', LOGIN_USERS);
        const [user] = await seedUsers(core, 'verify', 1);
        return (await seedSessions(core, user!, 1))[0]!.access;
      });
      const server = await startLatchkey({ env, nodeArgs });
      try {
        const { idle, storm, verify } = await loginStorm(server, 'login', access, 'bcrypt');
        m.verifyIdleBcrypt = idle;
        m.loginBcrypt = storm;
        m.verifyStormBcrypt = verify;
      } finally {
        await server.stop();
      }
    } finally {
      await db.drop();
    }
  }

  if (wanted('better-auth')) await betterAuth(results);
  if (wanted('growth') && !wanted('latchkey')) await growth(results);
  if (wanted('rss')) await rss(results);
  if (wanted('postgres')) await postgres(results);
  if (wanted('workers')) await workers(results);

  results.machine.loadAverageAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);
  results.targets = targets(results);
  results.finishedAt = new Date().toISOString();
  results.elapsedS = Math.round((Date.now() - startedAt.getTime()) / 100) / 10;

  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().slice(0, 10)}${quick ? '-quick' : ''}${flags.only === undefined ? '' : '-partial'}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  log(`results: ${file}`);
  // The docs show a complete full run only; quick and partial runs print their table instead.
  if (!quick && flags.only === undefined) writeDocs(results, relative(ROOT, file));
  else process.stdout.write(renderMarkdown(results, 'benchmarks.svg', relative(ROOT, file)));
  log(`done in ${results.elapsedS} s`);
}

function writeDocs(results: BenchResults, resultsFile: string): void {
  const docs = join(ROOT, 'docs');
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'benchmarks.svg'), renderSvg(results));
  writeFileSync(join(docs, 'benchmarks.md'), renderMarkdown(results, 'benchmarks.svg', resultsFile));
  log('docs/benchmarks.md and docs/benchmarks.svg written');
}

/** Better Auth at its fastest honest setting (see bench/servers/better-auth.ts), beside our numbers. */
async function betterAuth(results: BenchResults): Promise<void> {
  const m = results.measurements;
  const variants: ('scrypt' | 'argon2id')[] = quick ? ['scrypt'] : ['scrypt', 'argon2id'];
  for (const hash of variants) {
    const db = await createDatabase('sqlite');
    try {
      const server = await startBetterAuth({ BA_DATABASE: db.url.slice('sqlite:'.length), BA_HASH: hash });
      try {
        const users = Array.from({ length: LOGIN_USERS }, (_, i) => ({ email: `login${i}@bench.example`, password: PASSWORD, name: `login${i}` }));
        await Promise.all(
          users.map(async (user) => {
            const res = await fetch(`${server.url}/api/auth/sign-up/email`, { method: 'POST', headers: { ...json, origin: server.url }, body: JSON.stringify(user) });
            const text = await res.text();
            if (res.status !== 200) throw new Error(`Better Auth sign-up failed: ${res.status} ${text.slice(0, 200)}`);
          }),
        );
        const bodies = users.map((u) => JSON.stringify({ email: u.email, password: u.password }));
        const label = `Better Auth (${hash === 'scrypt' ? 'its default scrypt' : 'argon2id like ours'})`;
        const signInSpec = spec(`${server.url}/api/auth/sign-in/email`, 'POST', { headers: json, bodies });
        if (hash !== 'scrypt') {
          m.baSignInArgon2 = await measure(`${label}: sign-in`, signInSpec);
          continue;
        }
        // One signed-in session for the checks: its bearer token, and its cookies for the cookie-cache path.
        // fetch marks requests as cross-origin (sec-fetch-mode); Better Auth then wants a trusted Origin.
        const res = await fetch(`${server.url}/api/auth/sign-in/email`, { method: 'POST', headers: { ...json, origin: server.url }, body: bodies[0]! });
        await res.arrayBuffer();
        const token = res.headers.get('set-auth-token');
        const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
        if (token === null) throw new Error('Better Auth sign-in returned no set-auth-token');
        [m.baSignIn, m.baSessionBearer, m.baSessionCookie, m.baToken] = await measureAll([
          [`${label}: sign-in`, signInSpec],
          ['Better Auth get-session (bearer)', spec(`${server.url}/api/auth/get-session`, 'GET', { headers: bearer(token) })],
          ['Better Auth get-session (cookie cache)', spec(`${server.url}/api/auth/get-session`, 'GET', { headers: { cookie: cookies } })],
          ['Better Auth /token (JWT plugin)', spec(`${server.url}/api/auth/token`, 'GET', { headers: bearer(token) })],
        ]);
      } finally {
        await server.stop();
      }
    } finally {
      await db.drop();
    }
  }
}

function countSessions(databaseUrl: string): number {
  const db = new Database(databaseUrl.slice('sqlite:'.length), { readonly: true });
  try {
    return (db.prepare('select count(*) as n from sessions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Fills the database up to the large size, restarts the server on it, and measures refresh and /verify. */
async function growthLarge(results: BenchResults, env: Record<string, string>, dbUrl: string, userId: number, access: string, tokens: readonly string[]): Promise<void> {
  const m = results.measurements;
  const started = performance.now();
  const missing = SETTINGS.growthLarge - countSessions(dbUrl);
  await seedFillerSessions(dbUrl, userId, missing);
  results.growthSeedSeconds = Math.round(performance.now() - started) / 1000;
  results.sessionsStored = { ...results.sessionsStored, large: countSessions(dbUrl) };
  log(`seeded ${missing} sessions in ${results.growthSeedSeconds} s`);
  const server = await startLatchkey({ env, nodeArgs });
  try {
    const size = SETTINGS.growthLarge.toLocaleString('en');
    [m.growthRefreshLarge, m.growthVerifyLarge] = await measureAll([
      [`refresh, ${size} sessions stored`, refreshSpec(server, tokens)],
      [`/verify, ${size} sessions stored`, spec(`${server.url}/api/auth/verify`, 'GET', { headers: bearer(access) })],
    ]);
  } finally {
    await server.stop();
  }
}

/** The growth test on its own (`--only growth`): 1 k sessions stored, then 1 M (100 k in a quick run). */
async function growth(results: BenchResults): Promise<void> {
  const m = results.measurements;
  const db = await createDatabase('sqlite');
  try {
    const env = latchkeyEnv(db.url);
    const seeds = refreshSeeds();
    const { userId, access, refresh } = await withCore(env, async (core) => {
      const [user] = await seedUsers(core, 'growth', 1);
      const tokens = await seedSessions(core, user!, 2 * seeds);
      return { userId: user!.id, access: tokens[0]!.access, refresh: tokens.map((t) => t.refresh) };
    });
    await seedFillerSessions(db.url, userId, GROWTH_SMALL - 2 * seeds);
    results.sessionsStored = { small: countSessions(db.url) };
    const server = await startLatchkey({ env, nodeArgs });
    try {
      [m.growthRefreshSmall, m.growthVerifySmall] = await measureAll([
        [`refresh, ${GROWTH_SMALL.toLocaleString('en')} sessions stored`, refreshSpec(server, refresh.slice(0, seeds))],
        [`/verify, ${GROWTH_SMALL.toLocaleString('en')} sessions stored`, spec(`${server.url}/api/auth/verify`, 'GET', { headers: bearer(access) })],
      ]);
    } finally {
      await server.stop();
    }
    await growthLarge(results, env, db.url, userId, access, refresh.slice(seeds));
  } finally {
    await db.drop();
  }
}

/**
 * RSS after 100 k logins. 100 k honest argon2id logins take ~15 minutes of both cores, so the run keeps
 * the real hash and extrapolates: several login storms of equal length, each followed by a settle (no
 * hash in flight) in which the lowest RSS is read; the least-squares growth of those readings per login
 * is carried on to 100 k logins (never below zero). The peak during the storms is kept too: every hash
 * in flight holds its 19 MiB.
 */
async function rss(results: BenchResults): Promise<void> {
  const db = await createDatabase('sqlite');
  try {
    const env = latchkeyEnv(db.url);
    await withCore(env, (core) => seedUsers(core, 'login', LOGIN_USERS));
    const server = await startLatchkey({ env, nodeArgs });
    try {
      const phases = quick ? 1 : Math.max(6, Math.round(SETTINGS.rssSeconds / 15));
      const settleMs = quick ? 700 : 2000;
      const settled = async (): Promise<number> => {
        let lowest = Number.POSITIVE_INFINITY;
        for (const until = Date.now() + settleMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) lowest = Math.min(lowest, server.rss());
        return lowest;
      };
      const atStart = await settled();
      const samples: { t: number; rss: number }[] = [];
      const started = performance.now();
      const timer = setInterval(() => samples.push({ t: (performance.now() - started) / 1000, rss: server.rss() }), 250);
      const readings: { logins: number; rss: number }[] = [];
      let logins = 0;
      for (let i = 0; i < phases; i++) {
        const { runs } = await load({
          url: `${server.url}/api/auth/login`,
          method: 'POST',
          headers: json,
          bodies: loginBodies('login'),
          connections: SETTINGS.connections,
          warmupS: 0,
          durationS: SETTINGS.rssSeconds / phases,
          reps: 1,
        });
        logins += runs.reduce((n, r) => n + r.ok + r.non2xx, 0);
        readings.push({ logins, rss: await settled() });
      }
      clearInterval(timer);
      // Least squares of settled RSS over logins done, with the slope's standard error. Growth is carried
      // on only when it stands clear of the noise (slope > 2 standard errors); a quick run has too few
      // readings to tell, and reports the last reading.
      const n = readings.length;
      const mx = readings.reduce((a, r) => a + r.logins, 0) / n;
      const my = readings.reduce((a, r) => a + r.rss, 0) / n;
      const den = readings.reduce((a, r) => a + (r.logins - mx) ** 2, 0);
      const slope = den === 0 ? 0 : readings.reduce((a, r) => a + (r.logins - mx) * (r.rss - my), 0) / den;
      const residual = readings.reduce((a, r) => a + (r.rss - (my + slope * (r.logins - mx))) ** 2, 0);
      const slopeError = n > 2 && den > 0 ? Math.sqrt(residual / (n - 2) / den) : Number.POSITIVE_INFINITY;
      const growth = slope > 2 * slopeError ? slope : 0;
      const end = readings[n - 1]!.rss;
      const peak = Math.max(end, ...samples.map((s) => s.rss));
      const extrapolated = end + growth * Math.max(0, RSS_LOGINS - logins);
      results.rss = {
        atStartBytes: atStart,
        readings,
        peakBytes: peak,
        endBytes: end,
        logins,
        slopeBytesPerLogin: slope,
        slopeErrorBytesPerLogin: Number.isFinite(slopeError) ? slopeError : null,
        growthBytesPerLogin: growth,
        extrapolatedBytes: extrapolated,
        samples,
      };
      log(
        `RSS: ${(atStart / 2 ** 20).toFixed(0)} MiB at start, settled ${readings.map((r) => `${(r.rss / 2 ** 20).toFixed(0)}@${r.logins}`).join(' ')} ` +
          `(peak ${(peak / 2 ** 20).toFixed(0)}), ${slope.toFixed(0)} ± ${Number.isFinite(slopeError) ? slopeError.toFixed(0) : '?'} B/login, ~${(extrapolated / 2 ** 20).toFixed(0)} MiB at ${RSS_LOGINS}`,
      );
    } finally {
      await server.stop();
    }
  } finally {
    await db.drop();
  }
}

async function postgres(results: BenchResults): Promise<void> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    results.notes.push('PostgreSQL: not measured (TEST_DATABASE_URL is not set).');
    return;
  }
  const m = results.measurements;
  const db = await createDatabase('postgres', adminUrl);
  try {
    const env = latchkeyEnv(db.url);
    const { access, refresh } = await withCore(env, async (core) => {
      await seedUsers(core, 'login', LOGIN_USERS);
      const [user] = await seedUsers(core, 'verify', 1);
      const tokens = await seedSessions(core, user!, refreshSeeds());
      return { access: tokens[0]!.access, refresh: tokens.map((t) => t.refresh) };
    });
    const server = await startLatchkey({ env, nodeArgs });
    try {
      m.pgRefresh = await measure('Latchkey refresh (PostgreSQL)', refreshSpec(server, refresh));
      // A quick run stays under 90 s: the login storm on PostgreSQL is left to the full run.
      if (!quick) m.pgLogin = (await loginStorm(server, 'login', access, 'argon2id on PostgreSQL')).storm;
    } finally {
      await server.stop();
    }
  } finally {
    await db.drop();
  }
}

/**
 * `latchkey serve --workers N`: /verify and refresh with one worker per core. One worker is the plain
 * `serve` measured above (`--workers 1` runs no cluster), so it is not measured twice.
 */
async function workers(results: BenchResults): Promise<void> {
  const m = results.measurements;
  for (const count of [CORES]) {
    const db = await createDatabase('sqlite');
    try {
      const env = latchkeyEnv(db.url);
      const { access, refresh } = await withCore(env, async (core) => {
        const [user] = await seedUsers(core, 'verify', 1);
        const tokens = await seedSessions(core, user!, refreshSeeds());
        return { access: tokens[0]!.access, refresh: tokens.map((t) => t.refresh) };
      });
      let server: Server;
      try {
        server = await startLatchkey({ env, nodeArgs, serveArgs: ['--workers', String(count)] });
      } catch (error) {
        if (!(error instanceof StartFailed)) throw error;
        results.notes.push(`--workers: not measured; \`latchkey serve --workers ${count}\` does not start on this commit (${error.message}).`);
        log(`workers: unavailable (${error.message})`);
        return;
      }
      try {
        [m[`workers${count}Verify`], m[`workers${count}Refresh`]] = await measureAll([
          [`/verify, --workers ${count}`, spec(`${server.url}/api/auth/verify`, 'GET', { headers: bearer(access) })],
          [`refresh, --workers ${count}`, refreshSpec(server, refresh)],
        ]);
      } finally {
        await server.stop();
      }
    } finally {
      await db.drop();
    }
  }
}

function targets(r: BenchResults): BenchResults['targets'] {
  const m = r.measurements;
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? null : a / b);
  const f0 = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(0));
  const f2 = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2));
  const mib = (v: number | undefined) => (v === undefined ? 'n/a' : `${(v / 2 ** 20).toFixed(0)} MiB`);
  const a = r.hash.argon2id;
  const b = r.hash.bcrypt;
  const out = [
    target('login-argon2id', 'logins/s ÷ hash-bound ceiling (argon2id)', '>=', 0.9, ratio(m.loginArgon2?.rps, a?.ceiling), '×',
      `${f0(m.loginArgon2?.rps)} logins/s vs ${f0(a?.ceiling)}/s = ${CORES} cores × ${f0(a?.perSecondOneCore)} hashes/s (${f0(a?.parallelPerSecond)}/s measured with ${CORES} at once)`),
    target('login-bcrypt', `logins/s ÷ hash-bound ceiling (bcrypt ${b?.params ?? ''})`, '>=', 0.9, ratio(m.loginBcrypt?.rps, b?.ceiling), '×',
      `${f2(m.loginBcrypt?.rps)} logins/s vs ${f2(b?.ceiling)}/s = ${CORES} cores × ${f2(b?.perSecondOneCore)} hashes/s (${f2(b?.parallelPerSecond)}/s measured with ${CORES} at once)`),
    target('verify-storm-argon2id', '/verify p99 during the argon2id login storm ÷ idle p99', '<=', 3, ratio(m.verifyStormArgon2?.p99, m.verifyIdleArgon2?.p99), '×',
      `${f2(m.verifyStormArgon2?.p99)} ms vs ${f2(m.verifyIdleArgon2?.p99)} ms at ${VERIFY_RATE} req/s`),
    target('verify-storm-bcrypt', '/verify p99 during the bcrypt login storm ÷ idle p99', '<=', 3, ratio(m.verifyStormBcrypt?.p99, m.verifyIdleBcrypt?.p99), '×',
      `${f2(m.verifyStormBcrypt?.p99)} ms vs ${f2(m.verifyIdleBcrypt?.p99)} ms at ${VERIFY_RATE} req/s`),
    target('verify-floor', '/verify req/s ÷ bare-Fastify req/s', '>=', 0.8, ratio(m.verify?.rps, m.floor?.rps), '×', `${f0(m.verify?.rps)} vs ${f0(m.floor?.rps)} req/s`),
    target('refresh-floor', 'refresh req/s ÷ bare-Fastify req/s (SQLite)', '>=', 0.3, ratio(m.refresh?.rps, m.floor?.rps), '×', `${f0(m.refresh?.rps)} vs ${f0(m.floor?.rps)} req/s`),
    target('verify-better-auth', 'our /verify ÷ Better Auth session check (its faster path)', '>=', 20,
      ratio(m.verify?.rps, Math.max(m.baSessionBearer?.rps ?? 0, m.baSessionCookie?.rps ?? 0) || undefined), '×',
      `${f0(m.verify?.rps)} vs ${f0(m.baSessionBearer?.rps)} (bearer) / ${f0(m.baSessionCookie?.rps)} (cookie cache) req/s`),
    target('refresh-better-auth', "our refresh ÷ Better Auth's /token endpoint", '>=', 10, ratio(m.refresh?.rps, m.baToken?.rps), '×', `${f0(m.refresh?.rps)} vs ${f0(m.baToken?.rps)} req/s`),
    target('growth-refresh', `refresh p50 at ${r.settings.growthLarge.toLocaleString('en')} sessions ÷ at 1,000`, '<=', 1.3, ratio(m.growthRefreshLarge?.p50, m.growthRefreshSmall?.p50), '×',
      `${f2(m.growthRefreshLarge?.p50)} ms vs ${f2(m.growthRefreshSmall?.p50)} ms`),
    target('rss', `RSS after ${RSS_LOGINS.toLocaleString('en')} logins`, '<=', 200, r.rss === undefined ? null : r.rss.extrapolatedBytes / 2 ** 20, 'MiB',
      r.rss === undefined
        ? 'n/a'
        : `${mib(r.rss.endBytes)} after ${r.rss.logins} real argon2id logins (settled), + ${r.rss.growthBytesPerLogin.toFixed(0)} B/login carried on (fit ${r.rss.slopeBytesPerLogin.toFixed(0)} ± ${r.rss.slopeErrorBytesPerLogin?.toFixed(0) ?? '?'}); peak ${mib(r.rss.peakBytes)}`),
  ];
  return out;
}

await main();
