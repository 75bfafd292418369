// Message rules of acceptor.md §1–§5 and the reference's own scenarios (§10).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AcceptorError } from '../../src/acceptor/errors.js';
import { recordEndsAt } from '../../src/acceptor/memory-storage.js';
import { EMPTY_HS_FEEDBACK } from '../../src/protocol/messages.js';
import {
  append,
  elected,
  gate,
  greeting,
  hist,
  newNode,
  PROPOSER_UUID,
  restartNode,
  settle,
  TENANT,
  TIMELINE,
  vote,
  type Node,
} from '../helpers/acceptor-fixtures.js';

const S = 0x1000028n;
const L1 = 0x1000100n;
const L2 = 0x1000200n;
const L3 = 0x1000300n;

function refusedWith(re: RegExp) {
  return (e: unknown) => e instanceof AcceptorError && !e.fatal && re.test(e.message);
}
function fatalWith(re: RegExp) {
  return (e: unknown) => e instanceof AcceptorError && e.fatal && re.test(e.message);
}

/** Node elected in term 1 at S with WAL S..L2 flushed (one record per append). */
async function streamingNode(): Promise<Node> {
  const n = newNode();
  await n.acc.handleVoteRequest(vote(1n));
  await n.acc.handleElected(elected(1n, S, hist([1n, S]), S));
  await n.acc.handleAppend(append({ term: 1n, begin: S, end: L1, truncate: S }), { flush: true });
  await n.acc.handleAppend(append({ term: 1n, begin: L1, end: L2, truncate: S }), { flush: true });
  return n;
}

describe('§10 reference scenarios', () => {
  test('vote survives restart', async () => {
    const n = newNode();
    const r1 = await n.acc.handleVoteRequest(vote(1n));
    assert.equal(r1.voteGiven, true);
    const again = restartNode(n);
    const r2 = await again.acc.handleVoteRequest(vote(1n));
    assert.equal(r2.voteGiven, false);
    assert.equal(r2.term, 1n);
    assert.equal(again.control.writes, 0);
  });

  test('last log term switches only at term_start_lsn', async () => {
    const n = newNode();
    await n.acc.handleElected(elected(2n, 1n, hist([1n, 1n], [2n, 3n]), 1n));
    assert.equal(n.acc.term, 2n);
    assert.equal(n.control.persisted.acceptorState.term, 2n);
    const r = await n.acc.handleAppend(append({ term: 2n, termStart: 3n, begin: 1n, end: 2n }), { flush: true });
    assert.equal(r?.flushLsn, 2n);
    assert.equal(n.acc.lastLogTerm, 1n);
    await n.acc.handleAppend(append({ term: 2n, termStart: 3n, begin: 2n, end: 3n }), { flush: true });
    assert.equal(n.acc.lastLogTerm, 2n);
  });

  test('no sequential violation: a rewrite and a gap are both errors', async () => {
    const n = newNode();
    await n.acc.handleElected(elected(1n, 1n, hist([1n, 1n]), 1n));
    await n.acc.handleAppend(append({ term: 1n, termStart: 3n, begin: 1n, end: 2n }), { flush: true });
    await assert.rejects(
      n.acc.handleAppend(append({ term: 1n, begin: 1n, end: 2n }), { flush: true }),
      refusedWith(/^append request rewrites WAL written before, write_lsn=0\/2, msg lsn=0\/1$/),
    );
    await assert.rejects(
      n.acc.handleAppend(append({ term: 1n, begin: 4n, end: 5n }), { flush: true }),
      refusedWith(/^append request creates gap in written WAL, write_lsn=0\/2, msg lsn=0\/4$/),
    );
    // Heartbeats are checked too.
    await assert.rejects(n.acc.handleAppend(append({ term: 1n, begin: 1n }), { flush: false }), /rewrites WAL/);
    assert.equal(n.wal.writeLsn(), 2n);
  });
});

