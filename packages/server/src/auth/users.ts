/**
 * Users (SPEC §2): creation, lookup by username or email (case-insensitive), role, password and state
 * changes. Changes that must end sessions do so through {@link SessionService}.
 *
 * @example
 *   const user = await users.create({ username: 'ada', password: 'a long passphrase', role: 'ADMIN' });
 */
import { type Kysely, sql } from 'kysely';
import type { PasswordHashAlg, Role } from '../config.ts';
import { Conflict, NotFound, RefusedValue } from '../errors.ts';
import { isSerializationFailure, isUniqueViolation } from '../store/errors.ts';
import { prepare } from '../store/prepared.ts';
import type { Database, UserRow } from '../store/schema.ts';
import { emailKey, hasRefusedUsernameCharacter, usernameKey } from './identifiers.ts';
import { checkNewPassword, type PasswordHasher } from './passwords.ts';

/**
 * A user as everything above the store sees one: camelCase, booleans and a {@link Role}, where the row has
 * 0/1 flags and a role string. Times are milliseconds since the epoch, as everywhere in the code base.
 * Only {@link userFromRow} builds one, so the row's spelling stays in the store.
 */
export interface User {
  readonly id: number;
  readonly username: string;
  readonly email: string | null;
  readonly role: Role;
  /** null for accounts that only sign in with an identity provider. */
  readonly passwordHash: string | null;
  readonly disabled: boolean;
  /** false while the address still has to be confirmed (SPEC §10). */
  readonly emailVerified: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastLoginAt: number | null;
  readonly googleSub: string | null;
  /** Raised by every change that must end the user's sessions; a login opens a session only under the one it read. */
  readonly credentialVersion: number;
}

/**
 * The one mapping from a `users` row to a {@link User}. Exported for the few queries that must read the row
 * inside their own statement (the refresh join, a link spent in a transaction); all others go through UserStore.
 */
export function userFromRow(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    // The column only ever receives a checked Role (checkRole on every write path, migrations write 'ADMIN'/'STANDARD').
    role: row.role as Role,
    passwordHash: row.password_hash,
    disabled: row.disabled !== 0,
    emailVerified: row.email_verified !== 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
    googleSub: row.google_sub,
    credentialVersion: row.credential_version,
  };
}

const orUndefined = (row: UserRow | undefined): User | undefined => (row === undefined ? undefined : userFromRow(row));

export const ROLES: readonly Role[] = ['ADMIN', 'STANDARD'];

// Control characters would make usernames that look alike but differ, and PostgreSQL refuses NUL.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The key a typed identifier is compared under as a username. Kept for callers that still name it:
 * usernames use {@link usernameKey}, emails {@link emailKey} (auth/identifiers.ts).
 */
export function identifierKey(value: string): string {
  return usernameKey(value);
}

export function checkUsername(username: string, field = 'username'): void {
  const length = [...username].length;
  if (length < 3 || length > 50) throw new RefusedValue(field, 'must be 3 to 50 characters long');
  if (CONTROL.test(username) || username.trim() !== username) {
    throw new RefusedValue(field, 'must not contain control characters or surrounding spaces');
  }
  // Invisible, bidirectional-control and unpaired characters let one name pass for another (issue 10 #15).
  if (hasRefusedUsernameCharacter(username))
    throw new RefusedValue(field, 'must not contain invisible or bidirectional-control characters');
}

export function checkEmail(email: string, field = 'email'): void {
  if (email.length > 254 || CONTROL.test(email) || !EMAIL.test(email)) {
    throw new RefusedValue(field, 'must be an email address');
  }
}

export function checkRole(role: string, field = 'role'): asserts role is Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new RefusedValue(field, 'must be ADMIN or STANDARD');
}

export interface NewUserInput {
  readonly username: string;
  readonly email?: string | null;
  readonly role?: Role;
  /** A plain password, checked against the rules and hashed. */
  readonly password?: string;
  /** An already hashed password (import); not checked. */
  readonly passwordHash?: string | null;
  readonly googleSub?: string | null;
  /** false: the address still has to be confirmed (sign-up in `verify` mode, `users create --unverified`). */
  readonly emailVerified?: boolean;
}

