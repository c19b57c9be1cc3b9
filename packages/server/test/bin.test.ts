// bin/latchkey.js chooses what to run: the build (dist/) when it is at least as new as every source file,
// else the TypeScript source through tsx. Exercised on a copy of the real bin next to a stand-in dist/cli.js
// and src/cli.ts that only say which one ran.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/latchkey.js', import.meta.url));

let root: string;
before(() => {
  // Inside the package, so that the copy resolves tsx from the repository's node_modules as the real bin does.
  root = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), '.bin-test-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'src', 'nested'), { recursive: true });
  mkdirSync(join(root, 'dist'));
  copyFileSync(BIN, join(root, 'bin', 'latchkey.js'));
  // Type-only syntax proves the source really went through tsx.
  writeFileSync(
    join(root, 'src', 'cli.ts'),
    "export async function main(args: string[]): Promise<number> { console.log('source', args.join(' ')); return 3; }\n",
  );
  writeFileSync(join(root, 'src', 'nested', 'other.ts'), 'export const other: number = 1;\n');
  writeFileSync(join(root, 'dist', 'cli.js'), "export async function main(args) { console.log('dist', args.join(' ')); return 4; }\n");
});
after(() => rmSync(root, { recursive: true, force: true }));

function setTimes(path: string, seconds: number): void {
  utimesSync(path, seconds, seconds);
}

async function latchkey(): Promise<{ out: string; code: number }> {
  try {
    const { stdout } = await run(process.execPath, [join(root, 'bin', 'latchkey.js'), 'users', 'list'], { cwd: root });
    return { out: stdout, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; code: number };
    return { out: failed.stdout, code: failed.code };
  }
}

test('runs the build when it is newer than every source file, with the exit code main returns', async () => {
  setTimes(join(root, 'src', 'cli.ts'), 1_000_000);
  setTimes(join(root, 'src', 'nested', 'other.ts'), 1_000_000);
  setTimes(join(root, 'dist', 'cli.js'), 2_000_000);
  assert.deepEqual(await latchkey(), { out: 'dist users list\n', code: 4 });
});

test('runs the source when any source file, however deep, is newer than the build', async () => {
  setTimes(join(root, 'dist', 'cli.js'), 2_000_000);
  setTimes(join(root, 'src', 'nested', 'other.ts'), 3_000_000);
  assert.deepEqual(await latchkey(), { out: 'source users list\n', code: 3 });
});

test('runs the source when there is no build, and the build when there is no source', async () => {
  rmSync(join(root, 'dist', 'cli.js'));
  assert.deepEqual(await latchkey(), { out: 'source users list\n', code: 3 });
  writeFileSync(join(root, 'dist', 'cli.js'), "export async function main(args) { console.log('dist', args.join(' ')); return 4; }\n");
  rmSync(join(root, 'src'), { recursive: true });
  assert.deepEqual(await latchkey(), { out: 'dist users list\n', code: 4 });
});