describe('§1 greeting', () => {
  test('replies with the persisted term and node id; nothing persisted', async () => {
    const n = newNode({ nodeId: 7n });
    assert.deepEqual(await n.acc.handleGreeting(greeting(), { tenantId: TENANT, timelineId: TIMELINE }), {
      kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null },
      term: 0n,
      nodeId: 7n,
    });
    await n.acc.handleVoteRequest(vote(5n));
    assert.equal((await n.acc.handleGreeting(greeting({ protocolVersion: 2 }))).term, 5n);
    assert.equal(n.control.writes, 1);
  });

  const cases: [string, Parameters<typeof greeting>[0], RegExp][] = [
    ['1 protocol version', { protocolVersion: 3 }, /^incompatible protocol version 3, expected 2$/],
    ['2 major pg version', { pgVersion: 160002 }, /^incompatible server version 160002, expected 150004$/],
    ['3 tenant', { tenantId: 'ab'.repeat(16) }, new RegExp(`^invalid tenant ID, got ${'ab'.repeat(16)}, expected ${TENANT}$`)],
    ['4 timeline', { timelineId: 'cd'.repeat(16) }, new RegExp(`^invalid timeline ID, got ${'cd'.repeat(16)}, expected ${TIMELINE}$`)],
    ['5 wal_seg_size', { walSegSize: 1 << 20 }, /^invalid wal_seg_size, got 1048576, expected 16777216$/],
  ];
  for (const [name, over, re] of cases) {
    test(`check ${name}`, async () => {
      const n = newNode();
      await assert.rejects(n.acc.handleGreeting(greeting({ ...over, systemId: 99n })), refusedWith(re));
      assert.equal(n.control.writes, 0, 'nothing persisted');
    });
  }

  test('checks run in order: the first failing one is reported', async () => {
    const n = newNode();
    const all = { protocolVersion: 1, pgVersion: 140000, tenantId: 'ab'.repeat(16), timelineId: 'cd'.repeat(16), walSegSize: 1 };
    await assert.rejects(n.acc.handleGreeting(greeting(all)), /^AcceptorError: incompatible protocol version/);
    await assert.rejects(n.acc.handleGreeting(greeting({ ...all, protocolVersion: 2 })), /incompatible server version/);
    await assert.rejects(n.acc.handleGreeting(greeting({ ...all, protocolVersion: 2, pgVersion: 150099 })), /invalid tenant ID/);
    await assert.rejects(
      n.acc.handleGreeting(greeting({ ...all, protocolVersion: 2, pgVersion: 150099, tenantId: TENANT })),
      /invalid timeline ID/,
    );
  });

  test('the expected ttid comes from the connection when given', async () => {
    const n = newNode();
    await assert.rejects(
      n.acc.handleGreeting(greeting(), { tenantId: 'ef'.repeat(16), timelineId: TIMELINE }),
      /invalid tenant ID, got cf04.*, expected efef/,
    );
  });

  test('minor version differences pass; stored pg_version 0 accepts any', async () => {
    await newNode().acc.handleGreeting(greeting({ pgVersion: 150099 }));
    await newNode({ state: { server: { pgVersion: 0, systemId: 0n, walSegSize: 16 << 20 } } }).acc.handleGreeting(
      greeting({ pgVersion: 170000 }),
    );
  });

  test('new system_id is stored with the full pg_version and persisted before the reply', async () => {
    const n = newNode();
    const g = gate();
    n.control.beforeWrite = () => g.wait;
    let replied = false;
    const p = n.acc.handleGreeting(greeting({ systemId: 42n, pgVersion: 150010 })).then((r) => {
      replied = true;
      return r;
    });
    await settle();
    assert.equal(replied, false, 'no reply while the control file write is in flight');
    g.open();
    await p;
    assert.deepEqual(n.control.persisted.server, { pgVersion: 150010, systemId: 42n, walSegSize: 16 << 20 });
    assert.equal(n.control.writes, 1);
    assert.deepEqual(n.warnings, [], 'no warning when the stored id was 0');

    await n.acc.handleGreeting(greeting({ systemId: 42n })); // same id
    await n.acc.handleGreeting(greeting({ systemId: 0n, pgVersion: 150004 })); // sync-safekeepers
    assert.equal(n.control.writes, 1);
    assert.equal(n.control.persisted.server.pgVersion, 150010);

    await n.acc.handleGreeting(greeting({ systemId: 43n, pgVersion: 150011 }));
    assert.equal(n.control.persisted.server.systemId, 43n);
    assert.equal(n.control.persisted.server.pgVersion, 150011);
    assert.match(n.warnings[0] ?? '', /unexpected system ID arrived, got 43, expected 42/);
  });

  test('the system_id write also saves the in-memory LSNs', async () => {
    const n = await streamingNode();
    await n.acc.handleAppend(append({ term: 1n, begin: L2, commit: L2, truncate: L1 }), { flush: false });
    assert.equal(n.control.persisted.commitLsn, S);
    await n.acc.handleGreeting(greeting({ systemId: 5n }));
    assert.equal(n.control.persisted.commitLsn, L2);
    assert.equal(n.control.persisted.peerHorizonLsn, L1);
    assert.equal(n.control.persisted.proposerUuid, PROPOSER_UUID);
  });
});