export interface UserChanges {
  readonly username?: string;
  readonly email?: string | null;
  readonly role?: Role;
  readonly disabled?: boolean;
  readonly emailVerified?: boolean;
}

export interface UserPage {
  readonly items: User[];
  readonly total: number;
}

/**
 * The reads of every password login, compiled once (store/prepared.ts): building a Kysely query costs
 * more than SQLite takes to answer it, and a login storm runs this one per request.
 */
function loginReads(db: Kysely<Database>) {
  return {
    byIdentifier: prepare<UserRow, 'usernameKey' | 'emailKey'>((p) =>
      db
        .selectFrom('users')
        .selectAll()
        .where((eb) => eb.or([eb('username_key', '=', p('usernameKey', '')), eb('email_key', '=', p('emailKey', ''))]))
        .limit(2),
    ),
  };
}

/**
 * When an account's address changes, the reset and verification links mailed to any other address stop
 * working: whoever still reads an old mailbox (often the reason to move) must not take the account back.
 */
async function voidLinksMailedElsewhere(db: Kysely<Database>, user: UserRow, now: number): Promise<void> {
  const open = await db
    .selectFrom('link_tokens')
    .select(['token_hash', 'email'])
    .where('user_id', '=', user.id)
    .where('purpose', 'in', ['reset_password', 'verify_email'])
    .where('used_at', 'is', null)
    .execute();
  const elsewhere = open.filter((link) => link.email === null || emailKey(link.email) !== user.email_key).map((link) => link.token_hash);
  if (elsewhere.length > 0) await db.updateTable('link_tokens').set({ used_at: now }).where('token_hash', 'in', elsewhere).execute();
}

