// Replays the client side of real walproposer sessions (captured from Neon's C
// walproposer streaming a real PG15 segment, protocol v2 and v3) against a
// running safekeeper process, byte for byte, and checks what comes back and
// what lands on disk.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixturePath } from '../helpers/paths.js';
import { loadSession, type SessionEntry as Entry } from '../helpers/captured-session.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';

const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';
const SEG_START = 0x1000000n;

/** Where the two versions put things: AppendRequest header size and LSN offsets, reply sizes. */
interface Layout {
  fixture: string;
  appendHeader: number;
  readU64: (b: Buffer, offset: number) => bigint;
  beginAt: number;
  endAt: number;
  greetingSize: number;
  voteSize: number;
  appendResponseSize: number;
  /** flush_lsn's offset in AppendResponse. */
  flushAt: number;
}

const V2: Layout = {
  fixture: 'walproposer-v2-session.json',
  appendHeader: 72,
  readU64: (b, o) => b.readBigUInt64LE(o),
  beginAt: 24,
  endAt: 32,
  greetingSize: 24,
  voteSize: 52,
  appendResponseSize: 56,
  flushAt: 16,
};
const V3: Layout = {
  fixture: 'walproposer-v3-session.json',
  appendHeader: 45,
  readU64: (b, o) => b.readBigUInt64BE(o),
  beginAt: 13,
  endAt: 21,
  greetingSize: 29,
  voteSize: 34,
  appendResponseSize: 53,
  flushAt: 13,
};

const segment = gunzipSync(readFileSync(fixturePath('pg15-wal-000000010000000000000001.gz')));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The whole body of a captured client message, rebuilt where the capture cut it. */
function clientBody(e: Entry, l: Layout): Buffer {
  const head = Buffer.from(e.hex, 'hex');
  if (!e.truncated) return head;
  let body: Buffer;
  if (e.type === 'Startup') {
    const params = ['user', 'root', 'database', 'replication', 'options', `-c timeline_id=${TIMELINE} tenant_id=${TENANT}`];
    body = Buffer.concat([head.subarray(0, 4), Buffer.from(params.join('\0') + '\0\0', 'latin1')]);
  } else {
    // AppendRequest: the header, then the segment's bytes [begin_lsn, end_lsn).
    const begin = l.readU64(head, l.beginAt);
    const end = l.readU64(head, l.endAt);
    body = Buffer.concat([head.subarray(0, l.appendHeader), segment.subarray(Number(begin - SEG_START), Number(end - SEG_START))]);
  }
  assert.equal(body.length, e.len, `${e.type}: rebuilt length`);
  assert.equal(sha256(body), e.sha256, `${e.type}: rebuilt body matches the capture's sha256`);
  return body;
}

function frame(e: Entry, l: Layout): Buffer {
  const body = clientBody(e, l);
  if (e.type === 'SSLRequest' || e.type === 'Startup') {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length + 4);
    return Buffer.concat([len, body]);
  }
  const head = Buffer.alloc(5);
  head.write(e.type, 0, 'latin1');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** Server bytes, cut into messages (the first answer to SSLRequest is the single byte 'N'). */
class ServerStream {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  readonly messages: Array<{ type: string; body: Buffer }> = [];
  expectSslByte = true;
  closed = false;

  constructor(socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.parse();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  private parse(): void {
    for (;;) {
      if (this.expectSslByte) {
        if (this.buf.length < 1) break;
        this.messages.push({ type: 'SSLResponse', body: this.buf.subarray(0, 1) });
        this.buf = this.buf.subarray(1);
        this.expectSslByte = false;
        continue;
      }
      if (this.buf.length < 5) break;
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 1 + len) break;
      this.messages.push({ type: String.fromCharCode(this.buf[0]), body: this.buf.subarray(5, 1 + len) });
      this.buf = this.buf.subarray(1 + len);
    }
    this.waiting?.();
  }

