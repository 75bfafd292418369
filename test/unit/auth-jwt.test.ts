import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { JwtError, MAX_TOKEN_BYTES, mintJwt, verifyJwt } from '../../src/auth/jwt.js';
import { loadPublicKeys } from '../../src/auth/keys.js';
import { permissionError } from '../../src/auth/permission.js';
import { checkBearer, redactUrl } from '../../src/auth/bearer.js';
import { authenticate } from '../../src/server/auth.js';

const NOW = 1_800_000_000;
const TENANT = '3d1f7595b468230304e0b73cecbcb081';
const mine = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

function refused(token: string, why: RegExp, keys = [mine.publicKey]): void {
  assert.throws(() => verifyJwt(token, keys, NOW), (e: unknown) => e instanceof JwtError && why.test(e.message));
}

describe('verifyJwt', () => {
  test("Neon's published test token verifies with its public key (libs/utils/src/auth.rs)", () => {
    const key = createPublicKey('-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEARYwaNBayR+eGI0iXB4s3QxE3Nl2g1iWbr6KtLWeVD/w=\n-----END PUBLIC KEY-----\n');
    const token =
      'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InRlbmFudCIsInRlbmFudF9pZCI6IjNkMWY3NTk1YjQ2ODIzMDMwNGUwYjczY2VjYmNiMDgxIiwiaXNzIjoibmVvbi5jb250cm9scGxhbmUiLCJpYXQiOjE2Nzg0NDI0Nzl9.rNheBnluMJNgXzSTTJoTNIGy4P_qe0JUHl_nVEGuDCTgHOThPVr552EnmKccrCKquPeW3c2YUk0Y9Oh4KyASAw';
    assert.deepEqual(verifyJwt(token, [key], NOW), { scope: 'tenant', tenantId: TENANT });
  });

  test('accepts safekeeperdata and tenant tokens, exp within the 60 s leeway, and the second of several keys', () => {
    assert.deepEqual(verifyJwt(mintJwt({ scope: 'safekeeperdata' }, mine.privateKey), [mine.publicKey], NOW), { scope: 'safekeeperdata', tenantId: null });
    const t = mintJwt({ scope: 'tenant', tenant_id: TENANT.toUpperCase(), exp: NOW - 59 }, mine.privateKey);
    assert.deepEqual(verifyJwt(t, [other.publicKey, mine.publicKey], NOW), { scope: 'tenant', tenantId: TENANT });
  });

  test('refuses garbage, bad signatures, other keys, expired and not-yet-valid tokens', () => {
    refused('garbage', /three/);
    refused('a.b', /three/);
    refused('!!.e30.AA', /base64url/);
    const good = mintJwt({ scope: 'safekeeperdata' }, mine.privateKey);
    const [h, p, s] = good.split('.') as [string, string, string];
    refused(`${h}.${b64({ scope: 'safekeeperdata', x: 1 })}.${s}`, /signature/);
    refused(`${h}.${p}.${s.slice(0, -4)}AAAA`, /signature/);
    refused(mintJwt({ scope: 'safekeeperdata' }, other.privateKey), /signature/);
    refused(mintJwt({ scope: 'safekeeperdata', exp: NOW - 61 }, mine.privateKey), /expired/);
    refused(mintJwt({ scope: 'safekeeperdata', nbf: NOW + 61 }, mine.privateKey), /not valid before/);
    refused(mintJwt({ scope: 'safekeeperdata', expires: 1, exp: 'soon' as unknown as number }, mine.privateKey), /exp is not a number/);
    refused('x'.repeat(MAX_TOKEN_BYTES + 1), /longer/);
  });

  test('refuses alg none and HMAC signed with the public key as its secret, before trying any key', () => {
    const payload = b64({ scope: 'safekeeperdata' });
    refused(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, /"none" is not EdDSA/);
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const secret = mine.publicKey.export({ type: 'spki', format: 'pem' });
    const mac = createHmac('sha256', secret).update(`${head}.${payload}`).digest('base64url');
    refused(`${head}.${payload}.${mac}`, /"HS256" is not EdDSA/);
  });

  test('refuses unknown scopes and malformed tenant ids', () => {
    refused(mintJwt({ scope: 'superuser' }, mine.privateKey), /unknown scope/);
    refused(mintJwt({ scope: 'Tenant', tenant_id: TENANT }, mine.privateKey), /unknown scope/);
    refused(mintJwt({ scope: 'tenant', tenant_id: 'abc' }, mine.privateKey), /tenant_id/);
  });
});

describe('permissionError (Neon check_permission)', () => {
  test('safekeeperdata everywhere, tenant only for its tenant, the other scopes never', () => {
    assert.equal(permissionError({ scope: 'safekeeperdata', tenantId: null }, TENANT), null);
    assert.equal(permissionError({ scope: 'tenant', tenantId: TENANT }, TENANT.toUpperCase()), null);
    assert.equal(permissionError({ scope: 'tenant', tenantId: TENANT }, 'f'.repeat(32)), 'Tenant id mismatch. Permission denied');
    assert.equal(permissionError({ scope: 'tenant', tenantId: null }, TENANT), 'Tenant id mismatch. Permission denied');
    assert.equal(permissionError({ scope: 'tenant', tenantId: TENANT }, null), 'Attempt to access management api with tenant scope. Permission denied');
    assert.equal(permissionError({ scope: 'pageserverapi', tenantId: null }, TENANT), "JWT scope 'PageServerApi' is ineligible for Safekeeper auth");
    assert.equal(permissionError({ scope: 'generations_api', tenantId: null }, null), "JWT scope 'GenerationsApi' is ineligible for Safekeeper auth");
  });
});

