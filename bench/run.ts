/**
 * `npm run bench`: measures Latchkey on this machine, in one run, against the floors the issue names —
 * the hash-bound login ceiling, a bare Fastify route, and Better Auth — and writes
 * `bench/results/<date>.json`, `docs/benchmarks.md` and `docs/benchmarks.svg` (both generated).
 *
 *   npm run bench                  the full run (3 windows of 8–60 s after a 3 s warm-up, per measurement)
 *   npm run bench -- --quick       the same measurements, shorter windows (1–20 s; minutes on a quiet machine,
 *                                  logins mostly "not measured" on a busy one); results in <date>-quick.json,
 *                                  printed, never written to docs/
 *
 * Every figure comes with the server's CPU per request (its CPU time across the window ÷ requests answered),
 * and the targets that are ratios to a floor are computed on it: on a shared machine req/s swings with
 * other work, CPU per request much less. A window grows until it holds 50 answers and 20 × its p99; a
 * figure with no such window reads "not measured", never 0.
 *   npm run bench -- --profile     also writes CPU profiles of every Latchkey server to bench/profiles/
 *   npm run bench -- --only a,b    only some sections (machine, hash, startup, floor, latchkey, verify, bcrypt,
 *                                  better-auth, growth, rss, postgres, workers), for tuning; `verify` is /verify
 *                                  alone (part of `latchkey`, without its hash ceiling, refreshes and logins)
 *   npm run bench -- --report FILE regenerates the docs from a results file
 *   npm run bench -- --only rss --rss-seconds 600   a longer RSS run (does growth level off?)
 *   npm run bench -- --max-window 60   let windows grow longer (a busy machine: logins' p99 of seconds)
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
import type { LoadSpec, RunResult } from './load.ts';
import { PASSWORD, createDatabase, latchkeyEnv, seedFillerSessions, seedSessions, seedUsers, withCore } from './lib/latchkey.ts';
import {
  type LoadResult,
  ROOT,
  type Server,
  StartFailed,
  load,
  loadAll,
  startBetterAuth,
  startFloor,
  startLatchkey,
} from './lib/processes.ts';
import { type BenchResults, type HashRate, type HashVariant, renderMarkdown, renderSvg } from './lib/report.ts';
import { machineCpuUs, poolThreads, processCpuUs, threads, treeCpuUs } from './lib/proc.ts';
import { type Measurement, median, summarize, target } from './lib/stats.ts';
import { HASH_NICE, HashPool } from '../packages/server/src/auth/hash-pool.ts';
import { RateLimited } from '../packages/server/src/errors.ts';
import { PasswordHasher } from '../packages/server/src/auth/passwords.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    report: { type: 'string' },
    'rss-seconds': { type: 'string' },
    'max-window': { type: 'string' },
  },
  strict: true,
});

const SECTIONS = [
  'machine',
  'hash',
  'startup',
  'floor',
  'latchkey',
  'verify',
  'bcrypt',
  'better-auth',
  'growth',
  'rss',
  'postgres',
  'workers',
] as const;
type Section = (typeof SECTIONS)[number];
const only = flags.only === undefined ? new Set<Section>(SECTIONS) : new Set(flags.only.split(',') as Section[]);
const wanted = (section: Section) => only.has(section);

const quick = flags.quick === true;
const rssSeconds = flags['rss-seconds'] === undefined ? undefined : Number(flags['rss-seconds']);
if (rssSeconds !== undefined && !(rssSeconds > 0)) throw new Error('--rss-seconds must be a positive number');
/** Fixed durations: the same for every measurement of a run. */
/**
 * Fixed durations: the same for every measurement of a run. `durationS` is the shortest window; a window
 * grows (to `maxWindowS`) until it holds 50 answers and 20 × its p99, so that slow requests (logins)
 * are measured too; a window that cannot is not counted, and a figure with no window counted reads
 * "not measured".
 */
const SETTINGS = quick
  ? {
      warmupS: 2,
      durationS: 1,
      maxWindowS: 20,
      reps: 3,
      connections: 16,
      rssSeconds: 3,
      growthLarge: 100_000,
      bcryptCost: 10,
      hashSeconds: 1,
      startups: 3,
    }
  : {
      warmupS: 3,
      durationS: 8,
      maxWindowS: 60,
      reps: 3,
      connections: 16,
      rssSeconds: 240,
      growthLarge: 1_000_000,
      bcryptCost: 12,
      hashSeconds: 3,
      startups: 7,
    };
if (rssSeconds !== undefined) SETTINGS.rssSeconds = rssSeconds;
if (flags['max-window'] !== undefined) {
  const seconds = Number(flags['max-window']);
  if (!(seconds >= SETTINGS.durationS)) throw new Error(`--max-window must be a number of seconds of at least ${SETTINGS.durationS}`);
  SETTINGS.maxWindowS = seconds;
}

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

