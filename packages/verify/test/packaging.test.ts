// The published tarballs of @latchkey/verify and @latchkey/client, as a new project gets them: packed from
// the built packages (root `prepare` builds them on install), unpacked into a fresh folder outside the
// repository, then loaded by name with `import` and with `require`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['verify', 'client'] as const;

interface Packed {
  readonly name: string;
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

let dir: string;
const packed = new Map<string, Packed>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-consumer-'));
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', dir, ...PACKAGES.flatMap((p) => ['-w', `@latchkey/${p}`])],
    { cwd: ROOT },
  );
  for (const entry of JSON.parse(stdout) as Packed[]) packed.set(entry.name, entry);
  // A fresh project: the tarballs unpacked as npm would, their dependencies linked from the repository's
  // node_modules (the registry is not part of this test; the tarballs' contents are).
  for (const name of PACKAGES) {
    const target = join(dir, 'node_modules', '@latchkey', name);
    mkdirSync(target, { recursive: true });
    await run('tar', ['-xzf', join(dir, packed.get(`@latchkey/${name}`)!.filename), '-C', target, '--strip-components=1']);
    const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) {
      const link = join(dir, 'node_modules', dependency);
      mkdirSync(dirname(link), { recursive: true });
      rmSync(link, { force: true, recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dependency), link);
    }
  }
  for (const peer of ['react', '@tanstack/react-query']) {
    mkdirSync(dirname(join(dir, 'node_modules', peer)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', peer), join(dir, 'node_modules', peer));
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('each tarball carries its README, LICENSE and build, and no source or export it does not ship', () => {
  for (const name of PACKAGES) {
    const entry = packed.get(`@latchkey/${name}`);
    assert.ok(entry, `@latchkey/${name} was packed`);
    const files = entry.files.map((f) => f.path);
    assert.ok(files.includes('README.md'), `${name}: README.md in ${files.join(', ')}`);
    assert.ok(files.includes('LICENSE'), `${name}: LICENSE`);
    assert.deepEqual(
      files.filter((f) => f.startsWith('src/') || f.startsWith('test/')),
      [],
    );
    const manifest = readFileSync(join(dir, 'node_modules', '@latchkey', name, 'package.json'), 'utf8');
    assert.doesNotMatch(manifest, /"source"/);
    // Every file the exports map names is in the tarball.
    const targets = [...manifest.matchAll(/"\.\/(dist\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(targets.length >= 4, manifest);
    for (const target of targets) assert.ok(files.includes(target), `${name}: ${target} is exported but not packed`);
  }
});

const PROBE = `
  const verify = await load('@latchkey/verify');
  const client = await load('@latchkey/client');
  const react = await load('@latchkey/client/react');
  const verifier = verify.createVerifier({ issuer: 'latchkey', secret: 'x'.repeat(32) });
  const refused = await verifier.verify('not-a-token').catch((error) => error);
  const auth = client.createAuthClient({ baseUrl: 'http://127.0.0.1:9', style: 'flat', storage: 'memory' });
  console.log(JSON.stringify({
    refused: refused instanceof verify.LatchkeyError ? refused.status : String(refused),
    expressAuth: typeof verify.expressAuth,
    client: typeof auth.login,
    provider: typeof react.AuthProvider,
    resolved: resolve('@latchkey/verify'),
  }));
  verifier.close();
`;

test('a new ES module project imports both packages by name', async () => {
  const script = `const load = (name) => import(name); const resolve = (name) => import.meta.resolve(name);\n${PROBE}`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
  const result = JSON.parse(stdout) as Record<string, unknown>;
  assert.deepEqual(
    { ...result, resolved: undefined },
    { refused: 401, expressAuth: 'function', client: 'function', provider: 'function', resolved: undefined },
  );
  assert.match(String(result.resolved), /node_modules\/@latchkey\/verify\/dist\/index\.js$/);
});

test('a CommonJS project requires both packages by name, from their CommonJS build', async () => {
  const script = `const load = async (name) => require(name); const resolve = (name) => require.resolve(name);\n(async () => {${PROBE}})();`;
  const { stdout, stderr } = await run(process.execPath, ['--input-type=commonjs', '-e', script], { cwd: dir });
  const result = JSON.parse(stdout) as Record<string, unknown>;
  assert.deepEqual(
    { ...result, resolved: undefined },
    { refused: 401, expressAuth: 'function', client: 'function', provider: 'function', resolved: undefined },
  );
  // The CommonJS build, not Node's require(esm) of the ES build (which warns, and is not in every Node 20).
  assert.match(String(result.resolved), /node_modules\/@latchkey\/verify\/dist\/cjs\/index\.js$/);
  assert.doesNotMatch(stderr, /ExperimentalWarning/);
});
