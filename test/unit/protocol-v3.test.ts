// Protocol v3 codec: the real walproposer's bytes (test/fixtures/walproposer-v3-session.json) decode
// to the values we expect, every message round-trips, hex vectors pin each layout, and malformed input
// fails with Neon's context chains before anything is allocated by a count.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError, v3Codec, type AcceptorMessage, type MembershipConfiguration, type ProposerMessage } from '../../src/protocol/index.js';
import { parseLsn } from '../../src/lsn.js';
import { utf8Error } from '../../src/protocol/v3/reader.js';
import { copyDataBodies, loadSession } from '../helpers/captured-session.js';

const session = loadSession('walproposer-v3-session.json');
const client = copyDataBodies(session, 'c2s');
const server = copyDataBodies(session, 's2c');
const ZERO_ID = '0'.repeat(32);
const EMPTY: MembershipConfiguration = { generation: 0, members: [], newMembers: null };
const START = parseLsn('0/1000028');
const END = parseLsn('0/108CB00');
const { decodeProposerMessage, encodeProposerMessage, decodeAcceptorMessage, encodeAcceptorMessage } = v3Codec;

const hex = (...parts: string[]) => Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');

function refuses(body: Buffer, message: string | RegExp): void {
  assert.throws(
    () => decodeProposerMessage(body),
    (e: unknown) => e instanceof ProtocolError && (typeof message === 'string' ? e.message === message : message.test(e.message)),
  );
}

describe('protocol v3: the captured walproposer session', () => {
  test('its START_WAL_PUSH asks for v3 with timeline creation', () => {
    const q = session.find((e) => e.dir === 'c2s' && e.type === 'Q')!;
    assert.equal(Buffer.from(q.hex, 'hex').toString('utf8'), "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')\0");
  });

  test('the walproposer greeting, vote and elected decode to the expected values and re-encode byte for byte', () => {
    const [greeting, vote, elected] = client.map((b) => decodeProposerMessage(b));
    assert.deepEqual(greeting, {
      kind: 'ProposerGreeting',
      protocolVersion: 3,
      mconf: EMPTY,
      pgVersion: 150020,
      proposerId: ZERO_ID,
      systemId: 7712208890765003361n,
      tenantId: '0123456789abcdef0123456789abcdef',
      timelineId: 'fedcba9876543210fedcba9876543210',
      tli: 1,
      walSegSize: 16 * 1024 * 1024,
    });
    assert.deepEqual(vote, { kind: 'VoteRequest', generation: 0, term: 1n, proposerId: ZERO_ID });
    assert.deepEqual(elected, {
      kind: 'ProposerElected',
      generation: 0,
      term: 1n,
      startStreamingAt: START,
      termHistory: [{ term: 1n, lsn: START }],
      timelineStartLsn: 0n,
    });
    for (const [i, msg] of [greeting, vote, elected].entries()) assert.deepEqual(encodeProposerMessage(msg!), client[i]);
  });

  test('AppendRequests: 45-byte header, WAL as a view, heartbeats empty', () => {
    const appends = client.slice(3).map((b) => decodeProposerMessage(b));
    assert.ok(appends.length >= 4);
    for (const [i, m] of appends.entries()) {
      assert.equal(m.kind, 'AppendRequest');
      if (m.kind !== 'AppendRequest') continue;
      assert.equal(m.generation, 0);
      assert.equal(m.term, 1n);
      assert.equal(Number(m.endLsn - m.beginLsn), client[3 + i]!.length - 45);
      assert.deepEqual(encodeProposerMessage(m), client[3 + i]);
    }
    const last = appends[appends.length - 1]!;
    assert.ok(last.kind === 'AppendRequest' && last.beginLsn === END && last.endLsn === END);
  });

  test("the replies the walproposer accepted decode, and our encoder produces them byte for byte", () => {
    const replies = server.map((b) => decodeAcceptorMessage(b));
    assert.deepEqual(replies[0], { kind: 'AcceptorGreeting', nodeId: 1n, mconf: EMPTY, term: 0n });
    assert.deepEqual(replies[1], {
      kind: 'VoteResponse', generation: 0, term: 1n, voteGiven: true, flushLsn: 0n, truncateLsn: 0n, termHistory: [], timelineStartLsn: 0n,
    });
    const lastAck = replies[replies.length - 1]!;
    assert.ok(lastAck.kind === 'AppendResponse' && lastAck.flushLsn === END && lastAck.commitLsn === END);
    for (const [i, r] of replies.entries()) assert.deepEqual(encodeAcceptorMessage(r), server[i], `reply ${i}`);
  });
});

