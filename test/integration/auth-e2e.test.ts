// Auth on, end to end (issue 11): keys and tokens from the `safekeeper-token` command; three
// safekeeper processes with JWT on their Postgres and HTTP ports; real PostgreSQL 15 WAL (the
// fixture segment) streamed into them by `safekeeper-push` (the proposer client) with a tenant
// token; then pg_receivewal reads it back off one of them with a token as its password,
// byte-identical, and is refused with a token for another tenant or none at all.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { timelineStatus } from '../../src/client/timeline-status.js';
import { formatLsn } from '../../src/lsn.js';
import { fixturesDir, repoRoot } from '../helpers/paths.js';
import { pgRun, pgWorkDir, postgresMissing } from '../helpers/postgres.js';
import { SEG, randomTtid } from '../helpers/cluster.js';
import { removeDir, startServer, stopServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const SEGMENT = '000000010000000000000001';
const FIXTURE_SYSTEM_ID = '7712208890765003361';
const START = 0x1000028n;
/** The last record of the fixture segment starts here and ends in the next segment, which we do not have. */
const END = 0x1ffee08n;

const servers: ServerProcess[] = [];
const dirs: string[] = [];
after(async () => {
  for (const s of servers) await stopServer(s).catch(() => {});
  for (const d of dirs) await removeDir(d);
});

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'src', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function token(keyDir: string, scope: string, tenant?: string): Promise<string> {
  const r = await run('token-cli.js', ['mint', '--private-key', path.join(keyDir, 'auth_private_key.pem'), '--scope', scope, ...(tenant ? ['--tenant-id', tenant] : []), '--ttl', '1h']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test('safekeeper-token makes keys and tokens; its refusals are clear', async () => {
  const dir = await tempDataDir('sk-token-');
  dirs.push(dir);
  const keygen = await run('token-cli.js', ['keygen', dir]);
  assert.equal(keygen.code, 0, keygen.stderr);
  assert.match(await readFile(path.join(dir, 'auth_public_key.pem'), 'utf8'), /BEGIN PUBLIC KEY/);
  const noTenant = await run('token-cli.js', ['mint', '--private-key', path.join(dir, 'auth_private_key.pem'), '--scope', 'tenant']);
  assert.deepEqual([noTenant.code, noTenant.stderr.trim()], [2, 'safekeeper-token: a tenant token needs --tenant-id']);
  const badScope = await run('token-cli.js', ['mint', '--private-key', path.join(dir, 'auth_private_key.pem'), '--scope', 'root']);
  assert.deepEqual([badScope.code, badScope.stderr.trim()], [2, "safekeeper-token: unknown scope 'root'"]);
  const t = await token(dir, 'tenant', 'AB'.repeat(16));
  const claims = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { scope: string; tenant_id: string; exp: number };
  assert.equal(claims.scope, 'tenant');
  assert.equal(claims.tenant_id, 'ab'.repeat(16));
  assert.ok(Math.abs(claims.exp - (Date.now() / 1000 + 3600)) < 60);
});

test('auth on: three safekeepers take real WAL from the proposer client with a tenant token; pg_receivewal reads it back with a token', { skip: postgresMissing(), timeout: 180_000 }, async () => {
  const keys = await tempDataDir('sk-keys-');
  dirs.push(keys);
  assert.equal((await run('token-cli.js', ['keygen', keys])).code, 0);
  const pub = path.join(keys, 'auth_public_key.pem');
  for (const id of [1, 2, 3]) {
    servers.push(await startServer({ id, extraArgs: ['--pg-auth-public-key-path', pub, '--http-auth-public-key-path', pub] }));
  }
  const ttid = randomTtid();
  const walDir = await tempDataDir('sk-pgwal-');
  dirs.push(walDir);
  await writeFile(path.join(walDir, SEGMENT), gunzipSync(await readFile(path.join(fixturesDir(), `pg15-wal-${SEGMENT}.gz`))));
  const tenantTok = await token(keys, 'tenant', ttid.tenantId);
  const pushArgs = [
    '--safekeepers', servers.map((s) => `127.0.0.1:${s.pgPort}`).join(','),
    '--wal-dir', walDir,
    '--start-lsn', formatLsn(START),
    '--end-lsn', formatLsn(END),
    '--system-id', FIXTURE_SYSTEM_ID,
    '--tenant', ttid.tenantId,
    '--timeline', ttid.timelineId,
    '--pg-version', '150000',
  ];
  // Without a token the push cannot even log in; with another tenant's it is refused at START_WAL_PUSH.
  const anonymous = await run('push-cli.js', pushArgs, { NEON_AUTH_TOKEN: '' });
  assert.notEqual(anonymous.code, 0);
  const otherTenant = await run('push-cli.js', [...pushArgs, '--token', await token(keys, 'tenant', randomTtid().tenantId)]);
  assert.notEqual(otherTenant.code, 0);
  assert.match(otherTenant.stderr, /JWT authentication error/);
  // The token from the environment, as the walproposer takes it.
  const push = await run('push-cli.js', pushArgs, { NEON_AUTH_TOKEN: tenantTok });
  assert.equal(push.code, 0, push.stderr);
  for (const s of servers) {
    const st = await timelineStatus('127.0.0.1', s.pgPort, ttid, { password: tenantTok });
    assert.deepEqual(st, { flushLsn: END, commitLsn: END }, `safekeeper ${s.id} has all of it flushed and committed`);
    const http = await s.http(`/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}`, { headers: { authorization: `Bearer ${tenantTok}` } });
    assert.equal(http.status, 200);
  }

  // pg_receivewal, the token as its password. It starts at the segment of an existing .partial.
  const receive = async (password: string | null) => {
    const dir = await pgWorkDir('sk-recv-auth-');
    dirs.push(dir);
    await pgRun('/usr/bin/truncate', ['-s', String(SEG), path.join(dir, `${SEGMENT}.partial`)]);
    const options = `options='-c timeline_id=${ttid.timelineId} tenant_id=${ttid.tenantId}'`;
    const conninfo = `host=127.0.0.1 port=${servers[0]!.pgPort} user=postgres ${options}${password === null ? '' : ` password=${password}`}`;
    const r = await pgRun('pg_receivewal', ['-D', dir, '-d', conninfo, '--endpos', formatLsn(END - 1n), '-n', '--no-password'], { allowFail: true, timeoutMs: 60_000 });
    return { ...r, dir };
  };
  const none = await receive(null);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no password supplied/);
  const wrong = await receive(await token(keys, 'tenant', randomTtid().tenantId));
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /JWT authentication error/);
  const ok = await receive(tenantTok);
  assert.equal(ok.code, 0, ok.stderr);
  const got = await readFile(path.join(ok.dir, `${SEGMENT}.partial`));
  const want = await readFile(path.join(walDir, SEGMENT));
  assert.ok(got.subarray(Number(START % BigInt(SEG)), Number(END % BigInt(SEG))).equals(want.subarray(Number(START % BigInt(SEG)), Number(END % BigInt(SEG)))), 'the fixture bytes, through auth both ways');
  // And with a safekeeperdata token, as a peer or the pageserver would.
  const peer = await receive(await token(keys, 'safekeeperdata'));
  assert.equal(peer.code, 0, peer.stderr);
});