  async waitFor(pred: (m: { type: string; body: Buffer }) => boolean, from: number, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m, idx) => idx >= from && pred(m));
      if (i >= 0) return i;
      if (this.closed) throw new Error('server closed the connection');
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.messages.map((m) => m.type).join(',')}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
      this.waiting = null;
    }
  }
}

let server: ServerProcess | undefined;
after(async () => {
  if (server) {
    await stopServer(server);
    await removeDir(server.datadir);
  }
});

for (const l of [V2, V3]) {
  test(`the captured walproposer session (${l.fixture}) replays against a real safekeeper process`, () => replay(l));
}

async function replay(l: Layout): Promise<void> {
  const session = loadSession(l.fixture);
  if (server) {
    await stopServer(server);
    await removeDir(server.datadir);
  }
  server = await startServer({ id: 1 });
  const socket = net.connect(server.pgPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const stream = new ServerStream(socket);
  let cursor = 0;
  const expectedFlush = 0x108cb00n;

  for (const e of session) {
    if (e.dir === 'c2s') {
      socket.write(frame(e, l));
      continue;
    }
    if (e.type === 'd') {
      const tag = Buffer.from(e.hex, 'hex')[0];
      if (tag === 0x61) {
        // AppendResponses come one per flush; wait for the one that covers all the WAL sent.
        cursor = (await stream.waitFor((m) => m.type === 'd' && m.body[0] === 0x61 && l.readU64(m.body, l.flushAt) === expectedFlush, cursor)) + 1;
      } else {
        const i = await stream.waitFor((m) => m.type === 'd', cursor);
        assert.equal(stream.messages[i].body[0], tag, 'reply tag');
        assert.equal(stream.messages[i].body.length, e.len, `reply size for tag ${String.fromCharCode(tag)}`);
        cursor = i + 1;
      }
    } else if (e.type === 'S') {
      // ParameterStatus is the capturing server's own choice (v2: none; v3: a stand-in's values).
      continue;
    } else {
      const i = await stream.waitFor((m) => m.type === e.type, cursor);
      assert.equal(stream.messages[i].body.length, e.len, `${e.type} length`);
      cursor = i + 1;
    }
  }
  await new Promise<void>((resolve) => socket.once('close', () => resolve()).end());

  const replies = stream.messages.filter((m) => m.type === 'd').map((m) => m.body);
  assert.deepEqual(replies.slice(0, 2).map((b) => [b[0], b.length]), [[0x67, l.greetingSize], [0x76, l.voteSize]]);
  const appends = replies.slice(2);
  assert.ok(appends.length >= 1);
  for (const a of appends) assert.deepEqual([a[0], a.length], [0x61, l.appendResponseSize], 'AppendResponse without feedback');
  assert.equal(l.readU64(appends.at(-1)!, l.flushAt), expectedFlush, 'last flush position is 0/108CB00');
  assert.ok(!replies.some((b) => b[0] === 0x45), 'no ErrorResponse');

  const segFile = path.join(server.datadir, TENANT, TIMELINE, '000000010000000000000001.partial');
  const stored = await readFile(segFile);
  assert.equal(stored.length, 16 * 1024 * 1024);
  const from = 0x28;
  const to = Number(expectedFlush - SEG_START);
  assert.ok(stored.subarray(from, to).equals(segment.subarray(from, to)), 'stored WAL equals the segment bytes');
  assert.ok(stored.subarray(to, to + 8192).every((b) => b === 0), 'nothing stored past the streamed WAL');

  const status = (await (await server.http(`/v1/tenant/${TENANT}/timeline/${TIMELINE}`)).json()) as Record<string, unknown>;
  assert.equal(status.flush_lsn, '0/108CB00');
  assert.deepEqual(status.acceptor_state, { term: 1, epoch: 1, term_history: [{ term: 1, lsn: '0/1000028' }] });
  // v3 takes timeline_start_lsn from the history; v2 from its ProposerElected field. Same value here.
  assert.equal(status.timeline_start_lsn, '0/1000028');
}
