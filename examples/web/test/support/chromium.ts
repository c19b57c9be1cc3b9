/**
 * What the demo page's browser tests share: Debian's Chromium and its flags, the repository root, the built
 * page, and the built `@latchkey/verify` the jobs API needs under Node (each built from source when missing or
 * older than it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's chromium; LATCHKEY_TEST_CHROMIUM names another build of it (README: chromium-headless-shell). */
export const CHROMIUM = process.env.LATCHKEY_TEST_CHROMIUM || '/usr/bin/chromium';
/** Headless, and nothing that reaches for the network on its own (this machine's network is closed). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const repo = fileURLToPath(new URL('../../../../', import.meta.url));
export const artifacts = join(repo, 'test-artifacts');
/** The reason to skip when Chromium is not installed (.ci/run installs it), or false. */
export const chromiumMissing: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (.ci/run installs Debian's chromium)`;

function newestMtime(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => statSync(join(dir, f)).mtimeMs));
}

/** The jobs API runs under Node, which resolves `@latchkey/verify` to its built dist/. */
export function ensureVerifyBuilt(): void {
  const pkg = join(repo, 'packages/verify');
  const built = join(pkg, 'dist/index.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(join(pkg, 'src'))) return;
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
}

/**
 * The demo page as `npm run build` made it (examples/web/dist), or, when a source file is newer than that
 * build, a fresh build in a temporary folder of its own (dist/ is left alone, so two test files never build
 * into the same place). Returns the folder to serve and whether it is a temporary one to remove.
 */
export async function builtPage(): Promise<{ dir: string; temporary: boolean }> {
  const dist = join(repo, 'examples/web/dist');
  const index = join(dist, 'index.html');
  const sourceTime = Math.max(
    newestMtime(join(repo, 'examples/web/src')),
    statSync(join(repo, 'examples/web/index.html')).mtimeMs,
    statSync(join(repo, 'examples/web/vite.config.ts')).mtimeMs,
    newestMtime(join(repo, 'packages/client/src')),
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sourceTime) return { dir: dist, temporary: false };
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-page-'));
  const { build } = await import('vite');
  await build({
    configFile: join(repo, 'examples/web/vite.config.ts'),
    build: { outDir: dir, emptyOutDir: true, sourcemap: false },
    logLevel: 'silent',
  });
  return { dir, temporary: true };
}
