// Bad clients against one real safekeeper process while a good walproposer-like
// stream keeps writing WAL on its own connection. Every bad connection must be
// answered on its own (an ErrorResponse, or a close when the startup packet was
// never understood), logged with its conn_id (and ttid when one is known), and
// must cost the good stream nothing: no error, no lost acknowledged WAL.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { formatLsn } from '../../src/lsn.js';
import { WalGenerator } from '../../src/client/walgen.js';
import { encodeProposerMessage, type ProposerGreeting, type ProposerMessage } from '../../src/protocol/index.js';
import { FrontendSerializer } from '../../src/wire/index.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import {
  FIRST_RECORD_LSN,
  RawClient,
  RawProposer,
  WAL_SEG_SIZE,
  randomId,
  timelineStatus,
  type ErrorInfo,
} from '../helpers/raw-client.js';

type LogLine = Record<string, unknown>;

const TENANT = randomId();
const GOOD_TIMELINE = randomId();

let server: ServerProcess;
let good: RawProposer;
let appendsBefore = 0;
/** Every client a test opened, so a failing test cannot leave a socket holding the server open. */
const clients: RawClient[] = [];

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(server.pgPort);
  clients.push(c);
  return c;
}

before(async () => {
  server = await startServer({ noSync: true });
  good = await RawProposer.start(server.pgPort, { tenantId: TENANT, timelineId: GOOD_TIMELINE });
  await good.append(8192);
  good.startStreaming(8192, 2);
  appendsBefore = good.appends;
});

after(async () => {
  await good?.stopStreaming();
  await good?.client.close();
  for (const c of clients) c.destroy();
  if (server) {
    await stopServer(server);
    await removeDir(server.datadir);
  }
});

function greeting(tenantId: string, timelineId: string, over: Partial<ProposerGreeting> = {}): ProposerGreeting {
  return {
    kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
    protocolVersion: 2,
    pgVersion: 150002,
    proposerId: randomId(),
    systemId: 7439181208386574123n,
    tenantId,
    timelineId,
    tli: 1,
    walSegSize: WAL_SEG_SIZE,
    ...over,
  };
}

/** A connection in CopyBoth mode (START_WAL_PUSH accepted) for tenant TENANT and the given timeline. */
async function walPush(timelineId: string): Promise<RawClient> {
  const c = await connect();
  await c.startup({ tenantId: TENANT, timelineId });
  await c.startWalPush();
  return c;
}

/** The server's conn_id for a client, from the START_WAL_PUSH log line that names its address. */
async function connIdOf(c: RawClient): Promise<number> {
  const line = await server.waitForLog((l) => l.msg === 'START_WAL_PUSH' && l.peer === c.peer);
  assert.equal(typeof line.conn_id, 'number');
  return line.conn_id as number;
}

/** The line logged when that WAL push connection closed. */
function closeLogOf(connId: number): Promise<LogLine> {
  return server.waitForLog((l) => l.conn_id === connId && String(l.msg).startsWith('WAL push connection closed'));
}

/**
 * The common ending of a bad WAL push connection: one ErrorResponse (XX000)
 * whose message matches, then the server closes; the close is logged at warn
 * with conn_id, ttid and the same error.
 */
async function expectStreamError(c: RawClient, timelineId: string, message: RegExp): Promise<ErrorInfo> {
  const connId = await connIdOf(c);
  const err = await c.nextError();
  assert.match(err.message, message);
  assert.equal(err.code, 'XX000', 'SQLSTATE');
  assert.equal(err.severity, 'ERROR');
  await c.waitClosed();
  const line = await closeLogOf(connId);
  assert.equal(line.level, 40, 'logged as a warning');
  assert.equal(line.ttid, `${TENANT}/${timelineId}`);
  assert.match(String(line.error), message);
  assert.ok(c.unread().every((m) => m.kind !== 'error'), 'exactly one ErrorResponse');
  return err;
}

async function expectTimelineAbsent(timelineId: string): Promise<void> {
  const res = await server.http(`/v1/tenant/${TENANT}/timeline/${timelineId}`);
  assert.equal(res.status, 404, 'the bad connection must not have created its timeline');
}

