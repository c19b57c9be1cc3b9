/**
 * A wire style renders Latchkey's results and errors in one of the two contracts. Routes build plain
 * views (snake_case keys, `Date` for instants) and hand them to the style; no route knows which style
 * is in force.
 */
import type { IssuedTokens } from '../../auth/sessions.ts';
import type { LatchkeyError } from '../../errors.ts';

export interface ResponseMeta {
  readonly requestId: string;
  readonly now: Date;
}

/** A response view: snake_case keys; instants as `Date`. */
export type View = { readonly [key: string]: ViewValue };
export type ViewValue = string | number | boolean | null | Date | View | readonly ViewValue[];

export interface PageInfo {
  readonly total: number;
  readonly page: number;
  readonly pageSize: number;
}

export interface Rendered {
  readonly status: number;
  readonly body: unknown;
}

export interface WireStyle {
  readonly name: 'flat' | 'envelope';
  /** A token pair (login, refresh, sign-in). */
  tokens(issued: IssuedTokens, meta: ResponseMeta): unknown;
  /** Any other successful body. */
  ok(view: View, meta: ResponseMeta): unknown;
  list(items: readonly View[], page: PageInfo, meta: ResponseMeta): unknown;
  error(error: LatchkeyError, meta: ResponseMeta): Rendered;

  // What else differs between the styles, so that no code outside http/styles/ branches on one.
  /** The OpenAPI schemas of this style's bodies (documentation only: bodies are serialised as built). */
  readonly docs: StyleDocs;
  /** A snake_case view key as this style writes it on the wire. */
  wireKey(key: string): string;
}

/** Documentation schemas, as the style renders bodies. */
export interface StyleDocs {
  /** Every error body. */
  readonly error: object;
  /** A token pair ({@link WireStyle.tokens}). */
  readonly tokens: object;
  /** The `GET /verify` answer. */
  readonly verify: object;
  /** The body {@link WireStyle.ok} makes of a view documented by `schema` (already in the style's casing). */
  ok(schema: object): object;
  /** The body {@link WireStyle.list} makes of items documented by `itemSchema`. */
  list(itemSchema: object): object;
  /** An instant as the style writes it. */
  instant(nullable: boolean): object;
}

/** `2026-01-13T10:00:00Z`: ISO-8601 UTC to the second, as the Vulcan contract shows it. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
