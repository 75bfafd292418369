// PageserverFeedback block after AppendResponse: big-endian, Neon's key order,
// shard_number only when > 0; decoder accepts the C reader's aliases and
// skips unknown keys by length.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAcceptorMessage,
  encodeAcceptorMessage,
  ProtocolError,
  type AppendResponse,
  type PageserverFeedback,
} from '../../src/protocol/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const cstr = (s: string): string => Buffer.from(`${s}\0`, 'latin1').toString('hex');
const kv = (key: string, valueHex: string): string =>
  cstr(key) + (valueHex.length / 2).toString(16).padStart(8, '0') + valueHex;

const FIXED = hex(`
  6100000000000000 0400000000000000 0000000200000000 0000800100000000
  0000000000000000 0000000000000000 0000000000000000`);

const FB: PageserverFeedback = {
  currentTimelineSize: 0x0102030405060708n,
  lastReceivedLsn: 0x1f00000n,
  diskConsistentLsn: 0x1e00000n,
  remoteConsistentLsn: 0x1d00000n,
  replyTime: 0x0002b3c4d5e6f708n,
  shardNumber: 0,
};

const respWith = (fb: PageserverFeedback): AppendResponse => ({
  kind: 'AppendResponse', generation: 0,
  term: 4n,
  flushLsn: 0x2000000n,
  commitLsn: 0x1800000n,
  hsFeedback: { ts: 0n, xmin: 0n, catalogXmin: 0n },
  pageserverFeedback: fb,
});

const FB_BLOCK_NO_SHARD =
  '05' +
  kv('current_timeline_size', '0102030405060708') +
  kv('ps_writelsn', '0000000001f00000') +
  kv('ps_flushlsn', '0000000001e00000') +
  kv('ps_applylsn', '0000000001d00000') +
  kv('ps_replytime', '0002b3c4d5e6f708');

function expectFeedbackError(blockHex: string, field: string, message: RegExp): void {
  assert.throws(
    () => decodeAcceptorMessage(Buffer.concat([FIXED, hex(blockHex)])),
    (e: unknown) => e instanceof ProtocolError && e.field === field && message.test(e.message),
  );
}

describe('PageserverFeedback in AppendResponse', () => {
  test('shard_number 0 is omitted: 5 BE keys in Neon order', () => {
    const out = encodeAcceptorMessage(respWith(FB));
    assert.equal(out.subarray(0, 56).toString('hex'), FIXED.toString('hex'));
    assert.equal(out.subarray(56).toString('hex'), FB_BLOCK_NO_SHARD);
    assert.deepEqual(decodeAcceptorMessage(out), respWith(FB));
  });

  test('shard_number 3 is sent as a 6th key, u32 BE', () => {
    const fb = { ...FB, shardNumber: 3 };
    const out = encodeAcceptorMessage(respWith(fb));
    const block = '06' + FB_BLOCK_NO_SHARD.slice(2) + kv('shard_number', '00000003');
    assert.equal(out.subarray(56).toString('hex'), block);
    assert.deepEqual(decodeAcceptorMessage(out), respWith(fb));
  });

  test('negative reply time (before 2000-01-01) is an i64 BE', () => {
    const fb = { ...FB, replyTime: -2n };
    const out = encodeAcceptorMessage(respWith(fb));
    assert.ok(out.toString('hex').includes(kv('ps_replytime', 'fffffffffffffffe')));
    assert.deepEqual(decodeAcceptorMessage(out), respWith(fb));
  });

  test('aliases decode, unknown keys are skipped by length, missing keys are 0', () => {
    const block =
      '06' +
      kv('last_received_lsn', '0000000000000011') +
      kv('future_key', 'deadbeefcafe') +
      kv('disk_consistent_lsn', '0000000000000022') +
      kv('remote_consistent_lsn', '0000000000000033') +
      kv('replytime', '0000000000000044') +
      kv('empty_unknown', '');
    const msg = decodeAcceptorMessage(Buffer.concat([FIXED, hex(block)])) as AppendResponse;
    assert.deepEqual(msg.pageserverFeedback, {
      currentTimelineSize: 0n,
      lastReceivedLsn: 0x11n,
      diskConsistentLsn: 0x22n,
      remoteConsistentLsn: 0x33n,
      replyTime: 0x44n,
      shardNumber: 0,
    });
  });

  test('nkeys 0 is a present, all-zero feedback', () => {
    const msg = decodeAcceptorMessage(Buffer.concat([FIXED, hex('00')])) as AppendResponse;
    assert.deepEqual(msg.pageserverFeedback, {
      currentTimelineSize: 0n,
      lastReceivedLsn: 0n,
      diskConsistentLsn: 0n,
      remoteConsistentLsn: 0n,
      replyTime: 0n,
      shardNumber: 0,
    });
  });

  test('malformed blocks are refused, naming the key', () => {
    expectFeedbackError('01' + cstr('ps_writelsn').slice(0, -2), 'pageserver_feedback.key', /not NUL-terminated/);
    expectFeedbackError('01' + cstr('ps_writelsn') + '0000', 'pageserver_feedback.ps_writelsn', /misses its value length/);
    expectFeedbackError('01' + kv('ps_writelsn', '00000000'), 'pageserver_feedback.ps_writelsn', /length 4, expected 8/);
    expectFeedbackError('01' + kv('shard_number', '0000000000000003'), 'pageserver_feedback.shard_number', /expected 4/);
    expectFeedbackError(
      '01' + cstr('future_key') + '00000010' + 'aabb',
      'pageserver_feedback.future_key',
      /declares 16 value bytes, 2 left/,
    );
    expectFeedbackError('01' + cstr('future_key') + 'ffffffff', 'pageserver_feedback.future_key', /declares -1/);
    expectFeedbackError('02' + kv('ps_writelsn', '0000000000000001'), 'pageserver_feedback.key', /key 1 of 2/);
    expectFeedbackError(FB_BLOCK_NO_SHARD + '00', 'pageserver_feedback.trailing_bytes', /1 bytes after its 5 keys/);
  });

  test('out-of-range feedback values are refused on encode', () => {
    assert.throws(
      () => encodeAcceptorMessage(respWith({ ...FB, lastReceivedLsn: 1n << 64n })),
      (e: unknown) => e instanceof ProtocolError && e.field === 'pageserver_feedback.ps_writelsn',
    );
    assert.throws(
      () => encodeAcceptorMessage(respWith({ ...FB, replyTime: 1n << 63n })),
      (e: unknown) => e instanceof ProtocolError && e.field === 'pageserver_feedback.ps_replytime',
    );
    assert.throws(
      () => encodeAcceptorMessage(respWith({ ...FB, shardNumber: -1 })),
      (e: unknown) => e instanceof ProtocolError && e.field === 'pageserver_feedback.shard_number',
    );
  });
});
