import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PgConnection, ServerError, ConnectionError, timelineStatus, walPushQuery } from '../../src/client/index.js';
import { decodeProposerMessage, encodeAcceptorMessage, EMPTY_HS_FEEDBACK } from '../../src/protocol/index.js';
import { textField } from '../../src/wire/index.js';
import { fixturePath } from '../helpers/paths.js';
import { startFakeServer, type FakeServer, type ServerConn } from '../helpers/client-fake-server.js';

// The captured walproposer session (test/fixtures/README.md) fixes the ids and the startup bytes.
const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';
const ttid = { tenantId: TENANT, timelineId: TIMELINE };

interface CapturedEntry {
  dir: string;
  type: string;
  len: number;
  hex: string;
  truncated?: boolean;
  sha256?: string;
}
const session = JSON.parse(readFileSync(fixturePath('walproposer-v2-session.json'), 'utf8')) as CapturedEntry[];

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(script: (c: ServerConn) => void | Promise<void>): Promise<number> {
  server = await startFakeServer(script);
  return server.port;
}

/** Resolves with the next ServerConn the fake server accepts. */
function connOf(s: FakeServer, i = 0): Promise<ServerConn> {
  return new Promise((resolve) => {
    const poll = (): void => {
      const c = s.connections[i];
      if (c) resolve(c);
      else setTimeout(poll, 2);
    };
    poll();
  });
}

describe('PgConnection handshake', () => {
  test('SSLRequest answered N, then the startup packet libpq sends for the walproposer (byte-exact)', async () => {
    let startupBody: Buffer | undefined;
    let sslBytes: Buffer | undefined;
    const port = await serve(async (c) => {
      const ssl = await c.expectFrame(null);
      sslBytes = ssl.body;
      c.write(Buffer.from('N'));
      startupBody = (await c.expectFrame(null)).body;
      c.sendTrustStartupReply();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid, user: 'root', sslRequest: true });
    try {
      const capturedSsl = session.find((e) => e.type === 'SSLRequest')!;
      assert.equal(sslBytes!.toString('hex'), capturedSsl.hex);
      const captured = session.find((e) => e.type === 'Startup')!;
      assert.equal(startupBody!.length, captured.len);
      assert.equal(startupBody!.subarray(0, 96).toString('hex'), captured.hex);
      assert.equal(createHash('sha256').update(startupBody!).digest('hex'), captured.sha256);
      assert.equal(conn.parameters.get('server_version'), '14.1');
      assert.equal(conn.parameters.get('client_encoding'), 'UTF8');
    } finally {
      await conn.close();
    }
  });

  test('application_name follows options; no SSLRequest unless asked', async () => {
    let first: Buffer | undefined;
    const port = await serve(async (c) => {
      first = (await c.expectFrame(null)).body;
      c.sendTrustStartupReply();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid, user: 'u', applicationName: 'bench' });
    await conn.close();
    const text = first!.subarray(4).toString('latin1');
    assert.equal(first!.readUInt32BE(0), 196608);
    assert.equal(
      text,
      `user\0u\0database\0replication\0options\0-c timeline_id=${TIMELINE} tenant_id=${TENANT}\0application_name\0bench\0\0`,
    );
  });

  test('ErrorResponse during startup rejects with ServerError carrying SQLSTATE and message', async () => {
    const port = await serve(async (c) => {
      await c.expectFrame(null);
      c.write(c.be.errorResponse('JWT authentication error', 'XX000').flush());
      c.socket.end();
    });
    await assert.rejects(PgConnection.connect({ host: '127.0.0.1', port, ...ttid }), (e: unknown) => {
      assert.ok(e instanceof ServerError);
      assert.equal(e.code, 'XX000');
      assert.match(e.message, /JWT authentication error/);
      return true;
    });
  });

  test('cleartext password request is answered with the token', async () => {
    let pw: Buffer | undefined;
    const port = await serve(async (c) => {
      await c.expectFrame(null);
      c.write(c.be.authenticationCleartextPassword().flush());
      pw = (await c.expectFrame('p')).body;
      c.sendTrustStartupReply();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid, password: 'tok.en' });
    await conn.close();
    assert.equal(pw!.toString('latin1'), 'tok.en\0');
  });

  test('password request without a password fails clearly', async () => {
    const port = await serve(async (c) => {
      await c.expectFrame(null);
      c.write(c.be.authenticationCleartextPassword().flush());
    });
    await assert.rejects(PgConnection.connect({ host: '127.0.0.1', port, ...ttid }), /requires a password/);
  });

  test('connection refused is a ConnectionError of kind connect', async () => {
    const s = await startFakeServer(() => undefined);
    const port = s.port;
    await s.close();
    await assert.rejects(PgConnection.connect({ host: '127.0.0.1', port, ...ttid }), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'connect');
      assert.match(e.message, new RegExp(`127.0.0.1:${port}`));
      return true;
    });
  });

  test('a silent server hits the connect timeout', async () => {
    const port = await serve(() => undefined);
    await assert.rejects(PgConnection.connect({ host: '127.0.0.1', port, ...ttid, connectTimeoutMs: 100 }), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.kind, 'timeout');
      return true;
    });
  });
});

