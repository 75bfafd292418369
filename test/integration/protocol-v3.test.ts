// Protocol v3 against real safekeeper processes (fsync on), driven by the project's proposer
// client: v3 beside v2 on one generation-0 timeline, timelines created over HTTP with a
// configuration and switched to a new generation while a proposer streams, and the HTTP
// scenarios of protocol-v3.md §7 (#25-29).

import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryWalLog, Proposer, WalGenerator, type ProposerOptions } from '../../src/client/index.js';
import { ProposerFatalError } from '../../src/client/errors.js';
import { formatLsn } from '../../src/lsn.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { v3Codec, type MembershipConfiguration, type ProposerGreeting, type SafekeeperId } from '../../src/protocol/index.js';
import { decodeControlFile } from '../../src/storage/control-file.js';
import { RawClient } from '../helpers/raw-client.js';
import { killServer, removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, assertStoredWalEquals, httpStatus, randomTtid, waitUntil } from '../helpers/cluster.js';

const servers: ServerProcess[] = [];
const proposers: Proposer[] = [];
before(async () => {
  for (const id of [1, 2, 3]) servers.push(await startServer({ id }));
});
after(async () => {
  for (const p of proposers) await p.stop().catch(() => {});
  for (const s of servers) {
    await stopServer(s).catch(() => {});
    await removeDir(s.datadir);
  }
});

const addrs = () => servers.map((s) => `127.0.0.1:${s.pgPort}`);
const ids = (t: { tenantId: string; timelineId: string }) => ({ tenant_id: t.tenantId, timeline_id: t.timelineId });
const member = (s: ServerProcess) => ({ id: s.id, host: '127.0.0.1', pg_port: s.pgPort });

function proposer(ttid: { tenantId: string; timelineId: string }, wal: MemoryWalLog, over: Partial<ProposerOptions> = {}): Proposer {
  const p = new Proposer({ safekeepers: addrs(), ...ttid, systemId: SYSTEM_ID, pgVersion: 150002, wal, reconnectIntervalMs: 100, ...over });
  proposers.push(p);
  return p;
}

/** Streams `bytes` of generated WAL through `p` and waits for every node to flush it. */
async function stream(p: Proposer, gen: WalGenerator, bytes: number): Promise<bigint> {
  const end = p.appendWal(gen.generate(bytes));
  await p.waitForCommit(end, 60_000);
  await p.waitForFlush(end, 'all', 60_000);
  return end;
}

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  return text === '' ? undefined : JSON.parse(text);
}

async function put(s: ServerProcess, path: string, body: unknown) {
  const res = await s.http(path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await json(res) };
}

async function create(s: ServerProcess, body: Record<string, unknown>) {
  const res = await s.http('/v1/tenant/timeline', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await json(res) };
}

