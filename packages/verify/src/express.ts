/**
 * Types `req.user` for Express apps that use `expressAuth`. Opt in once, anywhere in the program:
 *
 * @example
 *   import type {} from '@latchkey/verify/express';
 *   app.get('/api/jobs', (req, res) => res.json({ viewer: req.user?.username }));
 *
 * The user is declared as `Express.User` (and `Request.user?: User`), the same shape Passport's types
 * use, so the two can be installed together without conflicting declarations.
 */
import type { AuthUser } from './verifier.ts';

declare global {
  // Express declares its request type in this global namespace; augmenting it is the only way in.
  namespace Express {
    interface User extends AuthUser {}
    interface Request {
      user?: User | undefined;
    }
  }
}

export type { AuthUser };
