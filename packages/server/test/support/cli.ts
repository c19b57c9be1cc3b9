/**
 * Test support: the `latchkey` command run in-process through `main(argv, io)`, with an environment,
 * standard input and working directory of the test's own, and its output captured. Real processes are
 * for what needs one (`serve`, signals, the `.env` of a real working directory): see cli.test.ts.
 *
 * @example
 *   const res = await runCli(['users', 'list', '--json'], { env: { DATABASE_URL: url } });
 *   assert.equal(res.code, 0, res.stderr);
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.ts';

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
    run: (argv: string[], options: CliOptions = {}) => runCli(argv, { ...options, cwd: options.cwd ?? dir, env: { DATABASE_URL: url, ...options.env } }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