/** A load on one server: its CPU time is read at every window edge, for CPU per request. */
function spec(server: Server, path: string, method: 'GET' | 'POST', extra: Partial<LoadSpec> = {}): LoadSpec {
  return {
    url: server.url + path,
    method,
    connections: SETTINGS.connections,
    warmupS: SETTINGS.warmupS,
    durationS: SETTINGS.durationS,
    maxWindowS: SETTINGS.maxWindowS,
    reps: SETTINGS.reps,
    cpuPid: server.pid,
    ...extra,
  };
}

function summarizeRuns(label: string, s: LoadSpec, runs: LoadResult['runs']): Measurement {
  const m = summarize(label, s.method, new URL(s.url).pathname, s.connections, runs, s.rate);
  log(
    `${label}: ${m.cpuUs.toFixed(0)} µs CPU/req, ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms; ` +
      `${m.validRuns} of ${m.runs.length} windows counted${m.failures ? `, ${m.failures} FAILED` : ''}`,
  );
  return m;
}

async function measure(label: string, s: LoadSpec): Promise<Measurement> {
  return summarizeRuns(label, s, (await load(s)).runs);
}

/** Several measurements one after another, from one load-generator process. */
async function measureAll<const T extends readonly (readonly [string, LoadSpec])[]>(
  items: T,
): Promise<{ -readonly [K in keyof T]: Measurement }> {
  const results = await loadAll(items.map(([, s]) => s));
  return items.map(([label, s], i) => summarizeRuns(label, s, results[i]!.runs)) as { -readonly [K in keyof T]: Measurement };
}

const json = { 'content-type': 'application/json' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const loginBodies = (prefix: string) =>
  Array.from({ length: LOGIN_USERS }, (_, i) => JSON.stringify({ username: `${prefix}${i}`, password: PASSWORD }));
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
  connections = SETTINGS.connections,
): Promise<{ idle: Measurement; storm: Measurement; verify: Measurement }> {
  // autocannon paces a set rate per whole second (a burst each second): windows of whole seconds, fixed
  // for the probe (it must stay inside the storm, whose windows are at least as long and grow as long as
  // logins need); at least 2 s, so that a p99 of up to 100 ms (a busy machine) still counts.
  const probeSeconds = Math.max(2, Math.ceil(SETTINGS.durationS));
  const verifyAtRate = (extra: Partial<LoadSpec> = {}) =>
    spec(server, '/api/auth/verify', 'GET', {
      headers: bearer(verifyToken),
      rate: VERIFY_RATE,
      connections: VERIFY_RATE_CONNECTIONS,
      durationS: probeSeconds,
      maxWindowS: probeSeconds,
      ...extra,
    });
  const idleSpec = verifyAtRate();
  const startAt = Date.now() + LOAD_START_MS + specSeconds(idleSpec) * 1000 + 500;
  const stormSpec = spec(server, '/api/auth/login', 'POST', {
    headers: json,
    bodies: loginBodies(prefix),
    startAt,
    tailS: 1,
    durationS: probeSeconds,
    connections,
  });
  const [verifyResults, stormResult] = await Promise.all([loadAll([idleSpec, verifyAtRate({ startAt })]), load(stormSpec)]);
  const idle = summarizeRuns(`${label}: /verify idle`, idleSpec, verifyResults[0]!.runs);
  return {
    idle,
    verify: summarizeRuns(`${label}: /verify during the storm`, verifyAtRate({ startAt }), verifyResults[1]!.runs),
    storm: summarizeRuns(`${label}: logins`, stormSpec, withoutProbe(stormResult.runs, verifyResults[1]!.runs, idle.cpuUs)),
  };
}

/**
 * The storm's windows with the CPU of the /verify probe that ran beside it taken out (the probe's answers
 * inside each window × the CPU per /verify measured idle just before), so that CPU per login is the
 * login's own. Answers of a probe window are spread evenly over it (a fixed rate).
 */
function withoutProbe(storm: readonly RunResult[], probe: readonly RunResult[], probeCpuUs: number): RunResult[] {
  return storm.map((w) => {
    if (w.serverCpuUs === null || !Number.isFinite(probeCpuUs)) return { ...w, cpuPerRequestUs: null };
    let probeAnswers = 0;
    for (const p of probe) {
      const overlap = Math.min(w.toEpochMs, p.toEpochMs) - Math.max(w.fromEpochMs, p.fromEpochMs);
      if (overlap > 0) probeAnswers += ((p.ok + p.non2xx) * overlap) / (p.toEpochMs - p.fromEpochMs);
    }
    const own = Math.max(0, w.serverCpuUs - probeAnswers * probeCpuUs);
    const answers = w.ok + w.non2xx;
    return { ...w, serverCpuUs: own, cpuPerRequestUs: answers === 0 ? null : own / answers };
  });
}