describe('bad input while a good stream is running', () => {
  test('garbage instead of a startup packet: closed, logged with the peer', async () => {
    const c = await connect();
    c.write(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', 'latin1'));
    await c.waitClosed();
    assert.deepEqual(c.received, [], 'nothing is sent back before the startup packet is understood');
    const line = await server.waitForLog((l) => l.peer === c.peer && l.level === 40);
    assert.equal(line.msg, 'closing connection: malformed protocol data');
    // 'GET ' read as a length word.
    assert.match(String(line.err), /invalid startup packet message length 1195725856/);
    assert.equal(typeof line.conn_id, 'number');
  });

  test('a TLS ClientHello (first byte 0x16): closed, logged', async () => {
    const c = await connect();
    c.write(Buffer.from('160301007a0100007603030000', 'hex'));
    await c.waitClosed();
    assert.deepEqual(c.received, []);
    const line = await server.waitForLog((l) => l.peer === c.peer && l.level === 40);
    assert.match(String(line.err), /direct TLS negotiation attempted \(first byte 0x16\)/);
    assert.equal(typeof line.conn_id, 'number');
  });

  test('a malformed tenant id in the startup options: ErrorResponse 22023, then closed', async () => {
    const c = await connect();
    await assert.rejects(c.startup({ options: `timeline_id=${randomId()} tenant_id=not-a-tenant` }), (err: Error) => {
      assert.match(err.message, /server error 22023: Failed to parse not-a-tenant as tenant id/);
      return true;
    });
    await c.waitClosed();
    const line = await server.waitForLog((l) => l.peer === c.peer && l.level === 40);
    assert.equal(line.msg, 'closing connection: bad startup options');
    assert.equal(typeof line.conn_id, 'number');
  });

  test('CopyData before START_WAL_PUSH: ErrorResponse 08P01, then closed', async () => {
    const c = await connect();
    await c.startup({ tenantId: TENANT, timelineId: randomId() });
    c.sendCopyData(encodeProposerMessage(greeting(TENANT, randomId())));
    const err = await c.nextError();
    assert.equal(err.message, "unexpected message type 'd'");
    assert.equal(err.code, '08P01');
    await c.waitClosed();
  });

  test('truncated CopyData, then a half-close: the connection ends, logged with conn_id and ttid', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const connId = await connIdOf(c);
    // Promises 1000 bytes of body, delivers 10.
    const frame = Buffer.alloc(15);
    frame.write('d', 0, 'latin1');
    frame.writeUInt32BE(1004, 1);
    c.write(frame);
    c.endWriting();
    await c.waitClosed();
    const line = await closeLogOf(connId);
    assert.equal(line.ttid, `${TENANT}/${tl}`);
    assert.equal(line.processed, 0);
    await expectTimelineAbsent(tl);
  });

  test(
    'truncated CopyData at EOF is reported as an error, not as a clean end',
    async () => {
      const tl = randomId();
      const c = await walPush(tl);
      const connId = await connIdOf(c);
      const frame = Buffer.alloc(15);
      frame.write('d', 0, 'latin1');
      frame.writeUInt32BE(1004, 1);
      c.write(frame);
      c.endWriting();
      await c.waitClosed();
      const line = await closeLogOf(connId);
      assert.ok(Number(line.level) >= 40, 'logged as a warning or worse');
      assert.match(String(line.error), /EOF with unprocessed data/);
    },
  );

  test('a burst bigger than the 256-message inbox, then EOF: every message sent before EOF is processed', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const connId = await connIdOf(c);
    const gen = new WalGenerator({ startLsn: FIRST_RECORD_LSN, seed: 3 });
    const proposerId = randomId();
    const parts: Buffer[] = [];
    const frame = (msg: ProposerMessage) => new FrontendSerializer().copyData(encodeProposerMessage(msg)).flush();
    parts.push(frame(greeting(TENANT, tl)));
    parts.push(frame({ kind: 'VoteRequest', generation: 0, term: 1n, proposerId }));
    parts.push(frame({
      kind: 'ProposerElected', generation: 0,
      term: 1n,
      startStreamingAt: FIRST_RECORD_LSN,
      termHistory: [{ term: 1n, lsn: FIRST_RECORD_LSN }],
      timelineStartLsn: FIRST_RECORD_LSN,
    }));
    const appends = 400;
    for (let i = 0; i < appends; i++) {
      const chunk = gen.generate(100);
      parts.push(frame({
        kind: 'AppendRequest', generation: 0,
        term: 1n,
        termStartLsn: FIRST_RECORD_LSN,
        beginLsn: chunk.beginLsn,
        endLsn: chunk.endLsn,
        commitLsn: 0n,
        truncateLsn: 0n,
        proposerUuid: proposerId,
        wal: Buffer.from(chunk.bytes),
      }));
    }
    // One write, then FIN: the server sees the whole burst and the EOF together.
    c.write(Buffer.concat(parts));
    c.endWriting();
    await c.waitClosed();
    const line = await closeLogOf(connId);
    assert.equal(line.error, undefined, 'a clean end');
    assert.equal(line.processed, 3 + appends, 'messages processed on the connection');
    assert.equal(line.flush_lsn, formatLsn(gen.lsn));
    const status = (await (await server.http(`/v1/tenant/${TENANT}/timeline/${tl}`)).json()) as Record<string, unknown>;
    assert.equal(status.flush_lsn, formatLsn(gen.lsn), 'all of the WAL sent before EOF is stored');
  });

  test("unknown message tag 'z' in CopyData", async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const body = Buffer.alloc(24);
    body.write('z', 0, 'latin1');
    c.sendCopyData(body);
    await expectStreamError(c, tl, /unknown proposer-acceptor message tag: z/);
    await expectTimelineAbsent(tl);
  });

  test('a Query message inside the CopyBoth stream', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    c.write(new FrontendSerializer().query('TIMELINE_STATUS').flush());
    await expectStreamError(c, tl, /^unexpected message 'Q' in CopyBoth mode$/);
  });

  test('CopyFail from the client ends the stream with its reason', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    c.write(new FrontendSerializer().copyFail('proposer gave up').flush());
    await expectStreamError(c, tl, /^client failed the COPY stream: proposer gave up$/);
  });

  test('AppendRequest before ProposerElected on a fresh timeline', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    c.send(greeting(TENANT, tl));
    const g = await c.nextAcceptorMessage();
    assert.equal(g.kind, 'AcceptorGreeting');
    const wal = Buffer.alloc(64, 1);
    c.send({
      kind: 'AppendRequest', generation: 0,
      term: 1n,
      termStartLsn: FIRST_RECORD_LSN,
      beginLsn: FIRST_RECORD_LSN,
      endLsn: FIRST_RECORD_LSN + 64n,
      commitLsn: 0n,
      truncateLsn: 0n,
      proposerUuid: randomId(),
      wal,
    });
    await expectStreamError(c, tl, /^WAL acceptor: got AppendRequest before ProposerElected$/);
    // Refused before anything was written or adopted.
    const status = (await (await server.http(`/v1/tenant/${TENANT}/timeline/${tl}`)).json()) as Record<string, unknown>;
    assert.equal(status.flush_lsn, '0/0');
    assert.deepEqual(status.acceptor_state, { term: 0, epoch: 0, term_history: [] });
  });

  test('a VoteRequest before the greeting', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    c.send({ kind: 'VoteRequest', generation: 0, term: 1n, proposerId: randomId() });
    await expectStreamError(c, tl, /^unexpected message VoteRequest term=1 instead of greeting$/);
    await expectTimelineAbsent(tl);
  });

  test('AppendRequest whose end_lsn - begin_lsn is more than the payload', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const full = encodeProposerMessage({
      kind: 'AppendRequest', generation: 0,
      term: 1n,
      termStartLsn: FIRST_RECORD_LSN,
      beginLsn: FIRST_RECORD_LSN,
      endLsn: FIRST_RECORD_LSN + 100n,
      commitLsn: 0n,
      truncateLsn: 0n,
      proposerUuid: randomId(),
      wal: Buffer.alloc(100, 7),
    });
    c.sendCopyData(full.subarray(0, 72 + 50));
    await expectStreamError(c, tl, /^invalid message: AppendRequest is incomplete: end_lsn - begin_lsn = 100 WAL bytes, frame holds 50$/);
  });

  test('AppendRequest whose payload is longer than end_lsn - begin_lsn', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const full = encodeProposerMessage({
      kind: 'AppendRequest', generation: 0,
      term: 1n,
      termStartLsn: FIRST_RECORD_LSN,
      beginLsn: FIRST_RECORD_LSN,
      endLsn: FIRST_RECORD_LSN + 100n,
      commitLsn: 0n,
      truncateLsn: 0n,
      proposerUuid: randomId(),
      wal: Buffer.alloc(100, 7),
    });
    c.sendCopyData(Buffer.concat([full, Buffer.alloc(8)]));
    await expectStreamError(c, tl, /AppendRequest has 8 unexpected trailing bytes after the 100 WAL bytes/);
  });

  test('AppendRequest with a payload over MAX_SEND_SIZE (131072)', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const n = 131072 + 1;
    const body = Buffer.alloc(72 + n);
    body.write('a', 0, 'latin1');
    body.writeBigUInt64LE(1n, 8);
    body.writeBigUInt64LE(FIRST_RECORD_LSN, 16);
    body.writeBigUInt64LE(FIRST_RECORD_LSN, 24);
    body.writeBigUInt64LE(FIRST_RECORD_LSN + BigInt(n), 32);
    c.sendCopyData(body);
    await expectStreamError(c, tl, /AppendRequest is longer than MAX_SEND_SIZE \(131072\)/);
  });

  test('a CopyData frame over the 1 MiB frame cap', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    // Only the header: the server must refuse on the length word, without buffering a megabyte.
    const head = Buffer.alloc(5);
    head.write('d', 0, 'latin1');
    head.writeUInt32BE((1 << 20) + 5, 1);
    c.write(head);
    await expectStreamError(c, tl, /malformed frame: message length 1048581 for message tag 'd' exceeds the maximum of 1048576/);
  });

  test('a message tag with non-zero upper bytes', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    const body = encodeProposerMessage(greeting(TENANT, tl));
    body[3] = 1;
    c.sendCopyData(body);
    await expectStreamError(c, tl, /ProposerGreeting tag 6700000100000000 has non-zero upper bytes/);
    await expectTimelineAbsent(tl);
  });

  test('trailing bytes after a VoteRequest', async () => {
    const tl = randomId();
    const c = await walPush(tl);
    c.send(greeting(TENANT, tl));
    assert.equal((await c.nextAcceptorMessage()).kind, 'AcceptorGreeting');
    const vote = encodeProposerMessage({ kind: 'VoteRequest', generation: 0, term: 1n, proposerId: randomId() });
    c.sendCopyData(Buffer.concat([vote, Buffer.from([1, 2, 3])]));
    await expectStreamError(c, tl, /VoteRequest has 3 unexpected trailing bytes \(35 bytes, expected exactly 32\)/);
    // The vote was never processed.
    const status = (await (await server.http(`/v1/tenant/${TENANT}/timeline/${tl}`)).json()) as Record<string, unknown>;
    assert.deepEqual(status.acceptor_state, { term: 0, epoch: 0, term_history: [] });
  });

  for (const [what, params, expected] of [
    ['no options at all', {}, 'tenantid is required'],
    ['no tenant_id', { timelineId: randomId() }, 'tenantid is required'],
    ['no timeline_id', { tenantId: randomId() }, 'timelineid is required'],
  ] as const) {
    test(`START_WAL_PUSH with ${what} in the startup options: "${expected}", connection stays usable`, async () => {
      const c = await connect();
      await c.startup(params);
      const r = await c.query('START_WAL_PUSH');
      assert.deepEqual(r.error && { message: r.error.message, code: r.error.code }, { message: expected, code: 'XX000' });
      assert.deepEqual(r.messages.map((m) => m.kind), ['error', 'readyForQuery']);
      const ok = await c.query('set datestyle to ISO');
      assert.equal(ok.error, null);
      assert.equal(ok.commandTag, 'SELECT 1');
      const line = await server.waitForLog((l) => l.msg === 'query failed' && l.err === expected);
      assert.equal(typeof line.conn_id, 'number');
      assert.equal(line.ttid, undefined, 'no ttid: it is incomplete');
      await c.close();
    });
  }

  test('unsupported query: ErrorResponse naming the command, then ReadyForQuery; connection usable', async () => {
    const tl = randomId();
    const c = await connect();
    await c.startup({ tenantId: TENANT, timelineId: tl });
    const r = await c.query('SELECT 1');
    assert.deepEqual(r.messages.map((m) => m.kind), ['error', 'readyForQuery']);
    assert.equal(r.error?.message, 'unsupported command SELECT 1');
    assert.equal(r.error?.code, 'XX000');
    const line = await server.waitForLog((l) => l.msg === 'query failed' && l.ttid === `${TENANT}/${tl}`);
    assert.equal(line.err, 'unsupported command SELECT 1');
    assert.equal(typeof line.conn_id, 'number');
    const status = await c.query('TIMELINE_STATUS');
    assert.equal(status.error, null);
    assert.equal(status.commandTag, 'TIMELINE_STATUS');
    await c.close();
  });

  test('unsupported query without tenant/timeline: still "unsupported command" (Neon parses the command first)', async () => {
    const c = await connect();
    await c.startup({});
    const r = await c.query('DROP TABLE x');
    assert.equal(r.error?.message, 'unsupported command DROP TABLE x');
    assert.equal((await c.query('set datestyle to ISO')).commandTag, 'SELECT 1');
    await c.close();
  });

  test("START_WAL_PUSH (proto_version '9'): CopyBothResponse, then the first CopyData fails (Neon's order)", async () => {
    const tl = randomId();
    const c = await connect();
    await c.startup({ tenantId: TENANT, timelineId: tl });
    await c.startWalPush("START_WAL_PUSH (proto_version '9')");
    c.sendCopyData(Buffer.from('g'));
    await expectStreamError(c, tl, /unsupported protocol version 9/);
    await expectTimelineAbsent(tl);
  });

  test("a bad START_WAL_PUSH option is a query error before CopyBoth; the connection stays usable", async () => {
    const tl = randomId();
    const c = await connect();
    await c.startup({ tenantId: TENANT, timelineId: tl });
    const r = await c.query("START_WAL_PUSH (allow_timeline_creation 'False')");
    assert.deepEqual(r.messages.map((m) => m.kind), ['error', 'readyForQuery']);
    assert.match(String(r.error?.message), /^failed to parse allow_timeline_creation value 'False' in command/);
    assert.equal((await c.query('set datestyle to ISO')).commandTag, 'SELECT 1');
    await c.startWalPush("START_WAL_PUSH (proto_version '2')");
    await c.close();
    await expectTimelineAbsent(tl);
  });

  test('a greeting with another wal_seg_size than the existing timeline: "invalid wal_seg_size"', async () => {
    const c = await walPush(GOOD_TIMELINE);
    c.send(greeting(TENANT, GOOD_TIMELINE, { walSegSize: 8 * 1024 * 1024 }));
    await expectStreamError(c, GOOD_TIMELINE, /^WAL acceptor: invalid wal_seg_size, got 8388608, expected 16777216$/);
  });

  test(
    'a greeting with an unsupported wal_seg_size for a new timeline leaves no timeline directory behind',
    async () => {
      const tl = randomId();
      const c = await walPush(tl);
      c.send(greeting(TENANT, tl, { walSegSize: 8 * 1024 * 1024 }));
      await expectStreamError(c, tl, /^create timeline: unsupported wal_seg_size 8388608/);
      await assert.rejects(access(path.join(server.datadir, TENANT, tl)), { code: 'ENOENT' });
    },
  );

  test('the good stream was never disturbed and no acknowledged WAL is lost', async () => {
    await good.stopStreaming();
    assert.equal(good.loopError, null, `good stream failed: ${good.loopError?.message}`);
    assert.ok(good.appends - appendsBefore >= 5, `the good stream kept going (${good.appends - appendsBefore} appends during the bad cases)`);
    assert.ok(!good.client.ended, 'good connection still open');
    assert.ok(good.client.received.every((m) => m.kind !== 'error'), 'no ErrorResponse on the good connection');
    assert.ok(good.acked > FIRST_RECORD_LSN);
    const status = await timelineStatus(server.pgPort, TENANT, GOOD_TIMELINE);
    assert.equal(status?.flushLsn, formatLsn(good.acked), 'TIMELINE_STATUS reports the last acknowledged flush_lsn');
    // And the stream still works after all that.
    const r = await good.append(4096);
    assert.equal(r.flushLsn, good.gen.lsn);
    assert.equal(server.proc.exitCode, null, 'process alive');
    assert.equal((await server.http('/v1/status')).status, 200);
    const errors = server.logs.filter((l) => Number(l.level) >= 50);
    assert.deepEqual(errors, [], 'nothing was logged at error level');
  });
});