describe('PgConnection simple queries', () => {
  test('rows, fields and command tag; an error leaves the connection usable', async () => {
    const port = await serve(async (c) => {
      await c.acceptStartup();
      const q1 = await c.expectFrame('Q');
      assert.equal(q1.body.toString('latin1'), 'TIMELINE_STATUS\0');
      c.write(
        c.be
          .rowDescription([textField('flush_lsn'), textField('commit_lsn')])
          .dataRow(['0/1696F28', null])
          .commandComplete('TIMELINE_STATUS')
          .readyForQuery()
          .flush(),
      );
      await c.expectFrame('Q');
      c.write(c.be.errorResponse('unsupported command FOO').readyForQuery().flush());
      await c.expectFrame('Q');
      c.write(c.be.commandComplete('SELECT 1').readyForQuery().flush());
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid });
    try {
      const r = await conn.query('TIMELINE_STATUS');
      assert.deepEqual(
        r.fields.map((f) => f.name),
        ['flush_lsn', 'commit_lsn'],
      );
      assert.deepEqual(r.rows, [['0/1696F28', null]]);
      assert.equal(r.commandTag, 'TIMELINE_STATUS');
      await assert.rejects(conn.query('FOO'), (e: unknown) => e instanceof ServerError && /unsupported command FOO/.test(e.message));
      const r3 = await conn.query('set datestyle to ISO');
      assert.equal(r3.commandTag, 'SELECT 1');
    } finally {
      await conn.close();
    }
  });

  test('timelineStatus returns bigints, or null without a row', async () => {
    let n = 0;
    const port = await serve(async (c) => {
      await c.acceptStartup();
      await c.expectFrame('Q');
      c.be.rowDescription([textField('flush_lsn'), textField('commit_lsn')]);
      if (n++ === 0) c.be.dataRow(['0/1696F28', '0/1000028']);
      c.write(c.be.commandComplete('TIMELINE_STATUS').readyForQuery().flush());
      await c.next();
    });
    assert.deepEqual(await timelineStatus('127.0.0.1', port, ttid), { flushLsn: 0x1696f28n, commitLsn: 0x1000028n });
    assert.equal(await timelineStatus('127.0.0.1', port, ttid), null);
  });
});