describe('loadPublicKeys', () => {
  test('a file, a directory of files (subdirectories skipped), and refusals', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-keys-'));
    try {
      const pem = (k: typeof mine) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      await writeFile(path.join(dir, 'a.pem'), pem(mine));
      await writeFile(path.join(dir, 'b.pem'), pem(other));
      await mkdir(path.join(dir, 'sub'));
      assert.equal(loadPublicKeys(path.join(dir, 'a.pem')).length, 1);
      const keys = loadPublicKeys(dir);
      assert.equal(keys.length, 2);
      assert.deepEqual(verifyJwt(mintJwt({ scope: 'safekeeperdata' }, other.privateKey), keys, NOW).scope, 'safekeeperdata');
      await writeFile(path.join(dir, 'sub', 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
      assert.throws(() => loadPublicKeys(path.join(dir, 'sub')), /only Ed25519/);
      await rm(path.join(dir, 'sub'), { recursive: true });
      await mkdir(path.join(dir, 'empty'));
      assert.throws(() => loadPublicKeys(path.join(dir, 'empty')), /zero decoding keys/);
      await writeFile(path.join(dir, 'junk'), 'not a key');
      assert.throws(() => loadPublicKeys(path.join(dir, 'junk')), /not a PEM public key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('authenticate (the PasswordMessage at login)', () => {
  const auth = { keys: [mine.publicKey], tenantOnly: false };
  const body = (token: string | Buffer) => Buffer.concat([typeof token === 'string' ? Buffer.from(token) : token, Buffer.from([0])]);
  const reason = (r: ReturnType<typeof authenticate>) => ('reason' in r ? r.reason : null);

  test('drops the last byte, needs UTF-8, then the token rules and the listener scope', () => {
    const sk = mintJwt({ scope: 'safekeeperdata' }, mine.privateKey);
    assert.deepEqual(authenticate(body(sk), auth, NOW), { claims: { scope: 'safekeeperdata', tenantId: null } });
    // Neon drops the last byte whatever it is.
    assert.deepEqual(authenticate(Buffer.from(sk + 'X'), auth, NOW), { claims: { scope: 'safekeeperdata', tenantId: null } });
    assert.equal(reason(authenticate(Buffer.alloc(0), auth, NOW)), 'empty password message');
    assert.equal(reason(authenticate(body(Buffer.from([0xff, 0xfe])), auth, NOW)), 'jwt response is not UTF-8');
    assert.equal(reason(authenticate(body(sk), { ...auth, tenantOnly: true }, NOW)), 'passed JWT token is for full access, but only tenant scope is allowed');
    assert.equal(reason(authenticate(body(mintJwt({ scope: 'tenant' }, mine.privateKey)), auth, NOW)), 'jwt token scope is Tenant, but tenant id is missing');
    const t = mintJwt({ scope: 'tenant', tenant_id: TENANT }, mine.privateKey);
    assert.deepEqual(authenticate(body(t), { ...auth, tenantOnly: true }, NOW), { claims: { scope: 'tenant', tenantId: TENANT } });
    // Scopes Neon refuses log in on the main listener; every command is then refused (dispatch).
    assert.deepEqual(authenticate(body(mintJwt({ scope: 'admin' }, mine.privateKey)), auth, NOW), { claims: { scope: 'admin', tenantId: null } });
  });
});

describe('checkBearer and redactUrl (HTTP)', () => {
  const token = mintJwt({ scope: 'safekeeperdata' }, mine.privateKey);
  test("Neon's header rules: 401 missing or malformed, 403 a token that does not verify", () => {
    const keys = [mine.publicKey];
    assert.deepEqual(checkBearer(`Bearer ${token}`, keys, NOW), { ok: true, claims: { scope: 'safekeeperdata', tenantId: null } });
    const status = (h: string | undefined) => {
      const r = checkBearer(h, keys, NOW);
      return r.ok ? 200 : `${r.status} ${r.msg}`;
    };
    assert.equal(status(undefined), '401 Unauthorized: missing authorization header');
    for (const h of ['', 'Bearer', `bearer ${token}`, `Basic ${token}`, `Bearer ${token}\u00e9`]) assert.equal(status(h), '401 Unauthorized: malformed authorization header', JSON.stringify(h));
    assert.equal(status(`Bearer  ${token}`), '403 Forbidden: JWT authentication error', 'a second space is part of the token');
    assert.equal(status(`Bearer ${mintJwt({ scope: 'safekeeperdata' }, other.privateKey)}`), '403 Forbidden: JWT authentication error');
  });

  test('redactUrl hides a token parameter and keeps the rest', () => {
    assert.equal(redactUrl(`/ws?format=statelyai&token=${token}`), '/ws?format=statelyai&token=REDACTED');
    assert.equal(redactUrl('/stats'), '/stats');
    assert.equal(redactUrl('/v1/status?x=1'), '/v1/status?x=1');
    assert.equal(redactUrl(undefined), '/');
  });
});
