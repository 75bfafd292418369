// acceptor.md §11: two elections on three acceptors, message by message,
// with every reply and the state tables of the walk-through; then its variants.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AcceptorError } from '../../src/acceptor/errors.js';
import type { AppendResponse } from '../../src/protocol/messages.js';
import { EMPTY_HS_FEEDBACK } from '../../src/protocol/messages.js';
import { append, elected, greeting, hist, newNode, vote, type Node } from '../helpers/acceptor-fixtures.js';

const S = 0x1000028n;
const L1 = 0x1000100n;
const L2 = 0x1000200n;
const L3 = 0x1000300n;
const L4 = 0x1000400n;

interface World {
  A: Node;
  B: Node;
  C: Node;
}

function world(): World {
  return { A: newNode({ nodeId: 1n }), B: newNode({ nodeId: 2n }), C: newNode({ nodeId: 3n }) };
}

function ar(term: bigint, flushLsn: bigint, commitLsn: bigint): AppendResponse {
  return { kind: 'AppendResponse', generation: 0, term, flushLsn, commitLsn, hsFeedback: { ...EMPTY_HS_FEEDBACK } };
}

/** What the WalAcceptor does with a network append: no-flush (no reply expected), then FlushWAL. */
async function deliver(n: Node, msg: Parameters<typeof append>[0]): Promise<AppendResponse> {
  assert.equal(await n.acc.handleAppend(append(msg), { flush: false }), null, 'no reply from the no-flush append itself');
  return n.acc.flushWal();
}

async function step1(w: World): Promise<void> {
  for (const [name, n] of Object.entries(w)) {
    const nodeId = BigInt(' ABC'.indexOf(name));
    assert.deepEqual(await n.acc.handleGreeting(greeting()), { kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 0n, nodeId });
  }
  for (const n of Object.values(w)) {
    assert.deepEqual(await n.acc.handleVoteRequest(vote(1n)), {
      kind: 'VoteResponse', generation: 0,
      term: 1n,
      voteGiven: true,
      flushLsn: 0n,
      truncateLsn: 0n,
      termHistory: [],
      timelineStartLsn: 0n,
    });
    assert.equal(n.control.persisted.acceptorState.term, 1n);
  }
  for (const n of Object.values(w)) {
    await n.acc.handleElected(elected(1n, S, hist([1n, S]), S));
  }
}

async function step2(w: World): Promise<void> {
  const { A, B, C } = w;
  // AR1 to A, B, C
  for (const n of [A, B, C]) {
    assert.deepEqual(await deliver(n, { term: 1n, termStart: S, begin: S, end: L1, commit: 0n, truncate: S }), ar(1n, L1, S));
  }
  // AR2, AR3 to A, B
  for (const n of [A, B]) {
    assert.deepEqual(await deliver(n, { term: 1n, termStart: S, begin: L1, end: L2, commit: L1, truncate: L1 }), ar(1n, L2, S));
    assert.equal(n.acc.commitLsn, L1);
  }
  for (const n of [A, B]) {
    assert.deepEqual(await deliver(n, { term: 1n, termStart: S, begin: L2, end: L3, commit: L2, truncate: L1 }), ar(1n, L3, S));
    assert.equal(n.acc.commitLsn, L2);
  }
  // AR4 to B only
  assert.deepEqual(await deliver(B, { term: 1n, termStart: S, begin: L3, end: L4, commit: L3, truncate: L1 }), ar(1n, L4, S));
}