/** Enough refresh tokens for every connection, with spares for those cut off at the end of the run. */
const refreshSeeds = () => SETTINGS.connections * 3;

function refreshSpec(server: Server, seeds: readonly string[]): LoadSpec {
  return spec(server, '/api/auth/refresh', 'POST', { headers: json, chain: { field: 'refresh_token', from: 'refresh_token', seeds } });
}

/**
 * The hash-bound ceiling, measured the way logins are served: verifications of a hash made by the
 * server's own `PasswordHasher` (so with the configured parameters), through the same hashing pool the
 * server uses (`auth/hash-pool.ts`: the same thread count and the same lowered priority), with more
 * verifications in flight than it has threads so that it never idles. Which threads did the hashing,
 * and at what nice value, is read back from /proc rather than assumed. The rate of one verification at
 * a time is kept too, and the CPU per hash (this process's CPU ÷ hashes: the yardstick for the CPU a
 * login spends beyond its hash).
 */
async function hashRate(hasher: PasswordHasher, seconds: number): Promise<Omit<HashRate, 'params'>> {
  const stored = await hasher.hash(PASSWORD);
  if (!(await hasher.verify(stored, PASSWORD))) throw new Error('hash did not verify');
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000 || n < 5) {
    await hasher.verify(stored, PASSWORD);
    n++;
  }
  const perHashMs = (performance.now() - started) / n;
  return { perHashMs, perSecondOneCore: 1000 / perHashMs, ...(await fullPoolRate(() => hasher.verify(stored, PASSWORD), seconds)) };
}

/**
 * Verifications per second with more in flight than the pool has threads, so that it never idles. On a
 * machine busy enough that a hash takes seconds, the pool's queue bound (2 s of work) refuses some: those
 * wait a moment and go again, uncounted.
 */
