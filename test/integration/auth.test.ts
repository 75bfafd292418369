// JWT auth (issue 11) on a real safekeeper process, through real connections on every port: the
// Postgres listener (a key directory with two keys), the tenant-only listener (its own key), the
// HTTP API and the inspector (the HTTP key). Tokens are minted here with the matching private keys.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { mintJwt } from '../../src/auth/jwt.js';
import { FrontendSerializer } from '../../src/wire/index.js';
import { RawClient, randomId, type ErrorInfo, type StartupParams } from '../helpers/raw-client.js';
import { SYSTEM_ID } from '../helpers/cluster.js';
import { removeDir, startServer, stopServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
const pgKeyA = generateKeyPairSync('ed25519');
const pgKeyB = generateKeyPairSync('ed25519');
const tenantOnlyKey = generateKeyPairSync('ed25519');
const httpKey = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

const TENANT = randomId();
const TIMELINE = randomId();
const OTHER_TENANT = randomId();
const ids: StartupParams = { tenantId: TENANT, timelineId: TIMELINE };

const sign = (claims: Parameters<typeof mintJwt>[0], key: KeyObject = pgKeyB.privateKey) => mintJwt(claims, key);
const skData = (key?: KeyObject) => sign({ scope: 'safekeeperdata' }, key);
const tenantToken = (tenant: string, key?: KeyObject) => sign({ scope: 'tenant', tenant_id: tenant }, key);

let server: ServerProcess;
/** Every token a test used: none of them may appear in the server's log. */
const usedTokens = new Set<string>();
const use = (t: string) => (usedTokens.add(t), t);

before(async () => {
  const dir = await tempDataDir('sk-auth-');
  const keys = path.join(dir, 'keys');
  await mkdir(path.join(keys, 'pg'), { recursive: true });
  await writeFile(path.join(keys, 'pg', 'a.pem'), pem(pgKeyA.publicKey));
  await writeFile(path.join(keys, 'pg', 'b.pem'), pem(pgKeyB.publicKey));
  await writeFile(path.join(keys, 'tenant-only.pem'), pem(tenantOnlyKey.publicKey));
  await writeFile(path.join(keys, 'http.pem'), pem(httpKey.publicKey));
  server = await startServer({
    datadir: dir,
    extraArgs: [
      // Relative paths: read from the data dir, as Neon does.
      '--pg-auth-public-key-path', 'keys/pg',
      '--listen-pg-tenant-only', '127.0.0.1:0',
      '--pg-tenant-only-auth-public-key-path', 'keys/tenant-only.pem',
      '--http-auth-public-key-path', path.join(keys, 'http.pem'),
      '--inspector', '127.0.0.1:0',
    ],
  });
  const created = await server.http('/v1/tenant/timeline', {
    method: 'POST',
    headers: { authorization: `Bearer ${use(skData(httpKey.privateKey))}` },
    body: `{"tenant_id":"${TENANT}","timeline_id":"${TIMELINE}","pg_version":150000,"system_id":${SYSTEM_ID},"commit_lsn":"0/1000028"}`,
  });
  assert.equal(created.status, 200, await created.text());
});

after(async () => {
  if (!server) return;
  await stopServer(server);
  const log = server.logs.map((l) => JSON.stringify(l)).join('\n') + server.stderr();
  for (const t of usedTokens) {
    const signature = t.split('.')[2] ?? '';
    if (signature.length >= 16) assert.ok(!log.includes(signature), `no token (not even its signature) reaches the log: ${t}`);
  }
  assert.ok(usedTokens.size > 20, `${usedTokens.size} tokens checked`);
  await removeDir(server.datadir);
});

/** A login refused at the handshake: Neon's message and SQLSTATE, then the server closes. */
async function assertRefusedLogin(token: string | Buffer, port = server.pgPort, params: StartupParams = ids): Promise<ErrorInfo> {
  const c = await RawClient.connect(port);
  try {
    const ask = await c.startupUntilAuthRequest(params);
    assert.deepEqual([ask.kind, ask.kind === 'authentication' && ask.code], ['authentication', 3], 'AuthenticationCleartextPassword');
    c.write(typeof token === 'string' ? new FrontendSerializer().passwordMessage(use(token)).flush() : token);
    const err = await c.nextError();
    assert.deepEqual([err.message, err.code], ['JWT authentication error', 'XX000']);
    await c.waitClosed();
    return err;
  } finally {
    c.destroy();
  }
}

async function login(token: string, port = server.pgPort, params: StartupParams = ids): Promise<RawClient> {
  const c = await RawClient.connect(port);
  await c.login(params, use(token));
  return c;
}

/** The reason the server logged for the last refusal from this client's address. */
async function loggedReason(peer: string): Promise<string> {
  const line = await server.waitForLog((l) => l.peer === peer && typeof l.reason === 'string');
  return line.reason as string;
}

describe('Postgres port: refused at login', () => {
  test('no token, garbage, a bad signature, another key, expired, not yet valid, alg none, HMAC with the public key', async () => {
    const good = skData();
    const [h, p] = good.split('.') as [string, string, string];
    const payload = b64({ scope: 'safekeeperdata' });
    const hsHead = b64({ alg: 'HS256', typ: 'JWT' });
    const hmac = createHmac('sha256', pem(pgKeyB.publicKey)).update(`${hsHead}.${payload}`).digest('base64url');
    const cases: Array<[string, string, RegExp]> = [
      ['no token', '', /three dot-separated parts/],
      ['garbage', 'not-a-jwt', /three dot-separated parts/],
      ['a bad signature', `${h}.${p}.${Buffer.alloc(64, 7).toString('base64url')}`, /signature does not verify/],
      ['another key', skData(stranger.privateKey), /signature does not verify/],
      ['expired past the leeway', sign({ scope: 'safekeeperdata', exp: now() - 120 }), /token expired/],
      ['not yet valid', sign({ scope: 'safekeeperdata', nbf: now() + 120 }), /not valid before/],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, /"none" is not EdDSA/],
      ['HMAC signed with the public key', `${hsHead}.${payload}.${hmac}`, /"HS256" is not EdDSA/],
      ['a tenant token without tenant_id', sign({ scope: 'tenant' }), /tenant id is missing/],
    ];
    for (const [, token] of cases) await assertRefusedLogin(token);
    // The reasons, one log line per refusal, with the peer.
    const refusals = server.logs.filter((l) => l.msg === 'authentication refused');
    for (const [what, , reason] of cases) assert.ok(refusals.some((l) => reason.test(String(l.reason)) && typeof l.peer === 'string'), `logged: ${what}`);
  });

  test('a query instead of the password, an oversized password (refused before its body arrives), or bytes piled up before login', async () => {
    await assertRefusedLogin(new FrontendSerializer().query('IDENTIFY_SYSTEM').flush());
    // Only the header of a 1 MiB password message: the cap refuses it on the length word.
    const header = Buffer.alloc(5);
    header.write('p', 0);
    header.writeInt32BE(1 << 20, 1);
    await assertRefusedLogin(header);
    const c = await RawClient.connect(server.pgPort);
    await c.startupUntilAuthRequest(ids);
    c.write(Buffer.alloc(64 * 1024, 0x70)); // 'p' 'p' 'p' …: a length word of 0x70707070 — or, first, too many bytes
    const err = await c.nextError();
    assert.equal(err.message, 'JWT authentication error');
    await c.waitClosed();
    c.destroy();
    assert.match(await loggedReason(c.peer), /bytes sent before authenticating|password message: message length/);
  });

  test('a full-scope token on the tenant-only port, and a tenant-only token on the main port', async () => {
    const port = server.pgTenantOnlyPort!;
    await assertRefusedLogin(skData(tenantOnlyKey.privateKey), port);
    const refusal = server.logs.filter((l) => l.msg === 'authentication refused').at(-1);
    assert.match(String(refusal?.reason), /only tenant scope is allowed/);
    // Keys are per listener: the tenant-only listener's key means nothing on the main one.
    await assertRefusedLogin(tenantToken(TENANT, tenantOnlyKey.privateKey));
  });
});

