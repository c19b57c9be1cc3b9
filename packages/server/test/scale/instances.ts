/**
 * Test support for scale-out: real `latchkey serve` processes (spawned, waited for on /readyz, killed),
 * a Redis server of the test's own, a PostgreSQL cluster of the test's own, free ports, Redis key
 * prefixes that are cleaned up, and a tiny HTTP client.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { TEST_SECRET } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/latchkey.js');

export const ADMIN = { username: 'root', password: 'root-password-for-tests' } as const;

/** Why a test needing PostgreSQL and/or Redis is skipped here, or false when it can run. */
export function skipWithout(...needs: ('postgres' | 'redis')[]): string | false {
  const missing = needs.flatMap((n) =>
    n === 'postgres' ? (process.env.TEST_DATABASE_URL ? [] : ['TEST_DATABASE_URL']) : process.env.TEST_REDIS_URL ? [] : ['TEST_REDIS_URL'],
  );
  return missing.length === 0 ? false : `${missing.join(' and ')} not set: needs a real ${needs.join(' and ')} (CI sets both)`;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

export interface HttpResult<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

export interface HttpOptions {
  readonly body?: unknown;
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

/** One HTTP request; status, headers and the parsed body. */
export async function http<T = any>(base: string, method: string, path: string, options: HttpOptions = {}): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(base + path, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body: body as T, text };
}

/**
 * One HTTP request on a connection of its own (fetch would reuse one): with `serve --workers N` the
 * primary hands each new connection to the next worker.
 */
export function httpOnce<T = any>(base: string, method: string, path: string, options: HttpOptions = {}): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...options.headers, connection: 'close' };
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { method, headers, agent: false, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = undefined;
        }
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders.set(name, String(value));
        resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: body as T, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** A `latchkey serve` process of the test's own. */
export class Instance {
  readonly url: string;
  #output = '';
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    child.stdout?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.#exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  }

  /** Spawns `latchkey serve` (in a process group of its own, so workers die with it) and waits for /readyz. */
  static async start(env: Record<string, string>, args: string[] = [], port?: number): Promise<Instance> {
    const listen = port ?? (await freePort());
    const child = spawn(process.execPath, [BIN, 'serve', ...args], {
      cwd: tmpdir(), // no stray .env
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        PORT: String(listen),
        LATCHKEY_JWT_SECRET: TEST_SECRET,
        LATCHKEY_ADMIN_USERNAME: ADMIN.username,
        LATCHKEY_ADMIN_PASSWORD: ADMIN.password,
        LOG_LEVEL: 'error',
        ...env,
      },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const instance = new Instance(child, listen);
    try {
      await instance.waitReady();
    } catch (error) {
      instance.kill('SIGKILL');
      throw error;
    }
    return instance;
  }

  get output(): string {
    return this.#output;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Polls /readyz until it answers 200; `timeoutMs` is the budget on a quiet machine (support/wait.ts scales it). */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    await waitUntil(
      'latchkey ready',
      async () => {
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`latchkey exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.#output}`);
        }
        try {
          return (await http(this.url, 'GET', '/readyz')).status === 200;
        } catch {
          return false; // not listening yet
        }
      },
      { timeoutMs, intervalMs: 100, detail: () => this.#output },
    );
  }

  /** Waits until the output (stdout and stderr) matches; `timeoutMs` as in {@link waitReady}. */
  async waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    await waitUntil(`${pattern} in the output`, () => pattern.test(this.#output), { timeoutMs, detail: () => this.#output });
  }

  /** The process ids of its children (a cluster primary's workers). */
  workerPids(): number[] {
    try {
      return execFileSync('pgrep', ['-P', String(this.pid)])
        .toString()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return []; // pgrep exits 1 when there are none
    }
  }

  request<T = any>(method: string, path: string, options: HttpOptions = {}): Promise<HttpResult<T>> {
    return http<T>(this.url, method, path, options);
  }

  /** Signals the whole process group (a cluster primary and its workers). */
  kill(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited;
  }

  /** kill -9 and wait until it is gone. */
  async crash(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited();
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. Safe to call twice. */
  async stop(graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.kill('SIGTERM');
      const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
      const result = await this.exited();
      clearTimeout(timer);
      // Any worker left behind by a primary that died first.
      this.kill('SIGKILL');
      return result;
    }
    this.kill('SIGKILL');
    return this.exited();
  }
}

/** A random key prefix on the shared test Redis, and the cleanup of its keys. */
export function redisPrefix(): string {
  return `latchkey-test-${randomBytes(6).toString('hex')}:`;
}

/** How many connections Redis counts as subscribed to `channel` (PUBSUB NUMSUB). */
export async function redisSubscribers(url: string, channel: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    const [, count] = (await client.pubsub('NUMSUB', channel)) as [string, number];
    return Number(count);
  } finally {
    client.disconnect();
  }
}

export async function redisKeys(url: string, prefix: string): Promise<string[]> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    client.disconnect();
  }
}

export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const keys = await redisKeys(url, prefix);
  if (keys.length === 0) return;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A throwaway `redis-server` on a spare port, with nothing saved to disk; can be stopped and started again. */
export class RedisServer {
  #child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await waitUntil(
      'redis-server started',
      async () => {
        const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        client.on('error', () => {});
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } catch {
          return false; // not up yet
        } finally {
          client.disconnect();
        }
      },
      { timeoutMs: 10_000 },
    );
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await gone;
  }
}

/** The directory of PostgreSQL's server programs (initdb, pg_ctl), when installed. */
export function postgresBin(): string | undefined {
  for (const dir of ['/usr/lib/postgresql']) {
    if (!existsSync(dir)) continue;
    const versions = execFileSync('ls', [dir])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(dir, v, 'bin', 'pg_ctl'))) return join(dir, v, 'bin');
  }
  return hasCommand('pg_ctl') ? dirnameOf(execFileSync('sh', ['-c', 'command -v pg_ctl']).toString().trim()) : undefined;
}

function dirnameOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/** A PostgreSQL cluster of the test's own on a spare port (run as user postgres when the test runs as root). */
export class PostgresCluster {
  private constructor(
    readonly bin: string,
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  #run(program: string, args: string[]): void {
    const path = join(this.bin, program);
    if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', path, ...args], { stdio: 'ignore' });
    else execFileSync(path, args, { stdio: 'ignore' });
  }

  static async create(bin: string): Promise<PostgresCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-pg-'));
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
      chownSync(dir, uid, gid);
      chmodSync(dir, 0o700);
    }
    const cluster = new PostgresCluster(bin, dir, await freePort());
    cluster.#run('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    cluster.start();
    return cluster;
  }

  start(): void {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-o', options, '-w', '-t', '20', 'start']);
  }

  /** `-m immediate`: the server goes away at once, like a crash, dropping every connection. */
  stop(): void {
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  destroy(): void {
    try {
      this.stop();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
