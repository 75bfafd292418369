// acceptor.md §6: lazy control-file saves (timeline manager), checkpoint, term bump, peer info.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { append, elected, hist, newNode, vote, type Node } from '../helpers/acceptor-fixtures.js';

const MiB = 1 << 20;
const SEG = BigInt(MiB); // 1 MiB segments keep the buffers small
const S = SEG + 0x28n;
const INTERVAL = 300_000;

/** Term-1 node at S with `bytes` of flushed WAL; clock under test control. */
async function node(bytes: bigint): Promise<{ n: Node; now: { t: number } }> {
  const now = { t: 1_000 };
  const n = newNode({ wal: { walSegSize: MiB }, state: { server: { pgVersion: 150004, systemId: 0n, walSegSize: MiB } }, clock: () => now.t });
  await n.acc.handleVoteRequest(vote(1n));
  await n.acc.handleElected(elected(1n, S, hist([1n, S]), S));
  if (bytes > 0n) await n.acc.handleAppend(append({ term: 1n, begin: S, end: S + bytes }), { flush: true });
  return { n, now };
}

describe('maybePersistLazily', () => {
  test('nothing ahead of disk: never writes, even after the interval', async () => {
    const { n, now } = await node(0x100n);
    now.t += INTERVAL * 10;
    assert.equal(await n.acc.maybePersistLazily(now.t), false);
    assert.equal(n.acc.hasUnpersistedInMemoryState(), false);
  });

  test('segment-ahead trigger: commit_lsn >= one segment ahead of the persisted one', async () => {
    const { n, now } = await node(SEG + 0x100n);
    const writes = n.control.writes;
    await n.acc.handleAppend(append({ term: 1n, begin: S + SEG + 0x100n, commit: S + SEG - 1n }), { flush: false });
    assert.equal(await n.acc.maybePersistLazily(now.t), false, 'one byte short of a segment');
    assert.equal(n.control.writes, writes);
    await n.acc.handleAppend(append({ term: 1n, begin: S + SEG + 0x100n, commit: S + SEG }), { flush: false });
    assert.equal(await n.acc.maybePersistLazily(now.t), true);
    assert.equal(n.control.writes, writes + 1);
    assert.equal(n.control.persisted.commitLsn, S + SEG);
    assert.equal(n.acc.hasUnpersistedInMemoryState(), false);
  });

  test('interval trigger: strictly more than saveIntervalMs since the last write', async () => {
    const { n, now } = await node(0x100n);
    const lastWrite = now.t; // Elected wrote at this time
    await n.acc.handleAppend(append({ term: 1n, begin: S + 0x100n, commit: S + 0x100n }), { flush: false });
    now.t = lastWrite + INTERVAL;
    assert.equal(await n.acc.maybePersistLazily(now.t), false);
    now.t += 1;
    assert.equal(await n.acc.maybePersistLazily(now.t), true);
    assert.equal(n.control.persisted.commitLsn, S + 0x100n);
    assert.equal(n.acc.nextLazySaveAt(), now.t + INTERVAL);
    assert.equal(await n.acc.maybePersistLazily(now.t + 1, { saveIntervalMs: 0 }), false, 'nothing pending any more');
  });

  test('every control-file write refreshes the timestamp (term bump here)', async () => {
    const { n, now } = await node(0x100n);
    const electedAt = now.t;
    now.t = electedAt + INTERVAL - 10;
    await n.acc.termBump(5n);
    const bumpedAt = now.t;
    n.acc.updateRemoteConsistentLsn(S + 0x80n); // something pending again
    assert.equal(n.acc.hasUnpersistedInMemoryState(), true);
    now.t = electedAt + INTERVAL + 10;
    assert.equal(await n.acc.maybePersistLazily(now.t), false, 'interval counts from the bump, not the Elected write');
    now.t = bumpedAt + INTERVAL + 1;
    assert.equal(await n.acc.maybePersistLazily(now.t), true);
  });

  test('backup / remote_consistent / peer_horizon ahead count as pending too; custom interval', async () => {
    const { n, now } = await node(0x100n);
    n.acc.updateRemoteConsistentLsn(S + 0x80n);
    now.t += 11;
    assert.equal(await n.acc.maybePersistLazily(now.t, { saveIntervalMs: 10 }), true);
    assert.equal(n.control.persisted.remoteConsistentLsn, S + 0x80n);
    n.acc.updateBackupLsn(S + 0x100n);
    now.t += 11;
    assert.equal(await n.acc.maybePersistLazily(now.t, { saveIntervalMs: 10 }), true);
    assert.equal(n.control.persisted.backupLsn, S + 0x100n);
    await n.acc.handleAppend(append({ term: 1n, begin: S + 0x100n, truncate: S + 0x100n }), { flush: false });
    now.t += 11;
    assert.equal(await n.acc.maybePersistLazily(now.t, { saveIntervalMs: 10 }), true);
    assert.equal(n.control.persisted.peerHorizonLsn, S + 0x100n);
    // proposer_uuid alone does not make the state "ahead".
    await n.acc.handleAppend(append({ term: 1n, begin: S + 0x100n, uuid: 'dd'.repeat(16) }), { flush: false });
    now.t += 11;
    assert.equal(await n.acc.maybePersistLazily(now.t, { saveIntervalMs: 10 }), false);
  });

  test('in-memory values only move up: lower remote_consistent/backup are ignored', async () => {
    const { n } = await node(0x100n);
    n.acc.updateRemoteConsistentLsn(S - 1n);
    n.acc.updateBackupLsn(0n);
    assert.equal(n.acc.remoteConsistentLsn, S);
    assert.equal(n.acc.backupLsn, S);
  });
});

