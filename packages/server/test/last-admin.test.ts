import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Conflict } from '../src/errors.ts';
import { engines, startTestServer } from './support/server.ts';

for (const engine of engines()) {
  describe(`the last active ADMIN under concurrency (${engine})`, () => {
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