describe('Postgres port: per-command checks', () => {
  const COMMANDS = ['IDENTIFY_SYSTEM', 'TIMELINE_STATUS', 'SHOW wal_segment_size', 'START_REPLICATION PHYSICAL 0/1000000', 'JSON_CTRL {}', 'NO_SUCH_COMMAND', 'START_WAL_PUSH'];

  async function refusedEverywhere(token: string, params: StartupParams): Promise<ErrorInfo[]> {
    const c = await login(token, server.pgPort, params);
    try {
      const errors: ErrorInfo[] = [];
      for (const q of COMMANDS) {
        const r = await c.query(q);
        assert.ok(r.error, `${q} is refused`);
        assert.deepEqual([r.error.message, r.error.code], ['JWT authentication error', 'XX000'], q);
        assert.equal(r.messages.at(-1)?.kind, 'readyForQuery', `${q}: the connection stays usable`);
        errors.push(r.error);
      }
      // SET datestyle is the one command not checked (psycopg2 sends it on connect).
      assert.equal((await c.query("SET datestyle TO 'ISO'")).commandTag, 'SELECT 1');
      return errors;
    } finally {
      await c.close();
    }
  }

  test('a tenant token for another tenant logs in but every command but SET datestyle is refused, the same whether the timeline exists or not', async () => {
    const existing = await refusedEverywhere(tenantToken(OTHER_TENANT), ids);
    const missing = await refusedEverywhere(tenantToken(OTHER_TENANT), { tenantId: randomId(), timelineId: randomId() });
    assert.deepEqual(missing, existing, 'a refusal says nothing about what exists');
    const reasons = server.logs.filter((l) => l.msg === 'command refused by the token').map((l) => l.reason);
    assert.ok(reasons.includes('Tenant id mismatch. Permission denied'));
  });

  test('scopes Neon refuses for safekeepers log in, then every command is refused', async () => {
    for (const scope of ['admin', 'pageserverapi', 'generations_api', 'infra', 'scrubber', 'controller_peer']) {
      await refusedEverywhere(sign({ scope }), ids);
    }
    const reasons = new Set(server.logs.filter((l) => l.msg === 'command refused by the token').map((l) => l.reason));
    assert.ok(reasons.has("JWT scope 'Admin' is ineligible for Safekeeper auth"));
    assert.ok(reasons.has("JWT scope 'ControllerPeer' is ineligible for Safekeeper auth"));
  });

  test('a tenant token without tenant ids in the startup packet cannot reach anything', async () => {
    await refusedEverywhere(tenantToken(TENANT), {});
  });
});

