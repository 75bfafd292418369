// Every message type survives encode -> decode -> encode, including u64
// values above 2^53 and multi-entry term histories.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  codecForVersion,
  decodeAcceptorMessage,
  decodeProposerMessage,
  describeMessage,
  encodeAcceptorMessage,
  encodeProposerMessage,
  ProtocolError,
  type AcceptorMessage,
  type ProposerMessage,
  type VoteResponse,
} from '../../src/protocol/index.js';
import { U64_MAX } from '../../src/lsn.js';

const BIG = 0xfffffffffffffff0n; // > 2^53: a JS number would round it
const ID_A = '00112233445566778899aabbccddeeff';
const ID_B = 'ffeeddccbbaa99887766554433221100';

const proposerMessages: ProposerMessage[] = [
  {
    kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
    protocolVersion: 2,
    pgVersion: 170004,
    proposerId: ID_A,
    systemId: BIG + 1n,
    tenantId: ID_A,
    timelineId: ID_B,
    tli: 0xfffffffe,
    walSegSize: 1 << 30,
  },
  { kind: 'VoteRequest', generation: 0, term: BIG, proposerId: ID_B },
  {
    kind: 'ProposerElected', generation: 0,
    term: BIG,
    startStreamingAt: BIG + 2n,
    termHistory: [
      { term: 1n, lsn: 0x1000028n },
      { term: BIG - 5n, lsn: BIG + 3n },
      { term: BIG, lsn: BIG + 4n },
    ],
    timelineStartLsn: U64_MAX,
  },
  {
    kind: 'ProposerElected', generation: 0,
    term: 7n,
    startStreamingAt: 0n,
    termHistory: [],
    timelineStartLsn: 0n,
  },
  {
    kind: 'AppendRequest', generation: 0,
    term: BIG,
    termStartLsn: BIG,
    beginLsn: BIG,
    endLsn: BIG + 5n,
    commitLsn: BIG + 1n,
    truncateLsn: BIG - 1n,
    proposerUuid: ID_A,
    wal: Buffer.from([1, 2, 3, 4, 5]),
  },
  {
    kind: 'AppendRequest', generation: 0,
    term: 1n,
    termStartLsn: 0n,
    beginLsn: 0x2000000n,
    endLsn: 0x2000000n + 131072n,
    commitLsn: 0n,
    truncateLsn: 0n,
    proposerUuid: ID_B,
    wal: Buffer.alloc(131072, 0x5a), // exactly MAX_SEND_SIZE is allowed
  },
];

const twoEntryVote: VoteResponse = {
  kind: 'VoteResponse', generation: 0,
  term: 5n,
  voteGiven: true,
  flushLsn: 0x3000000n,
  truncateLsn: 0x2000000n,
  termHistory: [
    { term: 2n, lsn: 0x1000028n },
    { term: 5n, lsn: 0x2800000n },
  ],
  timelineStartLsn: 0x1000028n,
};

const acceptorMessages: AcceptorMessage[] = [
  { kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: BIG, nodeId: U64_MAX },
  twoEntryVote,
  { ...twoEntryVote, voteGiven: false, termHistory: [], term: BIG, flushLsn: BIG },
  {
    kind: 'AppendResponse', generation: 0,
    term: BIG,
    flushLsn: BIG + 1n,
    commitLsn: BIG + 2n,
    hsFeedback: { ts: -1234567n, xmin: BIG, catalogXmin: (5n << 32n) | 77n },
  },
  {
    kind: 'AppendResponse', generation: 0,
    term: 2n,
    flushLsn: 10n,
    commitLsn: 9n,
    hsFeedback: { ts: 0n, xmin: 0n, catalogXmin: 0n },
    pageserverFeedback: {
      currentTimelineSize: BIG,
      lastReceivedLsn: BIG + 1n,
      diskConsistentLsn: BIG + 2n,
      remoteConsistentLsn: BIG + 3n,
      replyTime: -(1n << 63n),
      shardNumber: 3,
    },
  },
];

describe('v2 round trips', () => {
  for (const msg of proposerMessages) {
    test(`proposer ${describeMessage(msg)}`, () => {
      const bytes = encodeProposerMessage(msg);
      const back = decodeProposerMessage(bytes);
      assert.deepEqual(back, msg);
      assert.deepEqual(encodeProposerMessage(back), bytes);
    });
  }
  for (const msg of acceptorMessages) {
    test(`acceptor ${describeMessage(msg)}`, () => {
      const bytes = encodeAcceptorMessage(msg);
      const back = decodeAcceptorMessage(bytes);
      assert.deepEqual(back, msg);
      assert.deepEqual(encodeAcceptorMessage(back), bytes);
    });
  }

  test('VoteResponse with a 2-entry history: 52 + 32 bytes at the documented offsets', () => {
    const b = encodeAcceptorMessage(twoEntryVote);
    assert.equal(b.length, 84);
    assert.equal(
      b.toString('hex'),
      [
        '7600000000000000', // tag 'v'
        '0500000000000000', // term 5
        '0100000000000000', // vote_given
        '0000000300000000', // flush_lsn 0/3000000
        '0000000200000000', // truncate_lsn 0/2000000
        '02000000', // n_entries (u32)
        '0200000000000000' + '2800000100000000', // {2, 0/1000028}
        '0500000000000000' + '0000800200000000', // {5, 0/2800000}
        '2800000100000000', // timeline_start_lsn
      ].join(''),
    );
  });

  test('u64 above 2^53 lands on the wire exactly (no float rounding)', () => {
    const b = encodeProposerMessage({ kind: 'VoteRequest', generation: 0, term: BIG, proposerId: ID_A });
    assert.equal(b.subarray(8, 16).toString('hex'), 'f0ffffffffffffff');
    const back = decodeProposerMessage(b);
    assert.equal(back.kind === 'VoteRequest' && back.term, BIG);
  });

  test('codecForVersion: 2 and 3 are the v2 and v3 codecs; others refused with Neon\'s text', () => {
    const c = codecForVersion(2);
    assert.equal(c.version, 2);
    assert.equal(c.decodeProposerMessage, decodeProposerMessage);
    assert.equal(c.encodeAcceptorMessage, encodeAcceptorMessage);
    assert.deepEqual(c.decodeAcceptorMessage(c.encodeAcceptorMessage(twoEntryVote)), twoEntryVote);
    assert.equal(codecForVersion(3).version, 3);
    assert.throws(() => codecForVersion(9), {
      name: 'ProtocolError',
      message: 'unsupported protocol version 9; this safekeeper speaks protocol versions 2 and 3',
    });
    for (const v of [0, 1, 4, Number.NaN]) {
      assert.throws(
        () => codecForVersion(v),
        (e: unknown) => e instanceof ProtocolError && e.field === 'proto_version' && e.message.includes(`${v}`),
      );
    }
  });

  test('describeMessage is short and carries no WAL bytes', () => {
    const append = proposerMessages[4]!;
    const text = describeMessage(append);
    assert.match(text, /^AppendRequest term=18446744073709551600 FFFFFFFF\/FFFFFFF0\.\.FFFFFFFF\/FFFFFFF5 \(5 bytes\)/);
    assert.ok(!text.includes('0102030405'));
    const big = describeMessage(proposerMessages[5]!);
    assert.ok(big.length < 200, big);
    assert.match(describeMessage(acceptorMessages[4]!), /shard=3/);
  });
});
