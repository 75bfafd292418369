// No synchronous file-system call on the event loop: while one timeline waits
// for a slow durable write (its disk made slow on purpose through the test-only
// walWritevFor hook), another timeline on the same server keeps being read,
// processed and acknowledged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Safekeeper } from '../../src/safekeeper.js';
import { silentLogger } from '../../src/log.js';
import { writevAt } from '../../src/storage/segment-file.js';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';

const START = 0x1000028n;
const SLOW_MS = 400;
const SLOW = { tenant: 'a'.repeat(32), timeline: '1'.repeat(32) };
const FAST = { tenant: 'b'.repeat(32), timeline: '2'.repeat(32) };

test('a timeline waiting on a slow disk does not hold up another timeline\'s acknowledgements', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-slowdisk-'));
  let slowWrites = 0;
  let slowInFlight = 0;
  const sk = new Safekeeper({
    datadir: dir,
    nodeId: 1n,
    listenPg: { host: '127.0.0.1', port: 0 },
    listenHttp: null,
    noSync: false,
    logger: silentLogger(),
    walWritevFor: (ttid) =>
      ttid.timelineId === SLOW.timeline
        ? async (fd, bufs, pos) => {
            slowWrites++;
            slowInFlight++;
            await new Promise((r) => setTimeout(r, SLOW_MS));
            slowInFlight--;
            return writevAt(fd, bufs, pos);
          }
        : undefined,
  });
  await sk.start();
  const address = `127.0.0.1:${sk.pgAddress!.port}`;
  const proposers: Proposer[] = [];
  const proposer = (ids: { tenant: string; timeline: string }) => {
    const p = new Proposer({
      safekeepers: [address],
      tenantId: ids.tenant,
      timelineId: ids.timeline,
      systemId: 7n,
      wal: new MemoryWalLog(START),
    });
    proposers.push(p);
    return p;
  };
  try {
    const slow = proposer(SLOW);
    const fast = proposer(FAST);
    await Promise.all([slow.start(), fast.start()]);
    const slowGen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 1 });
    const fastGen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 2 });

    // The slow timeline's commit is stuck behind its disk for SLOW_MS per write.
    const slowEnd = slow.appendWal(slowGen.generate(4096));
    const slowCommitted = slow.waitForCommit(slowEnd, 10_000).then(() => performance.now());
    const deadline = performance.now() + 5000;
    while (slowInFlight === 0) {
      assert.ok(performance.now() < deadline, 'the slow timeline never reached its disk');
      await new Promise((r) => setTimeout(r, 1));
    }

    // Meanwhile: one commit at a time on the other timeline, each waiting for its ack.
    const started = performance.now();
    const acks: number[] = [];
    while (slowInFlight > 0 && acks.length < 500) {
      const t0 = performance.now();
      const end = fast.appendWal(fastGen.generate(200));
      await fast.waitForCommit(end, 5000);
      acks.push(performance.now() - t0);
    }
    const window = performance.now() - started;
    const slowDoneAt = await slowCommitted;
    assert.ok(slowWrites >= 1);
    assert.ok(slowDoneAt - started >= SLOW_MS / 2, 'the slow timeline really waited on its disk');
    // Each ack of the fast timeline is a real write + fdatasync on this machine's disk, so a
    // handful of them fit in the window; a blocked event loop would allow none.
    assert.ok(acks.length >= 5, `only ${acks.length} commits acknowledged on the other timeline in ${window.toFixed(0)} ms`);
    const sorted = [...acks].sort((a, b) => a - b);
    assert.ok(sorted[Math.floor(sorted.length / 2)]! < SLOW_MS / 2, `median ack ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms: held up by the slow disk`);
  } finally {
    await Promise.all(proposers.map((p) => p.stop()));
    await sk.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