describe('Postgres port: accepted', () => {
  test('safekeeperdata (signed by either key of the directory): the trust set of ParameterStatus, then commands', async () => {
    for (const key of [pgKeyA.privateKey, pgKeyB.privateKey]) {
      const c = await RawClient.connect(server.pgPort);
      const welcome = await c.login(ids, use(skData(key)));
      assert.deepEqual(
        welcome.map((m) => (m.kind === 'parameterStatus' ? `${m.name}=${m.value}` : m.kind)),
        ['authentication', 'client_encoding=UTF8', 'integer_datetimes=on', 'server_version=14.1', 'readyForQuery'],
      );
      const st = await c.query('TIMELINE_STATUS');
      assert.equal(st.error, null);
      assert.deepEqual(st.rows, [['0/1000028', '0/1000028']]);
      assert.equal((await c.query('IDENTIFY_SYSTEM')).rows[0]?.[0], String(SYSTEM_ID));
      await c.close();
    }
  });

  test('a tenant token for the right tenant, on both ports; exp within the leeway; an upper-case tenant id', async () => {
    for (const [port, key] of [[server.pgPort, pgKeyA.privateKey], [server.pgTenantOnlyPort!, tenantOnlyKey.privateKey]] as const) {
      const c = await login(sign({ scope: 'tenant', tenant_id: TENANT.toUpperCase(), exp: now() - 30 }, key), port);
      assert.equal((await c.query('IDENTIFY_SYSTEM')).error, null);
      assert.equal((await c.query('SHOW wal_segment_size')).rows[0]?.[0], '16MB');
      await c.startWalPush(); // passes the check: CopyBothResponse
      c.destroy();
    }
  });

  test('the refused client learned nothing; an accepted one did not block the others', async () => {
    // The login path holds no state between connections: ten refusals and ten logins at once.
    const tasks = [];
    for (let i = 0; i < 10; i++) {
      tasks.push(assertRefusedLogin(skData(stranger.privateKey)));
      tasks.push(login(skData()).then((c) => c.close()));
    }
    await Promise.all(tasks);
  });
});