describe('checkpoint', () => {
  test('writes the in-memory LSNs now; a second one writes nothing', async () => {
    const { n } = await node(0x100n);
    await n.acc.handleAppend(append({ term: 1n, begin: S + 0x100n, commit: S + 0x100n, truncate: S + 0x80n }), { flush: false });
    const writes = n.control.writes;
    await n.acc.checkpoint();
    assert.equal(n.control.writes, writes + 1);
    assert.deepEqual([n.control.persisted.commitLsn, n.control.persisted.peerHorizonLsn], [S + 0x100n, S + 0x80n]);
    await n.acc.checkpoint();
    assert.equal(n.control.writes, writes + 1);
  });
});

describe('termBump', () => {
  test('no term: +1, persisted; lower or equal term: unchanged, no write; higher: set', async () => {
    const n = newNode();
    await n.acc.handleVoteRequest(vote(4n));
    const w = n.control.writes;
    assert.deepEqual(await n.acc.termBump(), { previousTerm: 4n, currentTerm: 5n });
    assert.equal(n.control.persisted.acceptorState.term, 5n);
    assert.deepEqual(await n.acc.termBump(3n), { previousTerm: 5n, currentTerm: 5n });
    assert.deepEqual(await n.acc.termBump(5n), { previousTerm: 5n, currentTerm: 5n });
    assert.equal(n.control.writes, w + 1);
    assert.deepEqual(await n.acc.termBump(9n), { previousTerm: 5n, currentTerm: 9n });
    assert.equal(n.control.persisted.acceptorState.term, 9n);
    // A bumped term refuses the old proposer's vote.
    assert.equal((await n.acc.handleVoteRequest(vote(9n))).voteGiven, false);
  });
});

describe('recordPeerInfo', () => {
  test('commit_lsn raised only when last_log_term matches; other LSNs by max; write when > 1 segment ahead', async () => {
    const { n } = await node(0x200n);
    await n.acc.recordPeerInfo({ commitLsn: S + 0x100n, lastLogTerm: 2n, backupLsn: 0n, remoteConsistentLsn: 0n, peerHorizonLsn: 0n });
    assert.equal(n.acc.commitLsn, S, 'different last_log_term: ignored');
    await n.acc.recordPeerInfo({ commitLsn: S + 0x100n, lastLogTerm: 1n, backupLsn: S + 0x10n, remoteConsistentLsn: 0n, peerHorizonLsn: 0n });
    assert.equal(n.acc.commitLsn, S + 0x100n);
    assert.equal(n.acc.backupLsn, S + 0x10n);
    const writes = n.control.writes;
    await n.acc.recordPeerInfo({ commitLsn: 0n, lastLogTerm: 1n, backupLsn: 0n, remoteConsistentLsn: S + SEG, peerHorizonLsn: 0n });
    assert.equal(n.control.writes, writes, 'exactly one segment ahead: not yet');
    await n.acc.recordPeerInfo({ commitLsn: 0n, lastLogTerm: 1n, backupLsn: 0n, remoteConsistentLsn: S + SEG + 1n, peerHorizonLsn: 0n });
    assert.equal(n.control.writes, writes + 1);
    assert.equal(n.control.persisted.remoteConsistentLsn, S + SEG + 1n);
  });
});
