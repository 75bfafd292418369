// Property tests (fast-check, issue 10 item 4): the proposer/acceptor codecs (v2 and v3) round-trip
// every message they can carry, and any bytes, arbitrary or a mutated valid message, decode or
// raise the codec's own error, never anything else; the server's framer gives the same frames
// however a stream is chunked, and garbage gives a WireError, never a crash or a hang.
// FUZZ_RUNS sets the runs per property (`npm run fuzz` raises it).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ProtocolError,
  v2Codec,
  v3Codec,
  walBuffer,
  type AcceptorMessage,
  type MembershipConfiguration,
  type ProposerMessage,
  type ProtocolCodec,
} from '../../src/protocol/index.js';
import { FrameReader, FrontendSerializer, WireError, type Frame } from '../../src/wire/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const U64 = (1n << 64n) - 1n;

const u64 = fc.bigInt({ min: 0n, max: U64 });
const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const hexId = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex'));
const history = fc.array(fc.record({ term: u64, lsn: u64 }), { maxLength: 6 });
const host = fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'));
const members = fc.uniqueArray(fc.record({ id: u64, host, pgPort: fc.integer({ min: 0, max: 0xffff }) }), { selector: (m) => m.id, maxLength: 4 });
const mconf: fc.Arbitrary<MembershipConfiguration> = fc
  .record({ generation: u32, members, newMembers: fc.option(members.filter((m) => m.length > 0), { nil: null }) })
  .filter((m) => m.generation === 0 || m.members.length > 0);
const wal = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const feedback = fc.option(
  fc.record({
    currentTimelineSize: u64,
    lastReceivedLsn: u64,
    diskConsistentLsn: u64,
    remoteConsistentLsn: u64,
    replyTime: i64,
    shardNumber: fc.integer({ min: 0, max: 0xffffffff }),
  }),
  { nil: undefined },
);

/** What each version carries: fields the other version lacks are fixed to what its decoder fills in. */
function proposerMessages(v: 2 | 3): fc.Arbitrary<ProposerMessage> {
  const gen = v === 2 ? fc.constant(0) : u32;
  const zero = '0'.repeat(32);
  return fc.oneof(
    fc.record({
      kind: fc.constant('ProposerGreeting' as const),
      protocolVersion: v === 2 ? u32 : fc.constant(3),
      mconf: v === 2 ? fc.constant({ generation: 0, members: [], newMembers: null }) : mconf,
      pgVersion: v === 2 ? u32 : fc.oneof(fc.constant(0), fc.integer({ min: 140000, max: 179999 })),
      proposerId: v === 2 ? hexId : fc.constant(zero),
      systemId: u64,
      tenantId: hexId,
      timelineId: hexId,
      tli: v === 2 ? u32 : fc.constant(1),
      walSegSize: u32,
    }),
    fc.record({ kind: fc.constant('VoteRequest' as const), generation: gen, term: u64, proposerId: v === 2 ? hexId : fc.constant(zero) }),
    fc.record({
      kind: fc.constant('ProposerElected' as const),
      generation: gen,
      term: u64,
      startStreamingAt: u64,
      termHistory: history,
      timelineStartLsn: v === 2 ? u64 : fc.constant(0n),
    }),
    fc
      .record({ generation: gen, term: u64, termStartLsn: v === 2 ? u64 : fc.constant(0n), beginLsn: fc.bigInt({ min: 0n, max: U64 - 300n }), commitLsn: u64, truncateLsn: u64, proposerUuid: v === 2 ? hexId : fc.constant(zero), wal })
      .map((r) => ({ kind: 'AppendRequest' as const, ...r, endLsn: r.beginLsn + BigInt(r.wal.length) })),
  );
}

function acceptorMessages(v: 2 | 3): fc.Arbitrary<AcceptorMessage> {
  const gen = v === 2 ? fc.constant(0) : u32;
  return fc.oneof(
    fc.record({ kind: fc.constant('AcceptorGreeting' as const), term: u64, nodeId: u64, mconf: v === 2 ? fc.constant({ generation: 0, members: [], newMembers: null }) : mconf }),
    fc.record({
      kind: fc.constant('VoteResponse' as const),
      generation: gen,
      term: u64,
      voteGiven: fc.boolean(),
      flushLsn: u64,
      truncateLsn: u64,
      termHistory: history,
      timelineStartLsn: v === 2 ? u64 : fc.constant(0n),
    }),
    fc
      .record({ generation: gen, term: u64, flushLsn: u64, commitLsn: u64, hsFeedback: fc.record({ ts: i64, xmin: u64, catalogXmin: u64 }), pageserverFeedback: feedback })
      .map((r) => {
        const { pageserverFeedback, ...rest } = r;
        return pageserverFeedback === undefined ? { kind: 'AppendResponse' as const, ...rest } : { kind: 'AppendResponse' as const, ...rest, pageserverFeedback };
      }),
  );
}

