import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AccountService } from '../src/auth/accounts.ts';
import { Conflict } from '../src/errors.ts';
import { engines, startTestServer } from './support/server.ts';

for (const engine of engines()) {
  describe(`the last active ADMIN under concurrency (${engine})`, () => {
    test('a disabled admin demoted while another request re-enables them and demotes the last other admin: refused', async () => {
      const server = await startTestServer({ engine });
      try {
        const { core } = server;
        const root = await core.users.getByUsername('root');
        const dormant = await server.createUser('dormant-admin', { role: 'ADMIN' });
        await core.accounts.setDisabled(dormant.id, true);
        // The demotion reads dormant (a disabled ADMIN: demoting them cannot cost an active admin) and, before
        // it writes, the other requests re-enable dormant and demote root, which dormant's return allowed.
        const users = new Proxy(core.users, {
          get(target, prop) {
            if (prop === 'getById') {
              return async (id: number) => {
                const before = await target.getById(id);
                await core.accounts.setDisabled(dormant.id, false);
                await core.accounts.setRole(root.id, 'STANDARD');
                return before;
              };
            }
            const value: unknown = Reflect.get(target, prop, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
        const racing = new AccountService(users, core.sessions, core.hasher, core.audit, core.passwordCheck);
        await assert.rejects(racing.setRole(dormant.id, 'STANDARD'), Conflict);
        assert.equal(await core.users.countActiveAdmins(), 1);
        assert.equal((await core.users.getById(dormant.id)).role, 'ADMIN');
      } finally {
        await server.close();
      }
    });

    for (const change of ['demote', 'disable', 'delete'] as const) {
      test(`two admins who ${change} each other at the same moment leave one admin`, async () => {
        const server = await startTestServer({ engine });
        try {
          const root = await server.core.users.getByUsername('root');
          const other = await server.createUser('second-admin', { role: 'ADMIN' });
          const act = (id: number) =>
            change === 'demote'
              ? server.core.accounts.setRole(id, 'STANDARD')
              : change === 'disable'
                ? server.core.accounts.setDisabled(id, true)
                : server.core.accounts.delete(id);
          const results = await Promise.allSettled([act(root.id), act(other.id)]);
          const refused = results.filter((r) => r.status === 'rejected');
          assert.equal(refused.length, 1, JSON.stringify(results.map((r) => r.status)));
          assert.ok((refused[0] as PromiseRejectedResult).reason instanceof Conflict);
          assert.equal(await server.core.users.countActiveAdmins(), 1);
        } finally {
          await server.close();
        }
      });
    }
  });
}
