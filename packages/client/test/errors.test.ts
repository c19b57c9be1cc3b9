import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorOfResponse } from '../src/errors.ts';
import { ENVELOPE_MESSAGES, ERRORS, FLAT_SENTENCES, type ErrorKind } from '../src/wire/errors.ts';

const KINDS = Object.keys(ERRORS) as ErrorKind[];

function response(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

test('a flat sentence gives the code an envelope server sends for the same error, for every kind worded alike', async () => {
  for (const kind of KINDS) {
    const sentence = FLAT_SENTENCES[kind];
    if (sentence === null) continue;
    const { status, code } = ERRORS[kind];
    const error = await errorOfResponse(response(status, { error: sentence }));
    // An mfa_token's 401 shares its sentence with an access token's: a flat client cannot tell them apart.
    const expected = kind === 'invalid_mfa_token' ? 'UNAUTHORIZED' : code;
    assert.deepEqual([kind, error.status, error.code, error.message], [kind, status, expected, sentence]);
  }
});

test('a 400 "invalid or expired token" is a mailed link token, a 401 an access token', async () => {
  assert.equal((await errorOfResponse(response(400, { error: 'invalid or expired token' }))).code, 'INVALID_TOKEN');
  assert.equal((await errorOfResponse(response(401, { error: 'invalid or expired token' }))).code, 'UNAUTHORIZED');
});

test('a sentence the server words by cause takes its code from the status', async () => {
  assert.equal((await errorOfResponse(response(409, { error: 'username already taken' }))).code, 'CONFLICT');
  assert.equal((await errorOfResponse(response(403, { error: 'email domain not allowed' }))).code, 'FORBIDDEN');
  assert.equal((await errorOfResponse(response(400, { error: 'new_password is too short' }))).code, 'VALIDATION_ERROR');
});

test('an envelope error keeps its own code and message', async () => {
  for (const kind of KINDS) {
    const { status, code } = ERRORS[kind];
    const message = ENVELOPE_MESSAGES[kind] ?? 'Some own message';
    const error = await errorOfResponse(response(status, { data: null, error: { code, message }, meta: {} }));
    assert.deepEqual([error.status, error.code, error.message], [status, code, message]);
  }
});
