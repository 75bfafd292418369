// Three real safekeeper processes with fsync on: a proposer elects itself,
// streams 64 MiB of generated WAL, one node is SIGKILLed mid-stream and the
// other two keep acknowledging; restarted, the killed node catches up after a
// new election. Every node ends with the same WAL bytes the proposer sent.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { killServer, removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, assertStoredWalEquals, httpStatus, pgStatus, randomTtid, waitUntil } from '../helpers/cluster.js';

const TOTAL = 64 * 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

const servers: ServerProcess[] = [];
const proposers: Proposer[] = [];
after(async () => {
  for (const p of proposers) await p.stop().catch(() => {});
  for (const s of servers) {
    await stopServer(s).catch(() => {});
    await removeDir(s.datadir);
  }
});

test('three safekeepers: quorum commit through a SIGKILL, catch-up after a new election', { timeout: 240_000 }, async () => {
  for (const id of [1, 2, 3]) servers.push(await startServer({ id }));
  const ttid = randomTtid();
  const wal = new MemoryWalLog(START_LSN);
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002 });
  const addrs = servers.map((s) => `127.0.0.1:${s.pgPort}`);
  const p1 = new Proposer({ safekeepers: addrs, ...ttid, systemId: SYSTEM_ID, wal });
  proposers.push(p1);
  const elected = await p1.start();
  assert.equal(elected.term, 1n);
  assert.equal(elected.epochStartLsn, START_LSN);

  // Stream, killing node 3 once a third of the WAL is committed.
  let killedAt = 0n;
  while (gen.lsn - START_LSN < BigInt(TOTAL)) {
    const end = p1.appendWal(gen.generate(CHUNK));
    if (killedAt === 0n && end - START_LSN > BigInt(Math.floor(TOTAL / 3))) {
      await p1.waitForCommit(end, 60_000);
      await killServer(servers[2]);
      killedAt = p1.commitLsn;
    }
  }
  const end = gen.lsn;
  await p1.waitForCommit(end, 120_000);
  assert.ok(killedAt > START_LSN && end > killedAt + BigInt(TOTAL / 2), 'commit moved well past the kill with two nodes');
  await p1.waitForFlush(end, 'quorum', 30_000);

  // The acceptors learn commit_lsn from the next AppendRequest (a heartbeat at the latest).
  for (const s of servers.slice(0, 2)) {
    await waitUntil(`commit_lsn on node ${s.id}`, async () => (await pgStatus(s, ttid)).commitLsn === end);
    const st = await httpStatus(s, ttid);
    assert.equal(st.commitLsn, end, `HTTP commit_lsn on node ${s.id}`);
    assert.equal(st.flushLsn, end, `HTTP flush_lsn on node ${s.id}`);
  }
  await p1.stop();

  // Node 3 comes back on its data dir; a new proposer (term 2) brings it up to date.
  servers[2] = await startServer({ id: 3, datadir: servers[2].datadir });
  const before = await pgStatus(servers[2], ttid);
  // It was killed with up to a proposer window of WAL unacknowledged, so all we know is that it is behind.
  assert.ok(before.flushLsn >= START_LSN && before.flushLsn < end, `node 3 restarted behind (at ${before.flushLsn.toString(16)})`);
  const p2 = new Proposer({ safekeepers: servers.map((s) => `127.0.0.1:${s.pgPort}`), ...ttid, systemId: SYSTEM_ID, wal });
  proposers.push(p2);
  const second = await p2.start();
  assert.equal(second.term, 2n);
  assert.equal(second.epochStartLsn, end);
  await p2.waitForFlush(end, 'all', 120_000);
  for (const s of servers) {
    await waitUntil(`commit_lsn on node ${s.id} after catch-up`, async () => (await pgStatus(s, ttid)).commitLsn === end);
    const st = await httpStatus(s, ttid);
    assert.deepEqual([st.commitLsn, st.flushLsn, st.term, st.epoch], [end, end, 2n, 2n], `node ${s.id} state`);
    await assertStoredWalEquals(s, ttid, wal, START_LSN, end);
  }
});
