// Neon's storage JWTs (libs/utils/src/auth.rs at de7e4a34ca), verified with node:crypto: Ed25519
// signatures are built into Node, so no JWT library is needed to check one fixed algorithm, and a
// library would bring header-driven algorithm choice we would only have to switch off.
//
// Rules, as Neon's jsonwebtoken Validation sets them, and where we differ:
// - the header's `alg` must be EdDSA: `none`, HMAC and anything else are refused before any key is
//   tried (so a public key can never act as an HMAC secret);
// - the first configured key that verifies the signature wins;
// - `exp` is optional, and honoured with 60 s of leeway;
// - `nbf` is honoured with the same leeway (Neon ignores it: a deliberate difference);
// - claims: `scope` (one of Neon's eight, lowercase) and an optional `tenant_id` (32 hex digits).

import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export const SCOPES = ['tenant', 'pageserverapi', 'safekeeperdata', 'generations_api', 'admin', 'infra', 'scrubber', 'controller_peer'] as const;
export type Scope = (typeof SCOPES)[number];

/** How Neon prints a scope in its messages (Rust's Debug of the enum variant). */
export const SCOPE_DEBUG_NAMES: Record<Scope, string> = {
  tenant: 'Tenant',
  pageserverapi: 'PageServerApi',
  safekeeperdata: 'SafekeeperData',
  generations_api: 'GenerationsApi',
  admin: 'Admin',
  infra: 'Infra',
  scrubber: 'Scrubber',
  controller_peer: 'ControllerPeer',
};

export interface Claims {
  scope: Scope;
  /** Lowercase hex, or null when the token names no tenant. */
  tenantId: string | null;
}

/** The one message a refused Postgres client sees, as in Neon (SQLSTATE XX000); the reason goes to the log. */
export const AUTH_ERROR_MESSAGE = 'JWT authentication error';

/** Why a token was refused (for the log; the wire only ever says `JWT authentication error`). */
export class JwtError extends Error {}

/** jsonwebtoken's default leeway for exp (and, here, nbf). */
export const LEEWAY_SECONDS = 60;
/** Longer tokens are refused unread: verification work per connection stays bounded. */
export const MAX_TOKEN_BYTES = 8192;

function base64url(part: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new JwtError(`${what} is not base64url`);
  return Buffer.from(part, 'base64url');
}

function json(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(base64url(part, what).toString('utf8'));
  } catch (e) {
    throw e instanceof JwtError ? e : new JwtError(`${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new JwtError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Verifies `token` against `keys` at `nowSeconds`; returns its claims or throws JwtError. */
export function verifyJwt(token: string, keys: readonly KeyObject[], nowSeconds = Math.floor(Date.now() / 1000)): Claims {
  if (keys.length === 0) throw new JwtError('no JWT decoding keys configured');
  if (token.length > MAX_TOKEN_BYTES) throw new JwtError(`token longer than ${MAX_TOKEN_BYTES} bytes`);
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('token is not three dot-separated parts');
  const [h, p, s] = parts as [string, string, string];
  const header = json(h, 'header');
  if (header.alg !== 'EdDSA') throw new JwtError(`algorithm ${JSON.stringify(header.alg)} is not EdDSA`);
  const signature = base64url(s, 'signature');
  const signed = Buffer.from(`${h}.${p}`, 'ascii');
  if (!keys.some((k) => cryptoVerify(null, signed, k, signature))) throw new JwtError('signature does not verify with any configured key');
  const claims = json(p, 'payload');
  for (const [name, late] of [
    ['exp', (t: number) => nowSeconds > t + LEEWAY_SECONDS],
    ['nbf', (t: number) => nowSeconds + LEEWAY_SECONDS < t],
  ] as const) {
    const t = claims[name];
    if (t === undefined) continue;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new JwtError(`${name} is not a number`);
    if (late(t)) throw new JwtError(name === 'exp' ? `token expired at ${t}` : `token not valid before ${t}`);
  }
  const scope = claims.scope;
  if (typeof scope !== 'string' || !(SCOPES as readonly string[]).includes(scope)) throw new JwtError(`unknown scope ${JSON.stringify(scope)}`);
  const tenant = claims.tenant_id ?? null;
  if (tenant !== null && (typeof tenant !== 'string' || !/^[0-9a-fA-F]{32}$/.test(tenant))) throw new JwtError('tenant_id is not 32 hex digits');
  return { scope: scope as Scope, tenantId: tenant === null ? null : tenant.toLowerCase() };
}

/** A token for `claims` signed with an Ed25519 private key (the token CLI and tests). */
export function mintJwt(claims: { scope: string; tenant_id?: string; exp?: number; nbf?: number; [k: string]: unknown }, privateKey: KeyObject): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${enc({ alg: 'EdDSA', typ: 'JWT' })}.${enc(claims)}`;
  return `${body}.${cryptoSign(null, Buffer.from(body, 'ascii'), privateKey).toString('base64url')}`;
}
