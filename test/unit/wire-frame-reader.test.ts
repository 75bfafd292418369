import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { loadSession } from '../helpers/captured-session.js';
import {
  BackendFrameReader,
  BackendSerializer,
  DEFAULT_MAX_MESSAGE_LENGTH,
  FrameReader,
  FrontendSerializer,
  WireError,
  type Frame,
} from '../../src/wire/index.js';

const session = loadSession('walproposer-v2-session.json');
const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';

/** The walproposer's client→server byte stream, minus bodies the fixture truncated (WAL payloads). */
function clientStream(): { bytes: Buffer; expected: { tag: string | null; body: string }[] } {
  const parts: Buffer[] = [];
  const expected: { tag: string | null; body: string }[] = [];
  for (const e of session) {
    if (e.dir !== 'c2s') continue;
    if (e.type === 'SSLRequest' || e.type === 'Startup') {
      let body: Buffer = Buffer.from(e.hex, 'hex');
      if (e.type === 'Startup') {
        // The fixture cuts the startup body; rebuild it and prove it is byte-identical via the sha256.
        body = new FrontendSerializer()
          .startupMessage({ user: 'root', database: 'replication', options: `-c timeline_id=${TIMELINE} tenant_id=${TENANT}` })
          .flush()
          .subarray(4);
        assert.equal(createHash('sha256').update(body).digest('hex'), e.sha256);
      }
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length + 4);
      parts.push(len, body);
      expected.push({ tag: null, body: body.toString('hex') });
    } else {
      if (e.truncated) continue;
      const head = Buffer.alloc(5);
      head[0] = e.type.charCodeAt(0);
      head.writeUInt32BE(e.len + 4, 1);
      parts.push(head, Buffer.from(e.hex, 'hex'));
      expected.push({ tag: e.type, body: e.hex });
    }
  }
  return { bytes: Buffer.concat(parts), expected };
}

function drain(r: { next(): Frame | undefined }): { tag: string | null; body: string }[] {
  const out: { tag: string | null; body: string }[] = [];
  for (let f = r.next(); f; f = r.next()) out.push({ tag: f.tag, body: f.body.toString('hex') });
  return out;
}