describe('§2 VoteRequest', () => {
  test('granted vote is persisted (term) before the reply resolves', async () => {
    const n = newNode();
    const g = gate();
    n.control.beforeWrite = () => g.wait;
    let replied = false;
    const p = n.acc.handleVoteRequest(vote(3n)).then((r) => {
      replied = true;
      return r;
    });
    await settle();
    assert.equal(replied, false);
    assert.equal(n.control.persisted.acceptorState.term, 0n);
    g.open();
    const r = await p;
    assert.equal(n.control.persisted.acceptorState.term, 3n);
    assert.deepEqual(r, {
      kind: 'VoteResponse', generation: 0,
      term: 3n,
      voteGiven: true,
      flushLsn: 0n,
      truncateLsn: 0n,
      termHistory: [],
      timelineStartLsn: 0n,
    });
  });

  test('a failed control-file write means no vote (error, term unchanged)', async () => {
    const n = newNode();
    n.control.failNextWrite(new Error('EIO'));
    await assert.rejects(n.acc.handleVoteRequest(vote(1n)), /EIO/);
    assert.equal(n.acc.term, 0n);
    assert.equal((await n.acc.handleVoteRequest(vote(1n))).voteGiven, true);
  });

  test('equal or lower term refused with our term, nothing persisted', async () => {
    const n = newNode();
    await n.acc.handleVoteRequest(vote(4n));
    for (const t of [4n, 2n]) {
      const r = await n.acc.handleVoteRequest(vote(t));
      assert.equal(r.voteGiven, false);
      assert.equal(r.term, 4n);
    }
    assert.equal(n.control.writes, 1);
  });

  test('flushes written WAL first; only complete records count; values from before the term change', async () => {
    const n = newNode({ wal: { recordEnds: recordEndsAt([L1, L2, L3]) } });
    await n.acc.handleVoteRequest(vote(1n));
    await n.acc.handleElected(elected(1n, S, hist([1n, S]), S));
    // L1 complete, then half of the L1..L2 record; truncate_lsn raises peer horizon in memory.
    await n.acc.handleAppend(append({ term: 1n, begin: S, end: L1 + 0x80n, truncate: L1 }), { flush: false });
    assert.equal(n.acc.flushLsn(), S);
    const fsyncs = n.wal.fsyncs;
    const r = await n.acc.handleVoteRequest(vote(2n));
    assert.equal(n.wal.fsyncs, fsyncs + 1);
    assert.deepEqual(r, {
      kind: 'VoteResponse', generation: 0,
      term: 2n,
      voteGiven: true,
      flushLsn: L1,
      truncateLsn: L1,
      termHistory: hist([1n, S]),
      timelineStartLsn: S,
    });
    // The vote's write carried the in-memory peer horizon.
    assert.equal(n.control.persisted.peerHorizonLsn, L1);
    // Nothing unflushed any more: a refused vote does not fsync.
    await n.acc.handleVoteRequest(vote(2n));
    assert.equal(n.wal.fsyncs, fsyncs + 1);
  });
});

