// The `safekeeper` command line as an operator meets it: help, argument
// errors, data dir and node id rules, the pid lock, Neon flags we only accept,
// refused auth flags, graceful SIGTERM, and --dump-control-file.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import { parseJsonBigintSafe } from '../../src/http/json.js';
import { cliPath, killServer, removeDir, startServer, stopServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';
import { FIRST_RECORD_LSN, RawProposer, randomId } from '../helpers/raw-client.js';

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (it must exit by itself within `timeoutMs`). */
function runCli(args: string[], timeoutMs = 10_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [cliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`safekeeper ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/** Local-only listeners on OS-chosen ports, so refused starts never collide with anything. */
const LISTEN = ['--listen-pg', '127.0.0.1:0', '--listen-http', '127.0.0.1:0', '--log-format', 'json'];

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const cleanup: Array<() => Promise<void>> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function dataDir(): Promise<string> {
  const dir = await tempDataDir('sk-cli-');
  cleanup.push(() => removeDir(dir));
  return dir;
}

async function server(opts: Parameters<typeof startServer>[0]): Promise<ServerProcess> {
  const s = await startServer(opts);
  cleanup.push(() => killServer(s));
  return s;
}

// Neon's flags (observability.md §3), all of which a drop-in must know.
const NEON_FLAGS = [
  '-D', '--datadir', '--id', '--init', '-l', '--listen-pg', '--listen-pg-tenant-only', '--listen-http',
  '--availability-zone', '-n', '--no-sync', '--dump-control-file', '--pg-auth-public-key-path',
  '--pg-tenant-only-auth-public-key-path', '--http-auth-public-key-path', '--log-format', '--current-thread-runtime',
  '--walsenders-keep-horizon', '--control-file-save-interval', '--advertise-pg', '--broker-endpoint',
  '--broker-keepalive-interval', '--heartbeat-timeout', '--peer-recovery', '--remote-storage', '--max-offloader-lag',
  '--wal-backup-parallel-jobs', '--disable-wal-backup', '--partial-backup-timeout', '--partial-backup-concurrency',
  '--disable-periodic-broker-push', '--enable-offload', '--delete-offloaded-wal', '--eviction-min-resident',
  '-h', '--help', '-V', '--version',
];

describe('arguments', () => {
  test('--help lists every flag and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    const listed = new Set(r.stdout.match(/(?<![\w-])--?[a-zA-Z][\w-]*/g));
    const missing = NEON_FLAGS.filter((f) => !listed.has(f));
    assert.deepEqual(missing, [], 'flags missing from --help');
    // -h is the same.
    assert.equal((await runCli(['-h'])).stdout, r.stdout);
  });

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), `safekeeper-ts ${pkg.version}`);
  });

  test('an unknown flag exits 2 and names it', async () => {
    const r = await runCli(['--bogus-flag', '-D', '/nonexistent']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim(), "safekeeper: unknown argument '--bogus-flag' (see --help)");
  });

  test('a flag without its value exits 2', async () => {
    const r = await runCli(['-D', '/tmp', '--id']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'safekeeper: --id needs a value <U64>');
  });

  test('an auth key path that is missing, empty of keys, or not Ed25519 stops startup before the data dir is touched', async () => {
    const dir = await dataDir();
    const missing = await runCli(['-D', dir, '--id', '1', ...LISTEN, '--pg-auth-public-key-path', 'no-such-key.pem']);
    assert.equal(missing.code, 1);
    // A relative path is read from the data dir, as Neon reads it after changing into that dir.
    assert.match(missing.stderr, new RegExp(`^safekeeper: --pg-auth-public-key-path: ENOENT.*${path.join(dir, 'no-such-key.pem')}`));
    const keyDir = path.join(dir, 'keys');
    await mkdir(keyDir);
    const empty = await runCli(['-D', dir, '--id', '1', ...LISTEN, '--http-auth-public-key-path', keyDir]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /--http-auth-public-key-path: .*Configured for JWT auth with zero decoding keys/);
    await writeFile(path.join(keyDir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const rsa = await runCli(['-D', dir, '--id', '1', ...LISTEN, '--pg-tenant-only-auth-public-key-path', keyDir]);
    assert.equal(rsa.code, 1);
    assert.match(rsa.stderr, /--pg-tenant-only-auth-public-key-path: .*rsa\.pem: a rsa key; only Ed25519 keys are accepted/);
    await assert.rejects(readFile(path.join(dir, 'safekeeper.id')), { code: 'ENOENT' });
  });

  test('a missing data dir is an error naming it', async () => {
    const missing = path.join(await dataDir(), 'no-such-dir');
    const r = await runCli(['-D', missing, '--id', '1', ...LISTEN]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `safekeeper: data directory ${missing} does not exist (create it first)`);
  });

  test('no --id on a fresh data dir is an error', async () => {
    const dir = await dataDir();
    const r = await runCli(['-D', dir, ...LISTEN]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `safekeeper: safekeeper id is not specified (--id) and ${path.join(dir, 'safekeeper.id')} does not exist`);
  });
});

describe('data dir', () => {
  test('--id is persisted to safekeeper.id; a different --id on restart is refused', async () => {
    const dir = await dataDir();
    const s = await server({ datadir: dir, id: 5, noSync: true });
    assert.deepEqual(await (await s.http('/v1/status')).json(), { id: 5 });
    assert.equal(await stopServer(s), 0);
    assert.equal(await readFile(path.join(dir, 'safekeeper.id'), 'utf8'), '5');

    const other = await runCli(['-D', dir, '--id', '6', ...LISTEN]);
    assert.equal(other.code, 1);
    assert.equal(other.stderr.trim(), "safekeeper: safekeeper already initialized with id 5, can't set 6");
    assert.equal(await readFile(path.join(dir, 'safekeeper.id'), 'utf8'), '5', 'the id file is untouched');

    // Without --id the stored one is used.
    const init = await runCli(['-D', dir, '--init', '--log-format', 'json']);
    assert.equal(init.code, 0, init.stderr);
    const line = jsonLines(init.stdout).find((l) => l.msg === 'safekeeper initialized');
    assert.equal(line?.id, '5');
  });

  test('a second process on the same data dir is refused (pid lock); a stale pid file is not', async () => {
    const dir = await dataDir();
    const first = await server({ datadir: dir, id: 1, noSync: true });
    const second = await runCli(['-D', dir, '--id', '1', ...LISTEN]);
    assert.equal(second.code, 1);
    assert.equal(second.stderr.trim(), `safekeeper: another safekeeper (pid ${first.proc.pid}) is running on ${dir}`);
    assert.equal(first.proc.exitCode, null, 'the first one is unaffected');
    assert.equal((await first.http('/v1/status')).status, 200);

    // SIGKILL leaves the pid file behind; the next start must take it over.
    await killServer(first);
    assert.equal((await readFile(path.join(dir, 'safekeeper.pid'), 'utf8')).trim(), String(first.proc.pid));
    const third = await server({ datadir: dir, id: 1, noSync: true });
    assert.equal((await third.http('/v1/status')).status, 200);
    assert.equal((await readFile(path.join(dir, 'safekeeper.pid'), 'utf8')).trim(), String(third.proc.pid));
    assert.equal(await stopServer(third), 0);
  });

  test('a pid file that holds garbage is refused with a hint', async () => {
    const dir = await dataDir();
    await writeFile(path.join(dir, 'safekeeper.pid'), 'not a pid');
    const r = await runCli(['-D', dir, '--id', '1', ...LISTEN]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /safekeeper\.pid holds 'not a pid', not a pid; remove it if no safekeeper is running/);
  });
});

describe('Neon compatibility flags', () => {
  test('inert Neon flags are accepted, each with a warning log line', async () => {
    const inert = ['--broker-endpoint', 'http://x', '--peer-recovery', 'false', '--remote-storage', '{}', '--disable-wal-backup'];
    const s = await server({ noSync: true, extraArgs: inert });
    cleanup.push(() => removeDir(s.datadir));
    for (const flag of ['--broker-endpoint', '--peer-recovery', '--remote-storage', '--disable-wal-backup']) {
      const line = s.logs.find((l) => l.flag === flag);
      assert.ok(line, `a log line about ${flag}`);
      assert.equal(line.level, 40, `${flag} is logged as a warning`);
      assert.match(String(line.msg), new RegExp(`${flag} is accepted for compatibility but does nothing`));
    }
    assert.equal((await s.http('/v1/status')).status, 200);
    assert.equal(await stopServer(s), 0);
  });

  test('--peer-recovery takes true or false only', async () => {
    const r = await runCli(['-D', '/tmp', '--id', '1', '--peer-recovery', 'maybe']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), "safekeeper: --peer-recovery: expected true or false, got 'maybe'");
  });

  test('--warmup-commits: the throwaway safekeeper runs before the listeners and leaves nothing behind', async () => {
    const before = new Set((await readdir(os.tmpdir())).filter((n) => n.startsWith('safekeeper-warmup-')));
    const s = await server({ noSync: true, extraArgs: ['--warmup-commits', '300'] });
    const done = s.logs.findIndex((l) => l.msg === 'warm-up done');
    const started = s.logs.findIndex((l) => l.msg === 'safekeeper started');
    assert.ok(done >= 0 && done < started, 'warm-up finishes before the safekeeper starts listening');
    assert.equal(s.logs[done]!.commits, 300);
    // Nothing of it is visible: no timeline, no traffic in the metrics, no directory left.
    assert.equal(await (await s.http('/v1/tenant/timeline')).text(), '[]');
    const metrics = await (await s.http('/metrics')).text();
    assert.match(metrics, /^safekeeper_pg_queries_received_total\{query="START_WAL_PUSH"\} 0$/m);
    assert.match(metrics, /^safekeeper_write_wal_bytes_count 0$/m);
    const after = (await readdir(os.tmpdir())).filter((n) => n.startsWith('safekeeper-warmup-') && !before.has(n));
    assert.deepEqual(after, []);
    assert.equal(await stopServer(s), 0);
    // SIGTERM during a long warm-up: a prompt, clean exit 0, and its temp dir gone.
    const dir = await dataDir();
    const proc = spawn(process.execPath, [cliPath(), '-D', dir, '--id', '1', ...LISTEN, '--no-sync', '--warmup-commits', '1000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    // Wait until the throwaway safekeeper exists (its temp dir does), then stop the process.
    const warmupDir = async () => (await readdir(os.tmpdir())).filter((n) => n.startsWith('safekeeper-warmup-') && !before.has(n));
    for (let i = 0; i < 100 && (await warmupDir()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    assert.ok(Date.now() - t0 < 5000, 'stopped within seconds');
    assert.match(out, /shutting down during the warm-up/);
    assert.doesNotMatch(out, /safekeeper started/);
    assert.deepEqual(await warmupDir(), []);
    // Only an optimisation: without a usable temp dir the safekeeper starts anyway, with a warning.
    const cold = await startServer({ noSync: true, extraArgs: ['--warmup-commits', '10'], env: { ...process.env, TMPDIR: '/nonexistent-tmp' } });
    cleanup.push(() => killServer(cold));
    assert.ok(cold.logs.some((l) => l.msg === 'warm-up failed; starting without it' && /nonexistent-tmp/.test(String(l.err))));
    assert.equal((await cold.http('/v1/status')).status, 200);
    const bad = await runCli(['-D', '/tmp', '--id', '1', '--warmup-commits', 'many']);
    assert.deepEqual([bad.code, bad.stderr.trim()], [2, "safekeeper: --warmup-commits: expected a number of commits, got 'many'"]);
  });

  test('an empty --pg-auth-public-key-path means no auth, as in Neon', async () => {
    const s = await server({ noSync: true, extraArgs: ['--pg-auth-public-key-path', ''] });
    cleanup.push(() => removeDir(s.datadir));
    assert.equal((await s.http('/v1/status')).status, 200);
    assert.equal(await stopServer(s), 0);
  });
});

/** --dump-control-file of a timeline's control file: the raw text and its bigint-safe parse. */
async function dumpControlFile(datadir: string, tenantId: string, timelineId: string): Promise<{ text: string; json: Record<string, unknown> }> {
  const r = await runCli(['--dump-control-file', path.join(datadir, tenantId, timelineId, 'safekeeper.control')]);
  assert.equal(r.code, 0, r.stderr);
  return { text: r.stdout, json: parseJsonBigintSafe(r.stdout) as Record<string, unknown> };
}

describe('shutdown and the control file', () => {
  test('SIGTERM while a connection streams: exit 0 within seconds, control file holds the in-memory commit_lsn', async () => {
    const dir = await dataDir();
    const s = await server({ datadir: dir, id: 3 });
    const tenantId = randomId();
    const timelineId = randomId();
    const p = await RawProposer.start(s.pgPort, { tenantId, timelineId, systemId: 7439181208386574123n });
    for (let i = 0; i < 20; i++) await p.append(16_384);
    // The next appends carry commit_lsn = what was acknowledged; make the server learn a late one.
    p.heartbeat();
    const http = async () => (await (await s.http(`/v1/tenant/${tenantId}/timeline/${timelineId}`)).json()) as Record<string, string>;
    const deadline = Date.now() + 5000;
    while ((await http()).commit_lsn !== formatLsn(p.acked)) {
      assert.ok(Date.now() < deadline, 'the heartbeat commit_lsn reaches the server');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Saved lazily (every 300 s by default): the control file lags the in-memory commit_lsn now.
    const before = await dumpControlFile(dir, tenantId, timelineId);
    const knownCommit = p.acked;
    assert.ok(parseLsn(before.json.commit_lsn as string) < knownCommit, `control file commit_lsn ${String(before.json.commit_lsn)} lags ${formatLsn(knownCommit)}`);

    p.startStreaming(16_384, 0);
    await new Promise((r) => setTimeout(r, 150));
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    // A hung shutdown must fail here, not hang the suite (cleanup SIGKILLs the process).
    const exit = await Promise.race([s.exited, new Promise<null>((r) => setTimeout(() => r(null), 5000).unref())]);
    const took = Date.now() - t0;
    assert.ok(exit, `exited within 5 s of SIGTERM (still running after ${took} ms)`);
    const { code, signal } = exit;
    await p.stopStreaming();
    assert.equal(signal, null);
    assert.equal(code, 0, 'exit code');
    assert.ok(took < 3000, `exited within 3 s (took ${took} ms)`);
    assert.ok(p.client.ended, 'the streaming connection was closed by the server');

    // The connection's last in-memory commit_lsn, as logged when it closed on shutdown.
    const closed = s.logs.find((l) => String(l.msg).startsWith('WAL push connection closed'));
    assert.ok(closed, 'the WAL push connection logged its close');
    assert.ok(s.logs.some((l) => l.msg === 'safekeeper stopped'));
    const inMemoryCommit = parseLsn(String(closed.commit_lsn));
    assert.ok(inMemoryCommit >= knownCommit);

    const afterStop = await dumpControlFile(dir, tenantId, timelineId);
    assert.equal(afterStop.json.commit_lsn, formatLsn(inMemoryCommit), 'control file commit_lsn = in-memory commit_lsn at shutdown');
    assert.ok(parseLsn(afterStop.json.commit_lsn as string) <= p.acked, 'commit_lsn never passes acknowledged WAL');
    assert.equal((afterStop.json.server as Record<string, unknown>).system_id, 7439181208386574123n);
    assert.match(afterStop.text, /"system_id":7439181208386574123[,}]/, 'system_id exact in the JSON text');
    assert.equal(afterStop.json.tenant_id, tenantId);
    assert.equal(afterStop.json.timeline_id, timelineId);
    assert.equal(afterStop.json.proposer_uuid, p.proposerId);
    assert.equal(afterStop.json.timeline_start_lsn, formatLsn(FIRST_RECORD_LSN));
    assert.deepEqual(afterStop.json.acceptor_state, { term: 1, term_history: [{ term: 1, lsn: formatLsn(FIRST_RECORD_LSN) }] });
    assert.equal((await readFile(path.join(dir, 'safekeeper.pid')).catch(() => null)), null, 'pid file removed on a clean exit');
  });

  test('--dump-control-file prints Neon\'s field names in order, one line without a newline', async () => {
    const dir = await dataDir();
    const s = await server({ datadir: dir, id: 2, noSync: true });
    const tenantId = randomId();
    const timelineId = randomId();
    const res = await s.http('/v1/tenant/timeline', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"tenant_id":"${tenantId}","timeline_id":"${timelineId}","pg_version":160002,"system_id":18446744073709551615,"commit_lsn":"0/1696F28"}`,
    });
    assert.equal(res.status, 200);
    assert.equal(await stopServer(s), 0);
    const { text, json } = await dumpControlFile(dir, tenantId, timelineId);
    assert.ok(!text.includes('\n'), 'no newline');
    assert.deepEqual(Object.keys(json), [
      'tenant_id', 'timeline_id', 'mconf', 'acceptor_state', 'server', 'proposer_uuid', 'timeline_start_lsn', 'local_start_lsn',
      'commit_lsn', 'backup_lsn', 'peer_horizon_lsn', 'remote_consistent_lsn', 'partial_backup', 'eviction_state', 'creation_ts',
    ]);
    assert.deepEqual(json.mconf, { generation: 0, members: [], new_members: null });
    assert.deepEqual(Object.keys(json.acceptor_state as object), ['term', 'term_history']);
    assert.deepEqual(Object.keys(json.server as object), ['pg_version', 'system_id', 'wal_seg_size']);
    assert.deepEqual(json.partial_backup, { segments: [] });
    assert.equal(json.eviction_state, 'Present');
    assert.match(text, /"server":\{"pg_version":160002,"system_id":18446744073709551615,"wal_seg_size":16777216\}/);
    assert.equal(json.commit_lsn, '0/1696F28');
    assert.equal(json.local_start_lsn, '0/1000000');
    assert.equal(json.proposer_uuid, '0'.repeat(32));
  });

  test('--dump-control-file on a missing file fails with the path', async () => {
    const missing = path.join(await dataDir(), 'nope', 'safekeeper.control');
    const r = await runCli(['--dump-control-file', missing]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(missing), r.stderr);
  });
});