/** Decoded AppendRequests carry a view of the WAL; compare its bytes. */
function normal(m: ProposerMessage | AcceptorMessage): unknown {
  return m.kind === 'AppendRequest' ? { ...m, wal: walBuffer(m.wal).toString('hex') } : m;
}

/** Decoding either succeeds or raises the codec's own error. */
function decodesOrProtocolError(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
}

for (const [v, codec] of [
  [2, v2Codec],
  [3, v3Codec],
] as [2 | 3, ProtocolCodec][]) {
  describe(`protocol v${v} codec properties (${RUNS} runs each)`, () => {
    test('proposer messages round-trip', () => {
      fc.assert(
        fc.property(proposerMessages(v), (m) => {
          assert.deepEqual(normal(codec.decodeProposerMessage(codec.encodeProposerMessage(m))), normal(m));
        }),
        { numRuns: RUNS },
      );
    });

    test('acceptor messages round-trip', () => {
      fc.assert(
        fc.property(acceptorMessages(v), (m) => {
          assert.deepEqual(codec.decodeAcceptorMessage(codec.encodeAcceptorMessage(m)), m);
        }),
        { numRuns: RUNS },
      );
    });

    test('arbitrary bytes decode or raise ProtocolError, in both directions', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
          const buf = Buffer.from(b);
          decodesOrProtocolError(() => codec.decodeProposerMessage(buf));
          decodesOrProtocolError(() => codec.decodeAcceptorMessage(buf));
        }),
        { numRuns: RUNS },
      );
    });

    test('a valid message with bytes flipped, cut or appended decodes or raises ProtocolError', () => {
      const mutated = fc.tuple(proposerMessages(v), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }), fc.nat(), fc.uint8Array({ maxLength: 8 }));
      fc.assert(
        fc.property(mutated, ([m, flips, cut, extra]) => {
          const b = Buffer.from(codec.encodeProposerMessage(m));
          for (const [at, x] of flips) b[at % b.length] ^= x;
          const body = Buffer.concat([b.subarray(0, b.length - (cut % (b.length + 1))), Buffer.from(extra)]);
          decodesOrProtocolError(() => codec.decodeProposerMessage(body));
        }),
        { numRuns: RUNS },
      );
    });
  });
}

describe(`server framer properties (${RUNS} runs each)`, () => {
  /** A client stream: a startup packet, then tagged messages. */
  const stream = fc
    .array(fc.tuple(fc.constantFrom('Q', 'd', 'c', 'f', 'X', 'P', 'B', 'E', 'S'), fc.uint8Array({ maxLength: 120 })), { maxLength: 12 })
    .map((msgs) => {
      const out = new FrontendSerializer().startupMessage(new Map([['user', 'u'], ['options', '-c tenant_id=x']]));
      const startup = out.flush();
      const tagged = msgs.map(([tag, body]) => {
        const b = Buffer.alloc(5 + body.length);
        b.write(tag, 0, 'latin1');
        b.writeUInt32BE(4 + body.length, 1);
        Buffer.from(body).copy(b, 5);
        return b;
      });
      return Buffer.concat([startup, ...tagged]);
    });

  function frameAll(chunks: Buffer[]): Array<{ tag: string | null; body: string }> {
    const r = new FrameReader();
    const out: Array<{ tag: string | null; body: string }> = [];
    const take = () => {
      for (let f: Frame | undefined = r.next(); f; f = r.next()) out.push({ tag: f.tag, body: f.body.toString('hex') });
    };
    for (const c of chunks) {
      r.push(c);
      take();
    }
    return out;
  }

  test('any chunking of a valid stream gives the same frames', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(last, p));
          last = p;
        }
        chunks.push(bytes.subarray(last));
        assert.deepEqual(frameAll(chunks), frameAll([bytes]));
      }),
      { numRuns: RUNS },
    );
  });

  test('garbage gives frames or a WireError, never another error or a hang', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          frameAll([Buffer.from(b)]);
        } catch (err) {
          if (!(err instanceof WireError)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });
});