describe('a tenant-only listener without its key', () => {
  test('is unauthenticated, as in Neon, while the main listener keeps its auth', async () => {
    const dir = await tempDataDir('sk-auth-open-');
    const keyFile = path.join(dir, 'pg.pem');
    await writeFile(keyFile, pem(pgKeyA.publicKey));
    const s = await startServer({ datadir: dir, extraArgs: ['--pg-auth-public-key-path', keyFile, '--listen-pg-tenant-only', '127.0.0.1:0'] });
    try {
      const open = await RawClient.connect(s.pgTenantOnlyPort!);
      const welcome = await open.startup(ids);
      assert.equal(welcome[0]?.kind === 'authentication' && welcome[0].code, 0, 'AuthenticationOk at once');
      await open.close();
      const guarded = await RawClient.connect(s.pgPort);
      const ask = await guarded.startupUntilAuthRequest(ids);
      assert.equal(ask.kind === 'authentication' && ask.code, 3, 'AuthenticationCleartextPassword');
      guarded.destroy();
    } finally {
      await stopServer(s);
      await removeDir(dir);
    }
  });
});

describe('HTTP API', () => {
  const bearer = (t: string) => ({ authorization: `Bearer ${use(t)}` });
  const get = async (p: string, headers: Record<string, string> = {}) => {
    const r = await server.http(p, { headers });
    return { status: r.status, msg: ((await r.json()) as { msg?: string }).msg };
  };
  const statusPath = `/v1/tenant/${TENANT}/timeline/${TIMELINE}`;

  test('exact /v1/status and /metrics are open; anything added to the URI needs a token', async () => {
    assert.equal((await server.http('/v1/status')).status, 200);
    assert.equal((await server.http('/metrics')).status, 200);
    assert.deepEqual(await get('/v1/status?x=1'), { status: 401, msg: 'Unauthorized: missing authorization header' });
    assert.equal((await server.http('/metrics?x=1')).status, 401);
    assert.equal((await get('/v1/status?x=1', bearer(tenantToken(TENANT, httpKey.privateKey)))).status, 403, '/v1/status itself wants safekeeperdata');
    assert.equal((await get('/v1/status?x=1', bearer(skData(httpKey.privateKey)))).status, 200);
  });

  test('401 for a missing or malformed header, 403 for a bad token, wrong scope or wrong tenant', async () => {
    const forbidden = { status: 403, msg: 'Forbidden: JWT authentication error' };
    assert.deepEqual(await get(statusPath), { status: 401, msg: 'Unauthorized: missing authorization header' });
    for (const value of ['Basic abc', 'Bearer', 'bearer x']) {
      assert.deepEqual(await get(statusPath, { authorization: value }), { status: 401, msg: 'Unauthorized: malformed authorization header' }, value);
    }
    assert.deepEqual(await get(statusPath, bearer('garbage')), forbidden);
    assert.deepEqual(await get(statusPath, bearer(skData(pgKeyA.privateKey))), forbidden, 'the pg key does not open HTTP');
    assert.deepEqual(await get(statusPath, bearer(sign({ scope: 'safekeeperdata', exp: now() - 120 }, httpKey.privateKey))), forbidden);
    assert.deepEqual(await get(statusPath, bearer(sign({ scope: 'admin' }, httpKey.privateKey))), forbidden);
    assert.deepEqual(await get(statusPath, bearer(tenantToken(OTHER_TENANT, httpKey.privateKey))), forbidden);
    // No leak: a timeline that does not exist answers the wrong tenant the same way.
    assert.deepEqual(await get(`/v1/tenant/${TENANT}/timeline/${randomId()}`, bearer(tenantToken(OTHER_TENANT, httpKey.privateKey))), forbidden);
    // safekeeperdata-only routes refuse tenant tokens.
    assert.deepEqual(await get('/v1/tenant/timeline', bearer(tenantToken(TENANT, httpKey.privateKey))), forbidden);
    const cp = await server.http(`${statusPath}/checkpoint`, { method: 'POST', headers: bearer(tenantToken(TENANT, httpKey.privateKey)) });
    assert.equal(cp.status, 403);
    const refusals = server.logs.filter((l) => l.msg === 'HTTP request refused');
    assert.ok(refusals.some((l) => l.reason === 'Tenant id mismatch. Permission denied' && typeof l.peer === 'string'));
    assert.ok(refusals.some((l) => /signature does not verify/.test(String(l.reason))));
  });

  test('accepted: tenant token on its own tenant, safekeeperdata everywhere', async () => {
    assert.equal((await get(statusPath, bearer(tenantToken(TENANT, httpKey.privateKey)))).status, 200);
    assert.equal((await server.http(statusPath, { headers: bearer(skData(httpKey.privateKey)) })).status, 200);
    assert.equal((await server.http('/v1/tenant/timeline', { headers: bearer(skData(httpKey.privateKey)) })).status, 200);
    const bump = await server.http(`${statusPath}/term_bump`, { method: 'POST', headers: bearer(tenantToken(TENANT, httpKey.privateKey)), body: '{}' });
    assert.equal(bump.status, 200);
    // Creation takes the tenant from the body.
    const body = (tenant: string) => `{"tenant_id":"${tenant}","timeline_id":"${randomId()}","pg_version":150000,"commit_lsn":"0/1000028"}`;
    const mine = await server.http('/v1/tenant/timeline', { method: 'POST', headers: bearer(tenantToken(TENANT, httpKey.privateKey)), body: body(TENANT) });
    assert.equal(mine.status, 200);
    const theirs = await server.http('/v1/tenant/timeline', { method: 'POST', headers: bearer(tenantToken(TENANT, httpKey.privateKey)), body: body(OTHER_TENANT) });
    assert.equal(theirs.status, 403);
  });
});

