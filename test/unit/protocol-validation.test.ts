// Strict decoding: every malformed message is a ProtocolError naming the
// field, with Neon's text where Neon has one. Encoding never wraps a value.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAcceptorMessage,
  decodeProposerMessage,
  encodeAcceptorMessage,
  encodeAppendRequestHeader,
  encodeProposerMessage,
  ProtocolError,
  type AppendRequest,
  type ProposerElected,
} from '../../src/protocol/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const u64 = (v: bigint): string => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b.toString('hex');
};
const u32 = (v: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b.toString('hex');
};
const UUID = '101112131415161718191a1b1c1d1e1f';

function rejects(fn: () => unknown, field: string, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
    assert.equal(e.field, field);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

function appendBody(begin: bigint, end: bigint, walBytes: number): Buffer {
  const header = hex('6100000000000000' + u64(3n) + u64(begin) + u64(begin) + u64(end) + u64(begin) + u64(0n) + UUID);
  return Buffer.concat([header, Buffer.alloc(walBytes, 0xab)]);
}

function electedBody(n: number, entries: number, withStart: boolean): Buffer {
  let h = '6500000000000000' + u64(2n) + u64(0x100n) + u32(n);
  for (let i = 0; i < entries; i++) h += u64(BigInt(i + 1)) + u64(BigInt(i * 16));
  if (withStart) h += u64(0x28n);
  return hex(h);
}

const GREETING = hex(
  '6700000000000000' + u32(2) + u32(160002) + UUID + u64(1n) + UUID + UUID + u32(1) + u32(16 << 20),
);
const VOTE = hex('7600000000000000' + u64(1n) + UUID);

describe('decodeProposerMessage validation', () => {
  test('unknown tag', () => {
    rejects(() => decodeProposerMessage(hex('7800000000000000' + u64(1n))), 'tag', 'unknown proposer-acceptor message tag: x');
    rejects(() => decodeProposerMessage(hex('0700000000000000')), 'tag', 'unknown proposer-acceptor message tag: 0x07');
    rejects(() => decodeProposerMessage(Buffer.alloc(0)), 'tag', /0 bytes is too short for its 8-byte tag/);
    rejects(() => decodeProposerMessage(hex('67000000')), 'tag', /4 bytes is too short/);
  });

  test('tag with non-zero upper bytes', () => {
    for (const pos of [1, 3, 4, 7]) {
      const b = Buffer.from(VOTE);
      b[pos] = 1;
      rejects(() => decodeProposerMessage(b), 'VoteRequest.tag', /non-zero upper bytes/);
    }
    const g = Buffer.from(GREETING);
    g[7] = 0x80;
    rejects(() => decodeProposerMessage(g), 'ProposerGreeting.tag', /non-zero upper bytes/);
  });

  test('ProposerGreeting must be exactly 80 bytes', () => {
    assert.equal(decodeProposerMessage(GREETING).kind, 'ProposerGreeting');
    rejects(() => decodeProposerMessage(GREETING.subarray(0, 79)), 'ProposerGreeting.wal_seg_size', /not complete: 79 bytes, expected 80/);
    rejects(() => decodeProposerMessage(GREETING.subarray(0, 60)), 'ProposerGreeting.tenant_id', /not complete/);
    rejects(() => decodeProposerMessage(GREETING.subarray(0, 8)), 'ProposerGreeting.protocol_version', /not complete/);
    rejects(
      () => decodeProposerMessage(Buffer.concat([GREETING, Buffer.alloc(1)])),
      'ProposerGreeting.trailing_bytes',
      /1 unexpected trailing bytes \(81 bytes, expected exactly 80\)/,
    );
  });

  test('VoteRequest must be exactly 32 bytes (term + proposer id)', () => {
    assert.deepEqual(decodeProposerMessage(VOTE), { kind: 'VoteRequest', generation: 0, term: 1n, proposerId: UUID });
    // Neon's Rust parser would accept this 16-byte form; the C walproposer never sends it.
    rejects(() => decodeProposerMessage(VOTE.subarray(0, 16)), 'VoteRequest.proposer_id', /not complete: 16 bytes, expected 32/);
    rejects(() => decodeProposerMessage(VOTE.subarray(0, 12)), 'VoteRequest.term', /not complete/);
    rejects(() => decodeProposerMessage(Buffer.concat([VOTE, hex('00')])), 'VoteRequest.trailing_bytes', /1 unexpected trailing/);
  });

  test('ProposerElected: Neon texts for each short form, exact 36 + 16n', () => {
    const ok = decodeProposerMessage(electedBody(2, 2, true)) as ProposerElected;
    assert.equal(ok.termHistory.length, 2);
    assert.equal(ok.timelineStartLsn, 0x28n);
    const full = electedBody(2, 2, true);
    assert.equal(full.length, 36 + 32);
    rejects(() => decodeProposerMessage(full.subarray(0, 12)), 'ProposerElected.term', 'ProposerElected message is not complete');
    rejects(() => decodeProposerMessage(full.subarray(0, 20)), 'ProposerElected.start_streaming_at', 'ProposerElected message is not complete');
    rejects(() => decodeProposerMessage(full.subarray(0, 26)), 'ProposerElected.term_history.n_entries', 'TermHistory misses len');
    rejects(() => decodeProposerMessage(electedBody(2, 1, false)), 'ProposerElected.term_history.entries', 'TermHistory is incomplete');
    rejects(() => decodeProposerMessage(full.subarray(0, 28 + 31)), 'ProposerElected.term_history.entries', 'TermHistory is incomplete');
    // A huge count must fail fast, not allocate.
    rejects(() => decodeProposerMessage(electedBody(0xffffffff, 1, true)), 'ProposerElected.term_history.entries', 'TermHistory is incomplete');
    rejects(() => decodeProposerMessage(electedBody(2, 2, false)), 'ProposerElected.timeline_start_lsn', 'ProposerElected message is not complete');
    rejects(() => decodeProposerMessage(full.subarray(0, full.length - 1)), 'ProposerElected.timeline_start_lsn', 'ProposerElected message is not complete');
    rejects(
      () => decodeProposerMessage(Buffer.concat([full, hex('0000')])),
      'ProposerElected.trailing_bytes',
      /2 unexpected trailing bytes \(70 bytes, expected exactly 68\)/,
    );
  });

  test('AppendRequest: header, LSN order, MAX_SEND_SIZE and payload length', () => {
    assert.equal(((decodeProposerMessage(appendBody(0x100n, 0x110n, 16)) as AppendRequest).wal as Buffer).length, 16);
    rejects(() => decodeProposerMessage(appendBody(0x100n, 0x100n, 0).subarray(0, 71)), 'AppendRequest.proposer_uuid', /not complete: 71 bytes, expected 72/);
    rejects(() => decodeProposerMessage(appendBody(0x100n, 0x100n, 0).subarray(0, 36)), 'AppendRequest.end_lsn', /not complete/);
    rejects(() => decodeProposerMessage(appendBody(0x110n, 0x100n, 0)), 'AppendRequest.begin_lsn', 'begin_lsn > end_lsn in AppendRequest');
    rejects(
      () => decodeProposerMessage(appendBody(0n, 131073n, 131073)),
      'AppendRequest.wal',
      'AppendRequest is longer than MAX_SEND_SIZE (131072)',
    );
    // A length far beyond 2^53 must be refused without any number conversion going wrong.
    rejects(() => decodeProposerMessage(appendBody(0n, 0xfffffffffffffff0n, 0)), 'AppendRequest.wal', 'AppendRequest is longer than MAX_SEND_SIZE (131072)');
    assert.equal(((decodeProposerMessage(appendBody(0n, 131072n, 131072)) as AppendRequest).wal as Buffer).length, 131072);
    rejects(() => decodeProposerMessage(appendBody(0x100n, 0x118n, 20)), 'AppendRequest.wal', /incomplete: end_lsn - begin_lsn = 24 WAL bytes, frame holds 20/);
    rejects(() => decodeProposerMessage(appendBody(0x100n, 0x118n, 28)), 'AppendRequest.wal', /4 unexpected trailing bytes after the 24 WAL bytes/);
    rejects(() => decodeProposerMessage(appendBody(0x100n, 0x100n, 1)), 'AppendRequest.wal', /1 unexpected trailing bytes after the 0 WAL bytes/);
  });
});

describe('decodeAcceptorMessage validation', () => {
  const greeting = hex('6700000000000000' + u64(1n) + u64(2n));
  const vote = encodeAcceptorMessage({
    kind: 'VoteResponse', generation: 0,
    term: 1n,
    voteGiven: true,
    flushLsn: 0n,
    truncateLsn: 0n,
    termHistory: [{ term: 1n, lsn: 5n }],
    timelineStartLsn: 0n,
  });
  const append = encodeAcceptorMessage({
    kind: 'AppendResponse', generation: 0,
    term: 1n,
    flushLsn: 1n,
    commitLsn: 1n,
    hsFeedback: { ts: 0n, xmin: 0n, catalogXmin: 0n },
  });

  test('unknown tag, including proposer-only ones, and upper bytes', () => {
    rejects(() => decodeAcceptorMessage(hex('6500000000000000' + u64(1n))), 'tag', 'unknown acceptor-proposer message tag: e');
    const b = Buffer.from(greeting);
    b[2] = 9;
    rejects(() => decodeAcceptorMessage(b), 'AcceptorGreeting.tag', /non-zero upper bytes/);
  });

  test('exact sizes', () => {
    rejects(() => decodeAcceptorMessage(greeting.subarray(0, 20)), 'AcceptorGreeting.node_id', /not complete: 20 bytes, expected 24/);
    rejects(() => decodeAcceptorMessage(Buffer.concat([greeting, hex('00')])), 'AcceptorGreeting.trailing_bytes', /1 unexpected/);
    assert.equal(vote.length, 68);
    rejects(() => decodeAcceptorMessage(vote.subarray(0, 30)), 'VoteResponse.flush_lsn', /not complete/);
    rejects(() => decodeAcceptorMessage(vote.subarray(0, 42)), 'VoteResponse.term_history.n_entries', 'TermHistory misses len');
    rejects(() => decodeAcceptorMessage(vote.subarray(0, 50)), 'VoteResponse.term_history.entries', 'TermHistory is incomplete');
    rejects(() => decodeAcceptorMessage(vote.subarray(0, 67)), 'VoteResponse.timeline_start_lsn', 'VoteResponse message is not complete');
    rejects(() => decodeAcceptorMessage(Buffer.concat([vote, hex('00')])), 'VoteResponse.trailing_bytes', /1 unexpected/);
    rejects(() => decodeAcceptorMessage(append.subarray(0, 55)), 'AppendResponse.hs_feedback.catalog_xmin', /not complete: 55 bytes, expected 56/);
  });

  test('vote_given other than 0 or 1', () => {
    const b = Buffer.from(vote);
    b[16] = 2;
    rejects(() => decodeAcceptorMessage(b), 'VoteResponse.vote_given', /is 2, expected 0 or 1/);
  });
});

describe('encoding refuses values that do not fit', () => {
  const append: AppendRequest = {
    kind: 'AppendRequest', generation: 0,
    term: 1n,
    termStartLsn: 0n,
    beginLsn: 0x100n,
    endLsn: 0x104n,
    commitLsn: 0n,
    truncateLsn: 0n,
    proposerUuid: UUID,
    wal: Buffer.alloc(4),
  };

  test('u64 overflow and negatives', () => {
    rejects(() => encodeProposerMessage({ kind: 'VoteRequest', generation: 0, term: 1n << 64n, proposerId: UUID }), 'VoteRequest.term', /18446744073709551616 does not fit in u64/);
    rejects(() => encodeProposerMessage({ kind: 'VoteRequest', generation: 0, term: -1n, proposerId: UUID }), 'VoteRequest.term', /-1 does not fit in u64/);
    rejects(() => encodeAcceptorMessage({ kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 0n, nodeId: 1n << 64n }), 'AcceptorGreeting.node_id', /does not fit in u64/);
    rejects(
      () => encodeAcceptorMessage({ kind: 'AppendResponse', generation: 0, term: 1n, flushLsn: -5n, commitLsn: 0n, hsFeedback: { ts: 0n, xmin: 0n, catalogXmin: 0n } }),
      'AppendResponse.flush_lsn',
      /does not fit in u64/,
    );
    rejects(
      () => encodeAcceptorMessage({ kind: 'AppendResponse', generation: 0, term: 1n, flushLsn: 0n, commitLsn: 0n, hsFeedback: { ts: 1n << 63n, xmin: 0n, catalogXmin: 0n } }),
      'AppendResponse.hs_feedback.ts',
      /does not fit in i64/,
    );
    rejects(
      () =>
        encodeAcceptorMessage({
          kind: 'VoteResponse', generation: 0,
          term: 1n,
          voteGiven: false,
          flushLsn: 0n,
          truncateLsn: 0n,
          termHistory: [{ term: 1n, lsn: 1n << 64n }],
          timelineStartLsn: 0n,
        }),
      'VoteResponse.term_history[0].lsn',
      /does not fit in u64/,
    );
    rejects(() => encodeProposerMessage({ ...append, commitLsn: 1n << 64n }), 'AppendRequest.commit_lsn', /does not fit in u64/);
  });

  test('u32 fields and ids', () => {
    const greeting = decodeProposerMessage(GREETING);
    rejects(() => encodeProposerMessage({ ...greeting, pgVersion: 2 ** 32 } as typeof greeting), 'ProposerGreeting.pg_version', /does not fit in u32/);
    rejects(() => encodeProposerMessage({ ...greeting, tli: 1.5 } as typeof greeting), 'ProposerGreeting.tli', /does not fit in u32/);
    rejects(() => encodeProposerMessage({ ...greeting, tenantId: 'abc' } as typeof greeting), 'ProposerGreeting.tenant_id', /not 32 hex/);
    rejects(() => encodeProposerMessage({ ...greeting, timelineId: 'zz'.repeat(16) } as typeof greeting), 'ProposerGreeting.timeline_id', /not 32 hex/);
  });

  test('AppendRequest encode checks WAL length against the LSNs', () => {
    rejects(() => encodeAppendRequestHeader({ ...append, wal: Buffer.alloc(3) }), 'AppendRequest.wal', /carries 3 WAL bytes but end_lsn - begin_lsn = 4/);
    rejects(() => encodeProposerMessage({ ...append, beginLsn: 0x105n }), 'AppendRequest.begin_lsn', 'begin_lsn > end_lsn in AppendRequest');
    rejects(
      () => encodeProposerMessage({ ...append, beginLsn: 0n, endLsn: 131073n, wal: Buffer.alloc(131073) }),
      'AppendRequest.wal',
      'AppendRequest is longer than MAX_SEND_SIZE (131072)',
    );
  });
});
