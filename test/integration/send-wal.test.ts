// Serving WAL back (send-wal.md): PostgreSQL's own pg_receivewal archives a timeline straight
// off a safekeeper process, byte-identical to what was stored; a raw replication client sees
// Neon's framing, waiting and endings.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { fixturePath, repoRoot } from '../helpers/paths.js';
import os from 'node:os';
import path from 'node:path';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import { segmentFileName } from '../../src/storage/wal-format.js';
import { RawClient, RawProposer } from '../helpers/raw-client.js';
import { FrontendSerializer } from '../../src/wire/index.js';
import type { AppendResponse } from '../../src/protocol/index.js';
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
    // What it read is counted as Neon counts it, under its application_name.
    const metrics = await (await server.http('/metrics')).text();
    const written = metrics.split('\n').find((l) => l.startsWith('safekeeper_pg_io_bytes_total{') && l.includes('app_name="pg_receivewal"') && l.includes('dir="write"'));
    assert.ok(written && Number(written.split(' ').pop()) > SEG, String(written));
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

  // ---- a raw replication client (send-wal.md §7) ----

  interface XLogData {
    start: bigint;
    end: bigint;
    bytes: Buffer;
  }

  async function replicate(command: string, appName = 'test-client', t = ttid): Promise<RawClient> {
    const c = await RawClient.connect(server.pgPort);
    clients.push(c);
    await c.startup({ ...t, applicationName: appName });
    await c.startWalPush(command); // any command answered with CopyBothResponse
    return c;
  }

  /** Next CopyData payload; XLogData decoded. */
  async function nextCopy(c: RawClient, timeoutMs = 5000): Promise<{ kind: 'w'; x: XLogData } | { kind: 'k'; walEnd: bigint; reply: number }> {
    for (;;) {
      const m = await c.next(timeoutMs);
      if (m.kind === 'error') throw new Error(`ErrorResponse ${m.fields.get('C')}: ${m.fields.get('M')}`);
      if (m.kind !== 'copyData') continue;
      const p = m.payload;
      if (p[0] === 0x77) return { kind: 'w', x: { start: p.readBigUInt64BE(1), end: p.readBigUInt64BE(9), bytes: p.subarray(25) } };
      if (p[0] === 0x6b) return { kind: 'k', walEnd: p.readBigUInt64BE(1), reply: p[17]! };
      throw new Error(`unexpected CopyData ${p[0]}`);
    }
  }

  const clients: RawClient[] = [];
  after(() => clients.forEach((c) => c.destroy()));

  test('#6: START_REPLICATION parse errors are XX000 + ReadyForQuery, before any CopyBoth; the connection stays usable', async () => {
    const c = await RawClient.connect(server.pgPort);
    clients.push(c);
    await c.startup(ttid);
    for (const [q, text] of [
      ['START_REPLICATION 0/zz TIMELINE 1', 'failed to parse START_REPLICATION command START_REPLICATION 0/zz TIMELINE 1'],
      ['START_REPLICATION 1FFFFFFFF/0', 'parse start LSN from START_REPLICATION command: LsnParseError'],
      ["START_REPLICATION 0/0 (term='99999999999999999999')", 'invalid term: number too large to fit in target type'],
    ] as const) {
      const r = await c.query(q);
      assert.deepEqual(r.messages.map((m) => m.kind), ['error', 'readyForQuery']);
      assert.equal(r.error?.message, text);
      assert.equal(r.error?.code, 'XX000');
    }
    assert.deepEqual((await c.query('SHOW wal_segment_size')).rows, [['16MB']]);
  });

  test('#23: CopyFail is answered with 00000 received CopyFail; Terminate just closes', async () => {
    const f = await replicate(`START_REPLICATION ${formatLsn(end)}`);
    f.write(new FrontendSerializer().copyFail('bye').flush());
    const err = await f.nextError();
    assert.deepEqual([err.code, err.message], ['00000', 'received CopyFail']);
    await f.waitClosed();
    const t = await replicate(`START_REPLICATION ${formatLsn(end)}`);
    t.write(new FrontendSerializer().terminate().flush());
    await t.waitClosed();
    assert.ok(t.unread().every((m) => m.kind !== 'error'));
  });

  test('#12: from an unaligned start the first message ends on a page, then 128 KiB ones that never cross a segment', async () => {
    const c = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(START_LSN)}`);
    let pos = START_LSN;
    const sizes: number[] = [];
    while (pos < START_LSN + 2n * 1024n * 1024n) {
      const m = await nextCopy(c);
      assert.equal(m.kind, 'w');
      if (m.kind !== 'w') continue;
      assert.equal(m.x.start, pos);
      assert.equal(m.x.end, end, 'wal_end is commit_lsn');
      assert.ok(m.x.bytes.equals(wal.read(pos, pos + BigInt(m.x.bytes.length))), `bytes at ${formatLsn(pos)}`);
      const next = pos + BigInt(m.x.bytes.length);
      assert.ok(pos / BigInt(SEG) === (next - 1n) / BigInt(SEG), 'within one segment');
      sizes.push(m.x.bytes.length);
      pos = next;
    }
    assert.equal((START_LSN + BigInt(sizes[0]!)) % 8192n, 0n, 'the first ends on a page boundary');
    assert.ok(sizes.slice(1).every((n) => n === 131072));
    c.write(new FrontendSerializer().copyDone().flush());
    let done = await c.next();
    while (done.kind === 'copyData') done = await c.next(); // what was already on its way
    assert.equal(done.kind, 'copyDone', '#23: CopyDone is answered with CopyDone');
    await c.waitClosed();
  });

  test('#10: before timeline_start_lsn in its segment the bytes are made: the long page header, as stored', async () => {
    const c = await replicate('START_REPLICATION 0/1000000 TIMELINE 1');
    const m = await nextCopy(c);
    assert.ok(m.kind === 'w');
    assert.equal(m.x.start, 0x1000000n);
    assert.equal(m.x.bytes.length, 0x28, 'it stops exactly at timeline_start_lsn');
    const stored = await readFile(path.join(server.datadir, ttid.tenantId, ttid.timelineId, segmentFileName(1n, SEG)));
    assert.ok(m.x.bytes.equals(stored.subarray(0, 0x28)));
    const next = await nextCopy(c);
    assert.ok(next.kind === 'w' && next.x.start === START_LSN);
  });

  test('#9: a start before the timeline\'s first segment: CopyBoth, then an error', async () => {
    const c = await replicate('START_REPLICATION 0/0');
    const err = await c.nextError();
    assert.match(err.message, /^Requested streaming from 0\/0, which is before the start of the timeline 0\/1000028/);
    await c.waitClosed();
  });

  test('#7, #18: caught up at commit_lsn it sends keepalives (reply requested), ignores unknown CopyData, and streams new WAL at once', async () => {
    const c = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(end)}`);
    c.sendCopyData(Buffer.from('x-unknown'));
    const k = await nextCopy(c, 3000);
    assert.deepEqual(k, { kind: 'k', walEnd: end, reply: 1 });
    const gen = new WalGenerator({ startLsn: end, systemId: SYSTEM_ID, pgVersion: 150002, seed: 7 });
    const more = proposer.appendWal(gen.generate(64 * 1024));
    await proposer.waitForCommit(more);
    let m = await nextCopy(c);
    while (m.kind === 'k') m = await nextCopy(c);
    assert.equal(m.x.start, end);
    end = more;
  });

  test('#17, #24: a malformed r gets an ErrorResponse; a Query during copy closes without one', async () => {
    const c = await replicate(`START_REPLICATION ${formatLsn(end)}`);
    c.sendCopyData(Buffer.concat([Buffer.from('r'), Buffer.alloc(34)]));
    assert.equal((await c.nextError()).message, 'failed to deserialize StandbyReply: deserialize error');
    await c.waitClosed();
    const q = await replicate(`START_REPLICATION ${formatLsn(end)}`);
    q.write(new FrontendSerializer().query('SELECT 1').flush());
    await q.waitClosed();
    assert.ok(q.unread().every((m) => m.kind !== 'error'));
  });

  test('#16, #19: hot-standby feedback from two clients is aggregated into AppendResponses; pageserver feedback reaches the walproposer', async () => {
    const a = await replicate(`START_REPLICATION ${formatLsn(end)}`, 'standby-a');
    const b = await replicate(`START_REPLICATION ${formatLsn(end)}`, 'standby-b');
    const h = (ts: bigint, xid: number, epoch: number) => {
      const m = Buffer.alloc(25);
      m.write('h', 0);
      m.writeBigInt64BE(ts, 1);
      m.writeUInt32BE(xid, 9);
      m.writeUInt32BE(epoch, 13);
      return m;
    };
    a.sendCopyData(h(100n, 900, 0));
    b.sendCopyData(h(200n, 800, 1)); // epoch 1: full xid 2^32 + 800, higher than 900
    const responses: AppendResponse[] = [];
    const off = proposer.on('response', (_sk, r) => responses.push(r));
    await waitUntil('an AppendResponse with the aggregate', async () => {
      proposer.appendWal(Buffer.alloc(0));
      return responses.some((r) => r.hsFeedback.xmin === 900n && r.hsFeedback.ts === 200n);
    });
    // Pageserver feedback: the walproposer gets its last AppendResponse again, with the feedback attached.
    const z = Buffer.concat([
      Buffer.from('z'),
      Buffer.alloc(8),
      Buffer.from([2]),
      Buffer.from('ps_applylsn\0'),
      Buffer.from([0, 0, 0, 8]),
      u64(0x1000100n),
      Buffer.from('current_timeline_size\0'),
      Buffer.from([0, 0, 0, 8]),
      u64(12345n),
    ]);
    a.sendCopyData(z);
    await waitUntil('pageserver feedback in an AppendResponse', () => responses.some((r) => r.pageserverFeedback?.currentTimelineSize === 12345n));
    off();
    const status = (await (await server.http(`/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}`)).json()) as { walsenders: Array<{ appname: string; feedback: Record<string, unknown> }> };
    const kinds = Object.fromEntries(status.walsenders.map((w) => [w.appname, Object.keys(w.feedback)[0]]));
    assert.equal(kinds['standby-a'], 'Pageserver', "a 'z' makes the slot pageserver kind");
    assert.equal(kinds['standby-b'], 'Standby');
    const metrics = await (await server.http('/metrics')).text();
    const sample = (name: string) => metrics.split('\n').find((l) => l.startsWith(name) && (!l.includes('{') || l.includes(ttid.timelineId)));
    assert.match(String(sample('safekeeper_received_ps_feedbacks_total')), / 1$/);
    assert.match(String(sample('safekeeper_ps_feedback_count_total')), / 1$/);
  });

  test('#14: flush mode with a term that is not the current one: CopyBoth, then failed to acquire term', async () => {
    const c = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(START_LSN)} (term='9')`);
    assert.equal((await c.nextError()).message, 'failed to acquire term 9, current term 1');
    await c.waitClosed();
    const ok = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(START_LSN)} (term='1')`);
    const m = await nextCopy(ok);
    assert.ok(m.kind === 'w' && m.x.start === START_LSN);
  });

  test('#13: flush mode (a term) streams uncommitted WAL up to flush_lsn; commit mode stops at commit_lsn', async () => {
    const t = randomTtid();
    const rp = await RawProposer.start(server.pgPort, { ...t });
    try {
      const a = await rp.append(64 * 1024); // commit_lsn 0 rides on this one
      const b = await rp.append(64 * 1024); // this one commits a, not itself
      assert.ok(b.flushLsn > a.flushLsn);
      const drain = async (c: RawClient): Promise<bigint> => {
        let reached = 0n;
        for (;;) {
          const m = await nextCopy(c, 3000);
          if (m.kind === 'k') return reached;
          reached = m.x.start + BigInt(m.x.bytes.length);
        }
      };
      const flushMode = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(START_LSN)} (term='1')`, 'recovery', t);
      assert.equal(await drain(flushMode), b.flushLsn, 'flush mode reaches flush_lsn');
      const commitMode = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(START_LSN)}`, 'standby', t);
      assert.equal(await drain(commitMode), a.flushLsn, 'commit mode stops at commit_lsn');
    } finally {
      rp.client.destroy();
    }
  });

  test('#17, #20: other malformed client messages each get an ErrorResponse, then close', async () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([Buffer.from('r'), Buffer.alloc(32), Buffer.from([2])]), /^failed to deserialize StandbyReply: deserialize error$/],
      [Buffer.concat([Buffer.from('h'), Buffer.alloc(23)]), /^failed to deserialize HotStandbyFeedback: deserialize error$/],
      // Neon's parser panics on a 3-byte 'z' and drops the socket; we say why (a documented deviation).
      [Buffer.from('z\0\0'), /^malformed pageserver feedback: 3 bytes, need at least 10$/],
    ];
    for (const [msg, text] of cases) {
      const c = await replicate(`START_REPLICATION ${formatLsn(end)}`);
      c.sendCopyData(msg);
      const err = await c.nextError();
      assert.match(err.message, text);
      assert.equal(err.code, 'XX000');
      await c.waitClosed();
    }
  });

  test('#11: a start in a segment that is gone: CopyBoth, then WAL segment is not found', async () => {
    await rm(path.join(server.datadir, ttid.tenantId, ttid.timelineId, segmentFileName(1n, SEG)));
    const c = await replicate(`START_REPLICATION ${formatLsn(START_LSN)}`);
    assert.equal((await c.nextError()).message, 'WAL segment is not found');
    await c.waitClosed();
  });

  test('#15: a flush-mode stream caught up at term 1 ends when a proposer of term 2 is elected', async () => {
    const c = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(end)} (term='1')`);
    assert.deepEqual(await nextCopy(c, 3000), { kind: 'k', walEnd: end, reply: 1 }, 'caught up');
    const p2 = new Proposer({ safekeepers: [`127.0.0.1:${server.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal, pgVersion: 150002 });
    try {
      assert.equal((await p2.start()).term, 2n);
      const err = await c.nextError(5000);
      assert.equal(err.message, 'term changed: requested 1, now 2');
    } finally {
      await p2.stop();
    }
  });

  test('#21: a caught-up pageserver with no compute left is ended with 00000', async () => {
    await proposer.stop();
    const c = await replicate(`START_REPLICATION PHYSICAL ${formatLsn(end)}`, 'pageserver');
    // Its remote_consistent_lsn has reached commit_lsn.
    c.sendCopyData(Buffer.concat([Buffer.from('z'), Buffer.alloc(8), Buffer.from([1]), Buffer.from('ps_applylsn\0'), Buffer.from([0, 0, 0, 8]), u64(end)]));
    const err = await c.nextError(5000);
    assert.equal(err.code, '00000');
    assert.match(err.message, /^ending streaming to Some\("pageserver"\) at [0-9A-F]+\/[0-9A-F]+, receiver is caughtup and there is no computes$/);
    await c.waitClosed();
  });
});

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
}