async function metric(s: ServerProcess, name: string, labels: string): Promise<number> {
  const text = await (await s.http('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** A v3 greeting for timeline `t`, as Neon's walproposer sends it. */
function v3GreetingFor(t: { tenantId: string; timelineId: string }, mconf: MembershipConfiguration, over: Partial<ProposerGreeting> = {}): Buffer {
  return v3Codec.encodeProposerMessage({
    kind: 'ProposerGreeting',
    protocolVersion: 3,
    mconf,
    pgVersion: 150002,
    proposerId: '0'.repeat(32),
    systemId: SYSTEM_ID,
    ...t,
    tli: 1,
    walSegSize: 16 * 1024 * 1024,
    ...over,
  });
}

/** START_WAL_PUSH with `command` and a generation-0 v3 greeting; the ErrorResponse text it ends with. */
async function greetingRefusal(s: ServerProcess, t: { tenantId: string; timelineId: string }, command: string): Promise<string> {
  const c = await RawClient.connect(s.pgPort);
  try {
    await c.startup(t);
    await c.startWalPush(command);
    c.sendCopyData(v3GreetingFor(t, { generation: 0, members: [], newMembers: null }));
    return (await c.nextError()).message;
  } finally {
    c.destroy();
  }
}

describe('protocol v3 with real processes', { timeout: 240_000 }, () => {
  test('v2 and v3 proposers elect in turn on one generation-0 timeline; no WAL is lost', async () => {
    const ttid = randomTtid();
    const wal = new MemoryWalLog(START_LSN);
    const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002 });
    const v3Before = await metric(servers[0]!, 'safekeeper_ts_wal_push_connections_total', 'proto_version="3"');

    const p2 = proposer(ttid, wal);
    assert.equal((await p2.start()).term, 1n);
    await stream(p2, gen, 2 * 1024 * 1024);
    await p2.stop();

    const p3 = proposer(ttid, wal, { protocolVersion: 3 });
    const e3 = await p3.start();
    assert.equal(e3.term, 2n, 'the v3 proposer takes over with the next term');
    await stream(p3, gen, 2 * 1024 * 1024);
    await p3.stop();

    const p2b = proposer(ttid, wal);
    assert.equal((await p2b.start()).term, 3n);
    const end = await stream(p2b, gen, 2 * 1024 * 1024);
    await p2b.stop();

    for (const s of servers) {
      await assertStoredWalEquals(s, ttid, wal, START_LSN, end);
      const st = await httpStatus(s, ttid);
      assert.equal(st.flushLsn, end);
      assert.equal(st.term, 3n);
    }
    assert.equal(await metric(servers[0]!, 'safekeeper_ts_wal_push_connections_total', 'proto_version="3"'), v3Before + 1);
  });

  test('HTTP-created generation 1, then a switch to generation 2 while a v3 proposer streams: the old one is refused, the new one continues', async () => {
    const ttid = randomTtid();
    const wal = new MemoryWalLog(START_LSN);
    const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002 });
    const gen1 = { generation: 1, members: servers.map(member), new_members: null };
    for (const s of servers) {
      const r = await create(s, { ...ids(ttid), mconf: gen1, pg_version: 150002, system_id: Number(0), start_lsn: formatLsn(START_LSN) });
      assert.deepEqual(r, { status: 200, body: null });
    }

    const p1 = proposer(ttid, wal, { protocolVersion: 3, generations: true });
    const e1 = await p1.start();
    assert.equal(e1.term, 1n);
    assert.deepEqual(p1.membership.generation, 1, 'adopted from the safekeepers');
    await stream(p1, gen, 1024 * 1024);

    // The storage controller moves the timeline to generation 2 (same members) on every node.
    const gen2 = { ...gen1, generation: 2 };
    for (const s of servers) {
      const r = await put(s, `/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}/membership`, gen2);
      assert.equal(r.status, 200);
      assert.deepEqual((r.body as { previous_conf: { generation: number } }).previous_conf.generation, 1);
      assert.deepEqual((r.body as { current_conf: { generation: number } }).current_conf.generation, 2);
    }
    // The old proposer's next append is refused (generation mismatch): it dies.
    const died = new Promise<Error>((resolve) => p1.on('error', resolve));
    p1.appendWal(gen.generate(64 * 1024));
    const err = await died;
    assert.ok(err instanceof ProposerFatalError, String(err));
    await p1.stop();

    const p2 = proposer(ttid, wal, { protocolVersion: 3, generations: true });
    const e2 = await p2.start();
    assert.equal(p2.membership.generation, 2);
    assert.equal(e2.term, 2n);
    const end = await stream(p2, gen, 1024 * 1024);
    await p2.stop();
    for (const s of servers) {
      await assertStoredWalEquals(s, ttid, wal, START_LSN, end);
      const st = (await json(await s.http(`/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}`))) as { mconf: { generation: number } };
      assert.equal(st.mconf.generation, 2);
    }
  });

  test('a v2 proposer cannot write to a timeline with a generation', async () => {
    const ttid = randomTtid();
    for (const s of servers) {
      await create(s, { ...ids(ttid), mconf: { generation: 1, members: servers.map(member) }, pg_version: 150002, start_lsn: formatLsn(START_LSN) });
    }
    const p = proposer(ttid, new MemoryWalLog(START_LSN), { connectionTimeoutMs: 2000 });
    void p.start().catch(() => {});
    // It greets (v2 reply), then every vote is refused with an error: it never gets elected.
    await assert.rejects(p.waitForElection(3000), /timed out|generation mismatch|rejects/);
    await p.stop();
    for (const s of servers) assert.equal((await httpStatus(s, ttid)).term, 0n);
  });

  test('HTTP (§7 #25-29): create with mconf, membership switch codes, exclude and its tombstone', async () => {
    const s = servers[0]!; // node id 1
    const ttid = randomTtid();
    const base = `/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}`;
    const me = member(s);
    // #26: a v3 body needs mconf; commit_lsn may not be below start_lsn.
    assert.equal((await create(s, { ...ids(ttid), pg_version: 150002, start_lsn: '0/1000000' })).status, 400);
    const low = await create(s, { ...ids(ttid), mconf: { generation: 1, members: [me] }, pg_version: 150002, start_lsn: '0/1000000', commit_lsn: '0/10' });
    assert.equal(low.status, 500);
    assert.match((low.body as { msg: string }).msg, /commit_lsn 0\/10 is smaller than start_lsn 0\/1000000/);
    // #25
    assert.deepEqual(await create(s, { ...ids(ttid), mconf: { generation: 1, members: [me] }, pg_version: 150002, start_lsn: '0/1000000' }), { status: 200, body: null });
    const st = (await json(await s.http(base))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(st).slice(0, 3), ['tenant_id', 'timeline_id', 'mconf']);
    assert.deepEqual(st.mconf, { generation: 1, members: [me], new_members: null });
    assert.deepEqual((st.acceptor_state as { term_history: unknown }).term_history, [{ term: 0, lsn: '0/1000000' }]);
    assert.equal(st.flush_lsn, '0/1000000', 'votes with flush_lsn = start_lsn before it has WAL');
    // #27
    const g4 = { generation: 4, members: [me, { id: 2, host: 'h', pg_port: 1 }], new_members: null };
    const up = await put(s, `${base}/membership`, g4);
    assert.equal(up.status, 200);
    assert.deepEqual(up.body, {
      previous_conf: { generation: 1, members: [me], new_members: null },
      current_conf: g4,
      last_log_term: 0,
      flush_lsn: '0/1000000',
    });
    const again = await put(s, `${base}/membership`, { ...g4, members: [me] });
    assert.deepEqual([again.status, (again.body as { previous_conf: unknown }).previous_conf, (again.body as { current_conf: unknown }).current_conf], [200, g4, g4]);
    assert.deepEqual(await put(s, `${base}/membership`, { generation: 2, members: [me] }), {
      status: 409,
      body: { msg: 'Conflict: request to switch into 2 ignored, current generation 4' },
    });
    const forbidden = await put(s, `${base}/membership`, { generation: 9, members: [{ id: 7, host: 'h', pg_port: 1 }] });
    assert.equal(forbidden.status, 403);
    assert.match((forbidden.body as { msg: string }).msg, /^Forbidden: refused to switch into gen=9, members=\(\[id=7, ep=h:1\]\), new_members=none, node 1 is not a member of it$/);
    // Persisted before the answer: a SIGKILL right after keeps generation 4.
    await killServer(s);
    const restarted = await startServer({ id: 1, datadir: s.datadir });
    servers[0] = restarted;
    const after = (await json(await restarted.http(base))) as { mconf: unknown };
    assert.deepEqual(after.mconf, g4);
    // #28
    const other = randomTtid();
    assert.equal((await put(restarted, `/v1/tenant/${other.tenantId}/timeline/${other.timelineId}/membership`, g4)).status, 404);
    assert.equal((await put(restarted, `${base}/membership`, { generation: 'x' })).status, 400);
    // #29: sk gen 4: excluding with generation 3 conflicts; with 5 it goes, and leaves a tombstone of 5.
    const notMe = [{ id: 2, host: 'h', pg_port: 1 }];
    const x3 = await put(restarted, `${base}/exclude`, { generation: 3, members: notMe });
    assert.equal(x3.status, 409);
    assert.equal((await put(restarted, `${base}/exclude`, { generation: 5, members: [member(restarted)] })).status, 403);
    assert.deepEqual(await put(restarted, `${base}/exclude`, { generation: 5, members: notMe }), { status: 200, body: { dir_existed: true } });
    assert.equal((await restarted.http(base)).status, 404);
    assert.deepEqual(await put(restarted, `${base}/exclude`, { generation: 5, members: notMe }), { status: 200, body: { dir_existed: false } });
    // A compute's greeting may not bring it back either; with creation off, Neon's get_timeline text (§0 item 9).
    assert.match(await greetingRefusal(restarted, ttid, "START_WAL_PUSH (proto_version '3')"), new RegExp(`^create timeline: Timeline ${ttid.tenantId}/${ttid.timelineId} has been deleted$`));
    assert.match(
      await greetingRefusal(restarted, ttid, "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')"),
      new RegExp(`^get_timeline: Timeline ${ttid.tenantId}/${ttid.timelineId} has been deleted$`),
    );
    const blocked = await create(restarted, { ...ids(ttid), mconf: { generation: 5, members: [member(restarted)] }, pg_version: 150002, start_lsn: '0/1000000' });
    assert.equal(blocked.status, 500);
    assert.match((blocked.body as { msg: string }).msg, /has been deleted/);
    assert.equal((await create(restarted, { ...ids(ttid), mconf: { generation: 6, members: [member(restarted)] }, pg_version: 150002, start_lsn: '0/1000000' })).status, 200);
    await waitUntil('the re-created timeline', async () => (await restarted.http(base)).status === 200);
  });
});

