import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { nextTruncateLsn, quorumCommitLsn, quorumSize } from '../../src/client/index.js';

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
