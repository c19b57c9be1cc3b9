/**
 * The current-password check that guards TOTP enrolment and removal (SPEC §11): the limited and audited
 * check every password-asking endpoint uses (auth/password-check.ts), so it is no unlimited password oracle.
 */
import type { RequestContext } from '../audit.ts';
import type { PasswordCheck } from '../auth/password-check.ts';
import type { UserStore } from '../auth/users.ts';

export type CurrentPasswordCheck = (userId: number, password: string, ctx: RequestContext) => Promise<void>;

/** 403, like `POST /password`: the caller is signed in, and a 401 would make clients drop a good session. */
export function currentPasswordCheck(users: UserStore, passwordCheck: PasswordCheck): CurrentPasswordCheck {
  return async (userId, password, ctx) => {
    const user = await users.getById(userId);
    await passwordCheck.checkCurrentPassword(user, password, ctx, { purpose: 'mfa_change' });
  };
}