/** Step 3 with the {A, C} quorum, up to (not including) streaming in term 2. */
async function step3Election(w: World): Promise<void> {
  const { A, B, C } = w;
  for (const n of [A, B, C]) assert.equal((await n.acc.handleGreeting(greeting())).term, 1n);
  const writes = { A: A.control.writes, B: B.control.writes, C: C.control.writes };
  const fsyncs = { A: A.wal.fsyncs, B: B.wal.fsyncs, C: C.wal.fsyncs };

  const votes = {
    A: await A.acc.handleVoteRequest(vote(2n)),
    C: await C.acc.handleVoteRequest(vote(2n)),
  };
  const base = { kind: 'VoteResponse', generation: 0, term: 2n, voteGiven: true, termHistory: hist([1n, S]), timelineStartLsn: S };
  assert.deepEqual(votes.A, { ...base, flushLsn: L3, truncateLsn: L1 });
  assert.deepEqual(votes.C, { ...base, flushLsn: L1, truncateLsn: S });

  const P2 = hist([1n, S], [2n, L3]);
  await A.acc.handleElected(elected(2n, L3, P2, S));
  await C.acc.handleElected(elected(2n, L1, P2, S));

  // B votes late, after P2 is elected, and gets its ProposerElected at once.
  assert.deepEqual(await B.acc.handleVoteRequest(vote(2n)), { ...base, flushLsn: L4, truncateLsn: L1 });
  await B.acc.handleElected(elected(2n, L3, P2, S));

  assert.equal(A.wal.fsyncs - fsyncs.A, 0, 'A: nothing to flush, no truncation');
  assert.equal(C.wal.fsyncs - fsyncs.C, 0, 'C: nothing to flush, no truncation');
  assert.equal(B.wal.fsyncs - fsyncs.B, 1, 'B: the truncation fsync only');
  // Vote write + history write each.
  assert.equal(A.control.writes - writes.A, 2);
  assert.equal(C.control.writes - writes.C, 2);
  assert.equal(B.control.writes - writes.B, 2);
}

