/**
 * Ordered, named, forward-only schema migrations. The engine only shows in `idColumn`: everything else
 * is the same DDL on SQLite and PostgreSQL. Never edit a migration that has shipped; add the next one.
 */
import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import type { Engine } from './database.ts';

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

/** All migrations, in order. Names sort in the order they must run. */
export function migrations(engine: Engine): Record<string, Migration> {
  return {
    '0001_initial': migration0001(engine),
    '0003_oidc_identities': migration0003(),
    '0004_drop_refresh_parent_index': migration0004(),
    '0007_second_factors': migration0007(),
  };
}

export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly engine: Engine) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.engine);
  }
}