describe('real PostgreSQL 15 WAL: safekeeper-push in, pg_receivewal out', { timeout: 180_000, skip }, () => {
  test('a fixture segment pushed with the CLI comes back from pg_receivewal byte for byte, up to the end of valid WAL', async () => {
    const sk = await startServer({ id: 2 });
    const work = await mkdtemp(path.join(os.tmpdir(), 'sk-push-'));
    dirs.push(work);
    try {
      const walDir = path.join(work, 'pg_wal');
      const recv = path.join(work, 'recv');
      await mkdirs(walDir, recv);
      const segment = gunzipSync(await readFile(fixturePath('pg15-wal-000000010000000000000001.gz')));
      await writeFile(path.join(walDir, segmentFileName(1n, SEG)), segment);
      const t = randomTtid();
      // The fixture's system id and first record (test/fixtures/README.md); the end is found by decoding:
      // the record at 0/1FFEE08 continues into a segment we do not have.
      const push = await run(process.execPath, [
        path.join(repoRoot(), 'dist', 'src', 'push-cli.js'),
        '--safekeepers', `127.0.0.1:${sk.pgPort}`,
        '--wal-dir', walDir,
        '--start-lsn', '0/1000028',
        '--system-id', '7712208890765003361',
        '--tenant', t.tenantId,
        '--timeline', t.timelineId,
        '--pg-version', '150000',
      ]);
      assert.equal(push.code, 0, push.stderr);
      const endLsn = 0x1ffee08n;
      assert.equal((await pgStatus(sk, t)).commitLsn, endLsn);

      await writeFile(path.join(recv, `${segmentFileName(1n, SEG)}.partial`), Buffer.alloc(SEG));
      const conn = `host=127.0.0.1 port=${sk.pgPort} user=pg options='-c timeline_id=${t.timelineId} tenant_id=${t.tenantId}'`;
      const r = await run(path.join(PG_BIN, 'pg_receivewal'), ['-D', recv, '-d', conn, '--endpos', formatLsn(endLsn - 1n), '-n', '--no-password']);
      assert.equal(r.code, 0, r.stderr);
      const got = await readFile(path.join(recv, `${segmentFileName(1n, SEG)}.partial`));
      const upto = Number(endLsn - BigInt(SEG));
      // From the timeline's start (before it the safekeeper makes its own page header) to the end of valid WAL.
      assert.ok(got.subarray(0x28, upto).equals(segment.subarray(0x28, upto)), 'the real WAL, byte for byte');
      assert.ok(got.subarray(upto).every((b) => b === 0), 'nothing past the end of valid WAL');
    } finally {
      await stopServer(sk).catch(() => {});
      await removeDir(sk.datadir);
    }
  });
});

async function mkdirs(...ds: string[]): Promise<void> {
  for (const d of ds) await mkdir(d, { recursive: true });
}
