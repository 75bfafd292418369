// Real PostgreSQL 15 end to end (issue 9): a primary writes WAL (initdb, pgbench, a WAL switch, a
// base backup, more writes); safekeeper-push puts it into three safekeeper processes;
// pg_receivewal archives it back off one of them byte-identical to the primary's own segments; and
// the base backup, started as a hot standby streaming from a safekeeper, replays it and answers
// queries with the primary's data.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatLsn, parseLsn, type Lsn } from '../../src/lsn.js';
import { segmentFileName } from '../../src/storage/wal-format.js';
import { repoRoot } from '../helpers/paths.js';
import { PgCluster, pgRun, pgWorkDir, postgresMissing } from '../helpers/postgres.js';
import { removeDir, restartablePort, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { SEG, randomTtid, waitUntil } from '../helpers/cluster.js';

const skip = postgresMissing();
const clusters: PgCluster[] = [];
const servers: ServerProcess[] = [];
after(async () => {
  for (const c of clusters) await c.remove().catch(() => {});
  for (const s of servers) {
    await stopServer(s).catch(() => {});
    await removeDir(s.datadir);
  }
});

const segOf = (lsn: Lsn) => lsn / BigInt(SEG);

function node(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** pg_receivewal from `start`'s segment to just past `end - 1`; returns the seconds it took. */
async function receive(dir: string, conninfo: string, start: Lsn, end: Lsn): Promise<number> {
  await pgRun('/usr/bin/touch', [path.join(dir, '.keep')]);
  await pgRun('/usr/bin/truncate', ['-s', String(SEG), path.join(dir, `${segmentFileName(segOf(start), SEG)}.partial`)]);
  const t0 = performance.now();
  const r = await pgRun('pg_receivewal', ['-D', dir, '-d', conninfo, '--endpos', formatLsn(end - 1n), '-n', '--no-password'], { allowFail: true });
  assert.equal(r.code, 0, r.stderr);
  return (performance.now() - t0) / 1000;
}

test('a real primary: WAL through three safekeepers to pg_receivewal (byte-identical) and a hot standby (same data)', { skip, timeout: 300_000 }, async () => {
  const work = await pgWorkDir('sk-pg-');
  const primary = await PgCluster.init(path.join(work, 'primary'), await restartablePort());
  clusters.push(primary);
  await primary.configure({ wal_level: 'replica', wal_keep_size: '2GB', max_wal_senders: 4 });
  await primary.start();
  await primary.pgbench(['-i', '-s', '2', '-q']);
  // The first record after a WAL switch starts right after the next segment's long page header:
  // a record boundary to push from, in a segment the standby will not need to read.
  const switched = parseLsn(await primary.query('select pg_switch_wal()'));
  const pushStart = (segOf(switched) + 1n) * BigInt(SEG) + 0x28n;
  await primary.pgbench(['-c', '2', '-t', '300']);
  await primary.query('select pg_switch_wal()');
  const base = path.join(work, 'standby');
  await pgRun('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', base, '-X', 'none', '-c', 'fast']);
  const backupStart = parseLsn(/START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/.exec(await readFile(path.join(base, 'backup_label'), 'utf8'))![1]!);
  assert.ok(segOf(backupStart) > segOf(pushStart), 'the base backup starts in a later segment');
  await primary.pgbench(['-c', '2', '-t', '1000']);
  const expected = await primary.query('select count(*) || \' \' || sum(abalance) from pgbench_accounts');
  const systemId = await primary.query('select system_identifier from pg_control_system()');
  const pgVersion = await primary.query('show server_version_num');

  // The primary's own pg_receivewal speed, on the same range, for comparison.
  const fromPrimary = await pgWorkDir('sk-recv-primary-');
  const primaryEnd = parseLsn(await primary.query('select pg_current_wal_flush_lsn()'));
  const primarySeconds = await receive(fromPrimary, `host=127.0.0.1 port=${primary.port} user=postgres`, pushStart, primaryEnd);
  await primary.query('checkpoint');
  await primary.stop('fast');

  for (const id of [1, 2, 3]) servers.push(await startServer({ id }));
  const t = randomTtid();
  const push = await node([
    path.join(repoRoot(), 'dist', 'src', 'push-cli.js'),
    '--safekeepers', servers.map((s) => `127.0.0.1:${s.pgPort}`).join(','),
    '--wal-dir', path.join(primary.datadir, 'pg_wal'),
    '--start-lsn', formatLsn(pushStart),
    '--system-id', systemId,
    '--tenant', t.tenantId,
    '--timeline', t.timelineId,
    '--pg-version', pgVersion,
  ]);
  assert.equal(push.code, 0, push.stderr);
  const end = parseLsn(/\.\.([0-9A-F]+\/[0-9A-F]+)/.exec(push.stdout)![1]!);
  assert.ok(end > primaryEnd, 'the push includes the shutdown checkpoint');

  // pg_receivewal off safekeeper 1: the primary's bytes, segment for segment.
  const sk = servers[0]!;
  const options = `options='-c timeline_id=${t.timelineId} tenant_id=${t.tenantId}'`;
  const fromSk = await pgWorkDir('sk-recv-sk-');
  const skSeconds = await receive(fromSk, `host=127.0.0.1 port=${sk.pgPort} user=postgres ${options}`, pushStart, end);
  for (let seg = segOf(pushStart); seg <= segOf(end); seg++) {
    const name = segmentFileName(seg, SEG);
    const got = await readFile(path.join(fromSk, seg === segOf(end) ? `${name}.partial` : name));
    const want = await readFile(path.join(primary.datadir, 'pg_wal', name));
    const from = seg === segOf(pushStart) ? Number(pushStart % BigInt(SEG)) : 0;
    const to = seg === segOf(end) ? Number(end % BigInt(SEG)) : SEG;
    assert.ok(got.subarray(from, to).equals(want.subarray(from, to)), `segment ${name} equals the primary's`);
  }
  const mib = Number(primaryEnd - pushStart) / (1024 * 1024);
  process.stdout.write(
    `# pg_receivewal of ${mib.toFixed(1)} MiB: from the primary ${(mib / primarySeconds).toFixed(1)} MiB/s, ` +
      `from a safekeeper ${(Number(end - pushStart) / (1024 * 1024) / skSeconds).toFixed(1)} MiB/s\n`,
  );

  // The base backup as a hot standby of safekeeper 2.
  await writeFile(path.join(base, 'standby.signal'), '');
  const standby = new PgCluster(base, await restartablePort());
  clusters.push(standby);
  await standby.configure({
    hot_standby: 'on',
    primary_conninfo: `host=127.0.0.1 port=${servers[1]!.pgPort} user=postgres application_name=standby ${options}`,
  });
  await pgRun('/usr/bin/chmod', ['700', base]);
  await standby.start();
  await waitUntil('the standby replayed everything', async () => parseLsn(await standby.query('select pg_last_wal_replay_lsn()')) >= end - 0x100n, 60_000);
  assert.equal(await standby.query('select count(*) || \' \' || sum(abalance) from pgbench_accounts'), expected);
  process.stdout.write(`# standby answered: count sum(abalance) = ${expected}\n`);
});
