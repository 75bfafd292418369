// HTTP auth as Neon's auth_middleware does it (libs/utils/src/http/endpoint.rs at de7e4a34ca):
// `Authorization: Bearer <JWT>`; a missing or malformed header is 401, a token that does not
// verify is 403. What a verified token may touch is decided per route (permission.ts).

import type { KeyObject } from 'node:crypto';
import { JwtError, verifyJwt, type Claims } from './jwt.js';

export type BearerResult =
  | { ok: true; claims: Claims }
  | { ok: false; status: 401 | 403; msg: string; reason: string };

/** The query parameter a token may come in where headers cannot be set (the inspector's WebSocket). */
export const TOKEN_PARAM = 'token';

/** The body of every 403, whatever the reason (the reason goes to the log). */
export const FORBIDDEN_MESSAGE = 'Forbidden: JWT authentication error';

export function checkToken(token: string, keys: readonly KeyObject[], nowSeconds: number): BearerResult {
  try {
    return { ok: true, claims: verifyJwt(token, keys, nowSeconds) };
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    return { ok: false, status: 403, msg: FORBIDDEN_MESSAGE, reason: err.message };
  }
}

export function checkBearer(header: string | undefined, keys: readonly KeyObject[], nowSeconds: number): BearerResult {
  if (header === undefined) {
    const msg = 'Unauthorized: missing authorization header';
    return { ok: false, status: 401, msg, reason: msg };
  }
  // Neon: the value must be visible ASCII, then "<prefix> <token>" split at the first space, prefix "Bearer".
  const space = header.indexOf(' ');
  if (!/^[\x20-\x7e\t]*$/.test(header) || space < 0 || header.slice(0, space) !== 'Bearer') {
    const msg = 'Unauthorized: malformed authorization header';
    return { ok: false, status: 401, msg, reason: msg };
  }
  return checkToken(header.slice(space + 1), keys, nowSeconds);
}

/** The URL as it may be logged: a token parameter's value replaced. */
export function redactUrl(raw: string | undefined): string {
  const url = raw ?? '/';
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  if (params.has(TOKEN_PARAM)) params.set(TOKEN_PARAM, 'REDACTED');
  return `${url.slice(0, q)}?${params.toString()}`;
}