describe('§3 ProposerElected', () => {
  test('first election: first segment initialised, truncation, one atomic control-file write', async () => {
    const n = newNode();
    await n.acc.handleVoteRequest(vote(1n));
    const before = n.control.writes;
    const res = await n.acc.handleElected(elected(1n, S, hist([1n, S]), S));
    assert.equal(res, undefined);
    assert.deepEqual(n.wal.firstSegmentInits, [S]);
    assert.deepEqual(n.wal.truncations, [S]);
    assert.equal(n.control.writes, before + 1);
    const p = n.control.persisted;
    assert.deepEqual(
      [p.timelineStartLsn, p.localStartLsn, p.peerHorizonLsn, p.commitLsn, p.backupLsn, p.remoteConsistentLsn],
      [S, S, S, S, S, S],
    );
    assert.deepEqual(p.acceptorState.termHistory, hist([1n, S]));
    assert.equal(n.acc.termStartLsn, S);
    assert.equal(n.acc.lastLogTerm, 1n);
    assert.equal(n.acc.commitLsn, S, 'in-memory copy follows the write');
    assert.deepEqual(n.events, ['control.persist', 'wal.initFirstSegment', 'wal.fsync', 'wal.truncate', 'control.persist']);
  });

  test('ignored for a lower term: no reply, nothing persisted, nothing truncated', async () => {
    const n = await streamingNode();
    await n.acc.handleVoteRequest(vote(3n));
    const writes = n.control.writes;
    const truncs = n.wal.truncations.length;
    await n.acc.handleElected(elected(2n, S, hist([2n, S]), S));
    assert.equal(n.control.writes, writes);
    assert.equal(n.wal.truncations.length, truncs);
    assert.deepEqual(n.acc.termHistory, hist([1n, S]));
  });

  test('raises the term without a vote; the raise stays persisted when a later step fails (LCP mismatch)', async () => {
    const n = await streamingNode(); // term 1, history [(1,S)], flush L2
    const truncs = n.wal.truncations.length;
    await assert.rejects(
      n.acc.handleElected(elected(2n, L1, hist([1n, S], [2n, L2]), S)),
      refusedWith(
        /^refusing ProposerElected with unexpected truncation point: lcp=\(1, 0\/1000200\) start_streaming_at=0\/1000100, term=2, sk_th=\[\(1, 0\/1000028\)\] flush_lsn=0\/1000200, wp_th=\[\(2, 0\/1000200\), \(1, 0\/1000028\)\]$/,
      ),
    );
    assert.equal(n.control.persisted.acceptorState.term, 2n);
    assert.deepEqual(n.control.persisted.acceptorState.termHistory, hist([1n, S]));
    assert.equal(n.wal.truncations.length, truncs);
    assert.equal(n.acc.termStartLsn, S, 'term_start_lsn untouched');
  });

  test('empty proposer history is refused', async () => {
    const n = newNode();
    await assert.rejects(n.acc.handleElected(elected(1n, S, [], S)), refusedWith(/^empty walproposer term history \[\]/));
  });

  test('non-ascending proposer history is refused', async () => {
    const n = newNode();
    await assert.rejects(n.acc.handleElected(elected(2n, S, hist([2n, S], [1n, L1]), S)), refusedWith(/invalid walproposer term history/));
  });

  test('truncating committed data is a fatal error; term stays persisted, WAL untouched', async () => {
    const n = await streamingNode(); // flush L2
    await n.acc.handleAppend(append({ term: 1n, begin: L2, commit: L2 }), { flush: false });
    assert.equal(n.acc.commitLsn, L2);
    const truncs = n.wal.truncations.length;
    // Proposer whose term 2 starts at L1: LCP = min(L1, W=L2) = L1 < commit L2.
    await assert.rejects(
      n.acc.handleElected(elected(2n, L1, hist([1n, S], [2n, L1]), S)),
      fatalWith(/^attempt to truncate committed data: start_streaming_at=0\/1000100, commit_lsn=0\/1000200, term=2/),
    );
    assert.equal(n.control.persisted.acceptorState.term, 2n);
    assert.equal(n.wal.truncations.length, truncs);
    assert.equal(n.wal.writeLsn(), L2);
  });

  test('start == commit is fine (equality allowed)', async () => {
    const n = await streamingNode();
    await n.acc.handleAppend(append({ term: 1n, begin: L2, commit: L1 }), { flush: false });
    await n.acc.handleElected(elected(2n, L1, hist([1n, S], [2n, L1]), S));
    assert.equal(n.wal.writeLsn(), L1);
    assert.equal(n.acc.lastLogTerm, 2n);
  });

  test('repeated identical ProposerElected: no truncation, no control-file write', async () => {
    const n = await streamingNode();
    await n.acc.handleVoteRequest(vote(2n));
    const msg = elected(2n, L2, hist([1n, S], [2n, L2]), S);
    await n.acc.handleElected(msg);
    const writes = n.control.writes;
    const truncs = n.wal.truncations.length;
    const skipped = n.wal.skippedTruncations;
    await n.acc.handleElected(msg);
    assert.equal(n.control.writes, writes);
    assert.equal(n.wal.truncations.length, truncs);
    assert.equal(n.wal.skippedTruncations, skipped + 1);
    assert.deepEqual(n.wal.firstSegmentInits, [S], 'first segment only initialised while flush was 0');
  });

  test('after a restart the first ProposerElected truncates even at the same point', async () => {
    const n = await streamingNode();
    const r = restartNode(n);
    assert.equal(r.wal.pendingTruncation(), true);
    assert.equal(r.acc.termStartLsn, 0n);
    // Writes are refused until then.
    await assert.rejects(
      r.acc.handleAppend(append({ term: 1n, begin: L2, end: L3 }), { flush: false }),
      /write_wal called with pending WAL truncation/,
    );
    // Same proposer reconnects in term 1: k is P's last index, LCP = W = L2.
    await r.acc.handleElected(elected(1n, L2, hist([1n, S]), S));
    assert.deepEqual(r.wal.truncations, [L2]);
    assert.deepEqual(r.wal.firstSegmentInits, [], 'WAL exists: no first segment init');
    // The refused append had already taken its proposer uuid (§4 step 4 precedes the
    // write); the Elected write saves it, nothing else changed.
    assert.equal(r.control.writes, 1);
    assert.deepEqual(r.control.persisted, { ...n.control.persisted, proposerUuid: PROPOSER_UUID });
    assert.equal(r.acc.termStartLsn, S);
    await r.acc.handleAppend(append({ term: 1n, begin: L2, end: L3 }), { flush: true });
    assert.equal(r.acc.flushLsn(), L3);
  });
});

