// Handshake auth of a Postgres-protocol listener (Neon's NeonJWT auth type):
// after the startup packet the server asks for a cleartext password, the
// client sends its JWT as that password, and the token's claims then decide
// every later command (permissionError, in ./dispatch.ts). A listener without
// keys trusts everyone, as in Neon.

import type { KeyObject } from 'node:crypto';
import { JwtError, MAX_TOKEN_BYTES, verifyJwt, type Claims } from '../auth/jwt.js';

export { AUTH_ERROR_MESSAGE } from '../auth/jwt.js';

export interface ListenerAuth {
  /** Keys tokens are verified with; the first that verifies wins. */
  keys: readonly KeyObject[];
  /** The tenant-only listener: only `tenant`-scoped tokens log in. */
  tenantOnly: boolean;
}

/**
 * Longest PasswordMessage read while authenticating: the token, its NUL and the 4-byte length.
 * A longer length word is refused before its body is buffered.
 */
export const MAX_PASSWORD_MESSAGE = MAX_TOKEN_BYTES + 1 + 4;

/** Unauthenticated connections get this long to send their token (PostgreSQL's authentication_timeout). */
export const AUTH_TIMEOUT_MS = 60_000;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Claims from a PasswordMessage body (token + NUL), or the reason it is refused. */
export function authenticate(body: Buffer, auth: ListenerAuth, nowSeconds: number): { claims: Claims } | { reason: string } {
  // Neon drops the last byte (the NUL) whatever it is, and needs what is left to be UTF-8.
  if (body.length === 0) return { reason: 'empty password message' };
  let text: string;
  try {
    text = UTF8.decode(body.subarray(0, body.length - 1));
  } catch {
    return { reason: 'jwt response is not UTF-8' };
  }
  let claims: Claims;
  try {
    claims = verifyJwt(text, auth.keys, nowSeconds);
  } catch (err) {
    if (err instanceof JwtError) return { reason: err.message };
    throw err;
  }
  if (auth.tenantOnly && claims.scope !== 'tenant') {
    return { reason: 'passed JWT token is for full access, but only tenant scope is allowed' };
  }
  if (claims.scope === 'tenant' && claims.tenantId === null) {
    return { reason: 'jwt token scope is Tenant, but tenant id is missing' };
  }
  return { claims };
}
