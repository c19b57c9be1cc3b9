/**
 * Ordered, named, forward-only schema migrations. The engine only shows in `idColumn`: everything else
 * is the same DDL on SQLite and PostgreSQL. Never edit a migration that has shipped; add the next one.
 */
import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import type { Engine } from './engine.ts';

// Kysely migrations are untyped on purpose: they describe the schema at their own point in history.
type AnyDb = Kysely<unknown>;

function migration0001(engine: Engine): Migration {
  const idColumn = engine === 'postgres' ? ('serial' as const) : ('integer' as const);
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('users')
        .addColumn('id', idColumn, (c) => (engine === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('username_key', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text')
        .addColumn('email_key', 'text', (c) => c.unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('last_login_at', 'bigint')
        .addColumn('google_sub', 'text', (c) => c.unique())
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('last_used_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoke_reason', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('sessions_user_id').on('sessions').column('user_id').execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('jti_hash', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
        .addColumn('parent_hash', 'text')
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('spent_at', 'bigint')
        .execute();
      await db.schema.createIndex('refresh_tokens_session_id').on('refresh_tokens').column('session_id').execute();
      await db.schema.createIndex('refresh_tokens_parent_hash').on('refresh_tokens').column('parent_hash').execute();
      await db.schema.createIndex('refresh_tokens_expires_at').on('refresh_tokens').column('expires_at').execute();

      await db.schema
        .createTable('revoked_sessions')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('revoked_sessions_revoked_at').on('revoked_sessions').column('revoked_at').execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', idColumn, (c) => (engine === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('actor_user_id', 'integer')
        .addColumn('user_id', 'integer')
        .addColumn('session_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
      await db.schema.createIndex('audit_events_user_at').on('audit_events').columns(['user_id', 'at']).execute();
      await db.schema.createIndex('audit_events_type_at').on('audit_events').columns(['type', 'at']).execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute();
    },
  };
}

/**
 * OpenID sign-in: identities keyed by (issuer, subject), spent sign-in states (replay refusal across
 * instances), and server secrets created once (the key that signs sign-in transaction cookies).
 * `users.google_sub` is superseded: its values move to `identities` under Google's issuer and the
 * column stays, unused (SQLite cannot drop a UNIQUE column).
 */
function migration0003(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('identities')
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('email', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('identities_pkey', ['issuer', 'subject'])
        .execute();
      await db.schema.createIndex('identities_user_id').on('identities').column('user_id').execute();
      await sql`insert into identities (issuer, subject, provider, user_id, email, created_at, last_used_at)
        select 'https://accounts.google.com', google_sub, 'google', id, email, created_at, created_at
        from users where google_sub is not null`.execute(db);

      await db.schema
        .createTable('oidc_spent_states')
        .addColumn('state_hash', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('oidc_spent_states_expires_at').on('oidc_spent_states').column('expires_at').execute();

      await db.schema
        .createTable('server_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * `refresh_tokens.parent_hash` is written with every rotation but never looked up by the server; its
 * index cost each rotation one more random B-tree write, which grows with the sessions stored (the
 * benchmark's refresh at 1 M sessions). The column stays; only the index goes.
 */
function migration0004(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.dropIndex('refresh_tokens_parent_hash').ifExists().execute();
    },
  };
}

/**
 * Credentials and identifiers (issue 10 items 1, 15, 16):
 * - `users.credential_version` and `sessions.credential_version`, so that no session outlives a password
 *   change, a disable or a deletion (auth/sessions.ts `revokeAllForCredentialChange`);
 * - `username_key` recomputed under NFKC + case fold, `email_key` under NFC + ASCII fold
 *   (auth/identifiers.ts). No user is ever dropped: when several usernames now share one key, the one
 *   whose stored key already equals it (else the oldest) keeps it, and each other one gets the key
 *   `U+0001 collision:<id>:<key>`, which no typed identifier reaches (login refuses control characters).
 *   Those users still sign in by email or with Google; an admin renames them. Each collision is logged.
 */
// The key rules as they stood at 0005, frozen here (auth/identifiers.ts may change; this history may not).
function usernameKey(value: string): string {
  return value
    .normalize('NFKC')
    .toUpperCase()
    .toLowerCase()
    .normalize('NFD')
    .replace(/\u0307/g, '')
    .normalize('NFC');
}
function emailKey(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase()).normalize('NFC');
}

function migration0005(log: (message: string) => void): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('users')
        .addColumn('credential_version', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('sessions')
        .addColumn('credential_version', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();

      const users = (
        await sql<{ id: number; username: string; username_key: string; email: string | null; email_key: string | null }>`
        select id, username, username_key, email, email_key from users order by id`.execute(db)
      ).rows.map((u) => ({ ...u, id: Number(u.id) }));
      const groups = new Map<string, typeof users>();
      for (const user of users) {
        const key = usernameKey(user.username);
        groups.set(key, [...(groups.get(key) ?? []), user]);
      }
      const target = new Map<number, { username_key: string; email_key: string | null }>();
      const emailKeys = new Set<string>();
      for (const [key, group] of groups) {
        const keeper = group.find((u) => u.username_key === key) ?? group[0]!;
        for (const user of group) {
          const username_key = user === keeper ? key : `\u0001collision:${user.id}:${key}`;
          if (user !== keeper) {
            log(
              `migration 0005: username "${user.username}" (user id ${user.id}) now compares equal to user id ${keeper.id}'s; it keeps its account and signs in by email until renamed`,
            );
          }
          let email_key = user.email === null ? null : emailKey(user.email);
          // The ASCII-only fold only splits keys that full lower-casing joined; should two still meet, both stay.
          if (email_key !== null && emailKeys.has(email_key)) {
            log(
              `migration 0005: email of user id ${user.id} now compares equal to another user's; it keeps its account, not its email sign-in`,
            );
            email_key = `\u0001collision:${user.id}:${email_key}`;
          }
          if (email_key !== null) emailKeys.add(email_key);
          target.set(user.id, { username_key, email_key });
        }
      }
      const changed = users.filter((u) => {
        const t = target.get(u.id)!;
        return t.username_key !== u.username_key || t.email_key !== u.email_key;
      });
      // Two passes, so that one row taking a key another row still holds never trips the unique index.
      for (const user of changed) {
        await sql`update users set username_key = ${`\u0001moving:${user.id}`}, email_key = ${user.email_key === null ? null : `\u0001moving:${user.id}`} where id = ${user.id}`.execute(
          db,
        );
      }
      for (const user of changed) {
        const t = target.get(user.id)!;
        await sql`update users set username_key = ${t.username_key}, email_key = ${t.email_key} where id = ${user.id}`.execute(db);
      }
    },
  };
}

/**
 * Accounts by email (SPEC §10): `users.email_verified` (every existing user counts as verified: an admin or
 * the CLI made them), single-use link tokens stored as SHA-256 only, and the durable mail outbox.
 */
function migration0006(engine: Engine): Migration {
  const idColumn = engine === 'postgres' ? ('serial' as const) : ('integer' as const);
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('users')
        .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();

      await db.schema
        .createTable('link_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        // null: a decoy written for an unknown address, so known and unknown run the same statements.
        .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      await db.schema.createIndex('link_tokens_user_purpose').on('link_tokens').columns(['user_id', 'purpose']).execute();
      await db.schema.createIndex('link_tokens_expires_at').on('link_tokens').column('expires_at').execute();

      await db.schema
        .createTable('mail_outbox')
        .addColumn('id', idColumn, (c) => (engine === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('recipient', 'text')
        .addColumn('deliver', 'integer', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('claimed_by', 'text')
        .addColumn('claimed_until', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .addColumn('last_error', 'text')
        .execute();
      await db.schema.createIndex('mail_outbox_due').on('mail_outbox').columns(['status', 'next_attempt_at']).execute();
    },
  };
}

/**
 * The bootstrap admin (LATCHKEY_ADMIN_USERNAME/PASSWORD) is created once per database: this records each
 * one created, so that deleting it is final (issue 10 item 17). Existing databases start with no record;
 * their bootstrap admin, when still there, is recorded at the next start.
 */
function migration0008(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('bootstrapped_admins')
        .addColumn('username_key', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * Second factors and passkeys (SPEC §11). TOTP secrets are sealed like signing keys; recovery codes are
 * stored as SHA-256 hashes; `last_step` is the RFC 6238 time step last accepted, moved forward only by a
 * compare-and-set so no code is accepted twice, on any instance. `mfa_challenges` holds `mfa_token`s and
 * WebAuthn challenges (by hash) so that any instance can finish what another started. Sessions remember
 * how and when the user signed in (`amr`, `auth_time`) so that refresh keeps both, and an enrolment-only
 * `scope`. Sessions that exist before this migration keep `amr` null (unknown) and their login time.
 */
function migration0007(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('mfa_totp')
        .addColumn('user_id', 'integer', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('confirmed_at', 'bigint')
        .addColumn('last_step', 'bigint')
        .execute();
      await db.schema
        .createTable('mfa_recovery_codes')
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('mfa_recovery_codes_pkey', ['user_id', 'code_hash'])
        .execute();
      await db.schema
        .createTable('passkeys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('credential_id', 'text', (c) => c.notNull().unique())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull())
        .addColumn('transports', 'text')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('passkeys_user_id').on('passkeys').column('user_id').execute();
      await db.schema
        .createTable('mfa_challenges')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('challenge', 'text')
        .addColumn('amr', 'text')
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('spent_at', 'bigint')
        .execute();
      await db.schema.createIndex('mfa_challenges_expires_at').on('mfa_challenges').column('expires_at').execute();
      await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('auth_time', 'bigint').execute();
      await db.schema.alterTable('sessions').addColumn('scope', 'text').execute();
    },
  };
}

/**
 * The refresh state moves onto the session row (issue 16): `refresh_hash` (the one unspent token),
 * `previous_hash` (the token its last rotation spent) and `rotated_at`. A rotation then rewrites the session
 * row in place instead of inserting a row per token and keeping the spent ones until they expire (≈ 264 B
 * per rotation before). Every session keeps its live token, so a token issued before this migration still
 * refreshes; its parent becomes `previous_hash` with the parent's `spent_at`, so the reuse grace still holds
 * for it; any other spent token of the session is no longer stored and counts as reuse, as it did after the
 * grace. `refresh_tokens` is then dropped: nothing reads it any more, and an empty table left behind would
 * only mislead.
 */
function migration0009(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('sessions').addColumn('refresh_hash', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('previous_hash', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('rotated_at', 'bigint').execute();
      // The newest unspent token (a session has at most one; the newest, should a fault have left two).
      await sql`update sessions set refresh_hash = (
          select t.jti_hash from refresh_tokens t
          where t.session_id = sessions.id and t.spent_at is null
          order by t.issued_at desc, t.jti_hash limit 1)`.execute(db);
      await sql`update sessions set previous_hash = (
          select t.parent_hash from refresh_tokens t where t.jti_hash = sessions.refresh_hash)
        where refresh_hash is not null`.execute(db);
      await sql`update sessions set rotated_at = (
          select p.spent_at from refresh_tokens p where p.jti_hash = sessions.previous_hash and p.session_id = sessions.id)
        where previous_hash is not null`.execute(db);
      // A parent no longer stored (pruned) gives no grace: without its spend time, a replay is reuse.
      await sql`update sessions set previous_hash = null where rotated_at is null`.execute(db);
      await db.schema.dropTable('refresh_tokens').execute();
    },
  };
}

/** All migrations, in order. Names sort in the order they must run. */
export function migrations(engine: Engine, log: (message: string) => void = (message) => console.warn(message)): Record<string, Migration> {
  return {
    '0001_initial': migration0001(engine),
    '0003_oidc_identities': migration0003(),
    '0004_drop_refresh_parent_index': migration0004(),
    '0005_credential_version_and_identifier_keys': migration0005(log),
    '0006_accounts_by_email': migration0006(engine),
    '0007_second_factors': migration0007(),
    '0008_bootstrapped_admins': migration0008(),
    '0009_refresh_state_on_sessions': migration0009(),
  };
}

export class StaticMigrationProvider implements MigrationProvider {
  constructor(
    private readonly engine: Engine,
    private readonly log?: (message: string) => void,
  ) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.engine, this.log);
  }
}