describe('§4 AppendRequest', () => {
  test('before ProposerElected (higher term) is refused', async () => {
    const n = await streamingNode();
    await assert.rejects(
      n.acc.handleAppend(append({ term: 2n, begin: L2 }), { flush: false }),
      refusedWith(/^got AppendRequest before ProposerElected$/),
    );
  });

  test('stale term: term-only reply even on the no-flush path, nothing written', async () => {
    const n = await streamingNode();
    await n.acc.handleVoteRequest(vote(3n));
    const r = await n.acc.handleAppend(append({ term: 1n, begin: L2, end: L3, commit: L2, truncate: L2 }), { flush: false });
    assert.deepEqual(r, { kind: 'AppendResponse', generation: 0, term: 3n, flushLsn: 0n, commitLsn: 0n, hsFeedback: { ...EMPTY_HS_FEEDBACK } });
    assert.equal(n.wal.writeLsn(), L2);
    assert.equal(n.acc.commitLsn, S);
    assert.equal(n.acc.peerHorizonLsn, S);
    // Even a rewrite is answered with the term only (term check comes first).
    const r2 = await n.acc.handleAppend(append({ term: 1n, begin: S, end: L1 }), { flush: true });
    assert.equal(r2?.term, 3n);
    assert.equal(r2?.flushLsn, 0n);
    // FlushWAL afterwards gives the old proposer a normal reply with the higher term.
    assert.deepEqual(await n.acc.flushWal(), { kind: 'AppendResponse', generation: 0, term: 3n, flushLsn: L2, commitLsn: S, hsFeedback: { ...EMPTY_HS_FEEDBACK } });
  });

  test('no-flush append: no reply while flush does not move; FlushWAL replies always', async () => {
    const n = await streamingNode();
    assert.equal(await n.acc.handleAppend(append({ term: 1n, begin: L2, end: L3 }), { flush: false }), null);
    assert.equal(n.acc.flushLsn(), L2);
    const fsyncs = n.wal.fsyncs;
    assert.deepEqual(await n.acc.flushWal(), { kind: 'AppendResponse', generation: 0, term: 1n, flushLsn: L3, commitLsn: S, hsFeedback: { ...EMPTY_HS_FEEDBACK } });
    assert.equal(n.wal.fsyncs, fsyncs + 1);
    assert.equal((await n.acc.flushWal()).flushLsn, L3);
    assert.equal(n.wal.fsyncs, fsyncs + 1, 'nothing to flush: no fsync, still a reply');
    // Flushing append replies even when flush did not move (heartbeat).
    assert.equal((await n.acc.handleAppend(append({ term: 1n, begin: L3 }), { flush: true }))?.flushLsn, L3);
  });

  test('no-flush append completing a segment replies (flush moved), unless the record is incomplete', async () => {
    const SEG_END = 0x2000000n;
    const start = SEG_END - 0x100n;
    const n = newNode({ wal: { recordEnds: recordEndsAt([SEG_END - 0x80n, SEG_END, SEG_END + 0x40n, SEG_END + 0x200n]) } });
    await n.acc.handleElected(elected(1n, start, hist([1n, start]), start));
    assert.equal(await n.acc.handleAppend(append({ term: 1n, begin: start, end: SEG_END - 0x80n }), { flush: false }), null);
    const r = await n.acc.handleAppend(append({ term: 1n, begin: SEG_END - 0x80n, end: SEG_END }), { flush: false });
    assert.equal(r?.flushLsn, SEG_END);
    assert.equal(await n.acc.handleAppend(append({ term: 1n, begin: SEG_END, end: SEG_END + 0x40n }), { flush: false }), null);

    // Segment completed in the middle of a record: the flush moves to the last
    // complete record inside the synced bytes...
    const SEG2_END = 0x3000000n;
    const m = newNode({ wal: { recordEnds: recordEndsAt([SEG2_END - 0x80n, SEG2_END + 0x10n]) } });
    await m.acc.handleElected(elected(1n, SEG2_END - 0x100n, hist([1n, SEG2_END - 0x100n]), SEG2_END - 0x100n));
    const r2 = await m.acc.handleAppend(append({ term: 1n, begin: SEG2_END - 0x100n, end: SEG2_END }), { flush: false });
    assert.equal(r2?.flushLsn, SEG2_END - 0x80n);
    assert.equal(m.wal.rawFlushLsn(), SEG2_END);

    // ...and when no record completes inside them, it does not move: no reply.
    const k = newNode({ wal: { recordEnds: recordEndsAt([SEG2_END + 0x10n]) } });
    await k.acc.handleElected(elected(1n, SEG2_END - 0x100n, hist([1n, SEG2_END - 0x100n]), SEG2_END - 0x100n));
    assert.equal(await k.acc.handleAppend(append({ term: 1n, begin: SEG2_END - 0x100n, end: SEG2_END }), { flush: false }), null);
    assert.equal(k.wal.rawFlushLsn(), SEG2_END);
    assert.equal(k.acc.flushLsn(), SEG2_END - 0x100n);
  });

  test('no-flush append replies while storage flush is below timeline_start_lsn (degenerate case)', async () => {
    // A state that knows timeline_start_lsn over empty WAL (all positions 0).
    const n = newNode({
      state: { acceptorState: { term: 1n, termHistory: hist([1n, S]) }, timelineStartLsn: S, commitLsn: 0n },
      wal: { pendingTruncation: false },
    });
    assert.equal(n.acc.flushLsn(), S);
    const r = await n.acc.handleAppend(append({ term: 1n, begin: S }), { flush: false });
    assert.equal(r?.flushLsn, S, 'raw storage flush 0 before, flush_lsn() S after: moved');
  });

  test('commit_lsn: max with in-memory, capped at flush, monotone, 0 leaves it alone; replies carry the persisted one', async () => {
    const n = await streamingNode(); // flush L2, persisted commit S
    await n.acc.handleAppend(append({ term: 1n, begin: L2, commit: L3 }), { flush: false });
    assert.equal(n.acc.commitLsn, L2, 'capped at flush L2');
    await n.acc.handleAppend(append({ term: 1n, begin: L2, commit: L1 }), { flush: false });
    assert.equal(n.acc.commitLsn, L2, 'lower value ignored');
    // Bytes of this request are not flushed yet: cap is the flush before it.
    await n.acc.handleAppend(append({ term: 1n, begin: L2, end: L3, commit: L3 }), { flush: false });
    assert.equal(n.acc.commitLsn, L2);
    await n.acc.handleAppend(append({ term: 1n, begin: L3, commit: 0n }), { flush: false });
    assert.equal(n.acc.commitLsn, L2, 'commit 0 in the message: untouched');
    const r = await n.acc.flushWal();
    assert.equal(r.commitLsn, S, 'persisted value, not the in-memory L2');
    assert.equal(n.acc.commitLsn, L2, 'a flush does not raise it by itself');
    await n.acc.handleAppend(append({ term: 1n, begin: L3, commit: L3 }), { flush: false });
    assert.equal(n.acc.commitLsn, L3);
    assert.equal(n.control.persisted.commitLsn, S, 'not persisted by appends in the same term');
  });

  test('commit_lsn decrease is a fatal error (inconsistent state)', async () => {
    // A control file claiming commit L3 over WAL that ends at L2.
    const n = newNode({
      state: { acceptorState: { term: 1n, termHistory: hist([1n, S]) }, timelineStartLsn: S, commitLsn: L3 },
      wal: { startLsn: L2, pendingTruncation: false },
    });
    await assert.rejects(
      n.acc.handleAppend(append({ term: 1n, begin: L2, commit: L3 }), { flush: false }),
      fatalWith(/^commit_lsn monotonicity violated: old=0\/1000300 new=0\/1000200$/),
    );
  });

  test('forced persist when commit reaches term_start_lsn (persisted commit below it)', async () => {
    const n = await streamingNode(); // term 1, flush L2, persisted commit S
    await n.acc.handleVoteRequest(vote(2n));
    await n.acc.handleElected(elected(2n, L2, hist([1n, S], [2n, L2]), S));
    assert.equal(n.acc.termStartLsn, L2);
    const writes = n.control.writes;
    await n.acc.handleAppend(append({ term: 2n, begin: L2, commit: L1 }), { flush: false });
    assert.equal(n.control.writes, writes, 'below term start: memory only');
    await n.acc.handleAppend(append({ term: 2n, begin: L2, commit: L2, truncate: L1 }), { flush: false });
    assert.equal(n.control.writes, writes + 1);
    assert.equal(n.control.persisted.commitLsn, L2);
    assert.equal(n.control.persisted.peerHorizonLsn, S, 'peer horizon of this message is applied after the forced write');
    assert.equal((await n.acc.flushWal()).commitLsn, L2);
    await n.acc.handleAppend(append({ term: 2n, begin: L2, end: L3 }), { flush: true });
    await n.acc.handleAppend(append({ term: 2n, begin: L3, commit: L3 }), { flush: true });
    assert.equal(n.control.writes, writes + 1, 'persisted commit already >= term start: no more forced writes');
  });

  test('no forced persist after a restart until the next ProposerElected (term_start_lsn = 0)', async () => {
    const n = await streamingNode();
    const r = restartNode(n);
    // Restarted with positions at L2; pending truncation only blocks writes, not heartbeats.
    await r.acc.handleAppend(append({ term: 1n, begin: L2, commit: L2 }), { flush: false });
    assert.equal(r.acc.commitLsn, L2);
    assert.equal(r.control.writes, 0);
  });

  test('peer horizon: max, also for truncate 0 and heartbeats; proposer uuid remembered in memory', async () => {
    const n = await streamingNode();
    await n.acc.handleAppend(append({ term: 1n, begin: L2, truncate: L1, uuid: 'cc'.repeat(16) }), { flush: false });
    assert.equal(n.acc.peerHorizonLsn, L1);
    await n.acc.handleAppend(append({ term: 1n, begin: L2, truncate: 0n }), { flush: false });
    assert.equal(n.acc.peerHorizonLsn, L1);
    assert.equal(n.acc.proposerUuid, PROPOSER_UUID);
    assert.equal(n.control.persisted.proposerUuid, '0'.repeat(32));
    await n.acc.checkpoint();
    assert.equal(n.control.persisted.proposerUuid, PROPOSER_UUID);
    assert.equal(n.control.persisted.peerHorizonLsn, L1);
  });

  test('process() dispatches and returns the reply or null', async () => {
    const n = newNode();
    assert.equal((await n.acc.process(greeting()))?.kind, 'AcceptorGreeting');
    assert.equal((await n.acc.process(vote(1n)))?.kind, 'VoteResponse');
    assert.equal(await n.acc.process(elected(1n, S, hist([1n, S]), S)), null);
    assert.equal(await n.acc.process(append({ term: 1n, begin: S, end: L1 })), null, 'no-flush by default');
    assert.equal((await n.acc.process(append({ term: 1n, begin: L1, end: L2 }), { flush: true }))?.kind, 'AppendResponse');
    assert.equal((await n.acc.process({ kind: 'FlushWAL' }))?.kind, 'AppendResponse');
  });

  test('concurrent calls are processed one at a time, in call order', async () => {
    const n = newNode();
    const g = gate();
    n.control.beforeWrite = () => g.wait;
    const order: string[] = [];
    const a = n.acc.handleVoteRequest(vote(1n)).then((r) => order.push(`vote ${r.voteGiven}`));
    const b = n.acc.handleGreeting(greeting()).then((r) => order.push(`greeting ${r.term}`));
    await settle();
    assert.deepEqual(order, []);
    g.open();
    await Promise.all([a, b]);
    assert.deepEqual(order, ['vote true', 'greeting 1']);
  });
});