describe('protocol v3: hex vectors', () => {
  const joint: MembershipConfiguration = {
    generation: 5,
    members: [{ id: 1n, host: 'h1', pgPort: 5454 }],
    newMembers: [{ id: 2n, host: 'h2', pgPort: 6400 }],
  };
  const MCONF_HEX = '00000005 00000001 0000000000000001 683100 154e 00000001 0000000000000002 683200 1900';

  const proposer: [string, ProposerMessage, Buffer][] = [
    [
      'ProposerGreeting with a joint configuration',
      { kind: 'ProposerGreeting', protocolVersion: 3, mconf: joint, pgVersion: 160003, proposerId: ZERO_ID, systemId: 0x0102030405060708n, tenantId: 'ab'.repeat(16), timelineId: 'cd'.repeat(16), tli: 1, walSegSize: 0x1000000 },
      hex('67', Buffer.from('ab'.repeat(16)).toString('hex'), '00', Buffer.from('cd'.repeat(16)).toString('hex'), '00', MCONF_HEX, '00027103', '0102030405060708', '01000000'),
    ],
    ['VoteRequest', { kind: 'VoteRequest', generation: 3, term: 9n, proposerId: ZERO_ID }, hex('76 00000003 0000000000000009')],
    [
      'ProposerElected with two history entries',
      { kind: 'ProposerElected', generation: 3, term: 9n, startStreamingAt: 0x2000000n, termHistory: [{ term: 2n, lsn: 0x1000028n }, { term: 9n, lsn: 0x2000000n }], timelineStartLsn: 0n },
      hex('65 00000003 0000000000000009 0000000002000000 00000002 0000000000000002 0000000001000028 0000000000000009 0000000002000000'),
    ],
    [
      'AppendRequest with 3 WAL bytes',
      { kind: 'AppendRequest', generation: 3, term: 9n, termStartLsn: 0n, beginLsn: 0x100n, endLsn: 0x103n, commitLsn: 0x80n, truncateLsn: 0x40n, proposerUuid: ZERO_ID, wal: Buffer.from([1, 2, 3]) },
      hex('61 00000003 0000000000000009 0000000000000100 0000000000000103 0000000000000080 0000000000000040 010203'),
    ],
  ];
  for (const [name, msg, bytes] of proposer) {
    test(`${name}: encodes to the vector and decodes back`, () => {
      assert.equal(encodeProposerMessage(msg).toString('hex'), bytes.toString('hex'));
      assert.deepEqual(decodeProposerMessage(bytes), msg);
    });
  }

  const acceptor: [string, AcceptorMessage, Buffer][] = [
    ['AcceptorGreeting with a joint configuration', { kind: 'AcceptorGreeting', nodeId: 3n, mconf: joint, term: 7n }, hex('67 0000000000000003', MCONF_HEX, '0000000000000007')],
    [
      'VoteResponse',
      { kind: 'VoteResponse', generation: 3, term: 7n, voteGiven: false, flushLsn: 0x300n, truncateLsn: 0x200n, termHistory: [{ term: 7n, lsn: 0x100n }], timelineStartLsn: 0n },
      hex('76 00000003 0000000000000007 00 0000000000000300 0000000000000200 00000001 0000000000000007 0000000000000100'),
    ],
    [
      'AppendResponse without feedback: 53 bytes',
      { kind: 'AppendResponse', generation: 3, term: 7n, flushLsn: 0x300n, commitLsn: 0x200n, hsFeedback: { ts: -1n, xmin: 5n, catalogXmin: 6n } },
      hex('61 00000003 0000000000000007 0000000000000300 0000000000000200 ffffffffffffffff 0000000000000005 0000000000000006'),
    ],
  ];
  for (const [name, msg, bytes] of acceptor) {
    test(`${name}: encodes to the vector and decodes back`, () => {
      assert.equal(encodeAcceptorMessage(msg).toString('hex'), bytes.toString('hex'));
      assert.deepEqual(decodeAcceptorMessage(bytes), msg);
    });
  }

  test('AppendResponse with pageserver feedback round-trips (feedback block after the 53 fixed bytes)', () => {
    const msg: AcceptorMessage = {
      kind: 'AppendResponse', generation: 1, term: 2n, flushLsn: 3n, commitLsn: 4n, hsFeedback: { ts: 0n, xmin: 0n, catalogXmin: 0n },
      pageserverFeedback: { currentTimelineSize: 10n, lastReceivedLsn: 11n, diskConsistentLsn: 12n, remoteConsistentLsn: 13n, replyTime: 14n, shardNumber: 0 },
    };
    const b = encodeAcceptorMessage(msg);
    assert.ok(b.length > 53);
    assert.deepEqual(decodeAcceptorMessage(b), msg);
  });

  test('a WAL payload split across reads stays in pieces, trailing bytes after it are ignored', () => {
    const whole = hex('61 00000000 0000000000000001 0000000000000000 0000000000000006 0000000000000000 0000000000000000 010203040506 ffff');
    const m = decodeProposerMessage(whole.subarray(0, 47), [whole.subarray(47, 50), whole.subarray(50)]);
    assert.ok(m.kind === 'AppendRequest');
    const parts = 'parts' in m.wal ? m.wal.parts : [m.wal];
    assert.deepEqual(Buffer.concat(parts), Buffer.from([1, 2, 3, 4, 5, 6]));
  });
});

