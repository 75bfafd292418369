// Replication messages (send-wal.md §3.4-3.5, §4): the bytes a sender writes and how client
// messages decode, including Neon's exact-length rules and the xid/epoch rotation.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientMessageError, decodeClientMessage, keepalive, pgNowMicros, xlogDataHeader } from '../../src/send/messages.js';
import { encodeFeedback, feedbackSize } from '../../src/protocol/feedback.js';

describe('sender messages', () => {
  test('XLogData header and keepalive layouts', () => {
    assert.equal(xlogDataHeader(0x1000028n, 0x2000000n, 5n).toString('hex'), '77' + '0000000001000028' + '0000000002000000' + '0000000000000005');
    assert.equal(keepalive(0x2000000n, -1n).toString('hex'), '6b' + '0000000002000000' + 'ffffffffffffffff' + '01');
  });

  test('pgNowMicros counts from 2000-01-01', () => {
    assert.equal(pgNowMicros(Date.UTC(2000, 0, 1)), 0n);
    assert.equal(pgNowMicros(Date.UTC(2000, 0, 1, 0, 0, 1)), 1_000_000n);
  });
});

describe('decodeClientMessage', () => {
  test("'r': exactly 34 bytes", () => {
    const b = Buffer.alloc(34);
    b.write('r');
    b.writeBigUInt64BE(3n, 1);
    b.writeBigUInt64BE(2n, 9);
    b.writeBigUInt64BE(1n, 17);
    b.writeBigInt64BE(-7n, 25);
    b[33] = 1;
    assert.deepEqual(decodeClientMessage(b), { kind: 'reply', reply: { writeLsn: 3n, flushLsn: 2n, applyLsn: 1n, replyTs: -7n, replyRequested: true } });
    for (const bad of [Buffer.concat([b, Buffer.alloc(1)]), b.subarray(0, 33), Buffer.concat([b.subarray(0, 33), Buffer.from([2])])]) {
      assert.throws(() => decodeClientMessage(bad), (e: unknown) => e instanceof ClientMessageError && e.message === 'failed to deserialize StandbyReply: deserialize error');
    }
  });

  test("'h': xid and epoch as PG sends them become full transaction ids", () => {
    const b = Buffer.alloc(25);
    b.write('h');
    b.writeBigInt64BE(9n, 1);
    b.writeUInt32BE(739, 9); // xmin
    b.writeUInt32BE(2, 13); // its epoch
    b.writeUInt32BE(5, 17); // catalog_xmin
    b.writeUInt32BE(0, 21);
    assert.deepEqual(decodeClientMessage(b), { kind: 'hs', feedback: { ts: 9n, xmin: (2n << 32n) | 739n, catalogXmin: 5n } });
    assert.throws(() => decodeClientMessage(b.subarray(0, 24)), /failed to deserialize HotStandbyFeedback: deserialize error/);
  });

  test("'z': the length word is skipped, the key/value block decoded, bytes after its keys ignored", () => {
    const fb = { currentTimelineSize: 1n, lastReceivedLsn: 2n, diskConsistentLsn: 3n, remoteConsistentLsn: 4n, replyTime: 5n, shardNumber: 0 };
    const block = Buffer.alloc(feedbackSize(fb));
    encodeFeedback(fb, block, 0);
    const msg = Buffer.concat([Buffer.from('z'), Buffer.alloc(8, 0xff), block, Buffer.from('trailing')]);
    assert.deepEqual(decodeClientMessage(msg), { kind: 'ps', feedback: fb });
    assert.throws(() => decodeClientMessage(Buffer.from('z12')), /malformed pageserver feedback: 3 bytes/);
  });

  test('anything else, or nothing, is ignored', () => {
    assert.deepEqual(decodeClientMessage(Buffer.alloc(0)), { kind: 'other', firstByte: null });
    assert.deepEqual(decodeClientMessage(Buffer.from('x')), { kind: 'other', firstByte: 0x78 });
  });
});
