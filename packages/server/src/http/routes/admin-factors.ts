/** `DELETE /api/admin/users/:id/factors` (SPEC §11): remove a user's TOTP, recovery codes and passkeys. ADMIN only. */
import { adminErrors, adminOf, userIdParam, userIdParams } from '../admin.ts';
import { type RouteContext, requestContext, type LatchkeyApp } from '../context.ts';

export function adminFactorRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  app.delete(
    '/users/:id/factors',
    {
      schema: {
        tags: ['admin'],
        security: [{ bearer: [] }],
        summary: "Reset a user's second factors",
        description: "Removes the user's TOTP, recovery codes and passkeys and revokes all of the user's sessions (audit `factors_reset`).",
        params: userIdParams,
        response: { 204: { type: 'null', description: 'Factors removed, sessions revoked' }, ...adminErrors(ctx.style, 404) },
      },
    },
    async (request, reply) => {
      await ctx.core.mfa.secondStep.resetFactors(userIdParam(request), requestContext(request, adminOf(request).userId));
      return reply.code(204).send();
    },
  );
}
