import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DemoPortError, demoPorts } from '../src/demo-ports.ts';

describe('npm run demo ports', () => {
  test('5173, 8080 and 8081 unless told otherwise', () => {
    assert.deepEqual(demoPorts([], {}), { page: 5173, latchkey: 8080, jobs: 8081 });
  });

  test('from the environment, and flags win over it', () => {
    const env = { DEMO_PAGE_PORT: '3000', DEMO_LATCHKEY_PORT: '9090', DEMO_JOBS_PORT: '0' };
    assert.deepEqual(demoPorts([], env), { page: 3000, latchkey: 9090, jobs: 0 });
    assert.deepEqual(demoPorts(['--latchkey-port', '7000', '--jobs-port=7001'], env), { page: 3000, latchkey: 7000, jobs: 7001 });
    // A blank variable (a line in .env with no value) is no value.
    assert.deepEqual(demoPorts([], { DEMO_PAGE_PORT: '' }), { page: 5173, latchkey: 8080, jobs: 8081 });
  });

  test('a bad value is refused naming the flag or the variable', () => {
    const refused = (argv: string[], env: Record<string, string>, message: RegExp) =>
      assert.throws(
        () => demoPorts(argv, env),
        (error: unknown) => error instanceof DemoPortError && message.test(error.message),
      );
    refused(['--page-port', 'http'], {}, /^--page-port: must be a port from 0 to 65535 \(got "http"\)$/);
    refused([], { DEMO_LATCHKEY_PORT: '70000' }, /^DEMO_LATCHKEY_PORT: must be a port from 0 to 65535 \(got "70000"\)$/);
    refused(['--port', '1'], {}, /^Unknown option '--port'\nusage: npm run demo -- /);
  });
});