export class UserStore {
  readonly #loginReads: ReturnType<typeof loginReads>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly hasher: PasswordHasher,
    readonly hashAlgorithm: PasswordHashAlg,
  ) {
    this.#loginReads = loginReads(db);
  }

  async #assertFree(
    username: string | undefined,
    email: string | null | undefined,
    exceptId?: number,
    db: Kysely<Database> = this.db,
  ): Promise<void> {
    if (username !== undefined) {
      const taken = await db.selectFrom('users').select('id').where('username_key', '=', usernameKey(username)).executeTakeFirst();
      if (taken && taken.id !== exceptId) throw new Conflict('username is taken');
      // A username that is another user's email would make a login by that address reach the wrong account.
      const asEmail = await db.selectFrom('users').select('id').where('email_key', '=', emailKey(username)).executeTakeFirst();
      if (asEmail && asEmail.id !== exceptId) throw new Conflict('username is taken');
    }
    if (email !== undefined && email !== null) {
      const taken = await db.selectFrom('users').select('id').where('email_key', '=', emailKey(email)).executeTakeFirst();
      if (taken && taken.id !== exceptId) throw new Conflict('email is taken');
      const asUsername = await db.selectFrom('users').select('id').where('username_key', '=', usernameKey(email)).executeTakeFirst();
      if (asUsername && asUsername.id !== exceptId) throw new Conflict('email is taken');
    }
  }

  /** Creates a user. Throws RefusedValue for a bad value, Conflict when the username or email is taken. */
  async create(input: NewUserInput, now = Date.now()): Promise<User> {
    checkUsername(input.username);
    if (input.email !== undefined && input.email !== null) checkEmail(input.email);
    if (input.role !== undefined) checkRole(input.role);
    if (input.password !== undefined) checkNewPassword(input.password, this.hashAlgorithm);
    await this.#assertFree(input.username, input.email);
    const passwordHash = input.password !== undefined ? await this.hasher.hash(input.password) : (input.passwordHash ?? null);
    try {
      const row = await this.db
        .insertInto('users')
        .values({
          username: input.username,
          username_key: usernameKey(input.username),
          email: input.email ?? null,
          email_key: input.email ? emailKey(input.email) : null,
          role: input.role ?? 'STANDARD',
          password_hash: passwordHash,
          disabled: 0,
          created_at: now,
          updated_at: now,
          last_login_at: null,
          google_sub: input.googleSub ?? null,
          email_verified: input.emailVerified === false ? 0 : 1,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return userFromRow(row);
    } catch (error) {
      // Two creations racing past the check above: the unique index decides.
      if (isUniqueViolation(error)) throw new Conflict('username or email is taken');
      throw error;
    }
  }

  async findById(id: number): Promise<User | undefined> {
    return orUndefined(await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst());
  }

  async getById(id: number): Promise<User> {
    const user = await this.findById(id);
    if (!user) throw new NotFound('no such user');
    return user;
  }

  async findByUsername(username: string): Promise<User | undefined> {
    return orUndefined(await this.db.selectFrom('users').selectAll().where('username_key', '=', usernameKey(username)).executeTakeFirst());
  }

  async getByUsername(username: string): Promise<User> {
    const user = await this.findByUsername(username);
    if (!user) throw new NotFound(`no user named ${username}`);
    return user;
  }

  /** The user whose username or email is `identifier`; a username match wins over an email match. */
  async findByIdentifier(identifier: string): Promise<User | undefined> {
    // Control characters never name a user; refusing them also keeps the keys that migration 0005 gave
    // colliding usernames (they start with U+0001) unreachable by typing.
    if (CONTROL.test(identifier)) return undefined;
    const key = usernameKey(identifier);
    const { rows } = await this.#loginReads.byIdentifier.run(this.db, { usernameKey: key, emailKey: emailKey(identifier) });
    return orUndefined(rows.find((r) => r.username_key === key) ?? rows[0]);
  }

  /**
   * The user whose address is `email` (compared as {@link emailKey}); `db` is a transaction when there is one.
   * An address that migration 0005 moved aside (a colliding key) belongs to nobody here, as for login.
   */
  async findByEmail(email: string, db: Kysely<Database> = this.db): Promise<User | undefined> {
    return orUndefined(await db.selectFrom('users').selectAll().where('email_key', '=', emailKey(email)).executeTakeFirst());
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async countActiveAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'ADMIN')
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Users ordered by id; `q` matches part of the username or email, case-insensitively. */
  async list(options: { q?: string; page?: number; pageSize?: number } = {}): Promise<UserPage> {
    const page = Math.max(1, options.page ?? 1);
    const pageSize = Math.min(200, Math.max(1, options.pageSize ?? 50));
    let query = this.db.selectFrom('users');
    if (options.q) {
      const pattern = '%' + usernameKey(options.q).replace(/[\\%_]/g, (c) => '\\' + c) + '%';
      // ESCAPE makes `%` and `_` in the search literal on both engines.
      query = query.where(sql<boolean>`(username_key like ${pattern} escape '\\' or email_key like ${pattern} escape '\\')`);
    }
    const [items, total] = await Promise.all([
      query
        .selectAll()
        .orderBy('id')
        .limit(pageSize)
        .offset((page - 1) * pageSize)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: items.map(userFromRow), total: Number(total.n) };
  }

  /**
   * Runs `change` in a transaction that is rolled back when it would leave no active ADMIN. The count is
   * read inside the same serializable transaction, so two admins demoting each other at once cannot both
   * win: SQLite serialises writers, and PostgreSQL aborts one with a serialization failure (a Conflict).
   */
  async #keepingAnAdmin<T>(keep: boolean, change: (db: Kysely<Database>) => Promise<T>, within?: Kysely<Database>): Promise<T> {
    if (within !== undefined) {
      // Inside the caller's transaction (serializable when `keep`: see SessionService.revokeAllForCredentialChange).
      const result = await change(within);
      if (keep) await this.assertAnAdminRemains(within);
      return result;
    }
    if (!keep) return change(this.db);
    try {
      return await this.db
        .transaction()
        .setIsolationLevel('serializable')
        .execute(async (trx) => {
          const result = await change(trx);
          const admins = await trx
            .selectFrom('users')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('role', '=', 'ADMIN')
            .where('disabled', '=', 0)
            .executeTakeFirstOrThrow();
          if (Number(admins.n) === 0) throw new Conflict('the last active ADMIN cannot be demoted, disabled or deleted');
          return result;
        });
    } catch (error) {
      if (isSerializationFailure(error)) throw new Conflict('a concurrent change to the administrators won; try again');
      throw error;
    }
  }

  /** Throws {@link Conflict} when no active ADMIN is left (run inside a serializable transaction). */
  async assertAnAdminRemains(db: Kysely<Database>): Promise<void> {
    const admins = await db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'ADMIN')
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    if (Number(admins.n) === 0) throw new Conflict('the last active ADMIN cannot be demoted, disabled or deleted');
  }

  /**
   * Changes a user; with `keepAnAdmin`, refuses (409) a change that would leave no active ADMIN. With
   * `within`, runs in that transaction (a credential change: see AccountService).
   */
  async update(
    id: number,
    changes: UserChanges,
    options: { keepAnAdmin?: boolean; within?: Kysely<Database> } = {},
    now = Date.now(),
  ): Promise<User> {
    if (changes.username !== undefined) checkUsername(changes.username);
    if (changes.email !== undefined && changes.email !== null) checkEmail(changes.email);
    if (changes.role !== undefined) checkRole(changes.role);
    // A new address and the end of the links mailed to the old one commit together.
    if (changes.email !== undefined && options.within === undefined && !(options.keepAnAdmin ?? false)) {
      return this.db.transaction().execute((trx) => this.update(id, changes, { ...options, within: trx }, now));
    }
    // Inside a credential change's transaction, read through it: on SQLite's one connection, a read
    // outside it would wait for the transaction that waits for the read.
    await this.#assertFree(changes.username, changes.email, id, options.within);
    try {
      const row = await this.#keepingAnAdmin(
        options.keepAnAdmin ?? false,
        (db) =>
          db
            .updateTable('users')
            .set({
              ...(changes.username === undefined ? {} : { username: changes.username, username_key: usernameKey(changes.username) }),
              ...(changes.email === undefined
                ? {}
                : { email: changes.email, email_key: changes.email === null ? null : emailKey(changes.email) }),
              ...(changes.role === undefined ? {} : { role: changes.role }),
              ...(changes.disabled === undefined ? {} : { disabled: changes.disabled ? 1 : 0 }),
              ...(changes.emailVerified === undefined ? {} : { email_verified: changes.emailVerified ? 1 : 0 }),
              updated_at: now,
            })
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirst()
            .then(async (updated) => {
              if (updated !== undefined && changes.email !== undefined) await voidLinksMailedElsewhere(db, updated, now);
              return updated;
            }),
        options.within,
      );
      if (!row) throw new NotFound('no such user');
      return userFromRow(row);
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict('username or email is taken');
      throw error;
    }
  }

  /** Checks the rules, hashes and stores a new password. */
  async setPassword(id: number, password: string, field = 'password', now = Date.now()): Promise<void> {
    checkNewPassword(password, this.hashAlgorithm, field);
    await this.storeHash(id, await this.hasher.hash(password), now);
  }

  /** Stores a hash as is; `db` is the transaction of a credential change when there is one. */
  async storeHash(id: number, passwordHash: string, now = Date.now(), db: Kysely<Database> = this.db): Promise<void> {
    await this.storeCredentials(id, { passwordHash }, now, db);
  }

  /**
   * A new password hash, or none (`null`: the account signs in by its other means only), and, when the change
   * came with a proof of the address (a reset link, a provider's verified email), the address confirmed.
   * `db` is the transaction of the credential change (auth/sessions.ts) the change belongs to.
   */
  async storeCredentials(
    id: number,
    change: { readonly passwordHash: string | null; readonly emailVerified?: true },
    now = Date.now(),
    db: Kysely<Database> = this.db,
  ): Promise<void> {
    await db
      .updateTable('users')
      .set({ password_hash: change.passwordHash, ...(change.emailVerified ? { email_verified: 1 } : {}), updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  async recordLogin(id: number, now = Date.now()): Promise<void> {
    await this.db.updateTable('users').set({ last_login_at: now }).where('id', '=', id).execute();
  }

  async delete(id: number, options: { keepAnAdmin?: boolean; within?: Kysely<Database> } = {}): Promise<void> {
    const result = await this.#keepingAnAdmin(
      options.keepAnAdmin ?? false,
      (db) => db.deleteFrom('users').where('id', '=', id).executeTakeFirst(),
      options.within,
    );
    if (Number(result.numDeletedRows) === 0) throw new NotFound('no such user');
  }
}