async function fullPoolRate(
  verify: () => Promise<unknown>,
  seconds: number,
): Promise<Pick<HashRate, 'ceiling' | 'samples' | 'cpuPerHashUs' | 'threads' | 'threadNice'>> {
  // Every thread started before the clock does: the pool starts them on demand, and a start costs tens of ms of CPU.
  await Promise.all(Array.from({ length: 2 * CORES }, () => verify().catch((error: unknown) => void rethrowUnlessRefused(error))));
  const threadsBefore = new Map(threads('self').map((t) => [t.tid, t.cpuUs]));
  const cpuBefore = process.cpuUsage();
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 2 * CORES }, async () => {
      while (performance.now() - started < seconds * 1000 || done < 5) {
        try {
          await verify();
          done++;
        } catch (error) {
          rethrowUnlessRefused(error);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  // Which threads hashed (a share of CPU, not of wall time: on a busy machine nice-10 threads get little).
  const busy = poolThreads(
    threads('self').map((t) => ({ ...t, delta: t.cpuUs - (threadsBefore.get(t.tid) ?? 0) })),
    process.pid,
  );
  return {
    ceiling: done / elapsedS,
    samples: done,
    cpuPerHashUs: (cpu.user + cpu.system) / done,
    threads: busy.length,
    threadNice: [...new Set(busy.map((t) => t.nice))],
  };
}

function rethrowUnlessRefused(error: unknown): void {
  if (!(error instanceof RateLimited)) throw error;
}

/**
 * The argon2id ceiling of hashing pools with other thread counts and priorities than the server's
 * (issue 16: piscina's `niceIncrement`, or a plain thread count?), each measured like the server's, one
 * after another in this process. The nice value only orders threads within one autogroup (a session):
 * it decides between the event loop and the hashing threads, not against other processes.
 */
async function hashVariants(seconds: number): Promise<HashVariant[]> {
  const hasher = new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 12 });
  const stored = await hasher.hash(PASSWORD);
  const fewer = Math.max(1, CORES - 1);
  const variants: [number, number][] = [
    [CORES, HASH_NICE],
    [CORES, 0],
    [fewer, 0],
  ];
  const out: HashVariant[] = [];
  for (const [poolThreadCount, nice] of variants) {
    const pool = new HashPool({ threads: poolThreadCount, nice });
    try {
      const job = { op: 'argon2.verify', stored, password: PASSWORD } as const;
      await pool.run<boolean>(job);
      const rate = await fullPoolRate(() => pool.run<boolean>(job), seconds);
      out.push({ poolThreads: poolThreadCount, nice, ceiling: rate.ceiling, samples: rate.samples, cpuPerHashUs: rate.cpuPerHashUs });
      log(
        `argon2id pool of ${poolThreadCount} at nice ${nice}: ceiling ${rate.ceiling.toFixed(1)}/s, ${rate.cpuPerHashUs.toFixed(0)} µs CPU/hash`,
      );
    } finally {
      await pool.close();
    }
  }
  return out;
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
    // The targets are computed again, so that a results file whose measurements were re-taken reads true.
    const saved = JSON.parse(readFileSync(flags.report, 'utf8')) as BenchResults;
    saved.targets = targets(saved);
    writeDocs(saved, relative(ROOT, resolve(flags.report)));
    return;
  }
  log(
    `${quick ? 'quick' : 'full'} run on ${CORES} cores; ${SETTINGS.reps} × ${SETTINGS.durationS} s after ${SETTINGS.warmupS} s of warm-up per measurement`,
  );
  const results: BenchResults = {
    version: 1,
    date: startedAt.toISOString(),
    quick,
    settings: {
      ...SETTINGS,
      verifyRate: VERIFY_RATE,
      verifyRateConnections: VERIFY_RATE_CONNECTIONS,
      growthSmall: GROWTH_SMALL,
      rssTargetLogins: RSS_LOGINS,
    },
    machine: machine(),
    measurements: {},
    hash: {},
    notes: [],
    targets: [],
  };
  const m = results.measurements;
  // The machine's CPU over the whole run, and ours (this process, and every child once waited for): the
  // difference is what other processes took while we measured.
  const machineAtStart = machineCpuUs();
  const oursAtStart = processCpuUs(process.pid, true);
  let loadMax = loadavg()[0]!;
  const loadTimer = setInterval(() => (loadMax = Math.max(loadMax, loadavg()[0]!)), 5000);
  loadTimer.unref();

  // Hash-bound ceilings first, while nothing else runs.
  if (wanted('hash') || wanted('latchkey') || wanted('bcrypt')) {
    results.hash.argon2id = {
      ...(await hashRate(new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 12 }), SETTINGS.hashSeconds)),
      params: 'm=19456 KiB, t=2, p=1',
    };
    results.hash.bcrypt = {
      ...(await hashRate(new PasswordHasher({ algorithm: 'bcrypt', bcryptCost: SETTINGS.bcryptCost }), SETTINGS.hashSeconds)),
      params: `cost ${SETTINGS.bcryptCost}`,
    };
    const { argon2id: a, bcrypt: b } = results.hash;
    log(
      `argon2id ${a.perHashMs.toFixed(1)} ms/hash, ceiling ${a.ceiling.toFixed(0)}/s on ${a.threads} threads at nice ${a.threadNice.join('/')}, ${a.cpuPerHashUs.toFixed(0)} µs CPU/hash; ` +
        `bcrypt ${b.perHashMs.toFixed(1)} ms/hash, ceiling ${b.ceiling.toFixed(1)}/s`,
    );
  }
  if (wanted('hash')) results.hashVariants = await hashVariants(SETTINGS.hashSeconds);

  if (wanted('startup')) await startup(results);

  if (wanted('floor')) {
    const floor = await startFloor();
    try {
      m.floor = await measure('bare Fastify (floor)', spec(floor, '/', 'GET'));
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
        return {
          userId: user!.id,
          access: tokens[0]!.access,
          refresh: tokens.slice(0, seeds).map((t) => t.refresh),
          later: tokens.slice(seeds).map((t) => t.refresh),
        };
      });
      // 1,000 sessions stored for the main measurements: they are the small end of the growth test too.
      await seedFillerSessions(db.url, userId, GROWTH_SMALL - 2 * seeds);
      results.sessionsStored = { small: countSessions(db.url) };
      const server = await startLatchkey({ env, nodeArgs });
      try {
        m.verify = await measure('Latchkey /verify', spec(server, '/api/auth/verify', 'GET', { headers: bearer(access) }));
        // Bytes the database grows by per rotation: pages in use before and after every rotation of the load.
        const bytesBefore = sqliteBytesInUse(db.url);
        const refreshLoad = refreshSpec(server, refresh);
        const refreshResult = await load(refreshLoad);
        m.refresh = summarizeRuns('Latchkey refresh (SQLite)', refreshLoad, refreshResult.runs);
        const grown = sqliteBytesInUse(db.url) - bytesBefore;
        results.storage = {
          rotations: refreshResult.answered,
          bytesGrown: grown,
          bytesPerRotation: refreshResult.answered > 0 ? grown / refreshResult.answered : null,
        };
        log(`storage: ${grown} bytes for ${refreshResult.answered} rotations`);
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

  if (wanted('verify') && !wanted('latchkey')) m.verify = await verifyAlone();

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
        // The server queues at most MAX_QUEUE_WAIT_MS (2 s) of hashing per pool and answers 429 past it (issue 10):
        // 16 logins from one address at ~220 ms a hash sit at that edge, and on a shared machine past it. Four
        // per core keep both hashing threads busy with a queue well inside the bound, which is what a ceiling needs.
        const { idle, storm, verify } = await loginStorm(server, 'login', access, 'bcrypt', 4 * CORES);
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
  clearInterval(loadTimer);
  results.machine.loadAverageMax = Math.round(Math.max(loadMax, loadavg()[0]!) * 100) / 100;
  const machineAtEnd = machineCpuUs();
  const oursAtEnd = processCpuUs(process.pid, true);
  if (machineAtStart && machineAtEnd && oursAtStart !== undefined && oursAtEnd !== undefined) {
    const seconds = (Date.now() - startedAt.getTime()) / 1000;
    const busy = machineAtEnd.busyUs - machineAtStart.busyUs;
    const ours = oursAtEnd - oursAtStart;
    results.machine.busyCores = Math.round((busy / 1e6 / seconds) * 100) / 100;
    results.machine.otherCores = Math.round((Math.max(0, busy - ours) / 1e6 / seconds) * 100) / 100;
  }
  results.targets = targets(results);
  results.finishedAt = new Date().toISOString();
  results.elapsedS = Math.round((Date.now() - startedAt.getTime()) / 100) / 10;

  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `${startedAt.toISOString().slice(0, 10)}${quick ? '-quick' : ''}${flags.only === undefined ? '' : '-partial'}.json`,
  );
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
        const users = Array.from({ length: LOGIN_USERS }, (_, i) => ({
          email: `login${i}@bench.example`,
          password: PASSWORD,
          name: `login${i}`,
        }));
        await Promise.all(
          users.map(async (user) => {
            const res = await fetch(`${server.url}/api/auth/sign-up/email`, {
              method: 'POST',
              headers: { ...json, origin: server.url },
              body: JSON.stringify(user),
            });
            const text = await res.text();
            if (res.status !== 200) throw new Error(`Better Auth sign-up failed: ${res.status} ${text.slice(0, 200)}`);
          }),
        );
        const bodies = users.map((u) => JSON.stringify({ email: u.email, password: u.password }));
        const label = `Better Auth (${hash === 'scrypt' ? 'its default scrypt' : 'argon2id like ours'})`;
        const signInSpec = spec(server, '/api/auth/sign-in/email', 'POST', { headers: json, bodies });
        if (hash !== 'scrypt') {
          m.baSignInArgon2 = await measure(`${label}: sign-in`, signInSpec);
          continue;
        }
        // One signed-in session for the checks: its bearer token, and its cookies for the cookie-cache path.
        // fetch marks requests as cross-origin (sec-fetch-mode); Better Auth then wants a trusted Origin.
        const res = await fetch(`${server.url}/api/auth/sign-in/email`, {
          method: 'POST',
          headers: { ...json, origin: server.url },
          body: bodies[0]!,
        });
        await res.arrayBuffer();
        const token = res.headers.get('set-auth-token');
        const cookies = res.headers
          .getSetCookie()
          .map((c) => c.split(';')[0])
          .join('; ');
        if (token === null) throw new Error('Better Auth sign-in returned no set-auth-token');
        [m.baSignIn, m.baSessionBearer, m.baSessionCookie, m.baToken] = await measureAll([
          [`${label}: sign-in`, signInSpec],
          ['Better Auth get-session (bearer)', spec(server, '/api/auth/get-session', 'GET', { headers: bearer(token) })],
          ['Better Auth get-session (cookie cache)', spec(server, '/api/auth/get-session', 'GET', { headers: { cookie: cookies } })],
          ['Better Auth /token (JWT plugin)', spec(server, '/api/auth/token', 'GET', { headers: bearer(token) })],
        ]);
      } finally {
        await server.stop();
      }
    } finally {
      await db.drop();
    }
  }
}

