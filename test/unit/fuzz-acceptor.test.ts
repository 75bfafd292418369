// Property test of the acceptor (issue 10, item 4): random sequences of elections, appends,
// flushes and crash-restarts (unflushed WAL lost) from competing proposers, over in-memory storage,
// keep the invariants of acceptor.md §9 as one acceptor can show them:
//  - a term is voted for once, and the term never goes back, across restarts too;
//  - every AppendResponse has commit_lsn <= flush_lsn, and flush_lsn is durable;
//  - WAL below a commit_lsn a proposer sent (it had a quorum flush for it) is never changed;
//  - in-memory commit_lsn never goes back within a process lifetime.
// FUZZ_RUNS sets the number of sequences.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AcceptorError } from '../../src/acceptor/errors.js';
import type { Lsn, Term } from '../../src/lsn.js';
import type { AppendResponse, TermHistory } from '../../src/protocol/messages.js';
import { append, elected, newNode, restartNode, vote, type Node } from '../helpers/acceptor-fixtures.js';

const RUNS = Math.max(1, Math.floor(Number(process.env.FUZZ_RUNS ?? 10_000) / 10));
const START = 0x1000028n;

type Action =
  | { kind: 'elect'; pid: number; bump: number }
  | { kind: 'append'; pid: number; bytes: number }
  | { kind: 'flush' }
  | { kind: 'restart' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('elect' as const), pid: fc.integer({ min: 0, max: 2 }), bump: fc.integer({ min: 0, max: 2 }) }) },
  // pid -1: the proposer elected last (most appends come from the leader; some from stale ones).
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), pid: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, fc.integer({ min: 0, max: 2 })), bytes: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
);

interface Proposer {
  term: Term;
  elected: boolean;
  pos: Lsn;
  /** The highest flush this proposer heard from the acceptor in its term (a one-acceptor quorum). */
  acked: Lsn;
}

/** Refusals are part of the protocol; anything else (Neon's panics among them) fails the property. */
async function tolerated<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof AcceptorError && !err.fatal) return undefined;
    throw err;
  }
}

describe(`acceptor properties (${RUNS} sequences)`, () => {
  test('random elections, appends, flushes and crashes keep the invariants', async (t) => {
    const seen = { elections: 0, appends: 0, restarts: 0, commitsChecked: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 10, maxLength: 60, size: 'max' }), fc.integer({ min: 1, max: 255 }), async (actions, fill) => {
        let n: Node = newNode();
        const proposers: Proposer[] = [0, 1, 2].map(() => ({ term: 0n, elected: false, pos: 0n, acked: 0n }));
        const votedBy = new Map<Term, number>();
        let maxTermSeen = 0n;
        let committed: { lsn: bigint; bytes: Buffer } = { lsn: 0n, bytes: Buffer.alloc(0) };
        let lastCommit = n.acc.commitLsn;
        let lastAppender = -1;
        let leader = -1;

        const checkResponse = (r: AppendResponse | null | undefined) => {
          if (!r || r.flushLsn === 0n) return;
          assert.ok(r.commitLsn <= r.flushLsn, 'commit_lsn <= flush_lsn');
          const durable = n.wal.flushRecordLsn() > n.acc.timelineStartLsn ? n.wal.flushRecordLsn() : n.acc.timelineStartLsn;
          assert.ok(r.flushLsn <= durable, 'flush_lsn is durable');
        };

        for (const a of actions) {
          if (a.kind === 'elect') {
            const p = proposers[a.pid]!;
            const term = maxTermSeen + 1n + BigInt(a.bump);
            const v = await tolerated(n.acc.handleVoteRequest(vote(term)));
            if (!v) continue;
            if (v.term > maxTermSeen) maxTermSeen = v.term;
            if (!v.voteGiven) continue;
            // A granted vote is a promise for `term`: the acceptor's term may never be below it again.
            if (term > maxTermSeen) maxTermSeen = term;
            assert.ok(n.acc.persisted.acceptorState.term >= term, 'a granted vote is durable before it is answered');
            assert.equal(votedBy.get(term), undefined, `term ${term} voted twice`);
            votedBy.set(term, a.pid);
            // The only acceptor is the donor: its history, then this term from its flush position.
            const start = v.flushLsn === 0n ? START : v.flushLsn;
            const history: TermHistory = [...v.termHistory, { term, lsn: start }];
            const ok = await tolerated(n.acc.handleElected(elected(term, start, history, START)).then(() => true));
            if (!ok) continue;
            Object.assign(p, { term, elected: true, pos: start, acked: 0n });
            leader = a.pid;
            seen.elections++;
          } else if (a.kind === 'append') {
            const p = proposers[a.pid === -1 ? leader : a.pid];
            if (!p) continue;
            if (!p.elected) continue;
            // A one-acceptor quorum: what it acknowledged in this term is committed.
            const commit = p.acked;
            const r = await tolerated(n.acc.handleAppend(append({ term: p.term, begin: p.pos, end: p.pos + BigInt(a.bytes), commit, fill }), { flush: false }));
            checkResponse(r);
            if (r && r.term > p.term) p.elected = false;
            else if (r !== undefined) {
              p.pos += BigInt(a.bytes);
              lastAppender = a.pid === -1 ? leader : a.pid;
              seen.appends++;
              if (commit > committed.lsn) committed = { lsn: commit, bytes: n.wal.read(START, commit) };
            }
          } else if (a.kind === 'flush') {
            const r = await n.acc.flushWal();
            checkResponse(r);
            const p = proposers[lastAppender];
            if (p && p.elected && r.term === p.term && r.flushLsn > p.acked && r.flushLsn <= p.pos) p.acked = r.flushLsn;
          } else {
            const before = n.acc.term;
            n = restartNode(n, { lose: 'unflushed' });
            seen.restarts++;
            assert.ok(n.acc.term >= before, 'a vote survives a crash');
            lastCommit = n.acc.commitLsn;
            for (const p of proposers) p.elected = false; // their connections are gone
          }
          assert.ok(n.acc.term >= maxTermSeen, 'the term never goes back');
          assert.ok(n.acc.commitLsn >= lastCommit, 'commit_lsn never goes back in a lifetime');
          lastCommit = n.acc.commitLsn;
          if (committed.lsn > START && n.wal.writeLsn() >= committed.lsn) {
            assert.ok(n.wal.read(START, committed.lsn).equals(committed.bytes), 'committed WAL unchanged');
            seen.commitsChecked++;
          }
        }
      }),
      { numRuns: RUNS },
    );
    t.diagnostic(`elections ${seen.elections}, appends ${seen.appends}, restarts ${seen.restarts}, committed-WAL checks ${seen.commitsChecked}`);
    // The sequences must reach the interesting states, or the property proves little.
    assert.ok(seen.elections > RUNS && seen.appends > RUNS && seen.restarts > RUNS / 10 && seen.commitsChecked > RUNS);
  });
});
