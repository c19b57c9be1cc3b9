/**
 * `/api/admin/keys`: the signing keys (list) and a rotation, for the admin console (SPEC §12). ADMIN only.
 * The same operations as `latchkey keys list|rotate`; no key material is ever shown.
 */
import type { RequestContext } from '../../audit.ts';
import { type KeyListing, type Rotation, listSigningKeys, rotateSigningKeysAudited } from '../../auth/keys.ts';
import { ConfigError } from '../../config.ts';
import type { Core } from '../../core.ts';
import { Conflict } from '../../errors.ts';
import { adminErrors, adminOf, instantSchema, listDoc, objectSchema, okDoc } from '../admin.ts';
import { type RouteContext, requestContext, responseMeta, optionalBody, type LatchkeyApp } from '../context.ts';
import type { View } from '../styles/style.ts';

const instant = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function keyView(key: KeyListing): View {
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    created_at: new Date(key.createdAt),
    retired_at: instant(key.retiredAt),
    expires_at: instant(key.expiresAt),
  };
}

function rotationView(rotation: Rotation): View {
  return {
    kid: rotation.kid,
    alg: rotation.alg,
    signs_from: new Date(rotation.signsFrom),
    retired: [...rotation.retired],
    verify_until: new Date(rotation.verifyUntil),
    removed: rotation.removed,
  };
}

/**
 * The one place the HTTP API rotates keys: the rotation and its audit event (auth/keys.ts) with the admin as
 * the actor, and a reload so this instance signs with the new key at once (others pick it up within 60 s).
 * A configured LATCHKEY_JWT_SECRET is a fixed key that only the operator can change: 409.
 */
export async function rotateKeysAsAdmin(core: Core, rc: RequestContext, options: { immediately?: boolean } = {}): Promise<Rotation> {
  let rotation: Rotation;
  try {
    // Published first, signing after LATCHKEY_KEY_PUBLISH_DELAY, unless `now` (a compromised key), as `keys rotate`.
    rotation = await rotateSigningKeysAudited(core.store.db, core.config, core.audit, rc, { immediately: options.immediately === true });
  } catch (error) {
    if (error instanceof ConfigError) throw new Conflict('the signing key is fixed by LATCHKEY_JWT_SECRET and cannot be rotated here');
    throw error;
  }
  await core.reloadKeys();
  return rotation;
}

const EXAMPLE_KEY: View = {
  kid: 'Jm1yX0o5c2dVb3N2',
  alg: 'EdDSA',
  state: 'signing',
  created_at: new Date('2026-01-13T09:00:00Z'),
  retired_at: null,
  expires_at: null,
};

export function adminKeyRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const keySchema = objectSchema(
    style,
    {
      kid: { type: 'string' },
      alg: { type: 'string', description: 'HS256, EdDSA, ES256 or RS256' },
      state: { type: 'string', enum: ['published', 'signing', 'verifying', 'expired', 'other-algorithm'] },
      created_at: instantSchema(style),
      retired_at: instantSchema(style, true),
      expires_at: { ...instantSchema(style, true), description: 'When the last token the key may have signed expires' },
    },
    ['kid', 'alg', 'state', 'created_at', 'retired_at', 'expires_at'],
  );
  const rotationSchema = objectSchema(
    style,
    {
      kid: { type: 'string', description: 'The new signing key' },
      alg: { type: 'string' },
      signs_from: {
        ...instantSchema(style),
        description: 'When the new key starts signing: after LATCHKEY_KEY_PUBLISH_DELAY, or now with `now`',
      },
      retired: { type: 'array', items: { type: 'string' }, description: 'Keys that stopped signing and keep verifying' },
      verify_until: instantSchema(style),
      removed: { type: 'integer', description: 'Expired keys deleted' },
    },
    ['kid', 'alg', 'signs_from', 'retired', 'verify_until', 'removed'],
  );

  app.get(
    '/keys',
    {
      schema: {
        tags,
        security,
        summary: 'The signing keys',
        description: 'Newest first, with what each is used for now. Never any key material.',
        response: { 200: listDoc(style, 'Every stored signing key', keySchema, [EXAMPLE_KEY]), ...adminErrors(style) },
      },
    },
    async (request) => {
      const keys = (await listSigningKeys(ctx.core.store.db, ctx.core.config)).map(keyView);
      return style.list(keys, { total: keys.length, page: 1, pageSize: keys.length }, responseMeta(request));
    },
  );

  app.post(
    '/keys/rotate',
    {
      // The body is optional: no body is a plain (delayed) rotation.
      preValidation: optionalBody,
      schema: {
        tags,
        security,
        summary: 'Rotate the signing key',
        description:
          'A new key is published in the JWKS at once and signs after LATCHKEY_KEY_PUBLISH_DELAY (so verifiers that cache the JWKS know it first); ' +
          '`{"now": true}` makes it sign at once (a compromised key). The others keep verifying until their tokens expire. 409 when LATCHKEY_JWT_SECRET fixes the key.',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { now: { type: 'boolean', description: 'Sign with the new key at once, skipping the publish delay' } },
        },
        response: {
          200: okDoc(style, 'The rotation', rotationSchema, {
            kid: 'Jm1yX0o5c2dVb3N2',
            alg: 'EdDSA',
            signs_from: new Date('2026-01-13T10:05:00Z'),
            retired: ['p0x9Tq3wYt1mUe2A'],
            verify_until: new Date('2026-02-13T10:01:30Z'),
            removed: 0,
          }),
          ...adminErrors(style, 409),
        },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      const rotation = await rotateKeysAsAdmin(ctx.core, requestContext(request, adminOf(request).userId), {
        immediately: body.now === true,
      });
      return style.ok(rotationView(rotation), responseMeta(request));
    },
  );
}