/** `/verify` on its own server (`--only floor,verify`): the request path, without what `latchkey` measures beside it. */
async function verifyAlone(): Promise<Measurement> {
  const db = await createDatabase('sqlite');
  try {
    const env = latchkeyEnv(db.url);
    const access = await withCore(env, async (core) => {
      const [user] = await seedUsers(core, 'verify', 1);
      return (await seedSessions(core, user!, 1))[0]!.access;
    });
    const server = await startLatchkey({ env, nodeArgs });
    try {
      return await measure('Latchkey /verify', spec(server, '/api/auth/verify', 'GET', { headers: bearer(access) }));
    } finally {
      await server.stop();
    }
  } finally {
    await db.drop();
  }
}

/**
 * Start-up: from spawning `latchkey serve` to its first `/healthz` 200, on a database already migrated
 * and holding an admin (a restart, the common case), beside a bare Fastify start (same Node, same tsx
 * loader). Several starts one after another; the medians are compared.
 */
async function startup(results: BenchResults): Promise<void> {
  const db = await createDatabase('sqlite');
  try {
    const env = latchkeyEnv(db.url);
    await withCore(env, (core) => seedUsers(core, 'startup', 1));
    const latchkeyMs: number[] = [];
    const floorMs: number[] = [];
    for (let i = 0; i < SETTINGS.startups; i++) {
      const server = await startLatchkey({ env });
      latchkeyMs.push(server.startMs);
      await server.stop();
      const floor = await startFloor();
      floorMs.push(floor.startMs);
      await floor.stop();
    }
    results.startup = { latchkeyMs, floorMs };
    log(
      `start-up: latchkey serve ${median(latchkeyMs).toFixed(0)} ms, bare Fastify ${median(floorMs).toFixed(0)} ms (medians of ${SETTINGS.startups})`,
    );
  } finally {
    await db.drop();
  }
}