describe('§11 walk-through', () => {
  test('steps 1–4 on A, B, C', async () => {
    const w = world();
    const { A, B, C } = w;

    // ---- step 1
    await step1(w);
    for (const n of [A, B, C]) {
      const p = n.control.persisted;
      assert.deepEqual(
        {
          tls: p.timelineStartLsn,
          local: p.localStartLsn,
          ph: p.peerHorizonLsn,
          commit: p.commitLsn,
          backup: p.backupLsn,
          rcl: p.remoteConsistentLsn,
          h: p.acceptorState.termHistory,
        },
        { tls: S, local: S, ph: S, commit: S, backup: S, rcl: S, h: hist([1n, S]) },
      );
      assert.deepEqual(n.wal.firstSegmentInits, [S]);
      assert.deepEqual(n.wal.truncations, [S]);
      assert.deepEqual([n.wal.writeLsn(), n.wal.flushRecordLsn()], [S, S]);
      assert.equal(n.acc.termStartLsn, S);
      assert.equal(n.acc.lastLogTerm, 1n);
    }

    // ---- step 2
    const writesBefore2 = [A, B, C].map((n) => n.control.writes);
    await step2(w);
    assert.deepEqual([A, B, C].map((n) => n.control.writes), writesBefore2, 'no control-file writes while streaming');
    const table = (n: Node) => ({
      term: n.acc.term,
      history: n.acc.termHistory,
      flush: n.acc.flushLsn(),
      llt: n.acc.lastLogTerm,
      commit: [n.acc.commitLsn, n.control.persisted.commitLsn],
      ph: [n.acc.peerHorizonLsn, n.control.persisted.peerHorizonLsn],
    });
    const h1 = hist([1n, S]);
    assert.deepEqual(table(A), { term: 1n, history: h1, flush: L3, llt: 1n, commit: [L2, S], ph: [L1, S] });
    assert.deepEqual(table(B), { term: 1n, history: h1, flush: L4, llt: 1n, commit: [L3, S], ph: [L1, S] });
    assert.deepEqual(table(C), { term: 1n, history: h1, flush: L1, llt: 1n, commit: [S, S], ph: [S, S] });

    // ---- step 3
    await step3Election(w);
    // Control files written by the votes carried the in-memory LSNs (checked via the history of writes).
    const voteWrite = (n: Node) => n.control.written[n.control.written.length - 2]!;
    assert.deepEqual([voteWrite(A).acceptorState.term, voteWrite(A).commitLsn, voteWrite(A).peerHorizonLsn], [2n, L2, L1]);
    assert.deepEqual([voteWrite(C).acceptorState.term, voteWrite(C).commitLsn, voteWrite(C).peerHorizonLsn], [2n, S, S]);
    assert.deepEqual([voteWrite(B).acceptorState.term, voteWrite(B).commitLsn, voteWrite(B).peerHorizonLsn], [2n, L3, L1]);

    const P2 = hist([1n, S], [2n, L3]);
    assert.deepEqual(A.wal.truncations, [S], 'A: none (already at L3)');
    assert.deepEqual(C.wal.truncations, [S], 'C: none (already at L1)');
    assert.deepEqual(B.wal.truncations, [S, L3], 'B: L4 -> L3');
    assert.deepEqual(B.wal.read(L3, L4), Buffer.alloc(Number(L4 - L3)), 'R4 removed');
    assert.deepEqual([B.wal.writeLsn(), B.wal.flushRecordLsn()], [L3, L3]);
    for (const n of [A, B, C]) {
      assert.deepEqual(n.control.persisted.acceptorState.termHistory, P2);
      assert.equal(n.acc.termStartLsn, L3);
    }
    assert.deepEqual([A.acc.lastLogTerm, C.acc.lastLogTerm, B.acc.lastLogTerm], [2n, 1n, 2n]);

    // Streaming in term 2 (P2's commit starts at 0; truncate_lsn L1; header term_start L3 ignored).
    assert.deepEqual(await deliver(A, { term: 2n, termStart: L3, begin: L3, commit: 0n, truncate: L1 }), ar(2n, L3, L2));
    assert.deepEqual(await deliver(C, { term: 2n, termStart: L3, begin: L1, end: L3, commit: 0n, truncate: L1 }), ar(2n, L3, S));
    assert.equal(C.acc.lastLogTerm, 2n);
    assert.deepEqual(await deliver(B, { term: 2n, termStart: L3, begin: L3, commit: 0n, truncate: L1 }), ar(2n, L3, L3));

    const writes = [A, B, C].map((n) => n.control.writes);
    for (const n of [A, B, C]) {
      assert.equal(await n.acc.handleAppend(append({ term: 2n, termStart: L3, begin: L3, commit: L3, truncate: L1 }), { flush: false }), null);
      assert.equal(n.acc.commitLsn, L3);
    }
    assert.deepEqual(
      [A, B, C].map((n, i) => n.control.writes - writes[i]!),
      [1, 0, 1],
      'A and C forced to persist at term start; B already had L3 on disk',
    );
    for (const n of [A, B, C]) assert.deepEqual(await n.acc.flushWal(), ar(2n, L3, L3));

    // Final state of step 3.
    for (const n of [A, B, C]) {
      assert.deepEqual(
        [n.acc.term, n.acc.termHistory, n.acc.flushLsn(), n.acc.lastLogTerm, n.control.persisted.commitLsn],
        [2n, P2, L3, 2n, L3],
      );
    }

    // ---- step 4: P3, term 3
    for (const n of [A, B, C]) assert.equal((await n.acc.handleGreeting(greeting())).term, 2n);
    for (const n of [A, B, C]) {
      assert.deepEqual(await n.acc.handleVoteRequest(vote(3n)), {
        kind: 'VoteResponse', generation: 0,
        term: 3n,
        voteGiven: true,
        flushLsn: L3,
        truncateLsn: L1,
        termHistory: P2,
        timelineStartLsn: S,
      });
    }
    const P3 = hist([1n, S], [2n, L3], [3n, L3]);
    for (const n of [A, B, C]) {
      const truncs = n.wal.truncations.length;
      await n.acc.handleElected(elected(3n, L3, P3, S));
      assert.equal(n.wal.truncations.length, truncs, 'no truncation');
      assert.equal(n.acc.lastLogTerm, 3n, 'term 3 counts at once: all entries <= L3');
      assert.equal(n.acc.termStartLsn, L3);
      assert.deepEqual(n.control.persisted.acceptorState, { term: 3n, termHistory: P3 });
    }
  });

  test('C dequeues the commit broadcast before its catch-up is flushed: commit capped at L1, no write', async () => {
    const w = world();
    await step1(w);
    await step2(w);
    await step3Election(w);
    const { C } = w;
    assert.equal(await C.acc.handleAppend(append({ term: 2n, begin: L1, end: L3, truncate: L1 }), { flush: false }), null);
    const writes = C.control.writes;
    assert.equal(await C.acc.handleAppend(append({ term: 2n, begin: L3, commit: L3, truncate: L1 }), { flush: false }), null);
    assert.equal(C.acc.commitLsn, L1);
    assert.equal(C.control.writes, writes);
    assert.deepEqual(await C.acc.flushWal(), ar(2n, L3, S));
    // The next request carrying commit L3 brings it there (and forces the write).
    await C.acc.handleAppend(append({ term: 2n, begin: L3, commit: L3, truncate: L1 }), { flush: false });
    assert.deepEqual(await C.acc.flushWal(), ar(2n, L3, L3));
  });
});

