/**
 * Turns a results file into `docs/benchmarks.md` (tables) and `docs/benchmarks.svg` (the chart, drawn
 * here without any chart library). Everything in both files comes from the results, except the
 * hand-written analysis in `bench/analysis.md`, which is included as it stands.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.ts';
import { type Measurement, type Target, median } from './stats.ts';

export interface HashRate {
  /** One verification at a time through the server's hashing pool. */
  readonly perHashMs: number;
  readonly perSecondOneCore: number;
  /** Verifications per second with the pool kept full: the hash-bound ceiling of logins. */
  readonly ceiling: number;
  readonly samples: number;
  /** CPU per verification with the pool full (all threads of the process), µs. */
  readonly cpuPerHashUs: number;
  /** Threads seen hashing, and their nice values (read from /proc). */
  readonly threads: number;
  readonly threadNice: readonly number[];
  readonly params: string;
}

/** The argon2id ceiling of a hashing pool other than the server's (or the same, measured beside them). */
export interface HashVariant {
  readonly poolThreads: number;
  readonly nice: number;
  readonly ceiling: number;
  readonly samples: number;
  readonly cpuPerHashUs: number;
}

export interface RssResult {
  readonly atStartBytes: number;
  /** Settled RSS (lowest while no hash is in flight) after each storm, by logins done so far. */
  readonly readings: readonly { logins: number; rss: number }[];
  readonly peakBytes: number;
  readonly endBytes: number;
  readonly logins: number;
  /** Least-squares growth of the settled readings, and its standard error (null with two readings). */
  readonly slopeBytesPerLogin: number;
  readonly slopeErrorBytesPerLogin: number | null;
  /** The growth carried on to the target: the slope when it exceeds two standard errors, else 0. */
  readonly growthBytesPerLogin: number;
  readonly extrapolatedBytes: number;
  readonly samples: readonly { t: number; rss: number }[];
}

export interface BenchResults {
  readonly version: 1;
  readonly date: string;
  finishedAt?: string;
  elapsedS?: number;
  readonly quick: boolean;
  readonly settings: {
    readonly warmupS: number;
    readonly durationS: number;
    readonly reps: number;
    readonly connections: number;
    readonly rssSeconds: number;
    readonly growthLarge: number;
    readonly growthSmall: number;
    readonly bcryptCost: number;
    readonly hashSeconds: number;
    readonly maxWindowS?: number;
    readonly startups?: number;
    readonly verifyRate: number;
    readonly verifyRateConnections: number;
    readonly rssTargetLogins: number;
  };
  readonly machine: {
    readonly cores: number;
    readonly cpuModel: string;
    readonly node: string;
    readonly os: string;
    readonly memoryGiB: number;
    readonly freeMemoryGiB: number;
    readonly loadAverageAtStart: readonly number[];
    loadAverageAtEnd: readonly number[];
    /** The highest 1-minute load average seen during the run (read every 5 s). */
    loadAverageMax?: number;
    /** Busy CPU of the whole machine during the run, and the part other processes (not the bench's) took, in cores. */
    busyCores?: number;
    otherCores?: number;
    readonly uvThreadpoolSize: number;
    readonly commit: string;
  };
  readonly hash: { argon2id?: HashRate; bcrypt?: HashRate };
  /** The argon2id ceiling by thread count and nice value (`--only hash`). */
  hashVariants?: readonly HashVariant[];
  readonly measurements: Record<string, Measurement>;
  growthSeedSeconds?: number;
  /** Sessions in the database during the growth measurements (the storms add some to the large one). */
  sessionsStored?: { small?: number; large?: number };
  rss?: RssResult;
  /** SQLite growth over the refresh measurement (every rotation of the load, warm-up included). */
  storage?: { rotations: number; bytesGrown: number; bytesPerRotation: number | null };
  /** Start-up times, spawn to first ready answer, ms. */
  startup?: { latchkeyMs: readonly number[]; floorMs: readonly number[] };
  readonly notes: string[];
  targets: Target[];
}

const fmt = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function verdict(t: Target): string {
  return t.met === null ? 'not measured' : t.met ? '**met**' : '**missed**';
}

function figure(t: Target): string {
  if (t.value === null) return 'n/a';
  return t.unit === '×' ? `${fmt(t.value, 2)}×` : `${fmt(t.value, 0)} ${t.unit}`;
}

