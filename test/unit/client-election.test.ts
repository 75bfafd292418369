import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { determineEpochStart, lastLogTerm, startStreamingAt, type VoteInfo } from '../../src/client/index.js';
import type { TermHistory } from '../../src/protocol/index.js';

// LSNs of acceptor.md §11.
const S = 0x1000028n;
const L1 = 0x1000100n;
const L2 = 0x1000200n;
const L3 = 0x1000300n;
const L4 = 0x1000400n;

const h = (...e: [bigint, bigint][]): TermHistory => e.map(([term, lsn]) => ({ term, lsn }));
const vote = (flushLsn: bigint, truncateLsn: bigint, termHistory: TermHistory, timelineStartLsn = S): VoteInfo => ({
  flushLsn,
  truncateLsn,
  termHistory,
  timelineStartLsn,
});

describe('determineEpochStart', () => {
  test('fresh timeline: every voter empty → basebackup LSN is epoch start, truncate and timeline start', () => {
    const d = determineEpochStart([vote(0n, 0n, [], 0n), vote(0n, 0n, [], 0n)], 1n, S);
    assert.equal(d.bootstrapped, true);
    assert.equal(d.donor, 0);
    assert.equal(d.epochStartLsn, S);
    assert.equal(d.truncateLsn, S);
    assert.equal(d.timelineStartLsn, S);
    assert.deepEqual(d.termHistory, h([1n, S]));
  });

  test('§11 step 3, quorum {A, C}: donor A, epoch L3, truncate L1, history [(1,S),(2,L3)]', () => {
    const A = vote(L3, L1, h([1n, S]));
    const C = vote(L1, S, h([1n, S]));
    const d = determineEpochStart([A, C], 2n, 0n);
    assert.equal(d.donor, 0);
    assert.equal(d.epochStartLsn, L3);
    assert.equal(d.truncateLsn, L1);
    assert.equal(d.timelineStartLsn, S);
    assert.equal(d.bootstrapped, false);
    assert.deepEqual(d.termHistory, h([1n, S], [2n, L3]));
  });

  test('§11 variant, quorum {A, B}: donor B (flush L4), history [(1,S),(2,L4)]', () => {
    const A = vote(L3, L1, h([1n, S]));
    const B = vote(L4, L1, h([1n, S]));
    const d = determineEpochStart([A, B], 2n, 0n);
    assert.equal(d.donor, 1);
    assert.deepEqual(d.termHistory, h([1n, S], [2n, L4]));
  });

  test('last_log_term outranks flush_lsn; ties go to the first voter', () => {
    const longOld = vote(L4, S, h([1n, S]));
    const shortNew = vote(L2, S, h([1n, S], [2n, L1]));
    assert.equal(determineEpochStart([longOld, shortNew], 3n, 0n).donor, 1);
    const d = determineEpochStart([vote(L2, S, h([1n, S])), vote(L2, L1, h([1n, S]))], 2n, 0n);
    assert.equal(d.donor, 0);
    assert.equal(d.truncateLsn, L1);
  });

  test('the last non-zero timeline_start_lsn wins and a disagreement is flagged', () => {
    const d = determineEpochStart([vote(L1, S, h([1n, S]), S), vote(L1, S, h([1n, S]), 0n), vote(L1, S, h([1n, S]), L1)], 2n, 0n);
    assert.equal(d.timelineStartLsn, L1);
    assert.equal(d.inconsistentTimelineStart, true);
  });

  test('lastLogTerm', () => {
    assert.equal(lastLogTerm([]), 0n);
    assert.equal(lastLogTerm(h([1n, S], [4n, L2])), 4n);
  });
});

describe('startStreamingAt (proposer.md §2.5, acceptor.md §11)', () => {
  const P = h([1n, S], [2n, L3]);

  test('step 3, quorum {A, C}: A → L3, C → L1, B (late, divergent tail L4) → L3', () => {
    assert.equal(startStreamingAt(P, 2n, h([1n, S]), L3), L3);
    assert.equal(startStreamingAt(P, 2n, h([1n, S]), L1), L1);
    assert.equal(startStreamingAt(P, 2n, h([1n, S]), L4), L3);
  });

  test('variant quorum {A, B}: history [(1,S),(2,L4)] → A L3, B L4, C L1', () => {
    const PB = h([1n, S], [2n, L4]);
    assert.equal(startStreamingAt(PB, 2n, h([1n, S]), L3), L3);
    assert.equal(startStreamingAt(PB, 2n, h([1n, S]), L4), L4);
    assert.equal(startStreamingAt(PB, 2n, h([1n, S]), L1), L1);
  });

  test('step 4: everyone at [(1,S),(2,L3)] flush L3, proposer term 3 → L3', () => {
    assert.equal(startStreamingAt(h([1n, S], [2n, L3], [3n, L3]), 3n, h([1n, S], [2n, L3]), L3), L3);
  });

  test('empty or unrelated acceptor history → the first entry of the proposer history', () => {
    assert.equal(startStreamingAt(h([1n, S]), 1n, [], 0n), S);
    assert.equal(startStreamingAt(h([2n, S], [3n, L2]), 3n, h([1n, S]), L4), S);
  });

  test('reconnect in the same term (acceptor already adopted propTerm) → its flush_lsn', () => {
    assert.equal(startStreamingAt(P, 2n, h([1n, S], [2n, L3]), L4 + 0x100n), L4 + 0x100n);
  });

  test('acceptor with a later divergent term → end of the last common term', () => {
    // Acceptor went on in term 2 from L2 (someone else's), proposer's term 3 follows term 1 to L3.
    assert.equal(startStreamingAt(h([1n, S], [3n, L3]), 3n, h([1n, S], [2n, L2]), L4), L2);
  });

  test('equal terms at different LSNs are refused', () => {
    assert.throws(() => startStreamingAt(h([1n, S], [2n, L3]), 2n, h([1n, L1]), L2), /term 1 starts at/);
  });
});
