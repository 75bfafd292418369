// SIGKILL while WAL streams in, then restart on the same data dir: nothing the
// safekeeper acknowledged is lost, the bytes are the ones sent, and the vote
// (term) did not go back. Repeated at a few kill points; each restart is then
// used by a new proposer, which must be able to continue.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import type { Lsn } from '../../src/lsn.js';
import { killServer, removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, assertStoredWalEquals, httpStatus, pgStatus, randomTtid } from '../helpers/cluster.js';

let server: ServerProcess | undefined;
const proposers: Proposer[] = [];
after(async () => {
  for (const p of proposers) await p.stop().catch(() => {});
  if (server) {
    await stopServer(server).catch(() => {});
    await removeDir(server.datadir);
  }
});

test('SIGKILL mid-stream loses no acknowledged WAL and no vote (protocol v3 and v2 rounds)', { timeout: 180_000 }, async () => {
  let sk: ServerProcess = await startServer({ id: 7 });
  server = sk;
  const ttid = randomTtid();
  const wal = new MemoryWalLog(START_LSN);
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002, seed: 42 });

  // Kill points: bytes acknowledged before the SIGKILL, different each round (one crosses a segment).
  for (const [round, killAfter] of [3 << 20, 21 << 20, 9 << 20].entries()) {
    // Protocol versions alternate (v3, v2, v3): the same timeline, the same guarantees.
    const protocolVersion = round % 2 === 0 ? 3 : 2;
    const p: Proposer = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal, protocolVersion });
    proposers.push(p);
    let acked: Lsn = 0n;
    p.on('response', (_sk, r) => {
      if (r.flushLsn > acked) acked = r.flushLsn;
    });
    const info = await p.start();
    assert.equal(info.term, BigInt(round + 1));
    const startedAt = p.availableLsn;

    // Keep WAL flowing (small chunks, so the kill lands mid-batch) until enough is acknowledged.
    let killed = false;
    const target = startedAt + BigInt(killAfter);
    while (!killed) {
      p.appendWal(gen.generate(256 * 1024));
      await new Promise((r) => setTimeout(r, 2));
      if (acked >= target) {
        await killServer(sk);
        killed = true;
      }
    }
    const ackedAtKill = acked;
    await p.stop();

    sk = await startServer({ id: 7, datadir: sk.datadir });
    server = sk;
    const st = await pgStatus(sk, ttid);
    assert.ok(st.flushLsn >= ackedAtKill, `round ${round}: flush_lsn ${st.flushLsn} after restart >= acknowledged ${ackedAtKill}`);
    await assertStoredWalEquals(sk, ttid, wal, START_LSN, st.flushLsn);
    const hs = await httpStatus(sk, ttid);
    assert.equal(hs.term, BigInt(round + 1), `round ${round}: term survived the kill`);
  }

  // After the last restart a new proposer elects itself and the stream goes on.
  const p = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal });
  proposers.push(p);
  await p.start();
  const end = p.appendWal(gen.generate(1 << 20));
  await p.waitForCommit(end, 30_000);
  assert.equal((await httpStatus(sk, ttid)).term, 4n);
});
