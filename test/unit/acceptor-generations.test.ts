// The acceptor's membership rules (protocol-v3.md §2; scenarios of §7 #9, #15-21, #23-24): the
// default is node 3 on a timeline at generation 3 with members [1,2,3] and term 5.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MembershipConfiguration, SafekeeperId } from '../../src/protocol/membership.js';
import { append, elected, greeting, hist, newNode, restartNode, vote, type Node } from '../helpers/acceptor-fixtures.js';

const sk = (id: number): SafekeeperId => ({ id: BigInt(id), host: `sk-${id}`, pgPort: 5454 });
const conf = (generation: number, members: number[], newMembers: number[] | null = null): MembershipConfiguration => ({
  generation,
  members: members.map(sk),
  newMembers: newMembers === null ? null : newMembers.map(sk),
});
const GEN3 = conf(3, [1, 2, 3]);

function node(): Node {
  return newNode({ nodeId: 3n, state: { mconf: GEN3, acceptorState: { term: 5n, termHistory: [] } } });
}

const v3 = { protocolVersion: 3 };

describe('acceptor: generations (protocol v3)', () => {
  test('greeting with generation 0 and members: no switch, the reply carries the stored gen-3 conf (§7 #9)', async () => {
    const n = node();
    const r = await n.acc.process(greeting({ protocolVersion: 3, mconf: conf(0, [1, 2]) }), v3);
    assert.deepEqual(r, { kind: 'AcceptorGreeting', term: 5n, nodeId: 3n, mconf: GEN3 });
    assert.equal(n.control.writes, 0);
  });

  test('greeting with a higher generation that does not contain this node is refused, nothing written (§7 #15)', async () => {
    const n = node();
    await assert.rejects(
      n.acc.process(greeting({ protocolVersion: 3, mconf: conf(5, [1, 2, 4]) }), v3),
      /^AcceptorError: refused to switch into gen=5, members=\(\[id=1, ep=sk-1:5454\], \[id=2, ep=sk-2:5454\], \[id=4, ep=sk-4:5454\]\), new_members=none, node 3 is not a member of it$/,
    );
    assert.equal(n.control.writes, 0);
    assert.equal(n.acc.generation, 3);
  });

  test('greeting with a higher joint generation containing this node: persisted before the reply, which carries it (§7 #16)', async () => {
    const n = node();
    const joint = conf(5, [1, 2, 3], [1, 2, 4]);
    let persistedBeforeReply = false;
    n.control.beforeWrite = async (s) => {
      persistedBeforeReply = s.mconf.generation === 5;
    };
    const r = await n.acc.process(greeting({ protocolVersion: 3, mconf: joint }), v3);
    assert.ok(persistedBeforeReply);
    assert.deepEqual(r, { kind: 'AcceptorGreeting', term: 5n, nodeId: 3n, mconf: joint });
    assert.deepEqual(n.control.persisted.mconf, joint);
    assert.deepEqual(restartNode(n).acc.mconf, joint, 'survives a restart');
  });

  test('greeting with a lower generation, or the same one with other members: no write, stored conf returned (§7 #17)', async () => {
    const n = node();
    for (const m of [conf(2, [1, 2, 3]), conf(3, [7, 8, 9])]) {
      const r = await n.acc.process(greeting({ protocolVersion: 3, mconf: m }), v3);
      assert.deepEqual(r && r.kind === 'AcceptorGreeting' && r.mconf, GEN3);
    }
    assert.equal(n.control.writes, 0);
  });

  test('VoteRequest of another generation: refused with Neon\'s text, term unchanged, no flush (§7 #18)', async () => {
    const n = node();
    for (const g of [2, 4]) {
      await assert.rejects(
        n.acc.handleVoteRequest({ ...vote(9n), generation: g }),
        new RegExp(`^AcceptorError: refusing VoteRequest \\{ generation: SafekeeperGeneration\\(${g}\\), term: 9 \\} due to generation mismatch: sk generation 3$`),
      );
    }
    assert.equal(n.acc.term, 5n);
    assert.ok(!n.events.some((e) => e.startsWith('wal.flush')), n.events.join());
  });

  test('a VoteResponse carries the generation', async () => {
    const n = node();
    const r = await n.acc.handleVoteRequest({ ...vote(9n), generation: 3 });
    assert.equal(r.generation, 3);
    assert.equal(r.voteGiven, true);
  });

  test('ProposerElected of another generation: refused, term stays 5 (§7 #19)', async () => {
    const n = node();
    await assert.rejects(
      n.acc.handleElected({ ...elected(9n, 0x1000028n, hist([9n, 0x1000028n]), 0n), generation: 4 }, 3),
      /^AcceptorError: refusing ProposerElected \{ generation: SafekeeperGeneration\(4\), term: 9, .* \} due to generation mismatch: sk generation 3$/,
    );
    assert.equal(n.acc.term, 5n);
  });

  test('AppendRequest of this generation with a lower term: term-only reply with the generation (§7 #20)', async () => {
    const n = node();
    const r = await n.acc.handleAppend({ ...append({ term: 4n, begin: 0x1000028n }), generation: 3 }, { flush: false });
    assert.deepEqual(r && { g: r.generation, t: r.term, f: r.flushLsn, c: r.commitLsn }, { g: 3, t: 5n, f: 0n, c: 0n });
  });

  test('AppendRequest of another generation: an error before the term checks (§7 #21)', async () => {
    const n = node();
    await assert.rejects(
      n.acc.handleAppend({ ...append({ term: 4n, begin: 0x1000028n }), generation: 2 }, { flush: false }),
      /^AcceptorError: refusing append request due to generation mismatch: request 2, sk 3$/,
    );
  });

  test('a v2 connection (generation 0) greets a gen-3 timeline, but cannot vote (§7 #23)', async () => {
    const n = node();
    const g = await n.acc.process(greeting(), { protocolVersion: 2 });
    assert.ok(g && g.kind === 'AcceptorGreeting' && g.term === 5n && g.nodeId === 3n);
    await assert.rejects(n.acc.handleVoteRequest(vote(9n)), /SafekeeperGeneration\(0\), term: 9 \} due to generation mismatch: sk generation 3/);
  });

  test('timeline_start_lsn: v3 takes the first history entry; v2 keeps its own field (§7 #24)', async () => {
    for (const [version, expected] of [
      [3, 0x1000028n],
      [2, 0x1000000n],
    ] as const) {
      const n = newNode({ nodeId: 3n });
      await n.acc.handleVoteRequest(vote(1n));
      await n.acc.handleElected(elected(1n, 0x1000028n, hist([1n, 0x1000028n]), 0x1000000n), version);
      assert.equal(n.control.persisted.timelineStartLsn, expected, `v${version}`);
    }
  });

  test('a v3 append does not overwrite the proposer uuid a v2 proposer left (it carries none)', async () => {
    const n = newNode({ nodeId: 3n });
    await n.acc.handleVoteRequest(vote(1n));
    await n.acc.handleElected(elected(1n, 0x1000028n, hist([1n, 0x1000028n]), 0x1000028n));
    await n.acc.handleAppend(append({ term: 1n, begin: 0x1000028n, end: 0x1000030n, uuid: 'cd'.repeat(16) }), { flush: true });
    await n.acc.handleAppend({ ...append({ term: 1n, begin: 0x1000030n, end: 0x1000038n }), proposerUuid: '0'.repeat(32) }, { flush: true, protocolVersion: 3 });
    await n.acc.checkpoint();
    assert.equal(n.control.persisted.proposerUuid, 'cd'.repeat(16));
  });

  test('membershipSwitch: higher is written, equal and lower are not', async () => {
    const n = node();
    const up = await n.acc.membershipSwitch(conf(4, [1, 2, 3]));
    assert.deepEqual(up, { previous: GEN3, current: conf(4, [1, 2, 3]) });
    assert.equal(n.control.writes, 1);
    const same = await n.acc.membershipSwitch(conf(4, [9]));
    assert.deepEqual(same, { previous: conf(4, [1, 2, 3]), current: conf(4, [1, 2, 3]) });
    const down = await n.acc.membershipSwitch(conf(2, [1, 2, 3]));
    assert.equal(down.current.generation, 4);
    assert.equal(n.control.writes, 1);
  });

  test('v3 greeting: pg_version must name a supported major (InvalidPgVersion), v2 keeps its own check', async () => {
    const n = node();
    await assert.rejects(n.acc.process(greeting({ protocolVersion: 3, pgVersion: 130000 }), v3), /^AcceptorError: InvalidPgVersion\(130000\)$/);
    await assert.rejects(n.acc.process(greeting({ protocolVersion: 3 }), { protocolVersion: 2 }), /incompatible protocol version 3, expected 2/);
  });
});
