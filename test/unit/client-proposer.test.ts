import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryWalLog, Proposer, ProposerFatalError, WalGenerator, type ProposerOptions } from '../../src/client/index.js';
import { FakeSafekeeper, TENANT, TIMELINE } from '../helpers/client-fake-safekeeper.js';

const S = 0x1000028n;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function safekeepers(n: number, opts: { mute?: boolean } = {}): Promise<FakeSafekeeper[]> {
  const sks: FakeSafekeeper[] = [];
  for (let i = 0; i < n; i++) {
    const sk = new FakeSafekeeper({ nodeId: BigInt(i + 1), mute: opts.mute });
    await sk.listen();
    cleanups.push(() => sk.close());
    sks.push(sk);
  }
  return sks;
}

function proposer(sks: FakeSafekeeper[], wal: MemoryWalLog, over: Partial<ProposerOptions> = {}): Proposer {
  const p = new Proposer({
    safekeepers: sks.map((s) => s.address),
    tenantId: TENANT,
    timelineId: TIMELINE,
    systemId: 0n,
    wal,
    basebackupLsn: S,
    reconnectIntervalMs: 50,
    connectionTimeoutMs: 2000,
    ...over,
  });
  cleanups.push(() => p.stop());
  return p;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('Proposer against in-process acceptors', () => {
  test('one safekeeper: fresh timeline election at the basebackup LSN, streaming, commit', async () => {
    const [sk] = await safekeepers(1);
    const wal = new MemoryWalLog(S);
    const p = proposer([sk!], wal);
    const commits: bigint[] = [];
    p.on('commit', (l) => commits.push(l));
    const info = await p.start();
    assert.equal(info.term, 1n);
    assert.equal(info.epochStartLsn, S);
    assert.deepEqual(info.termHistory, [{ term: 1n, lsn: S }]);
    assert.equal(p.truncateLsn, S);

    const gen = new WalGenerator({ startLsn: S });
    const chunk = gen.generate(600_000);
    p.appendWal(chunk);
    await p.waitForCommit(gen.lsn, 5000);
    assert.equal(p.commitLsn, gen.lsn);
    assert.equal(sk!.node.acc.flushLsn(), gen.lsn);
    assert.deepEqual(sk!.node.wal.read(S, gen.lsn), chunk.bytes);
    assert.deepEqual(sk!.node.acc.termHistory, [{ term: 1n, lsn: S }]);
    // 600 kB in ≤128 KiB requests: at least 5 requests carried WAL.
    assert.ok(sk!.appendRequests - sk!.emptyAppendRequests >= 5);
    assert.ok(commits.length >= 1 && commits[commits.length - 1] === gen.lsn);
    for (let i = 1; i < commits.length; i++) assert.ok(commits[i]! > commits[i - 1]!, 'commit is monotonic');
    // The acceptor learns the commit through the broadcast that follows.
    await p.waitForFlush(gen.lsn, 'all', 2000);
    const deadline = Date.now() + 2000;
    while (sk!.node.acc.commitLsn < gen.lsn && Date.now() < deadline) await sleep(10);
    assert.equal(sk!.node.acc.commitLsn, gen.lsn);
  });

  test('three safekeepers, one down at start: quorum commit, the late one catches up from the log', async () => {
    const sks = await safekeepers(3);
    await sks[2]!.close();
    const wal = new MemoryWalLog(S);
    const p = proposer(sks, wal);
    await p.start();
    assert.equal(p.propTerm, 1n);
    const gen = new WalGenerator({ startLsn: S });
    p.appendWal(gen.generate(300_000));
    await p.waitForCommit(gen.lsn, 5000);
    assert.equal(sks[0]!.node.acc.flushLsn(), gen.lsn);
    assert.equal(sks[1]!.node.acc.flushLsn(), gen.lsn);
    // Down: it retries every 50 ms, so it is between attempts (offline) or in one (connecting).
    assert.ok(['offline', 'connecting'].includes(p.safekeepers[2]!.state), `state ${p.safekeepers[2]!.state}`);
    assert.equal(p.safekeepers[2]!.flushLsn, 0n);

    await sks[2]!.listen();
    await p.waitForFlush(gen.lsn, 'all', 5000);
    assert.deepEqual(sks[2]!.node.wal.read(S, gen.lsn), wal.read(S, gen.lsn));
    assert.deepEqual(sks[2]!.node.acc.termHistory, [{ term: 1n, lsn: S }]);
    // Its VoteRequest was refused (same term), which is tolerated after the election.
    assert.equal(p.error, undefined);
    // truncate_lsn moves once all three answered.
    const deadline = Date.now() + 2000;
    while (p.truncateLsn < gen.lsn && Date.now() < deadline) await sleep(10);
    assert.equal(p.truncateLsn, gen.lsn);
  });

  test('a dropped connection reconnects, gets a fresh ProposerElected and resumes', async () => {
    const sks = await safekeepers(3);
    const wal = new MemoryWalLog(S);
    const p = proposer(sks, wal);
    await p.start();
    const gen = new WalGenerator({ startLsn: S });
    p.appendWal(gen.generate(100_000));
    await p.waitForFlush(gen.lsn, 'all', 5000);
    sks[1]!.dropConnections();
    p.appendWal(gen.generate(200_000));
    await p.waitForCommit(gen.lsn, 5000);
    await p.waitForFlush(gen.lsn, 'all', 5000);
    assert.ok(sks[1]!.connections >= 2);
    assert.deepEqual(sks[1]!.node.wal.read(S, gen.lsn), wal.read(S, gen.lsn));
    assert.equal(p.error, undefined);
  });

  test('a second proposer takes over in a higher term and the first one dies', async () => {
    const sks = await safekeepers(3);
    const wal = new MemoryWalLog(S);
    const gen = new WalGenerator({ startLsn: S });
    const p1 = proposer(sks, wal);
    const errors: Error[] = [];
    p1.on('error', (e) => errors.push(e));
    await p1.start();
    p1.appendWal(gen.generate(50_000));
    await p1.waitForFlush(gen.lsn, 'all', 5000);
    const firstEnd = gen.lsn;

    const p2 = proposer(sks, wal);
    const info = await p2.start();
    assert.equal(info.term, 2n);
    assert.equal(info.epochStartLsn, firstEnd);
    assert.deepEqual(info.termHistory, [
      { term: 1n, lsn: S },
      { term: 2n, lsn: firstEnd },
    ]);
    p2.appendWal(gen.generate(50_000));
    await p2.waitForCommit(gen.lsn, 5000);

    // p1 hears term 2 on its next heartbeat response and stops.
    const deadline = Date.now() + 3000;
    while (errors.length === 0 && Date.now() < deadline) await sleep(10);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ProposerFatalError);
    assert.equal((errors[0] as ProposerFatalError).reason, 'higher-term');
    await assert.rejects(p1.waitForCommit(gen.lsn, 100), /with term 2 rejected our request, our term 1/);
    assert.throws(() => p1.appendWal(Buffer.alloc(8)), ProposerFatalError);
    for (const sk of sks) assert.equal(sk.node.acc.term, 2n);
  });

  test('lagging and divergent acceptors get the §2.5 start points (acceptor.md §11 step 3)', async () => {
    // Term 1 on A, B, C; then C misses everything after the first chunk and B gets one extra chunk.
    const sks = await safekeepers(3);
    const [A, B, C] = sks as [FakeSafekeeper, FakeSafekeeper, FakeSafekeeper];
    const wal = new MemoryWalLog(S);
    const gen = new WalGenerator({ startLsn: S });
    const p1 = proposer(sks, wal);
    await p1.start();
    p1.appendWal(gen.generate(20_000));
    const L1 = gen.lsn;
    await p1.waitForFlush(L1, 'all', 5000);
    await C.close();
    p1.appendWal(gen.generate(20_000));
    const L3 = gen.lsn;
    await p1.waitForFlush(L3, 'quorum', 5000);
    await A.close();
    p1.appendWal(gen.generate(20_000));
    const L4 = gen.lsn;
    const deadline = Date.now() + 5000;
    while (B.node.acc.flushLsn() < L4 && Date.now() < deadline) await sleep(10);
    assert.equal(B.node.acc.flushLsn(), L4);
    await p1.stop();
    await B.close();
    assert.equal(A.node.acc.flushLsn(), L3);
    assert.equal(C.node.acc.flushLsn(), L1);

    // P2 sees only A and C first: donor A, epoch start L3; B comes back later and is truncated to L3.
    await A.listen();
    await C.listen();
    const p2 = proposer(sks, wal);
    const info = await p2.start();
    assert.equal(info.term, 2n);
    assert.equal(info.epochStartLsn, L3);
    assert.equal(info.donor, A.address);
    await p2.waitForFlush(L3, 'quorum', 5000);
    const byAddr = new Map(p2.safekeepers.map((s) => [s.address, s]));
    assert.equal(byAddr.get(A.address)!.startStreamingAt, L3);
    assert.equal(byAddr.get(C.address)!.startStreamingAt, L1);
    await B.listen();
    const d2 = Date.now() + 5000;
    while (p2.safekeepers[1]!.state !== 'active' && Date.now() < d2) await sleep(10);
    assert.equal(p2.safekeepers[1]!.startStreamingAt, L3);
    // The shared log still holds P1's L3..L4, so P2 ships it again as WAL of term 2 after truncating B to L3.
    await p2.waitForFlush(L4, 'all', 5000);
    assert.ok(B.node.wal.truncations.includes(L3), `B truncated at L3: ${B.node.wal.truncations.join(',')}`);
    await p2.waitForCommit(L4, 5000);
    for (const sk of sks) {
      assert.deepEqual(sk.node.acc.termHistory, info.termHistory);
      assert.deepEqual(sk.node.wal.read(S, L4), wal.read(S, L4));
    }
  });

  test('flow control: no more than the window is sent to a safekeeper that does not acknowledge', async () => {
    const [sk] = await safekeepers(1);
    const wal = new MemoryWalLog(S);
    const p = proposer([sk!], wal, { maxInflightBytes: 256 * 1024 });
    await p.start();
    sk!.mute = true;
    const gen = new WalGenerator({ startLsn: S });
    p.appendWal(gen.generate(4 * 1024 * 1024, 8000));
    await sleep(300);
    const at = p.safekeepers[0]!.streamingAt;
    assert.ok(at > S, 'something was sent');
    assert.ok(at - S <= 256n * 1024n + 131072n, `sent ${at - S} bytes beyond the acknowledged position`);
    assert.ok(at < gen.lsn);
    // Acknowledgements open the window again.
    sk!.mute = false;
    await p.waitForCommit(gen.lsn, 10000);
  });

  test('idle heartbeats every R, and a silent connection is dropped after C and retried', async () => {
    const [sk] = await safekeepers(1);
    const wal = new MemoryWalLog(S);
    const p = proposer([sk!], wal, { reconnectIntervalMs: 40, connectionTimeoutMs: 300 });
    await p.start();
    await p.waitForCommit(S, 2000).catch(() => undefined);
    const before = sk!.emptyAppendRequests;
    await sleep(250);
    assert.ok(sk!.emptyAppendRequests - before >= 3, `heartbeats: ${sk!.emptyAppendRequests - before}`);
    sk!.mute = true;
    const conns = sk!.connections;
    const d = Date.now() + 3000;
    while (sk!.connections === conns && Date.now() < d) await sleep(20);
    assert.ok(sk!.connections > conns, 'dropped and reconnected');
  });

  test('start() rejects when a majority never answers, then stop() ends it', async () => {
    const sks = await safekeepers(3);
    await sks[1]!.close();
    await sks[2]!.close();
    const p = proposer(sks, new MemoryWalLog(S));
    const started = p.start();
    const outcome = await Promise.race([started.then(() => 'elected', () => 'rejected'), sleep(300).then(() => 'waiting')]);
    assert.equal(outcome, 'waiting');
    await p.stop();
    await assert.rejects(started, /proposer stopped/);
  });

  test('a log that cannot supply WAL up to the epoch start is fatal', async () => {
    const [sk] = await safekeepers(1);
    const wal = new MemoryWalLog(S);
    const gen = new WalGenerator({ startLsn: S });
    const p1 = proposer([sk!], wal);
    await p1.start();
    p1.appendWal(gen.generate(20_000));
    await p1.waitForCommit(gen.lsn, 5000);
    await p1.stop();
    const short = new MemoryWalLog(S);
    short.append(wal.read(S, S + 100n));
    const p2 = proposer([sk!], short);
    await assert.rejects(p2.start(), (e: unknown) => e instanceof ProposerFatalError && e.reason === 'wal-unavailable');
  });

  test('an empty log is rebased to the elected epoch start', async () => {
    const [sk] = await safekeepers(1);
    const gen = new WalGenerator({ startLsn: S });
    const p1 = proposer([sk!], new MemoryWalLog(S));
    await p1.start();
    p1.appendWal(gen.generate(20_000));
    await p1.waitForCommit(gen.lsn, 5000);
    await p1.stop();
    const fresh = new MemoryWalLog(0n);
    const p2 = proposer([sk!], fresh);
    const info = await p2.start();
    assert.equal(info.epochStartLsn, gen.lsn);
    assert.equal(fresh.start, gen.lsn);
    p2.appendWal(gen.generate(20_000));
    await p2.waitForCommit(gen.lsn, 5000);
  });
});