describe('PgConnection START_WAL_PUSH', () => {
  test('query text with options', () => {
    assert.equal(walPushQuery(), 'START_WAL_PUSH');
    assert.equal(walPushQuery({ protoVersion: 3 }), "START_WAL_PUSH (proto_version '3')");
    assert.equal(
      walPushQuery({ protoVersion: 2, allowTimelineCreation: false }),
      "START_WAL_PUSH (proto_version '2', allow_timeline_creation 'false')",
    );
  });

  test('CopyBoth, greeting out, AcceptorGreeting in, AppendRequest as one CopyData, Terminate on close', async () => {
    const got: Buffer[] = [];
    let conn0: ServerConn | undefined;
    const done = new Promise<void>((resolve) => {
      void serve(async (c) => {
        conn0 = c;
        await c.acceptStartup();
        const q = await c.expectFrame('Q');
        assert.equal(q.body.toString('hex'), session.find((e) => e.type === 'Q')!.hex);
        c.write(c.be.copyBothResponse().flush());
        got.push((await c.expectFrame('d')).body);
        c.write(c.be.copyData(encodeAcceptorMessage({ kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 7n, nodeId: 3n })).flush());
        got.push((await c.expectFrame('d')).body);
        c.write(
          c.be
            .copyData(
              encodeAcceptorMessage({
                kind: 'AppendResponse', generation: 0,
                term: 7n,
                flushLsn: 0x1000100n,
                commitLsn: 0x1000028n,
                hsFeedback: { ...EMPTY_HS_FEEDBACK },
              }),
            )
            .flush(),
        );
        got.push((await c.expectFrame('X')).body);
        resolve();
      });
    });
    while (!server) await new Promise((r) => setTimeout(r, 1));
    const conn = await PgConnection.connect({ host: '127.0.0.1', port: server.port, ...ttid });
    await conn.startWalPush();
    await conn.send({
      kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
      protocolVersion: 2,
      pgVersion: 150018,
      proposerId: 'a02b053b39b5e363697697b0b29d4e4c',
      systemId: 7712208890765003361n,
      tenantId: TENANT,
      timelineId: TIMELINE,
      tli: 1,
      walSegSize: 16 * 1024 * 1024,
    });
    const g = await conn.next();
    assert.deepEqual(g, { kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 7n, nodeId: 3n });
    const wal = Buffer.alloc(0x1000100 - 0x1000028, 0xab);
    await conn.send({
      kind: 'AppendRequest', generation: 0,
      term: 7n,
      termStartLsn: 0x1000028n,
      beginLsn: 0x1000028n,
      endLsn: 0x1000100n,
      commitLsn: 0n,
      truncateLsn: 0x1000028n,
      proposerUuid: 'a02b053b39b5e363697697b0b29d4e4c',
      wal,
    });
    const r = await conn.next();
    assert.equal(r.kind, 'AppendResponse');
    await conn.close();
    await done;
    // The greeting is byte-identical to the walproposer's captured one.
    assert.equal(got[0]!.toString('hex'), session.find((e) => e.dir === 'c2s' && e.type === 'd')!.hex);
    const ar = decodeProposerMessage(got[1]!);
    assert.equal(ar.kind, 'AppendRequest');
    if (ar.kind === 'AppendRequest') {
      assert.equal(ar.beginLsn, 0x1000028n);
      assert.deepEqual(ar.wal, wal);
    }
    assert.equal(got[2]!.length, 0);
    assert.ok(conn0);
  });

  test('a refused START_WAL_PUSH is a ServerError and the connection stays ready', async () => {
    const port = await serve(async (c) => {
      await c.acceptStartup();
      const q = await c.expectFrame('Q');
      assert.equal(q.body.toString('latin1'), "START_WAL_PUSH (proto_version '3')\0");
      c.write(c.be.errorResponse('protocol version 3 is not supported yet', '0A000').readyForQuery().flush());
      await c.expectFrame('Q');
      c.write(c.be.copyBothResponse().flush());
      await c.next();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid });
    try {
      await assert.rejects(conn.startWalPush({ protoVersion: 3 }), (e: unknown) => e instanceof ServerError && e.code === '0A000');
      await conn.startWalPush();
    } finally {
      await conn.close();
    }
  });

  test('ErrorResponse in copy mode surfaces its message; then the stream is over', async () => {
    const port = await serve(async (c) => {
      await c.acceptStartup();
      await c.expectFrame('Q');
      c.write(c.be.copyBothResponse().flush());
      c.write(c.be.errorResponse('refusing ProposerElected with unexpected truncation point').flush());
      c.socket.end();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid });
    await conn.startWalPush();
    await assert.rejects(conn.next(), (e: unknown) => e instanceof ServerError && /unexpected truncation point/.test(e.message));
    // The stream is over: later reads keep failing with the reason it ended.
    await assert.rejects(conn.next(), /unexpected truncation point/);
    assert.equal(conn.isClosed, true);
    await conn.close();
  });

  test('EOF in copy mode is a ConnectionError of kind eof', async () => {
    const port = await serve(async (c) => {
      await c.acceptStartup();
      await c.expectFrame('Q');
      c.write(c.be.copyBothResponse().flush());
      c.socket.end();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid });
    await conn.startWalPush();
    await assert.rejects(conn.next(), (e: unknown) => e instanceof ConnectionError && e.kind === 'eof');
    await assert.rejects(conn.send({ kind: 'VoteRequest', generation: 0, term: 1n, proposerId: '00'.repeat(16) }), ConnectionError);
  });

  test('a malformed acceptor message is a ProtocolError and closes the connection', async () => {
    const port = await serve(async (c) => {
      await c.acceptStartup();
      await c.expectFrame('Q');
      c.write(c.be.copyBothResponse().flush());
      const good = encodeAcceptorMessage({ kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 1n, nodeId: 1n });
      c.write(c.be.copyData(Buffer.concat([good, Buffer.from([0])])).flush());
      await c.next();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid });
    await conn.startWalPush();
    await assert.rejects(conn.next(), (e: unknown) => (e as Error).name === 'ProtocolError');
    assert.equal(conn.isClosed, true);
  });

  test('send() waits for drain while the server does not read (bounded memory)', async () => {
    let serverConn: ServerConn | undefined;
    const port = await serve(async (c) => {
      serverConn = c;
      await c.acceptStartup();
      await c.expectFrame('Q');
      c.write(c.be.copyBothResponse().flush());
      c.socket.pause();
    });
    const conn = await PgConnection.connect({ host: '127.0.0.1', port, ...ttid });
    await conn.startWalPush();
    const wal = Buffer.alloc(131072, 1);
    let lsn = 0x1000000n;
    let blocked: Promise<void> | undefined;
    let sent = 0;
    for (let i = 0; i < 2048 && !blocked; i++) {
      const p = conn.send({
        kind: 'AppendRequest', generation: 0,
        term: 1n,
        termStartLsn: 0n,
        beginLsn: lsn,
        endLsn: lsn + 131072n,
        commitLsn: 0n,
        truncateLsn: 0n,
        proposerUuid: '00'.repeat(16),
        wal,
      });
      lsn += 131072n;
      const settled = await Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);
      if (settled) sent++;
      else blocked = p;
    }
    assert.ok(blocked, 'some send must block while the peer does not read');
    assert.ok(sent < 2047, `only a bounded amount is accepted before blocking (sent ${sent})`);
    serverConn!.socket.resume();
    await blocked;
    await conn.close();
  });
});