/** Bytes of a SQLite database in pages that hold data (free pages left out), as a reader sees it, WAL included. */
function sqliteBytesInUse(databaseUrl: string): number {
  const db = new Database(databaseUrl.slice('sqlite:'.length), { readonly: true });
  try {
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * (db.pragma('page_size', { simple: true }) as number);
  } finally {
    db.close();
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
async function growthLarge(
  results: BenchResults,
  env: Record<string, string>,
  dbUrl: string,
  userId: number,
  access: string,
  tokens: readonly string[],
): Promise<void> {
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
      [`/verify, ${size} sessions stored`, spec(server, '/api/auth/verify', 'GET', { headers: bearer(access) })],
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
        [
          `/verify, ${GROWTH_SMALL.toLocaleString('en')} sessions stored`,
          spec(server, '/api/auth/verify', 'GET', { headers: bearer(access) }),
        ],
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
        for (const until = Date.now() + settleMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100)))
          lowest = Math.min(lowest, server.rss());
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
 * `latchkey serve --workers N` on SQLite against one process, both started here on the same data with the
 * same settings and measured in one load process, so the ratio is not moved by what the machine did
 * between sections. Rate limits are ON (the default; the refresh budget raised so that the load is never
 * refused): a worker then counts refresh's per-address limit the way a deployment does.
 */
async function workers(results: BenchResults): Promise<void> {
  const m = results.measurements;
  const db = await createDatabase('sqlite');
  try {
    const env = latchkeyEnv(db.url, { LATCHKEY_LIMITS: 'on', LATCHKEY_LIMIT_REFRESH_PER_ADDRESS: '100000000/1m' });
    const { access, refresh } = await withCore(env, async (core) => {
      const [user] = await seedUsers(core, 'verify', 1);
      const tokens = await seedSessions(core, user!, refreshSeeds() * 2);
      return { access: tokens[0]!.access, refresh: tokens.map((t) => t.refresh) };
    });
    // Each server spends its own refresh tokens: a chain spent by the first cannot be rotated by the second.
    const half = refresh.length / 2;
    for (const count of [1, CORES]) {
      const seeds = count === 1 ? refresh.slice(0, half) : refresh.slice(half);
      let server: Server;
      try {
        server = await startLatchkey({ env, nodeArgs, serveArgs: count === 1 ? [] : ['--workers', String(count)] });
      } catch (error) {
        if (!(error instanceof StartFailed)) throw error;
        results.notes.push(
          `--workers: not measured; \`latchkey serve --workers ${count}\` does not start on this commit (${error.message}).`,
        );
        log(`workers: unavailable (${error.message})`);
        return;
      }
      // /healthz answers once the first worker listens; the others may still be loading their modules,
      // and that start-up CPU must not be charged to the requests measured.
      await settled(server);
      const name = count === 1 ? 'workersBaseline' : `workers${count}`;
      const label = count === 1 ? 'one process, limits on' : `--workers ${count}, limits on`;
      try {
        [m[`${name}Verify`], m[`${name}Refresh`]] = await measureAll([
          [`/verify, ${label}`, spec(server, '/api/auth/verify', 'GET', { headers: bearer(access) })],
          [`refresh, ${label}`, refreshSpec(server, seeds)],
        ]);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await db.drop();
  }
}

/** Waits (at most 60 s) until a server and its workers use under 5 % of a core over a second. */
async function settled(server: Server): Promise<void> {
  const deadline = Date.now() + 60_000;
  let before = treeCpuUs(server.pid) ?? 0;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = treeCpuUs(server.pid) ?? 0;
    if (now - before < 50_000) return;
    before = now;
  }
  log('workers: the server did not settle within 60 s; measuring anyway');
}

/**
 * The issue's targets. Where a target is a ratio to a floor it is computed on CPU per request (what a busy
 * machine moves least); req/s stays in the detail as the secondary figure. A figure whose windows did
 * not count (too few answers, or too short for their p99) is "not measured", never 0.
 */
function targets(r: BenchResults): BenchResults['targets'] {
  const m = r.measurements;
  /** A figure, or undefined when absent or not measured (NaN in the run, null in a results file). */
  const v = (x: number | null | undefined): number | undefined => (x === null || x === undefined || !Number.isFinite(x) ? undefined : x);
  const ratio = (x: number | null | undefined, y: number | null | undefined) => {
    const a = v(x);
    const b = v(y);
    return a === undefined || b === undefined || b === 0 ? null : a / b;
  };
  const f0 = (x: number | null | undefined) => (v(x) === undefined ? 'n/a' : v(x)!.toFixed(0));
  const f2 = (x: number | null | undefined) => (v(x) === undefined ? 'n/a' : v(x)!.toFixed(2));
  const mib = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x / 2 ** 20).toFixed(0)} MiB`);
  const cpuVsRps = (ours: Measurement | undefined, floor: Measurement | undefined, floorName: string) =>
    `${f0(ours?.cpuUs)} vs ${f0(floor?.cpuUs)} µs CPU per request; req/s ${f0(ours?.rps)} vs ${f0(floor?.rps)} ${floorName} (${f2(ratio(ours?.rps, floor?.rps))}×)`;
  const a = r.hash.argon2id;
  const b = r.hash.bcrypt;
  const hashHow = (h: HashRate | undefined, f: (x: number | undefined) => string) =>
    h === undefined
      ? 'n/a'
      : `${f(h.ceiling)}/s through the server's hashing pool (${h.threads} threads at nice ${h.threadNice.join('/')}); one at a time ${f(h.perSecondOneCore)}/s`;
  const baCheck = [m.baSessionBearer, m.baSessionCookie]
    .filter((x): x is Measurement => v(x?.cpuUs) !== undefined)
    .sort((x, y) => x.cpuUs - y.cpuUs)[0];
  const pgOverSqlite = ratio(m.pgRefresh?.cpuUs, m.refresh?.cpuUs);
  const startupRatio = r.startup === undefined ? null : ratio(median(r.startup.latchkeyMs), median(r.startup.floorMs));
  return [
    target(
      'verify-floor',
      "/verify CPU per request ÷ bare Fastify's",
      '<=',
      1.4,
      ratio(m.verify?.cpuUs, m.floor?.cpuUs),
      '×',
      cpuVsRps(m.verify, m.floor, 'bare Fastify'),
    ),
    target(
      'refresh-floor',
      "refresh CPU per request ÷ bare Fastify's (SQLite)",
      '<=',
      4,
      ratio(m.refresh?.cpuUs, m.floor?.cpuUs),
      '×',
      cpuVsRps(m.refresh, m.floor, 'bare Fastify'),
    ),
    target(
      'refresh-postgres',
      "refresh on PostgreSQL: Node CPU per request ÷ SQLite's",
      '<=',
      1.5,
      pgOverSqlite,
      '×',
      `${cpuVsRps(m.pgRefresh, m.refresh, 'SQLite')}; database CPU and round trips per rotation are not measured by the bench`,
    ),
    target(
      'login-cpu-argon2id',
      'argon2id login CPU ÷ its hash CPU (main-thread overhead)',
      '<=',
      1.1,
      ratio(m.loginArgon2?.cpuUs, m.loginArgon2?.poolCpuUs),
      '×',
      `${f0(m.loginArgon2?.cpuUs)} µs of server CPU per login (the /verify probe beside it taken out) vs ${f0(m.loginArgon2?.poolCpuUs)} µs on its hashing threads, ` +
        `in the same windows (${f0(a?.cpuPerHashUs)} µs per hash in the ceiling measurement)`,
    ),
    target(
      'login-argon2id',
      'argon2id logins/s ÷ hash-bound ceiling',
      '>=',
      0.9,
      ratio(m.loginArgon2?.rps, a?.ceiling),
      '×',
      `${f0(m.loginArgon2?.rps)} logins/s vs ${hashHow(a, (x) => f0(x))}`,
    ),
    target(
      'login-bcrypt',
      `bcrypt logins/s ÷ hash-bound ceiling (${b?.params ?? ''})`,
      '>=',
      0.9,
      ratio(m.loginBcrypt?.rps, b?.ceiling),
      '×',
      `${f2(m.loginBcrypt?.rps)} logins/s vs ${hashHow(b, (x) => f2(x))}`,
    ),
    target(
      'refresh-better-auth',
      "Better Auth /token CPU per request ÷ our refresh's",
      '>=',
      10,
      ratio(m.baToken?.cpuUs, m.refresh?.cpuUs),
      '×',
      `${f0(m.baToken?.cpuUs)} vs ${f0(m.refresh?.cpuUs)} µs; req/s ours ÷ theirs ${f2(ratio(m.refresh?.rps, m.baToken?.rps))}× (${f0(m.refresh?.rps)} vs ${f0(m.baToken?.rps)})`,
    ),
    target(
      'verify-better-auth',
      "Better Auth session check CPU per request (its cheaper path) ÷ our /verify's",
      '>=',
      20,
      ratio(baCheck?.cpuUs, m.verify?.cpuUs),
      '×',
      `${f0(baCheck?.cpuUs)} µs (${baCheck?.label ?? 'n/a'}) vs ${f0(m.verify?.cpuUs)} µs; req/s ours ÷ theirs ${f2(ratio(m.verify?.rps, baCheck?.rps))}×`,
    ),
    target(
      'verify-storm-argon2id',
      '/verify p99 during the argon2id login storm ÷ idle p99',
      '<=',
      3,
      ratio(m.verifyStormArgon2?.p99, m.verifyIdleArgon2?.p99),
      '×',
      `${f2(m.verifyStormArgon2?.p99)} ms vs ${f2(m.verifyIdleArgon2?.p99)} ms at ${VERIFY_RATE} req/s`,
    ),
    target(
      'verify-storm-bcrypt',
      '/verify p99 during the bcrypt login storm ÷ idle p99',
      '<=',
      3,
      ratio(m.verifyStormBcrypt?.p99, m.verifyIdleBcrypt?.p99),
      '×',
      `${f2(m.verifyStormBcrypt?.p99)} ms vs ${f2(m.verifyIdleBcrypt?.p99)} ms at ${VERIFY_RATE} req/s`,
    ),
    target(
      'growth-refresh',
      `refresh p50 at ${r.settings.growthLarge.toLocaleString('en')} sessions ÷ at 1,000`,
      '<=',
      1.3,
      ratio(m.growthRefreshLarge?.p50, m.growthRefreshSmall?.p50),
      '×',
      `${f2(m.growthRefreshLarge?.p50)} ms vs ${f2(m.growthRefreshSmall?.p50)} ms; CPU per request ${f0(m.growthRefreshLarge?.cpuUs)} vs ${f0(m.growthRefreshSmall?.cpuUs)} µs`,
    ),
    target(
      'rss-idle',
      'RSS of an idle server',
      '<=',
      100,
      r.rss === undefined ? null : r.rss.atStartBytes / 2 ** 20,
      'MiB',
      r.rss === undefined ? 'n/a' : `${mib(r.rss.atStartBytes)} (lowest reading over a settle after start)`,
    ),
    target(
      'rss',
      `RSS after ${RSS_LOGINS.toLocaleString('en')} logins`,
      '<=',
      200,
      r.rss === undefined ? null : r.rss.extrapolatedBytes / 2 ** 20,
      'MiB',
      r.rss === undefined
        ? 'n/a'
        : `${mib(r.rss.endBytes)} after ${r.rss.logins} real argon2id logins (settled), + ${r.rss.growthBytesPerLogin.toFixed(0)} B/login carried on (fit ${r.rss.slopeBytesPerLogin.toFixed(0)} ± ${r.rss.slopeErrorBytesPerLogin?.toFixed(0) ?? '?'}); peak ${mib(r.rss.peakBytes)}`,
    ),
    target(
      'storage',
      'bytes stored per rotation (SQLite)',
      '<=',
      100,
      r.storage?.bytesPerRotation ?? null,
      'B',
      r.storage === undefined
        ? 'n/a'
        : `${r.storage.bytesGrown} bytes of pages in use for ${r.storage.rotations} rotations; pruning of spent rows is not exercised by the bench`,
    ),
    target(
      'startup',
      '`latchkey serve` start to first /healthz 200 ÷ a bare Fastify start',
      '<=',
      3,
      startupRatio,
      '×',
      r.startup === undefined
        ? 'n/a'
        : `${f0(median(r.startup.latchkeyMs))} ms vs ${f0(median(r.startup.floorMs))} ms (medians of ${r.startup.latchkeyMs.length} starts each)`,
    ),
    target(
      'workers-refresh',
      `refresh CPU per request, \`--workers ${CORES}\` (all processes) ÷ one process (SQLite, limits on)`,
      '<=',
      1,
      ratio(m[`workers${CORES}Refresh`]?.cpuUs, m.workersBaselineRefresh?.cpuUs),
      '×',
      `${f0(m[`workers${CORES}Refresh`]?.cpuUs)} vs ${f0(m.workersBaselineRefresh?.cpuUs)} µs CPU per request; req/s ${f0(m[`workers${CORES}Refresh`]?.rps)} vs ${f0(m.workersBaselineRefresh?.rps)}`,
    ),
  ];
}

await main();
