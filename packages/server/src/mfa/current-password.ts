/**
 * The current-password check that guards TOTP enrolment and removal (SPEC §11). One small function so the
 * limited and audited check of the password endpoints can take its place.
 */
import type { PasswordHasher } from '../auth/passwords.ts';
import type { UserStore } from '../auth/users.ts';
import { Forbidden } from '../errors.ts';

export type CurrentPasswordCheck = (userId: number, password: string) => Promise<void>;

/** 403, like `POST /password`: the caller is signed in, and a 401 would make clients drop a good session. */
export function currentPasswordCheck(users: UserStore, hasher: PasswordHasher): CurrentPasswordCheck {
  return async (userId, password) => {
    const user = await users.getById(userId);
    // Password-less (Google-only) accounts cost one hash too, and never pass.
    const ok = user.password_hash !== null ? await hasher.verify(user.password_hash, password) : await hasher.verifyDummy(password);
    if (!ok) throw new Forbidden('current password is incorrect');
  };
}