describe('§11 variants', () => {
  test('quorum {A, B}: donor B, uncommitted R4 survives and becomes committed', async () => {
    const w = world();
    await step1(w);
    await step2(w);
    const { A, B, C } = w;
    const rA = await A.acc.handleVoteRequest(vote(2n));
    const rB = await B.acc.handleVoteRequest(vote(2n));
    assert.deepEqual([rA.flushLsn, rB.flushLsn], [L3, L4]);
    const P2 = hist([1n, S], [2n, L4]);
    await A.acc.handleElected(elected(2n, L3, P2, S));
    await B.acc.handleElected(elected(2n, L4, P2, S));
    const rC = await C.acc.handleVoteRequest(vote(2n));
    assert.equal(rC.flushLsn, L1);
    await C.acc.handleElected(elected(2n, L1, P2, S));
    assert.deepEqual([A.wal.truncations, B.wal.truncations, C.wal.truncations], [[S], [S], [S]], 'nobody truncates');
    assert.deepEqual([A.acc.lastLogTerm, B.acc.lastLogTerm, C.acc.lastLogTerm], [1n, 2n, 1n]);

    // A receives R4 (from the donor), C catches up L1..L4.
    assert.deepEqual(await deliver(A, { term: 2n, begin: L3, end: L4, truncate: L1 }), ar(2n, L4, L2));
    assert.deepEqual(await deliver(B, { term: 2n, begin: L4, truncate: L1 }), ar(2n, L4, L3));
    assert.deepEqual(await deliver(C, { term: 2n, begin: L1, end: L4, truncate: L1 }), ar(2n, L4, S));
    for (const n of [A, B, C]) {
      await n.acc.handleAppend(append({ term: 2n, begin: L4, commit: L4, truncate: L1 }), { flush: false });
      assert.deepEqual(await n.acc.flushWal(), ar(2n, L4, L4));
      assert.equal(n.acc.lastLogTerm, 2n);
    }
    assert.deepEqual(B.wal.read(L3, L4), A.wal.read(L3, L4));
  });

  test('stale term-2 ProposerElected with start L1 delivered to A after step 3: refused, nothing truncated', async () => {
    const w = world();
    await step1(w);
    await step2(w);
    await step3Election(w);
    const { A } = w;
    const writes = A.control.writes;
    await assert.rejects(
      A.acc.handleElected(elected(2n, L1, hist([1n, S], [2n, L3]), S)),
      (e: unknown) =>
        e instanceof AcceptorError &&
        !e.fatal &&
        e.message.startsWith('refusing ProposerElected with unexpected truncation point: lcp=(2, 0/1000300) start_streaming_at=0/1000100'),
    );
    assert.deepEqual(A.wal.truncations, [S]);
    assert.equal(A.wal.writeLsn(), L3);
    assert.equal(A.acc.term, 2n);
    assert.equal(A.control.writes, writes);
  });

  test('term-1 AppendRequest after step 3: term-only reply, nothing written', async () => {
    const w = world();
    await step1(w);
    await step2(w);
    await step3Election(w);
    for (const n of Object.values(w)) {
      const before = n.wal.writeLsn();
      const r = await n.acc.handleAppend(append({ term: 1n, begin: before, end: before + 0x100n, commit: L3 }), { flush: false });
      assert.deepEqual(r, ar(2n, 0n, 0n));
      assert.equal(n.wal.writeLsn(), before);
    }
  });

  test('VoteRequest for term 2 repeated on A after step 3: refused', async () => {
    const w = world();
    await step1(w);
    await step2(w);
    await step3Election(w);
    const writes = w.A.control.writes;
    assert.deepEqual(await w.A.acc.handleVoteRequest(vote(2n)), {
      kind: 'VoteResponse', generation: 0,
      term: 2n,
      voteGiven: false,
      flushLsn: L3,
      truncateLsn: L1,
      termHistory: hist([1n, S], [2n, L3]),
      timelineStartLsn: S,
    });
    assert.equal(w.A.control.writes, writes);
  });
});
