// Serving WAL back (send-wal.md): PostgreSQL's own pg_receivewal archives a timeline straight
// off a safekeeper process, byte-identical to what was stored; a raw replication client sees
// Neon's framing, waiting and endings.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import { segmentFileName } from '../../src/storage/wal-format.js';
import { RawClient } from '../helpers/raw-client.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { SEG, START_LSN, SYSTEM_ID, pgStatus, randomTtid, waitUntil } from '../helpers/cluster.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const skip = existsSync(path.join(PG_BIN, 'pg_receivewal')) ? false : `no PostgreSQL 15 client in ${PG_BIN}`;

let server: ServerProcess;
let proposer: Proposer;
const ttid = randomTtid();
const wal = new MemoryWalLog(START_LSN);
let end: Lsn;
const dirs: string[] = [];

before(async () => {
  server = await startServer({ id: 1 });
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002 });
  proposer = new Proposer({ safekeepers: [`127.0.0.1:${server.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal, pgVersion: 150002 });
  await proposer.start();
  // A segment and a half: one complete segment file, then a partial one.
  end = proposer.appendWal(gen.generate(SEG + SEG / 2));
  await proposer.waitForCommit(end, 60_000);
  // The safekeeper learns commit_lsn from the next AppendRequest (a heartbeat at the latest).
  await waitUntil('commit_lsn on the safekeeper', async () => (await pgStatus(server, ttid)).commitLsn === end);
});

after(async () => {
  await proposer?.stop().catch(() => {});
  if (server) {
    await stopServer(server).catch(() => {});
    await removeDir(server.datadir);
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} did not finish in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function conninfo(appName: string): string {
  return `host=127.0.0.1 port=${server.pgPort} user=pg application_name=${appName} options='-c timeline_id=${ttid.timelineId} tenant_id=${ttid.tenantId}'`;
}

describe('serving WAL', { timeout: 180_000 }, () => {
  test('pg_receivewal archives the timeline off the safekeeper, byte-identical to the stored segments', { skip }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-receivewal-'));
    dirs.push(dir);
    // On an empty directory pg_receivewal starts at the server's current segment; a full-size .partial of
    // segment 1 makes it start there (send-wal.md §6.2).
    await writeFile(path.join(dir, `${segmentFileName(1n, SEG)}.partial`), Buffer.alloc(SEG));
    const started = performance.now();
    // --endpos stops only once WAL strictly past it arrived (send-wal.md §6.2).
    const r = await run(path.join(PG_BIN, 'pg_receivewal'), ['-D', dir, '-d', conninfo('pg_receivewal'), '--endpos', formatLsn(end - 1n), '-n', '--no-password']);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(r.code, 0, r.stderr);
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, [segmentFileName(1n, SEG), `${segmentFileName(2n, SEG)}.partial`]);

    const tlDir = path.join(server.datadir, ttid.tenantId, ttid.timelineId);
    // Segment 1 is complete on the safekeeper: the same bytes, headers (made at the first election) included.
    assert.ok((await readFile(path.join(dir, files[0]!))).equals(await readFile(path.join(tlDir, segmentFileName(1n, SEG)))), 'segment 1');
    // Segment 2: the same bytes up to the end of WAL, zeros after it in pg_receivewal's pre-sized file.
    const got = await readFile(path.join(dir, files[1]!));
    const upto = Number(end - 2n * BigInt(SEG));
    assert.equal(got.length, SEG);
    assert.ok(got.subarray(0, upto).equals(wal.read(2n * BigInt(SEG), end)), 'segment 2 up to the end of WAL');
    // And segment 1 from the timeline's start is the proposer's WAL.
    assert.ok((await readFile(path.join(dir, files[0]!))).subarray(Number(START_LSN - BigInt(SEG))).equals(wal.read(START_LSN, 2n * BigInt(SEG))));
    process.stdout.write(`# pg_receivewal from the safekeeper: ${((Number(end - BigInt(SEG))) / 1024 / 1024 / seconds).toFixed(1)} MiB/s (${seconds.toFixed(2)} s)\n`);
  });

  test('SHOW for pg_receivewal, IDENTIFY_SYSTEM xlogpos by application_name, unknown timelines', async () => {
    const c = await RawClient.connect(server.pgPort);
    try {
      await c.startup({ ...ttid, applicationName: 'pageserver' });
      const mode = await c.query('SHOW data_directory_mode');
      assert.deepEqual(mode.rows, [['0700']]);
      assert.deepEqual((await c.query('SHOW wal_segment_size')).rows, [['16MB']]);
      assert.match(String((await c.query('SHOW server_version')).error?.message), /^unsupported command SHOW server_version$/);
      const id = await c.query('IDENTIFY_SYSTEM');
      assert.deepEqual(id.rows, [[SYSTEM_ID.toString(), '1', formatLsn(end), null]]);
    } finally {
      c.destroy();
    }
    const other = await RawClient.connect(server.pgPort);
    try {
      const t = randomTtid();
      await other.startup(t);
      const r = await other.query('START_REPLICATION 0/1000000');
      assert.equal(r.error?.message, `Timeline ${t.tenantId}/${t.timelineId} was not found in global map`);
      assert.equal((await other.query('SHOW data_directory_mode')).rows[0]![0], '0700', 'the connection stays usable');
    } finally {
      other.destroy();
    }
  });
});