describe('protocol v3: malformed input (protocol-v3.md §0, §7)', () => {
  const ids = Buffer.from('0123456789abcdef0123456789abcdef\0fedcba9876543210fedcba9876543210\0');
  const greetingWith = (mconfHex: string, rest = '00024a04 0000000000000001 01000000') => Buffer.concat([Buffer.from('g'), ids, hex(mconfHex, rest)]);

  test('empty CopyData: missing tag (§7 #6)', () => refuses(Buffer.alloc(0), 'ProposerAcceptorMessage is not complete: missing tag'));
  test('unknown tag', () => refuses(Buffer.from('x'), 'unknown proposer-acceptor message tag: x'));
  test('tenant id without a terminator (§7 #7)', () => refuses(Buffer.from('g0123'), 'reading tenant_id: missing cstring terminator'));
  test('30-char tenant id (§7 #7)', () => refuses(Buffer.from('g' + 'a'.repeat(30) + '\0'), 'Invalid string length'));
  test('odd-length id', () => refuses(Buffer.from('g' + 'a'.repeat(31) + '\0'), 'Odd number of digits'));
  test('non-hex id', () => refuses(Buffer.from('g' + 'a'.repeat(5) + 'x' + 'a'.repeat(26) + '\0'), "Invalid character 'x' at position 5"));
  test('generation 7 with no members (§7 #8)', () => refuses(greetingWith('00000007 00000000 00000000'), 'empty members_len'));
  test('generation 0 with members is accepted (§7 #9)', () => {
    const m = decodeProposerMessage(greetingWith('00000000 00000002 0000000000000001 6100 0001 0000000000000002 6200 0002 00000000'));
    assert.ok(m.kind === 'ProposerGreeting' && m.mconf.members.length === 2 && m.mconf.generation === 0);
  });
  test('a repeated member (§7 #10)', () =>
    refuses(greetingWith('00000001 00000002 0000000000000001 6100 0001 0000000000000001 6200 0002 00000000'), 'sk 1 is already member of the set ([id=1, ep=a:1])'));
  test('the same id in both sets is fine', () => {
    const m = decodeProposerMessage(greetingWith('00000001 00000001 0000000000000001 6100 0001 00000001 0000000000000001 6100 0001'));
    assert.ok(m.kind === 'ProposerGreeting' && m.mconf.newMembers?.length === 1);
  });
  test('a hostile members_len fails at the first missing byte, allocating nothing (§7 #11)', () =>
    refuses(Buffer.concat([Buffer.from('g'), ids, hex('00000001 ffffffff')]), 'reading member 0 node_id: only 0 bytes left, expected 8'));
  test('a host that is not UTF-8 (§7 #12)', () =>
    refuses(greetingWith('00000001 00000001 0000000000000001 fffe00 0001 00000000'), /^reading member 0 host: invalid utf8 in cstring: invalid utf-8 sequence of 1 bytes from index 0$/));
  test('a port cut short', () => refuses(Buffer.concat([Buffer.from('g'), ids, hex('00000001 00000001 0000000000000001 6100 00')]), 'reading member 0 port: no bytes left, expected 2'));
  test('greeting cut 2 bytes into wal_seg_size (§7 #13)', () => refuses(greetingWith('00000000 00000000 00000000', '00024a04 0000000000000001 0100'), 'reading wal_seg_size: only 2 bytes left, expected 4'));
  test('pg_version 130000: an error, where Neon drops the socket (§7 #14)', () =>
    refuses(greetingWith('00000000 00000000 00000000', '0001fbd0 0000000000000001 01000000'), /invalid pg_version 130000/));
  test('AppendRequest with fewer WAL bytes than it declares (§7 #22)', () =>
    refuses(hex('61 00000000 0000000000000001 0000000000000100 0000000000000200 0000000000000000 0000000000000000', '00'.repeat(10)), 'reading WAL: only 10 bytes left, wanted 256'));
  test('AppendRequest with begin > end, and one longer than MAX_SEND_SIZE', () => {
    refuses(hex('61 00000000 0000000000000001 0000000000000200 0000000000000100 0000000000000000 0000000000000000'), 'begin_lsn > end_lsn in AppendRequest');
    refuses(hex('61 00000000 0000000000000001 0000000000000000 0000000000100000 0000000000000000 0000000000000000'), 'AppendRequest is longer than MAX_SEND_SIZE (131072)');
  });
  test('a term-history count the message cannot hold is refused before reading (or reserving) it', () => {
    refuses(hex('65 00000000 0000000000000001 0000000000000000 ffffffff 0000000000000001'), 'TermHistory pos 0 misses lsn: only 0 bytes left, expected 8');
    refuses(hex('65 00000000 0000000000000001 0000000000000000 00000002 0000000000000001 0000000000000002 0000'), 'TermHistory pos 1 misses term: only 2 bytes left, expected 8');
    refuses(hex('65 00000000 0000000000000001 0000000000000000 00'), 'TermHistory misses len: only 1 bytes left, expected 4');
  });
  test('short VoteRequest names the field', () => refuses(hex('76 00000000 00000000'), 'reading term: only 4 bytes left, expected 8'));
  test('utf8Error follows Rust’s texts', () => {
    assert.equal(utf8Error(Buffer.from('héllo')), null);
    assert.equal(utf8Error(Buffer.from([0x61, 0xe2, 0x82])), 'incomplete utf-8 byte sequence from index 1');
    assert.equal(utf8Error(Buffer.from([0xe2, 0x28, 0xa1])), 'invalid utf-8 sequence of 1 bytes from index 0');
    assert.equal(utf8Error(Buffer.from([0xf0, 0x90, 0x28])), 'invalid utf-8 sequence of 2 bytes from index 0');
  });
});