/** The measurements in the order the report lists them. */
const ORDER: readonly string[] = [
  'floor',
  'verify',
  'refresh',
  'verifyIdleArgon2',
  'loginArgon2',
  'verifyStormArgon2',
  'verifyIdleBcrypt',
  'loginBcrypt',
  'verifyStormBcrypt',
  'baSignIn',
  'baSignInArgon2',
  'baSessionBearer',
  'baSessionCookie',
  'baToken',
  'growthRefreshSmall',
  'growthVerifySmall',
  'growthRefreshLarge',
  'growthVerifyLarge',
  'pgRefresh',
  'pgLogin',
];

function orderedMeasurements(r: BenchResults): [string, Measurement][] {
  const keys = Object.keys(r.measurements).sort((a, b) => {
    const ia = ORDER.indexOf(a);
    const ib = ORDER.indexOf(b);
    return (ia === -1 ? ORDER.length : ia) - (ib === -1 ? ORDER.length : ib) || a.localeCompare(b);
  });
  // The small end of the growth test is the main measurement itself: list it once.
  const seen = new Set<string>();
  return keys
    .map((k) => [k, r.measurements[k]!] as [string, Measurement])
    .filter(([, m]) => !seen.has(m.label) && seen.add(m.label) !== undefined);
}

export function renderMarkdown(r: BenchResults, svgName: string, resultsFile: string): string {
  const s = r.settings;
  const mc = r.machine;
  const lines: string[] = [];
  const p = (line = '') => lines.push(line);
  p('# Benchmarks');
  p();
  p(`<!-- Generated by \`npm run bench\` (bench/run.ts) from ${resultsFile}. Do not edit by hand: re-run it. -->`);
  p();
  p(
    `Measured on ${r.date.slice(0, 10)} by \`npm run bench\`${r.quick ? ' **--quick** (short windows: a check that the bench runs, not figures to quote)' : ''}, in one run on one machine: ${mc.cores} cores (${mc.cpuModel}), ` +
      `${mc.memoryGiB} GiB, Node ${mc.node}, ${mc.os}, commit \`${mc.commit}\`. The run took ${fmt(r.elapsedS, 0)} s.`,
  );
  p();
  p(
    `**How busy the machine was:** load average ${mc.loadAverageAtStart.join(' / ')} at the start, ${mc.loadAverageAtEnd.join(' / ')} at the end` +
      `${mc.loadAverageMax === undefined ? '' : `, ${mc.loadAverageMax} at the highest (1 min)`}` +
      `${mc.otherCores === undefined ? '' : `; other processes (not the bench's servers, load generators or itself) took ${fmt(mc.otherCores, 2)} of the ${mc.cores} cores on average during the run (the whole machine was busy ${fmt(mc.busyCores, 2)} cores, from /proc/stat)`}. ` +
      'Per measurement, the "other CPU" column gives the same for its windows. req/s moves with this; CPU per request moves much less, which is why the targets are computed on it.',
  );
  p();
  p(
    `Every measurement: autocannon in a separate process, ${s.connections} connections unless noted, ${s.warmupS} s of warm-up, then ` +
      `${s.reps} windows of at least ${s.durationS} s${s.maxWindowS === undefined ? '' : `, each grown (up to ${s.maxWindowS} s) until it holds at least 50 answers and 20 × its own p99`}; ` +
      `a window short of that is not counted, and a figure with no window counted is "not measured". Figures are the medians of the counted windows. ` +
      "**CPU per request** is the server's CPU time (user + system, every thread and worker process, read from /proc at each window's edges) ÷ the requests it answered in the window. " +
      'Servers run as child processes (`latchkey serve`, exactly as deployed) on 127.0.0.1; the load generator shares the same cores.',
  );
  p();
  p('## Targets');
  p();
  p('| measure | target | measured | result | from |');
  p('|---|---|---|---|---|');
  for (const t of r.targets) {
    p(
      `| ${t.measure} | ${t.op === '>=' ? '≥' : '≤'} ${t.threshold}${t.unit === '×' ? '' : ` ${t.unit}`} | ${figure(t)} | ${verdict(t)} | ${t.detail} |`,
    );
  }
  p();
  p(`![Throughput and targets](${svgName})`);
  p();
  p('## Measurements');
  p();
  p(
    '| measurement | request | connections | CPU µs per request | req/s | p50 ms | p99 ms | windows counted | other CPU (cores) | non-2xx / errors | CPU µs / req/s per window |',
  );
  p('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [, m] of orderedMeasurements(r)) {
    const perWindow = m.runs
      .map(
        (x) => `${fmt(x.cpuPerRequestUs ?? undefined, 0)} / ${fmt(x.rps, x.rps < 100 ? 1 : 0)}${x.valid === false ? ' (not counted)' : ''}`,
      )
      .join(', ');
    p(
      `| ${m.label} | \`${m.method} ${m.path}\` | ${m.connections}${m.rate === undefined ? '' : ` at ${m.rate} req/s`} | ${fmt(m.cpuUs ?? undefined, 0)} | ${fmt(m.rps ?? undefined, (m.rps ?? 0) < 100 ? 1 : 0)} | ` +
        `${fmt(m.p50 ?? undefined, 2)} | ${fmt(m.p99 ?? undefined, 2)} | ${m.validRuns ?? '?'} of ${m.runs.length} | ${fmt(m.otherCores ?? undefined, 2)} | ${m.failures} | ${perWindow} |`,
    );
  }
  p();
  p(
    "The login storms' CPU per login has the /verify probe that runs beside them taken out (its answers in each window × its CPU per request measured idle just before). " +
      "For the probe measured during a storm, CPU per request is the whole server's and means nothing on its own: read its latency.",
  );
  p();
  if (r.startup) {
    p('## Start-up');
    p();
    p(
      `From spawning the process to its first answer (\`GET /healthz\` 200 for \`latchkey serve\`, on a database already migrated; \`GET /\` for a bare Fastify route), ` +
        `polled every 5 ms, ${r.startup.latchkeyMs.length} starts each, one after another: \`latchkey serve\` ${fmt(median(r.startup.latchkeyMs), 0)} ms ` +
        `(${r.startup.latchkeyMs.map((x) => fmt(x, 0)).join(', ')}), bare Fastify ${fmt(median(r.startup.floorMs), 0)} ms (${r.startup.floorMs.map((x) => fmt(x, 0)).join(', ')}). ` +
        'Both run TypeScript through the same tsx loader on the same Node.',
    );
    p();
  }
  if (r.storage) {
    p(
      `**Storage:** the SQLite database grew by ${fmt(r.storage.bytesGrown)} bytes of pages in use over ${fmt(r.storage.rotations)} rotations of the refresh load ` +
        `(${fmt(r.storage.bytesPerRotation ?? undefined, 0)} B per rotation; spent tokens are kept for reuse detection).`,
    );
    p();
  }
  p('## Hash-bound ceiling');
  p();
  p(
    "Measured in the same run, before any server starts, the way logins are served: a hash made by the server's own `PasswordHasher` (so with the configured " +
      "algorithm and parameters), verified through the server's own hashing pool (`auth/hash-pool.ts`: the same threads, at the same lowered priority), kept full " +
      '(more verifications in flight than threads). The threads that hashed and their nice values are read back from /proc. ' +
      "CPU per hash is the process's CPU ÷ hashes: the yardstick for the CPU a login spends beyond its hash.",
  );
  p();
  p('| algorithm | parameters | ceiling (hashes/s, pool full) | threads hashing (nice) | CPU µs per hash | ms per hash, one at a time |');
  p('|---|---|---|---|---|---|');
  for (const [name, h] of Object.entries(r.hash)) {
    if (h)
      p(
        `| ${name} | ${h.params} | ${fmt(h.ceiling, 1)} | ${h.threads ?? '?'} (${h.threadNice?.join(', ') ?? '?'}) | ${fmt(h.cpuPerHashUs, 0)} | ${fmt(h.perHashMs, 1)} |`,
      );
  }
  p();
  if (r.hashVariants && r.hashVariants.length > 0) {
    p(
      "The argon2id ceiling of pools with another thread count or priority, measured the same way one after another (issue 16: piscina's `niceIncrement` " +
        'or a plain thread count?). A nice value orders threads only within one autogroup (the session the server was started in): it lets the event loop go ' +
        'first, but does not protect the hashing threads from other processes, nor other processes from them (docs/operations.md).',
    );
    p();
    p('| hashing threads | nice | ceiling (hashes/s, pool full) | CPU µs per hash |');
    p('|---|---|---|---|');
    for (const v of r.hashVariants) p(`| ${v.poolThreads} | ${v.nice} | ${fmt(v.ceiling, 1)} | ${fmt(v.cpuPerHashUs, 0)} |`);
    p();
  }
  p('## Growth and memory');
  p();
  p(
    `Sessions stored: ${fmt(r.sessionsStored?.small ?? s.growthSmall)} (the main SQLite measurements run on this database) and ` +
      `${fmt(r.sessionsStored?.large ?? s.growthLarge)}, each with a live refresh token; all but the sessions the load uses (and those the login storm ` +
      `created) were inserted with direct SQL in one transaction${r.growthSeedSeconds === undefined ? '' : ` (${fmt(r.growthSeedSeconds, 1)} s for the large set)`}. ` +
      'The server is restarted on the large database before it is measured.',
  );
  p();
  if (r.rss) {
    const mib = (b: number) => `${fmt(b / 2 ** 20, 0)} MiB`;
    p(
      `RSS (the server process and any workers): ${mib(r.rss.atStartBytes)} after start; after each of ${r.rss.readings.length} login storms ` +
        `(real argon2id logins; the lowest reading while no hash is in flight): ${r.rss.readings.map((x) => `${mib(x.rss)} after ${fmt(x.logins)}`).join(', ')}; ` +
        `${mib(r.rss.peakBytes)} at the peak during the storms (every hash in flight holds its 19 MiB). ` +
        `Least-squares growth: ${fmt(r.rss.slopeBytesPerLogin, 0)} ± ${r.rss.slopeErrorBytesPerLogin === null ? '?' : fmt(r.rss.slopeErrorBytesPerLogin, 0)} bytes per login ` +
        `(carried on only when above two standard errors: ${fmt(r.rss.growthBytesPerLogin, 0)}), so ${mib(r.rss.extrapolatedBytes)} at ` +
        `${fmt(s.rssTargetLogins)} logins. ${fmt(s.rssTargetLogins)} honest argon2id logins would take ` +
        `${fmt(s.rssTargetLogins / Math.max(1, r.rss.logins / s.rssSeconds) / 60, 0)} minutes of both cores: the bench keeps the real hash ` +
        'and extrapolates instead of lowering the cost.',
    );
    p();
  }
  const workerKeys = Object.keys(r.measurements).filter((k) => /^workers\d+Verify$/.test(k));
  if (workerKeys.length > 0 || r.measurements.pgRefresh) {
    p('## Workers and PostgreSQL');
    p();
    p('| measure | one process | other setting | ratio |');
    p('|---|---|---|---|');
    for (const key of workerKeys) {
      const n = /^workers(\d+)Verify$/.exec(key)![1]!;
      for (const [what, single, multi] of [
        // The one process measured beside the workers (same settings, limits on) when the run has it.
        ['/verify req/s', r.measurements.workersBaselineVerify ?? r.measurements.verify, r.measurements[key]],
        ['refresh req/s (SQLite)', r.measurements.workersBaselineRefresh ?? r.measurements.refresh, r.measurements[`workers${n}Refresh`]],
      ] as const) {
        if (single && multi) {
          p(`| ${what} | ${fmt(single.rps)} | ${fmt(multi.rps)} with \`--workers ${n}\` | ${fmt(multi.rps / single.rps, 2)}× |`);
          p(
            `| ${what.replace('req/s', 'CPU µs per request')} | ${fmt(single.cpuUs ?? undefined)} | ${fmt(multi.cpuUs ?? undefined)} with \`--workers ${n}\` (all workers) | ${fmt((multi.cpuUs ?? Number.NaN) / (single.cpuUs ?? Number.NaN), 2)}× |`,
          );
        }
      }
    }
    const pg = r.measurements.pgRefresh;
    if (pg && r.measurements.refresh) {
      p(
        `| refresh req/s | ${fmt(r.measurements.refresh.rps)} on SQLite | ${fmt(pg.rps)} on PostgreSQL | ${fmt(pg.rps / r.measurements.refresh.rps, 2)}× |`,
      );
      p(
        `| refresh Node CPU µs per request | ${fmt(r.measurements.refresh.cpuUs ?? undefined)} on SQLite | ${fmt(pg.cpuUs ?? undefined)} on PostgreSQL (the database's own CPU not counted) | ${fmt((pg.cpuUs ?? Number.NaN) / (r.measurements.refresh.cpuUs ?? Number.NaN), 2)}× |`,
      );
    }
    const pgLogin = r.measurements.pgLogin;
    if (pgLogin && r.measurements.loginArgon2)
      p(
        `| argon2id logins/s | ${fmt(r.measurements.loginArgon2.rps, 1)} on SQLite | ${fmt(pgLogin.rps, 1)} on PostgreSQL | ${fmt(pgLogin.rps / r.measurements.loginArgon2.rps, 2)}× |`,
      );
    p();
    p('`--workers 1` runs no cluster: it is the one-process server measured above.');
    p();
  }
  p('## How each comparison is set up');
  p();
  p(
    '- **Login ceiling.** A storm of logins (16 users, the right password, rate limits off with `LATCHKEY_LIMITS=off`) against ' +
      "the hash ceiling measured in the same run through the same hashing pool: the server's own piscina workers, one thread per core, at nice 10, behind a queue bounded at 2 s of work (`src/auth/hash-pool.ts`).",
  );
  p(
    `- **/verify under the storm.** /verify at a fixed ${s.verifyRate} req/s over ${s.verifyRateConnections} connections, once with nothing else ` +
      'running and once side by side with the login storm (both load generators start at the same instant); the ratio of the p99s.',
  );
  p(
    '- **Floor.** A bare Fastify route (`bench/servers/floor.ts`, logger off) answering `{"hello":"world"}`, on the same machine, same load generator settings. ' +
      '/verify sends one valid access token; refresh chains real rotations: each request spends an unspent refresh token and the successor goes back to the pool.',
  );
  p(
    `- **Better Auth** ${'(`bench/servers/better-auth.ts`)'}: production mode (\`NODE_ENV=production\`), SQLite through better-sqlite3 (WAL), email and password, ` +
      'the bearer plugin and the JWT plugin (with `disableSettingJwtHeader`, so get-session does not sign a JWT per call), the session cookie cache ' +
      "(5 min), rate limit off, logger off, served by Node's http server through `toNodeHandler`. Sign-in is measured with its default scrypt " +
      'and (full runs) with argon2id at our parameters. Its session check is measured both with the bearer token (a database read) and ' +
      'with the session cookies (the cookie cache, no database read); the target uses the faster. Better Auth has no refresh-token rotation: ' +
      "the nearest endpoint is the JWT plugin's `GET /api/auth/token` (a fresh JWT for the session), compared with our refresh.",
  );
  p();
  if (r.notes.length > 0) {
    p('## Notes on this run');
    p();
    for (const note of r.notes) p(`- ${note}`);
    p();
  }
  const analysis = join(ROOT, 'bench', 'analysis.md');
  if (existsSync(analysis)) {
    p('## Analysis');
    p();
    p(readFileSync(analysis, 'utf8').trim());
    p();
  }
  return lines.join('\n') + '\n';
}

/** Two panels: throughput on a log scale, and each target's margin (1 = exactly on target). */
export function renderSvg(r: BenchResults): string {
  const m = r.measurements;
  const bars: { label: string; value: number; kind: 'ours' | 'floor' | 'other' }[] = [];
  const add = (key: string, label: string, kind: 'ours' | 'floor' | 'other') => {
    const v = m[key]?.rps;
    if (v !== undefined && Number.isFinite(v) && v > 0) bars.push({ label, value: v, kind });
  };
  add('floor', 'bare Fastify', 'floor');
  add('verify', 'Latchkey /verify', 'ours');
  add('baSessionCookie', 'Better Auth get-session (cookie)', 'other');
  add('baSessionBearer', 'Better Auth get-session (bearer)', 'other');
  add('refresh', 'Latchkey refresh (SQLite)', 'ours');
  add('pgRefresh', 'Latchkey refresh (PostgreSQL)', 'ours');
  add('baToken', 'Better Auth /token', 'other');
  if (r.hash.argon2id) bars.push({ label: 'argon2id ceiling', value: r.hash.argon2id.ceiling, kind: 'floor' });
  add('loginArgon2', 'Latchkey login (argon2id)', 'ours');
  add('baSignInArgon2', 'Better Auth sign-in (argon2id)', 'other');
  add('baSignIn', 'Better Auth sign-in (scrypt)', 'other');
  if (r.hash.bcrypt) bars.push({ label: `bcrypt ceiling (${r.hash.bcrypt.params})`, value: r.hash.bcrypt.ceiling, kind: 'floor' });
  add('loginBcrypt', 'Latchkey login (bcrypt)', 'ours');

  const W = 900;
  const left = 250;
  const plotW = W - left - 90;
  const rowH = 22;
  const top1 = 50;
  const maxV = Math.max(10, ...bars.map((b) => b.value));
  const decades = Math.ceil(Math.log10(maxV));
  const x = (v: number) => left + (Math.log10(Math.max(1, v)) / decades) * plotW;
  const colour = { ours: '#2f6fdf', floor: '#8a8a8a', other: '#e08a2c' } as const;
  const out: string[] = [];
  const h1 = top1 + bars.length * rowH + 30;
  const targets = r.targets;
  const top2 = h1 + 50;
  const H = top2 + targets.length * rowH + 40;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(
    `<text x="10" y="22" font-size="15" font-weight="bold">Throughput, requests/s (log scale) — ${escapeXml(r.date.slice(0, 10))}${r.quick ? ' (quick)' : ''}, ${r.machine.cores} cores</text>`,
  );
  for (let d = 0; d <= decades; d++) {
    const gx = x(10 ** d);
    out.push(`<line x1="${gx}" y1="${top1 - 8}" x2="${gx}" y2="${top1 + bars.length * rowH}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${top1 - 12}" text-anchor="middle" fill="#666">${fmt(10 ** d)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = top1 + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escapeXml(b.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(b.value) - left)}" height="${rowH - 6}" fill="${colour[b.kind]}"/>`);
    out.push(`<text x="${x(b.value) + 5}" y="${y + 15}" fill="#333">${fmt(b.value, b.value < 100 ? 1 : 0)}</text>`);
  });
  const legendY = top1 + bars.length * rowH + 18;
  (['ours', 'floor', 'other'] as const).forEach((k, i) => {
    const lx = left + i * 170;
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${colour[k]}"/>`);
    out.push(`<text x="${lx + 18}" y="${legendY}">${{ ours: 'Latchkey', floor: 'floor / ceiling', other: 'Better Auth' }[k]}</text>`);
  });

  out.push(
    `<text x="10" y="${top2 - 22}" font-size="15" font-weight="bold">Targets: measured ÷ required (right of the line = met; capped at 3)</text>`,
  );
  const cap = 3;
  const tx = (score: number) => left + (Math.min(cap, Math.max(0, score)) / cap) * plotW;
  out.push(
    `<line x1="${tx(1)}" y1="${top2 - 8}" x2="${tx(1)}" y2="${top2 + targets.length * rowH}" stroke="#222" stroke-dasharray="4 3"/>`,
  );
  out.push(`<text x="${tx(1)}" y="${top2 - 10}" text-anchor="middle" fill="#222">target</text>`);
  targets.forEach((t, i) => {
    const y = top2 + i * rowH;
    // How far past the target: for "at least" targets value/threshold, for "at most" targets threshold/value.
    const score = t.value === null ? 0 : t.op === '>=' ? t.value / t.threshold : t.value === 0 ? cap : t.threshold / t.value;
    out.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escapeXml(t.id)}</text>`);
    if (t.value === null) {
      out.push(`<text x="${left + 4}" y="${y + 15}" fill="#999">not measured</text>`);
      return;
    }
    out.push(
      `<rect x="${left}" y="${y + 3}" width="${Math.max(1, tx(score) - left)}" height="${rowH - 6}" fill="${t.met ? '#3a9a4a' : '#d0433a'}"/>`,
    );
    out.push(
      `<text x="${tx(score) + 5}" y="${y + 15}" fill="#333">${escapeXml(`${figure(t)} (${t.op === '>=' ? '≥' : '≤'} ${t.threshold}${t.unit === '×' ? '' : ' ' + t.unit})`)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
