/**
 * Child processes of a bench run: servers (Latchkey, the bare Fastify floor, Better Auth) and load
 * generators. Every child is tracked and killed when the run ends, however it ends, so no server or
 * autocannon is ever left running. Loopback addresses only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LoadSpec, RunResult } from '../load.ts';
import { processTree } from './proc.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
// LATCHKEY_BENCH_BIN runs another checkout's `latchkey` (to compare a change against the tree).
const LATCHKEY_BIN = process.env.LATCHKEY_BENCH_BIN ?? join(ROOT, 'packages', 'server', 'bin', 'latchkey.js');
// Resolved here: children start in another folder, where a bare `tsx` would not resolve.
const TSX = ['--import', import.meta.resolve('tsx')];

/** Children are started from an empty folder, so that no `.env` of the working tree leaks into them. */
const CHILD_CWD = mkdtempSync(join(tmpdir(), 'latchkey-bench-cwd-'));

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(CHILD_CWD, { recursive: true, force: true });
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** The environment a child gets: only what it needs, never the caller's database or Redis settings. */
function childEnv(extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'UV_THREADPOOL_SIZE']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...extra };
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface Server {
  readonly url: string;
  readonly pid: number;
  /** Resident memory of the server and its child processes (workers), in bytes. */
  rss(): number;
  /** From spawning the process to its first answer on the ready path, ms (polled every 5 ms). */
  readonly startMs: number;
  stop(): Promise<void>;
}

function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

async function waitHealthy(url: string, child: ChildProcess, stderr: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartFailed(
        `exited with ${child.exitCode ?? child.signalCode} before answering: ${stderr().trim().split('\n').slice(0, 5).join(' | ')}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // Not listening yet.
    }
    // Often enough to time a start to a few ms; a refused connection costs next to nothing.
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  throw new StartFailed(`did not answer ${url} within ${timeoutMs} ms: ${stderr().trim().split('\n').slice(0, 5).join(' | ')}`);
}

export class StartFailed extends Error {
  override readonly name = 'StartFailed';
}

interface StartOptions {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
  readonly readyPath: string;
}

async function startServer(options: StartOptions): Promise<Server> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, options.args, { cwd: CHILD_CWD, env: childEnv(options.env), stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${options.port}`;
  await waitHealthy(url + options.readyPath, child, () => stderr);
  const startMs = performance.now() - spawnedAt;
  return {
    url,
    startMs,
    pid: child.pid ?? 0,
    rss: () => processTree(child.pid ?? 0).reduce((sum, pid) => sum + rssOf(pid), 0),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
}

export interface LatchkeyOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly serveArgs?: readonly string[];
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** Another checkout's `bin/latchkey.js`, to compare against. */
  readonly bin?: string;
}

/** `latchkey serve` as a child process, exactly as an operator runs it. */
export async function startLatchkey(options: LatchkeyOptions): Promise<Server> {
  const port = await freePort();
  return startServer({
    args: [...(options.nodeArgs ?? []), options.bin ?? LATCHKEY_BIN, 'serve', ...(options.serveArgs ?? [])],
    env: { ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    port,
    readyPath: '/healthz',
  });
}

export async function startFloor(): Promise<Server> {
  const port = await freePort();
  return startServer({ args: [...TSX, join(ROOT, 'bench', 'servers', 'floor.ts')], env: { PORT: String(port) }, port, readyPath: '/' });
}

export async function startBetterAuth(env: Readonly<Record<string, string>>): Promise<Server> {
  const port = await freePort();
  return startServer({
    args: [...TSX, join(ROOT, 'bench', 'servers', 'better-auth.ts')],
    env: { ...env, PORT: String(port), NODE_ENV: 'production' },
    port,
    readyPath: '/api/auth/ok',
  });
}

export interface LoadResult {
  readonly runs: readonly RunResult[];
  readonly poolLeft: number;
  /** 2xx answers over the whole run, warm-up and tail included. */
  readonly answered: number;
}

/** Runs one load spec in a separate autocannon process; resolves with its measured runs. */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  return (await runLoad(spec)) as LoadResult;
}

/** Runs several load specs one after another in one autocannon process. */
export async function loadAll(specs: readonly LoadSpec[]): Promise<LoadResult[]> {
  return (await runLoad(specs)) as LoadResult[];
}

async function runLoad(input: LoadSpec | readonly LoadSpec[]): Promise<unknown> {
  const child = spawn(process.execPath, [...TSX, join(ROOT, 'bench', 'load.ts')], {
    cwd: ROOT,
    env: childEnv({}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
  });
  child.stdin?.end(JSON.stringify(input));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  children.delete(child);
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || line === '') throw new Error(`load generator failed (exit ${code}): ${stderr.trim().slice(0, 500)}`);
  return JSON.parse(line);
}