describe('protocol v3 on the wire: protocol-v3.md §7 against a real process (node 3, generation 3)', { timeout: 120_000 }, () => {
  const clients: RawClient[] = [];
  after(() => {
    for (const c of clients) c.destroy();
  });
  const node3 = () => servers[2]!;
  const ttid = randomTtid();
  const gen3 = () => ({ generation: 3, members: servers.map(member), new_members: null });
  const v3Greeting = (mconf: MembershipConfiguration, over: Partial<ProposerGreeting> = {}): Buffer => v3GreetingFor(ttid, mconf, over);
  const sk = (id: number): SafekeeperId => ({ id: BigInt(id), host: '127.0.0.1', pgPort: 5454 });

  async function push(command: string, t = ttid): Promise<RawClient> {
    const c = await RawClient.connect(node3().pgPort);
    clients.push(c);
    await c.startup(t);
    await c.startWalPush(command);
    return c;
  }

  /** The ErrorResponse the stream ends with, then the close; nothing else. */
  async function ends(c: RawClient, message: RegExp): Promise<void> {
    const err = await c.nextError();
    assert.match(err.message, message);
    await c.waitClosed();
  }

  async function nextReply(c: RawClient) {
    for (;;) {
      const m = await c.next();
      if (m.kind === 'copyData') return v3Codec.decodeAcceptorMessage(m.payload);
      if (m.kind === 'error') throw new Error(`ErrorResponse: ${m.fields.get('M')}`);
    }
  }

  before(async () => {
    assert.equal(node3().id, 3);
    const r = await create(node3(), { ...ids(ttid), mconf: gen3(), pg_version: 150002, start_lsn: formatLsn(START_LSN) });
    assert.equal(r.status, 200);
  });

  test("#1: START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false') on an existing timeline: v3 replies with the stored configuration", async () => {
    const c = await push("START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')");
    c.sendCopyData(v3Greeting({ generation: 0, members: [], newMembers: null }));
    const g = await nextReply(c);
    assert.ok(g.kind === 'AcceptorGreeting');
    assert.equal(g.nodeId, 3n);
    assert.equal(g.mconf.generation, 3);
    assert.deepEqual(g.mconf.members.map((m) => m.id), [1n, 2n, 3n]);
    c.destroy();
  });

  test('#2 (deliberately stricter): START_WAL_PUSH( without a space is refused before CopyBoth', async () => {
    const c = await RawClient.connect(node3().pgPort);
    clients.push(c);
    await c.startup(ttid);
    const r = await c.query("START_WAL_PUSH(proto_version '3')");
    assert.match(String(r.error?.message), /needs whitespace before '\('/);
  });

  test('#5 (deliberately louder): creation off and an unknown timeline: an ErrorResponse, then close (Neon just closes)', async () => {
    const other = randomTtid();
    const c = await push("START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')", other);
    c.sendCopyData(v3Greeting({ generation: 0, members: [], newMembers: null }, other));
    await ends(c, /does not exist and allow_timeline_creation is false/);
    assert.equal((await other3Status(other)).status, 404);
  });

  test('#6: an empty first CopyData', async () => {
    const c = await push("START_WAL_PUSH (proto_version '3')");
    c.sendCopyData(Buffer.alloc(0));
    await ends(c, /ProposerAcceptorMessage is not complete: missing tag/);
  });

  test('#14 (deliberately louder): pg_version 130000 gets an ErrorResponse, then close (Neon panics the task)', async () => {
    const c = await push("START_WAL_PUSH (proto_version '3')");
    c.sendCopyData(v3Greeting({ generation: 0, members: [], newMembers: null }, { pgVersion: 130000 }));
    await ends(c, /invalid pg_version 130000/);
  });

  test('#15: a greeting switching to a generation without this node is refused, nothing written', async () => {
    const c = await push("START_WAL_PUSH (proto_version '3')");
    c.sendCopyData(v3Greeting({ generation: 5, members: [sk(1), sk(2), sk(4)], newMembers: null }));
    await ends(c, /^WAL acceptor: refused to switch into gen=5, .* node 3 is not a member of it$/);
    const st = (await json(await node3().http(`/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}`))) as { mconf: { generation: number } };
    assert.equal(st.mconf.generation, 3);
  });

  test('#18: a VoteRequest of another generation is refused; the term stays', async () => {
    const c = await push("START_WAL_PUSH (proto_version '3')");
    c.sendCopyData(v3Greeting({ generation: 0, members: [], newMembers: null }));
    await nextReply(c);
    c.sendCopyData(v3Codec.encodeProposerMessage({ kind: 'VoteRequest', generation: 2, term: 9n, proposerId: '0'.repeat(32) }));
    await ends(c, /^WAL acceptor: refusing VoteRequest \{ generation: SafekeeperGeneration\(2\), term: 9 \} due to generation mismatch: sk generation 3$/);
    assert.equal((await httpStatus(node3(), ttid)).term, 0n);
  });

  test('#23: a v2 client greets (v2 reply) but its vote is refused', async () => {
    const c = await push('START_WAL_PUSH');
    c.send({ kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null }, protocolVersion: 2, pgVersion: 150002, proposerId: 'ab'.repeat(16), systemId: SYSTEM_ID, ...ttid, tli: 1, walSegSize: 16 * 1024 * 1024 });
    const m = await c.next();
    assert.ok(m.kind === 'copyData' && m.payload.length === 24, 'a v2 AcceptorGreeting');
    c.send({ kind: 'VoteRequest', generation: 0, term: 9n, proposerId: 'ab'.repeat(16) });
    await ends(c, /SafekeeperGeneration\(0\), term: 9 \} due to generation mismatch: sk generation 3/);
  });

  test('#16: a greeting with a higher joint generation containing this node: format 10 written before the reply, which carries it', async () => {
    const c = await push("START_WAL_PUSH (proto_version '3')");
    const joint = { generation: 5, members: [sk(1), sk(2), sk(3)], newMembers: [sk(1), sk(2), sk(4)] };
    c.sendCopyData(v3Greeting(joint));
    const g = await nextReply(c);
    assert.ok(g.kind === 'AcceptorGreeting');
    assert.deepEqual(g.mconf, joint);
    const file = await readFile(path.join(node3().datadir, ttid.tenantId, ttid.timelineId, 'safekeeper.control'));
    assert.equal(file.readUInt32LE(4), 10);
    assert.equal(decodeControlFile(file).mconf.generation, 5);
    c.destroy();
  });

  async function other3Status(t: { tenantId: string; timelineId: string }) {
    return node3().http(`/v1/tenant/${t.tenantId}/timeline/${t.timelineId}`);
  }
});
