// The captured walproposer v2 session (test/fixtures/walproposer-v2-session.json):
// the real C client's messages must decode to the expected values, and the
// replies it accepted must come out of our encoder byte-identically.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAcceptorMessage,
  decodeProposerMessage,
  encodeAcceptorMessage,
  encodeProposerMessage,
  type AcceptorMessage,
  type ProposerMessage,
} from '../../src/protocol/index.js';
import { parseLsn } from '../../src/lsn.js';
import { copyDataBodies, loadSession } from '../helpers/captured-session.js';

const session = loadSession('walproposer-v2-session.json');
const clientMsgs = copyDataBodies(session, 'c2s');
const serverMsgs = copyDataBodies(session, 's2c');

const PROPOSER_UUID = 'a02b053b39b5e363697697b0b29d4e4c';
const START = parseLsn('0/1000028');
const END = parseLsn('0/108CB00');

describe('captured walproposer v2 session', () => {
  test('the fixture has the complete messages this test relies on', () => {
    assert.deepEqual(
      clientMsgs.map((b) => b.length),
      [80, 32, 52, 72, 72],
    );
    assert.deepEqual(
      serverMsgs.map((b) => b.length),
      [24, 52, 56],
    );
  });

  test('client messages decode to the expected values', () => {
    const decoded = clientMsgs.map((b) => decodeProposerMessage(b));
    const expected: ProposerMessage[] = [
      {
        kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
        protocolVersion: 2,
        pgVersion: 150018,
        proposerId: PROPOSER_UUID,
        systemId: 7712208890765003361n,
        tenantId: '0123456789abcdef0123456789abcdef',
        timelineId: 'fedcba9876543210fedcba9876543210',
        tli: 1,
        walSegSize: 16 * 1024 * 1024,
      },
      { kind: 'VoteRequest', generation: 0, term: 1n, proposerId: PROPOSER_UUID },
      {
        kind: 'ProposerElected', generation: 0,
        term: 1n,
        startStreamingAt: START,
        termHistory: [{ term: 1n, lsn: START }],
        timelineStartLsn: START,
      },
      {
        kind: 'AppendRequest', generation: 0,
        term: 1n,
        termStartLsn: START,
        beginLsn: START,
        endLsn: START,
        commitLsn: 0n,
        truncateLsn: START,
        proposerUuid: PROPOSER_UUID,
        wal: Buffer.alloc(0),
      },
      {
        kind: 'AppendRequest', generation: 0,
        term: 1n,
        termStartLsn: START,
        beginLsn: END,
        endLsn: END,
        commitLsn: END,
        truncateLsn: START,
        proposerUuid: PROPOSER_UUID,
        wal: Buffer.alloc(0),
      },
    ];
    assert.deepEqual(decoded, expected);
  });

  test('client messages re-encode byte-identically', () => {
    for (const body of clientMsgs) {
      assert.equal(encodeProposerMessage(decodeProposerMessage(body)).toString('hex'), body.toString('hex'));
    }
  });

  test('server replies decode to the expected values and re-encode byte-identically', () => {
    const decoded = serverMsgs.map((b) => decodeAcceptorMessage(b));
    const expected: AcceptorMessage[] = [
      { kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 0n, nodeId: 1n },
      {
        kind: 'VoteResponse', generation: 0,
        term: 1n,
        voteGiven: true,
        flushLsn: 0n,
        truncateLsn: 0n,
        termHistory: [],
        timelineStartLsn: 0n,
      },
      {
        kind: 'AppendResponse', generation: 0,
        term: 1n,
        flushLsn: END,
        commitLsn: START,
        hsFeedback: { ts: 0n, xmin: 0n, catalogXmin: 0n },
      },
    ];
    assert.deepEqual(decoded, expected);
    serverMsgs.forEach((body, i) => {
      assert.equal(encodeAcceptorMessage(decoded[i]!).toString('hex'), body.toString('hex'));
      // Built from literal values too, so a decoder bug cannot mask an encoder bug.
      assert.equal(encodeAcceptorMessage(expected[i]!).toString('hex'), body.toString('hex'));
    });
  });

  test('truncated WAL-carrying AppendRequest headers parse up to the WAL length check', () => {
    // Only the first 96 bytes are stored: the header is intact, so decoding must
    // fail on the WAL length, not earlier, and name that field.
    const cut = session.filter((e) => e.dir === 'c2s' && e.type === 'd' && e.truncated);
    assert.ok(cut.length >= 1);
    for (const e of cut) {
      assert.throws(
        () => decodeProposerMessage(Buffer.from(e.hex, 'hex')),
        (err: Error & { field?: string }) => err.field === 'AppendRequest.wal' && /incomplete/.test(err.message),
      );
    }
  });
});