describe('HTTP API: every route Neon protects', () => {
  test('no header 401; another tenant 403; a tenant token on a safekeeperdata-only route 403; the right token passes', async () => {
    const spare = randomId();
    const spareTl = randomId();
    const mconf = '{"generation":1,"members":[{"id":1,"host":"127.0.0.1","pg_port":1}],"new_members":null}';
    // [method, path, body, who may: 'tenant' (of `spare`) or 'sk']
    const routes: Array<[string, string, string | undefined, 'tenant' | 'sk']> = [
      ['GET', '/v1/status?probe=1', undefined, 'sk'],
      ['GET', '/v1/tenant/timeline', undefined, 'sk'],
      ['POST', '/v1/tenant/timeline', `{"tenant_id":"${spare}","timeline_id":"${spareTl}","pg_version":150000,"commit_lsn":"0/1000028"}`, 'tenant'],
      ['GET', `/v1/tenant/${spare}/timeline/${spareTl}`, undefined, 'tenant'],
      ['POST', `/v1/tenant/${spare}/timeline/${spareTl}/term_bump`, '{}', 'tenant'],
      ['POST', `/v1/tenant/${spare}/timeline/${spareTl}/checkpoint`, undefined, 'sk'],
      ['PUT', `/v1/tenant/${spare}/timeline/${spareTl}/membership`, mconf, 'tenant'],
      ['PUT', `/v1/tenant/${spare}/timeline/${randomId()}/exclude`, mconf, 'tenant'],
      ['PUT', '/v1/failpoints', '[]', 'sk'],
      ['DELETE', `/v1/tenant/${spare}/timeline/${spareTl}`, undefined, 'tenant'],
      ['DELETE', `/v1/tenant/${spare}`, undefined, 'tenant'],
    ];
    const call = async (method: string, p: string, body: string | undefined, token: string | null) => {
      const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${use(token)}` };
      const r = await server.http(p, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await r.text();
      // Membership refusals are 403s too (Neon's); only the auth refusal says this.
      return r.status === 403 && !text.includes('Forbidden: JWT authentication error') ? `${r.status} ${text}` : r.status;
    };
    const h = httpKey.privateKey;
    for (const [method, p, body, who] of routes) {
      const what = `${method} ${p}`;
      assert.equal(await call(method, p, body, null), 401, what);
      assert.equal(await call(method, p, body, tenantToken(OTHER_TENANT, h)), 403, what);
      assert.equal(await call(method, p, body, sign({ scope: 'admin' }, h)), 403, what);
      if (who === 'sk') assert.equal(await call(method, p, body, tenantToken(spare, h)), 403, `${what}: safekeeperdata only`);
      const right = who === 'sk' ? skData(h) : tenantToken(spare, h);
      const status = await call(method, p, body, right);
      assert.ok(status !== 401 && status !== 403, `${what} with the right token: ${status}`);
      if (what.includes('/exclude')) assert.match(String(status), /^403 .*Forbidden/, 'exclude got past auth to its own refusal');
    }
  });
});

describe('inspector', () => {
  const base = () => `http://127.0.0.1:${server.inspectorPort}`;

  function upgrade(query: string, headers: Record<string, string> = {}): Promise<{ ok: true; ws: WebSocket } | { ok: false; status: number }> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.inspectorPort}/ws${query}`, { headers });
      ws.once('open', () => resolve({ ok: true, ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ ok: false, status: res.statusCode ?? 0 }));
      ws.once('error', () => {});
    });
  }

  test('the page, its files and /stats need a safekeeperdata token; ?token= becomes an HttpOnly cookie', async () => {
    assert.equal((await fetch(`${base()}/`)).status, 401);
    assert.equal((await fetch(`${base()}/inspector.css`)).status, 401);
    assert.equal((await fetch(`${base()}/stats`)).status, 401);
    assert.equal((await fetch(`${base()}/?token=${use(tenantToken(TENANT, httpKey.privateKey))}`)).status, 403);
    assert.equal((await fetch(`${base()}/?token=${use(skData(pgKeyA.privateKey))}`)).status, 403);
    const token = use(skData(httpKey.privateKey));
    const page = await fetch(`${base()}/?token=${token}`);
    assert.equal(page.status, 200);
    const cookie = page.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^sk_inspector_token=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
    const jar = cookie.split(';')[0]!;
    assert.equal((await fetch(`${base()}/inspector.css`, { headers: { cookie: jar } })).status, 200);
    assert.equal((await fetch(`${base()}/stats`, { headers: { cookie: jar } })).status, 200);
    assert.equal((await fetch(`${base()}/stats`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  test('/ws in both formats: refused without a good token, served with one from the query or the cookie', async () => {
    assert.deepEqual(await upgrade(''), { ok: false, status: 401 });
    assert.deepEqual(await upgrade(`?format=statelyai&token=${use(tenantToken(TENANT, httpKey.privateKey))}`), { ok: false, status: 403 });
    const token = use(skData(httpKey.privateKey));
    for (const [query, headers] of [[`?token=${token}`, {}], [`?format=statelyai&token=${token}`, {}], ['', { cookie: `sk_inspector_token=${token}` }]] as const) {
      const r = await upgrade(query, headers);
      assert.ok(r.ok, `upgrade ${query || 'with the cookie'}`);
      r.ws.close();
    }
    const refusal = server.logs.filter((l) => l.msg === 'inspector request refused').at(-1);
    assert.match(String(refusal?.url), /token=REDACTED/, 'URLs are logged with the token redacted');
  });
});