/** Deterministic PRNG so a failing chunking can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function feedChunked(bytes: Buffer, sizes: () => number): { tag: string | null; body: string }[] {
  const r = new FrameReader();
  const out: { tag: string | null; body: string }[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = Math.max(1, Math.min(bytes.length - i, sizes()));
    r.push(bytes.subarray(i, i + n));
    i += n;
    out.push(...drain(r));
  }
  assert.equal(r.buffered, 0);
  return out;
}

describe('FrameReader on the captured walproposer session', () => {
  const { bytes, expected } = clientStream();

  test('the stream has SSLRequest, Startup, Query, CopyData and Terminate', () => {
    assert.deepEqual(
      [...new Set(expected.map((f) => f.tag))],
      [null, 'Q', 'd', 'X'],
    );
    assert.equal(expected[0]!.body, '04d2162f');
  });

  test('one chunk: every frame, then phase is regular', () => {
    const r = new FrameReader();
    r.push(bytes);
    assert.deepEqual(drain(r), expected);
    assert.equal(r.phase, 'regular');
  });

  test('byte by byte gives the same frames', () => {
    assert.deepEqual(feedChunked(bytes, () => 1), expected);
  });

  for (const seed of [1, 2, 3, 42, 1234]) {
    test(`random chunking (seed ${seed}) gives the same frames`, () => {
      const rnd = prng(seed);
      assert.deepEqual(feedChunked(bytes, () => 1 + Math.floor(rnd() * 40)), expected);
    });
  }

  test('stays in startup phase after SSLRequest, switches after StartupMessage', () => {
    const r = new FrameReader();
    r.push(bytes.subarray(0, 8));
    assert.equal(r.next()?.tag, null);
    assert.equal(r.phase, 'startup');
    r.push(bytes.subarray(8));
    assert.equal(r.next()?.tag, null);
    assert.equal(r.phase, 'regular');
    assert.equal(r.next()?.tag, 'Q');
  });
});

describe('FrameReader body aliasing', () => {
  test('a frame inside one chunk is a view of it; a split frame is joined', () => {
    const q = new FrontendSerializer().startupMessage({ user: 'u' }).query('IDENTIFY_SYSTEM').flush();
    const r = new FrameReader();
    r.push(q);
    const startup = r.next()!;
    const query = r.next()!;
    assert.equal(startup.body.byteOffset, q.byteOffset + 4, 'startup body is a view of the chunk');
    assert.equal(query.body.toString('latin1'), 'IDENTIFY_SYSTEM\0');
    q[q.length - 2] = 0x21; // mutate the chunk: a view sees it
    assert.equal(query.body.toString('latin1'), 'IDENTIFY_SYSTE!\0');
    q[q.length - 2] = 0x4d;

    const r2 = new FrameReader();
    const mid = q.length - 3;
    const a = Buffer.from(q.subarray(0, mid));
    const b = Buffer.from(q.subarray(mid));
    r2.push(a);
    r2.next();
    assert.equal(r2.next(), undefined);
    r2.push(b);
    const joined = r2.next()!;
    assert.equal(joined.body.toString('latin1'), 'IDENTIFY_SYSTEM\0');
    b[0] = 0x21; // the joined body is its own copy
    assert.equal(joined.body.toString('latin1'), 'IDENTIFY_SYSTEM\0');
  });

  test('a 131148-byte CopyData fed in 1000 small chunks arrives intact', () => {
    const payload = Buffer.alloc(72 + 131072);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const frame = Buffer.concat([new FrontendSerializer().startupMessage({}).flush(), new FrontendSerializer().copyData(payload).flush()]);
    const r = new FrameReader();
    const step = Math.ceil(frame.length / 1000);
    const got: Frame[] = [];
    for (let i = 0; i < frame.length; i += step) {
      r.push(frame.subarray(i, i + step));
      for (const f of r.frames()) got.push(f);
    }
    assert.equal(got.length, 2);
    assert.equal(got[1]!.tag, 'd');
    assert.ok(got[1]!.body.equals(payload));
  });
  test('the same frame fed byte by byte is joined once, in linear time', () => {
    const payload = Buffer.alloc(72 + 131072, 0x5a);
    const frame = new FrontendSerializer().copyData(payload).flush();
    const r = new FrameReader();
    r.push(new FrontendSerializer().startupMessage({}).flush());
    r.next();
    const started = process.hrtime.bigint();
    let got: Frame | undefined;
    for (let i = 0; i < frame.length; i++) {
      r.push(frame.subarray(i, i + 1));
      got = r.next() ?? got;
      if (i < frame.length - 1) assert.equal(got, undefined);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(got !== undefined && got.body.equals(payload));
    assert.ok(ms < 5000, `byte-by-byte framing took ${ms} ms`);
  });
});

describe('FrameReader limits and garbage', () => {
  const startupLen = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const regular = (tag: string, len: number): Buffer => {
    const b = Buffer.alloc(5);
    b[0] = tag.charCodeAt(0);
    b.writeUInt32BE(len, 1);
    return b;
  };
  const afterStartup = (): FrameReader => {
    const r = new FrameReader();
    r.push(new FrontendSerializer().startupMessage({ user: 'x' }).flush());
    assert.equal(r.next()?.tag, null);
    return r;
  };
  const throwsWire = (f: () => unknown, msg: RegExp): void => {
    assert.throws(f, (e: unknown) => e instanceof WireError && msg.test(e.message));
  };

  for (const bad of [0, 4, 7, 10001, 0x7fffffff]) {
    test(`startup length ${bad} is refused`, () => {
      const r = new FrameReader();
      r.push(startupLen(bad));
      throwsWire(() => r.next(), new RegExp(`^invalid startup packet message length ${bad}$`));
    });
  }

  test('startup lengths 8 and 10000 are accepted', () => {
    for (const len of [8, 10000]) {
      const r = new FrameReader();
      const body = Buffer.alloc(len - 4);
      body.writeUInt32BE(80877103);
      r.push(Buffer.concat([startupLen(len), body]));
      assert.equal(r.next()?.body.length, len - 4);
    }
  });

  test('TLS ClientHello (first byte 0x16) is refused as soon as one byte arrived', () => {
    const r = new FrameReader();
    r.push(Buffer.from([0x16]));
    throwsWire(() => r.next(), /direct TLS.*0x16.*not supported/);
  });

  test('TLS ClientHello after an SSLRequest is refused too', () => {
    const r = new FrameReader();
    r.push(new FrontendSerializer().sslRequest().flush());
    r.next();
    r.push(Buffer.from('160301', 'hex'));
    throwsWire(() => r.next(), /direct TLS/);
  });

  for (const bad of [0, 3]) {
    test(`regular message length ${bad} is refused`, () => {
      const r = afterStartup();
      r.push(regular('Q', bad));
      throwsWire(() => r.next(), new RegExp(`^invalid message length ${bad} for message tag 'Q'$`));
    });
  }

  test('length 4 (empty body) is fine', () => {
    const r = afterStartup();
    r.push(regular('c', 4));
    const f = r.next()!;
    assert.equal(f.tag, 'c');
    assert.equal(f.body.length, 0);
  });

  test('maximum message length: the default allows a full AppendRequest and refuses above the cap', () => {
    assert.ok(DEFAULT_MAX_MESSAGE_LENGTH >= 4 + 72 + 131072);
    const r = afterStartup();
    r.push(regular('d', DEFAULT_MAX_MESSAGE_LENGTH + 1));
    throwsWire(() => r.next(), /message length 1048577 for message tag 'd' exceeds the maximum of 1048576/);
    const ok = afterStartup();
    ok.push(regular('d', DEFAULT_MAX_MESSAGE_LENGTH));
    assert.equal(ok.next(), undefined, 'at the cap: just waits for the body');
  });

  test('custom maximum and unprintable tags in errors', () => {
    const r = new FrameReader({ maxMessageLength: 100 });
    r.push(new FrontendSerializer().startupMessage({}).flush());
    r.next();
    r.push(regular('\x01', 101));
    throwsWire(() => r.next(), /tag 0x01 exceeds the maximum of 100/);
  });

  test('after an error the reader stays failed', () => {
    const r = new FrameReader();
    r.push(startupLen(3));
    assert.throws(() => r.next(), WireError);
    r.push(Buffer.alloc(100));
    assert.throws(() => r.next(), /invalid startup packet message length 3/);
  });

  test('incomplete input yields nothing and keeps the bytes', () => {
    const r = afterStartup();
    r.push(Buffer.from('5100', 'hex'));
    assert.equal(r.next(), undefined);
    assert.equal(r.buffered, 2);
    r.push(Buffer.from('000006', 'hex'));
    assert.equal(r.next(), undefined);
    r.push(Buffer.from('4100', 'hex'));
    assert.deepEqual(drain(r), [{ tag: 'Q', body: '4100' }]);
  });
});

describe('BackendFrameReader', () => {
  test('reads the SSL answer byte, then tagged frames in any chunking', () => {
    const reply = Buffer.concat([
      Buffer.from('N'),
      new BackendSerializer()
        .authenticationOk()
        .parameterStatus('client_encoding', 'UTF8')
        .readyForQuery()
        .copyBothResponse()
        .copyData(Buffer.from('67000000', 'hex'))
        .flush(),
    ]);
    for (const step of [1, 2, 3, 7, reply.length]) {
      const r = new BackendFrameReader();
      let answer: number | undefined;
      const tags: string[] = [];
      for (let i = 0; i < reply.length; i += step) {
        r.push(reply.subarray(i, i + step));
        if (answer === undefined) answer = r.readByte();
        if (answer !== undefined) for (const f of r.frames()) tags.push(f.tag);
      }
      assert.equal(answer, 0x4e);
      assert.deepEqual(tags, ['R', 'S', 'Z', 'W', 'd']);
    }
  });

  test('refuses bad lengths with WireError and stays failed', () => {
    const r = new BackendFrameReader(64);
    r.push(Buffer.from('5a00000002', 'hex'));
    assert.throws(() => r.next(), /invalid message length 2 for message tag 'Z'/);
    assert.throws(() => r.readByte(), WireError);
    const r2 = new BackendFrameReader(64);
    r2.push(Buffer.from('6400000041', 'hex'));
    assert.throws(() => r2.next(), /exceeds the maximum of 64/);
  });
});
