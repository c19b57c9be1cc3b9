/**
 * Test support: the `latchkey` command run in-process through `main(argv, io)`, with an environment,
 * standard input and working directory of the test's own, and its output captured; and, for what needs a
 * process of its own (`serve`, signals, the `.env` of a real working directory), the real command spawned
 * with a minimal environment, followed line by line.
 *
 * @example
 *   const res = await runCli(['users', 'list', '--json'], { env: { DATABASE_URL: url } });
 *   assert.equal(res.code, 0, res.stderr);
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli.ts';
import { scaled } from './wait.ts';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** The whole environment the command sees (plus LOG_LEVEL=silent): nothing of the developer's leaks in. */
  readonly env?: Record<string, string>;
  /** Standard input, for `--password-stdin`. */
  readonly input?: string;
  /** Where a `.env` file would be read from; an empty folder by default. */
  readonly cwd?: string;
}

let emptyDir: string | undefined;

/** A folder with nothing in it (no `.env`), shared by the runs of this process. */
function emptyFolder(): string {
  emptyDir ??= mkdtempSync(join(tmpdir(), 'latchkey-cli-cwd-'));
  return emptyDir;
}

process.once('exit', () => {
  if (emptyDir !== undefined) rmSync(emptyDir, { recursive: true, force: true });
});

/** Runs one `latchkey` command in this process; resolves with its exit code and what it printed. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    env: { LOG_LEVEL: 'silent', ...options.env },
    cwd: options.cwd ?? emptyFolder(),
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    readStdin: () => options.input ?? '',
  });
  return { code, stdout, stderr };
}

/** A folder of the test's own with a SQLite database path in it, and `run` that uses that database. */
export function cliWorkspace() {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
  const url = `sqlite:${join(dir, 'latchkey.db')}`;
  return {
    dir,
    url,
    run: (argv: string[], options: CliOptions = {}) =>
      runCli(argv, { ...options, cwd: options.cwd ?? dir, env: { DATABASE_URL: url, ...options.env } }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The real `latchkey` command, for what needs a process of its own. */
const BIN = fileURLToPath(new URL('../../bin/latchkey.js', import.meta.url));

/** A process that has not finished by then (on a quiet machine; scaled to this one) is stuck: the test fails instead of hanging. */
const PROCESS_TIMEOUT_MS = 60_000;

export interface ProcessRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProcessOptions {
  readonly env?: Record<string, string>;
  readonly input?: string;
  readonly cwd?: string;
}

/**
 * A minimal environment: nothing of the developer's own (a DATABASE_URL, a LATCHKEY_*) leaks into the
 * command under test.
 */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { LOG_LEVEL: 'silent', NODE_ENV: 'test' };
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'SystemRoot']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

export function startLatchkey(args: string[], options: ProcessOptions & { dir: string }): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? options.dir,
    env: baseEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function finished(child: ChildProcess): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timeoutMs = scaled(PROCESS_TIMEOUT_MS);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`latchkey did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Serving {
  readonly child: ChildProcess;
  readonly done: Promise<ProcessRun>;
  /** Resolves with the first log record (or stdout line) that matches. */
  waitFor(match: (line: string, record: Record<string, unknown> | undefined) => boolean): Promise<string>;
  stdoutLines(): string[];
}

/** Starts `latchkey serve` with JSON logs on stdout, so that the test can follow what it does. */
export function serve(ws: { readonly dir: string; readonly url: string }, env: Record<string, string> = {}): Serving {
  const child = startLatchkey(['serve'], {
    dir: ws.dir,
    env: { DATABASE_URL: ws.url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
  });
  const lines: string[] = [];
  const waiters: { match: (line: string, record: Record<string, unknown> | undefined) => boolean; resolve: (line: string) => void }[] = [];
  let buffer = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines.push(line);
      let record: Record<string, unknown> | undefined;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        record = undefined;
      }
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(line, record)) waiter.resolve(line);
        else waiters.push(waiter);
      }
    }
  });
  const done = finished(child);
  child.stdin?.end();
  return {
    child,
    done,
    stdoutLines: () => lines,
    waitFor(match) {
      const seen = lines.find((line) => {
        try {
          return match(line, JSON.parse(line) as Record<string, unknown>);
        } catch {
          return match(line, undefined);
        }
      });
      if (seen !== undefined) return Promise.resolve(seen);
      return Promise.race([
        new Promise<string>((resolve) => waiters.push({ match, resolve })),
        done.then((run) => {
          throw new Error(`serve exited (${run.code}) before the expected line; stderr: ${run.stderr}`);
        }),
      ]);
    },
  };
}

export async function listeningUrl(server: Serving): Promise<string> {
  const line = await server.waitFor((_, record) => record?.msg === 'latchkey listening');
  const url = (JSON.parse(line) as { url?: unknown }).url;
  assert.equal(typeof url, 'string');
  return url as string;
}

/** A TCP port on 127.0.0.1 that nobody listens on: taken, then given back. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}
