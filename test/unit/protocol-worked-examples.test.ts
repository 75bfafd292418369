// protocol.md §3.9 worked examples, byte for byte, in both directions.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAcceptorMessage,
  decodeProposerMessage,
  encodeAcceptorMessage,
  encodeAppendRequestHeader,
  encodeProposerMessage,
  EMPTY_HS_FEEDBACK,
  type AppendRequest,
  type AppendResponse,
  type ProposerGreeting,
  walParts,
} from '../../src/protocol/index.js';
import { parseLsn } from '../../src/lsn.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const range = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => (from + i).toString(16).padStart(2, '0')).join('');

const GREETING_HEX = `
  67 00 00 00 00 00 00 00 02 00 00 00 02 71 02 00
  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
  6f 5e 4d 3c 2b 1a 2c 6f de 20 0b d4 2b 49 cc 18
  14 41 2c 7e 59 2d d6 e9 9e f8 7a 5b f0 d9 25 44
  f6 fa fe eb 32 39 69 5c 01 00 00 00 00 00 00 01`;

const GREETING: ProposerGreeting = {
  kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
  protocolVersion: 2,
  pgVersion: 160002,
  proposerId: range(0x10, 0x1f),
  systemId: 0x6f2c1a2b3c4d5e6fn,
  tenantId: '9ef87a5bf0d92544f6fafeeb3239695c',
  timelineId: 'de200bd42b49cc1814412c7e592dd6e9',
  tli: 1,
  walSegSize: 16 * 1024 * 1024,
};

const APPEND_HEX = `
  61 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
  00 6f 69 01 00 00 00 00 28 6f 69 01 00 00 00 00
  40 6f 69 01 00 00 00 00 28 6f 69 01 00 00 00 00
  00 60 69 01 00 00 00 00 10 11 12 13 14 15 16 17
  18 19 1a 1b 1c 1d 1e 1f a0 a1 a2 a3 a4 a5 a6 a7
  a8 a9 aa ab ac ad ae af b0 b1 b2 b3 b4 b5 b6 b7`;

const APPEND: AppendRequest = {
  kind: 'AppendRequest', generation: 0,
  term: 3n,
  termStartLsn: parseLsn('0/1696F00'),
  beginLsn: parseLsn('0/1696F28'),
  endLsn: parseLsn('0/1696F40'),
  commitLsn: parseLsn('0/1696F28'),
  truncateLsn: parseLsn('0/1696000'),
  proposerUuid: range(0x10, 0x1f),
  wal: hex(range(0xa0, 0xb7)),
};

const RESPONSE_HEX = `
  61 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
  40 6f 69 01 00 00 00 00 28 6f 69 01 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00`;

const RESPONSE: AppendResponse = {
  kind: 'AppendResponse', generation: 0,
  term: 3n,
  flushLsn: parseLsn('0/1696F40'),
  commitLsn: parseLsn('0/1696F28'),
  hsFeedback: { ...EMPTY_HS_FEEDBACK },
};

describe('protocol.md §3.9 worked examples', () => {
  test('ProposerGreeting decodes to the documented values (timeline id before tenant id)', () => {
    const body = hex(GREETING_HEX);
    assert.equal(body.length, 80);
    assert.deepEqual(decodeProposerMessage(body), GREETING);
  });

  test('ProposerGreeting encodes byte for byte', () => {
    assert.equal(encodeProposerMessage(GREETING).toString('hex'), hex(GREETING_HEX).toString('hex'));
  });

  test('AppendRequest decodes, WAL a zero-copy view of the frame', () => {
    const body = hex(APPEND_HEX);
    assert.equal(body.length, 96);
    const msg = decodeProposerMessage(body);
    assert.equal(msg.kind, 'AppendRequest');
    assert.deepEqual(msg, APPEND);
    const wal = (msg as AppendRequest).wal;
    assert.ok(Buffer.isBuffer(wal), 'a body in one buffer decodes to one view');
    assert.equal(wal.buffer, body.buffer);
    assert.equal(wal.byteOffset, body.byteOffset + 72);
    body[72] = 0x55; // a view sees writes to the frame; a copy would not
    assert.equal(wal[0], 0x55);
  });

  test('AppendRequest encodes byte for byte, whole and as header + WAL', () => {
    const expected = hex(APPEND_HEX);
    assert.equal(encodeProposerMessage(APPEND).toString('hex'), expected.toString('hex'));
    const header = encodeAppendRequestHeader(APPEND);
    assert.equal(header.length, 72);
    assert.equal(Buffer.concat([header, ...walParts(APPEND.wal)]).toString('hex'), expected.toString('hex'));
  });

  test('AppendRequest header written into a caller-supplied buffer', () => {
    const target = Buffer.alloc(100, 0xee);
    const header = encodeAppendRequestHeader(APPEND, target);
    assert.equal(header.length, 72);
    assert.equal(header.buffer, target.buffer);
    assert.equal(target.subarray(0, 72).toString('hex'), hex(APPEND_HEX).subarray(0, 72).toString('hex'));
    assert.equal(target[72], 0xee, 'nothing written past the header');
    assert.throws(() => encodeAppendRequestHeader(APPEND, Buffer.alloc(71)), RangeError);
  });

  test('AppendResponse without feedback is exactly the 56 documented bytes', () => {
    const out = encodeAcceptorMessage(RESPONSE);
    assert.equal(out.length, 56);
    assert.equal(out.toString('hex'), hex(RESPONSE_HEX).toString('hex'));
    assert.deepEqual(decodeAcceptorMessage(hex(RESPONSE_HEX)), RESPONSE);
  });
});
