import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { nextTruncateLsn, quorumCommitLsn, quorumSize } from '../../src/client/index.js';
import { coversMconfQuorum, mconfCommitLsn } from '../../src/client/quorum.js';

const S = 0x1000028n;
const L1 = 0x1000100n;
const L2 = 0x1000200n;
const L3 = 0x1000300n;
const L4 = 0x1000400n;

describe('quorumSize', () => {
  test('n/2 + 1', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 31].map(quorumSize), [1, 2, 2, 3, 3, 16]);
    assert.throws(() => quorumSize(0), /positive integer/);
  });
});

describe('quorumCommitLsn', () => {
  test('the quorum-th highest flush, by n', () => {
    assert.equal(quorumCommitLsn([L2], S, 1), L2);
    assert.equal(quorumCommitLsn([L2, L1], S, 2), L1);
    assert.equal(quorumCommitLsn([L1, L3, L2], S, 2), L2);
    assert.equal(quorumCommitLsn([L4, L1, L3, L2], S, 3), L2);
    assert.equal(quorumCommitLsn([L4, L1, L3, L2, S], S, 3), L2);
  });

  test('flushes below the epoch start count as 0 (§11 step 3: only L3 flushes commit)', () => {
    // A and B at L3, C still at L1 below epoch start L3: commit L3 once two reached it.
    assert.equal(quorumCommitLsn([L3, L1, 0n], L3, 2), 0n);
    assert.equal(quorumCommitLsn([L3, L1, L3], L3, 2), L3);
    // C's old flush L1 never counts, even though it is above A's 0.
    assert.equal(quorumCommitLsn([0n, L1, L4], L3, 2), 0n);
  });

  test('never-heard safekeepers count as 0', () => {
    assert.equal(quorumCommitLsn([0n, 0n, L2], S, 2), 0n);
  });

  test('an impossible quorum is refused', () => {
    assert.throws(() => quorumCommitLsn([L1], S, 2), /impossible/);
  });
});

describe('nextTruncateLsn', () => {
  test('min of all flushes capped at commit, monotonic', () => {
    assert.equal(nextTruncateLsn(L1, [L3, L3, L3], L3), L3);
    assert.equal(nextTruncateLsn(L1, [L4, L4, L4], L3), L3, 'capped at commit');
    assert.equal(nextTruncateLsn(L1, [L3, 0n, L3], L3), L1, 'does not move until everyone answered');
    assert.equal(nextTruncateLsn(L2, [L3, L1, L3], L3), L2, 'never decreases');
    assert.equal(nextTruncateLsn(S, [L2, L3, L4], L3), L2);
  });
});

describe('membership configurations (protocol-v3.md §5)', () => {
  const sk = (id: number) => ({ id: BigInt(id), host: 'h', pgPort: 1 });
  const plain = { generation: 2, members: [1, 2, 3].map(sk), newMembers: null };
  const joint = { generation: 3, members: [1, 2, 3].map(sk), newMembers: [3, 4, 5].map(sk) };
  const ids = (...xs: number[]) => new Set(xs.map(BigInt));

  test('coversMconfQuorum: a majority of members; joint: of each set', () => {
    assert.equal(coversMconfQuorum(plain, ids(1, 2)), true);
    assert.equal(coversMconfQuorum(plain, ids(1, 9)), false);
    assert.equal(coversMconfQuorum(joint, ids(1, 2)), false, 'nobody of the new set');
    assert.equal(coversMconfQuorum(joint, ids(1, 2, 4)), false, 'one of the new set');
    assert.equal(coversMconfQuorum(joint, ids(1, 3, 4)), true, '3 counts in both sets');
  });

  test('mconfCommitLsn: per set the quorum-th flush (unmapped 0, below the term start 0); joint takes the lower', () => {
    const flush = new Map<bigint, bigint>([
      [1n, 500n],
      [2n, 300n],
      [3n, 400n],
      [4n, 200n],
    ]);
    assert.equal(mconfCommitLsn(plain, flush, 100n), 400n);
    // New set {3:400, 4:200, 5:unmapped} → 200; old set → 400; joint → 200.
    assert.equal(mconfCommitLsn(joint, flush, 100n), 200n);
    // Flushes below the term start count as 0.
    assert.equal(mconfCommitLsn(plain, flush, 450n), 0n);
  });
});
