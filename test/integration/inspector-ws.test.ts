// The live inspector against a real safekeeper process started with
// `--inspector 127.0.0.1:0`, driven by the project's proposer client:
// hello + snapshot, a connection's lifecycle as transitions, late viewers,
// malformed viewer messages, 50 viewers at once, a viewer that never reads,
// and the @statelyai/inspect event shape.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, randomTtid } from '../helpers/cluster.js';

type Msg = Record<string, any>;

/** A WebSocket viewer that parses and keeps everything it receives. */
class Viewer {
  readonly messages: Msg[] = [];
  closed = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages.push(JSON.parse(data.toString('utf8')) as Msg);
      this.wake();
    });
    ws.on('close', () => {
      this.closed = true;
      this.wake();
    });
    ws.on('error', () => {});
  }

  static async connect(port: number, query = ''): Promise<Viewer> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`);
    const v = new Viewer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return v;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  of(type: string): Msg[] {
    return this.messages.filter((m) => m.type === type);
  }

  async waitFor(what: string, pred: (messages: Msg[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.messages)) {
      if (this.closed) throw new Error(`viewer closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(this.messages.slice(-3)).slice(0, 600)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ws.close();
    await new Promise<void>((resolve) => (this.closed ? resolve() : this.ws.once('close', () => resolve())));
  }
}

/** A proposer on a fresh timeline of `server`, elected (its connection is streaming). */
async function electedProposer(server: ServerProcess) {
  const ttid = randomTtid();
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID });
  const p = new Proposer({ safekeepers: [`127.0.0.1:${server.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal: new MemoryWalLog(START_LSN) });
  await p.start();
  return { p, gen, ttid, ttidText: `${ttid.tenantId}/${ttid.timelineId}` };
}

/** The connection actor serving `ttid`, from actor.spawned messages or a snapshot. */
function connectionIdFor(v: Viewer, ttid: string): string | undefined {
  for (const m of v.messages) {
    if (m.type === 'actor.spawned' && m.actor.kind === 'connection' && m.actor.context?.ttid === ttid) return m.actor.id;
    if (m.type === 'snapshot') {
      const a = (m.actors as Msg[]).find((x) => x.kind === 'connection' && x.context?.ttid === ttid);
      if (a) return a.id;
    }
  }
  return undefined;
}

async function stats(server: ServerProcess): Promise<Msg> {
  const res = await fetch(`http://127.0.0.1:${server.inspectorPort}/stats`);
  return (await res.json()) as Msg;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

describe('inspector over WebSocket (real safekeeper process)', { timeout: 240_000 }, () => {
  let server: ServerProcess;
  const proposers: Proposer[] = [];
  const viewers: Viewer[] = [];
  const viewer = async (query = '') => {
    const v = await Viewer.connect(server.inspectorPort!, query);
    viewers.push(v);
    return v;
  };

  before(async () => {
    server = await startServer({ extraArgs: ['--inspector', '127.0.0.1:0'] });
    assert.ok(server.inspectorPort && server.inspectorPort > 0, 'the startup log line reports the inspector address');
  });
  after(async () => {
    for (const v of viewers) await v.close().catch(() => {});
    for (const p of proposers) await p.stop().catch(() => {});
    if (server) {
      await stopServer(server);
      await removeDir(server.datadir);
    }
  });

  test('off until a viewer comes: not attached, no viewers', async () => {
    const s = await stats(server);
    assert.equal(s.viewers, 0);
    assert.equal(s.attached, false);
  });

  test('hello, snapshot, then greeting → voting → streaming → flushing → closed as transitions', async () => {
    const v = await viewer();
    await v.waitFor('hello and snapshot', (ms) => ms.length >= 2);
    const [hello, snapshot] = v.messages;
    assert.equal(hello!.type, 'hello');
    assert.equal(hello!.version, 1);
    assert.equal(hello!.nodeId, '1');
    assert.deepEqual(hello!.machines.connection.states.map((s: Msg) => s.key), ['greeting', 'voting', 'streaming', 'flushing', 'closed']);
    assert.equal(hello!.machines.registry.id, 'registry');
    assert.equal(snapshot!.type, 'snapshot');
    assert.equal(snapshot!.actors[0].id, 'safekeeper');
    assert.equal(snapshot!.actors[0].kind, 'root');
    assert.equal(snapshot!.actors[0].state, 'running');
    assert.equal((await stats(server)).attached, true);

    const { p, gen, ttidText } = await electedProposer(server);
    proposers.push(p);
    const end = p.appendWal(gen.generate(1 << 20));
    await p.waitForCommit(end);
    await p.stop();

    await v.waitFor('the connection to stop', () => {
      const id = connectionIdFor(v, ttidText);
      return id !== undefined && v.of('actor.stopped').some((m) => m.id === id);
    });
    const id = connectionIdFor(v, ttidText)!;
    const spawned = v.of('actor.spawned').find((m) => m.actor.id === id)!;
    assert.equal(spawned.actor.parentId, 'safekeeper');
    assert.equal(spawned.actor.state, 'greeting.waiting');
    const transitions = v.of('transition').filter((m) => m.id === id);
    const tops: string[] = [];
    for (const s of [spawned.actor.state as string, ...transitions.map((t) => t.to as string)]) {
      const top = s.split('.')[0]!;
      if (tops.at(-1) !== top) tops.push(top);
    }
    assert.match(tops.join(' '), /^greeting voting streaming flushing( streaming flushing)*( streaming)? closed$/, tops.join(' '));
    for (let i = 0; i < transitions.length; i++) {
      const t = transitions[i]!;
      assert.equal(t.kind, 'connection');
      assert.equal(typeof t.event, 'string');
      assert.ok(t.event.length > 0, 'each transition names its event');
      assert.equal(typeof t.at, 'number');
      if (i > 0) assert.ok(t.at >= transitions[i - 1]!.at, 'timestamps do not go back');
      assert.equal(t.context.ttid, ttidText);
      if (i > 0) {
        // Chained, except for the streaming substate, whose per-batch changes are folded away.
        const prev = transitions[i - 1]!.to as string;
        if (prev.startsWith('streaming.')) assert.match(t.from, /^streaming\./, 'transitions chain');
        else assert.equal(t.from, prev, 'transitions chain');
      }
    }
    assert.equal(transitions[0]!.event, 'MESSAGES');
    // Per-batch round trips inside streaming are folded away.
    assert.ok(!transitions.some((t) => t.from.startsWith('streaming.') && t.to.startsWith('streaming.')));

    const stopped = v.of('actor.stopped').find((m) => m.id === id)!;
    assert.equal(stopped.final.state, 'closed');
    assert.equal(stopped.final.status, 'done');
    assert.equal(stopped.final.context.flushLsn, formatLsn(end), 'the final view carries the flush LSN');
    assert.equal(stopped.final.context.term, '1');
    assert.equal(stopped.final.context.error, null);
    for (const child of ['reader', 'writer']) {
      assert.ok(v.of('actor.spawned').some((m) => m.actor.id === `${id}/${child}` && m.actor.parentId === id), `${child} spawned`);
      assert.ok(v.of('actor.stopped').some((m) => m.id === `${id}/${child}`), `${child} stopped`);
    }
    const registryId = `registry-${ttidText}`;
    assert.ok(v.of('actor.spawned').some((m) => m.actor.id === registryId && m.actor.kind === 'registry'), 'registry spawned');
    const connId = Number(id.slice('conn-'.length));
    assert.ok(
      v.of('progress').some((m) => m.id === registryId && m.context.slots.some((s: Msg | null) => s?.connId === connId)),
      'the registry slot of the connection shows up as progress',
    );
    assert.equal(v.of('error').length, 0);
    await v.close();
  });

  test('a late viewer gets a snapshot with the live connection and the recent transitions', async () => {
    const early = await viewer();
    const { p, gen, ttidText } = await electedProposer(server);
    proposers.push(p);
    await p.waitForCommit(p.appendWal(gen.generate(256 * 1024)));

    const late = await viewer();
    await late.waitFor('hello and snapshot', (ms) => ms.length >= 2);
    const snapshot = late.messages[1]!;
    assert.equal(snapshot.type, 'snapshot');
    const conn = (snapshot.actors as Msg[]).find((a) => a.kind === 'connection' && a.context?.ttid === ttidText);
    assert.ok(conn, 'the live connection is in the snapshot');
    assert.match(conn.state, /^(streaming|flushing)/);
    assert.equal(conn.status, 'active');
    assert.equal(conn.context.term, '1');
    const ids = (snapshot.actors as Msg[]).map((a) => a.id);
    assert.ok(ids.includes(`${conn.id}/reader`) && ids.includes(`${conn.id}/writer`), 'with its children');
    assert.ok(ids.includes(`registry-${ttidText}`), 'and its timeline registry');
    const history = (snapshot.transitions as Msg[]).filter((t) => t.id === conn.id);
    assert.ok(history.length >= 3, 'transitions recorded while the early viewer watched');
    assert.equal(history[0]!.from, 'greeting.waiting');
    assert.ok((snapshot.transitions as Msg[]).length <= 200);

    await p.stop();
    await late.waitFor('the connection to close', () => late.of('actor.stopped').some((m) => m.id === conn.id));
    await early.close();
    await late.close();
  });

  test('malformed viewer messages get errors; the stream goes on for everyone', async () => {
    const bad = await viewer();
    const good = await viewer();
    await bad.waitFor('snapshot', (ms) => ms.length >= 2);
    await good.waitFor('snapshot', (ms) => ms.length >= 2);
    const before = bad.messages.length;

    bad.send('this is not json');
    bad.send('[{"type":"ping"}]');
    bad.send('{"type":"subscribe"}');
    bad.send('42');
    bad.send(Buffer.from([0xde, 0xad]), true);
    bad.send('{"type":"ping"}');
    await bad.waitFor('five errors and a pong', (ms) => ms.slice(before).some((m) => m.type === 'pong'));
    const replies = bad.messages.slice(before).filter((m) => m.type === 'error' || m.type === 'pong');
    assert.deepEqual(replies.map((m) => m.type), ['error', 'error', 'error', 'error', 'error', 'pong']);
    assert.match(replies[0]!.message, /not JSON/);
    assert.match(replies[1]!.message, /array/);
    assert.match(replies[2]!.message, /unknown message type "subscribe"/);
    assert.match(replies[3]!.message, /number/);
    assert.match(replies[4]!.message, /binary/);
    assert.equal(bad.closed, false);

    // Both still get the live stream.
    const { p, gen, ttidText } = await electedProposer(server);
    proposers.push(p);
    await p.waitForCommit(p.appendWal(gen.generate(512 * 1024)));
    await p.stop();
    for (const v of [bad, good]) {
      await v.waitFor('the new connection to close', () => {
        const id = connectionIdFor(v, ttidText);
        return id !== undefined && v.of('transition').some((t) => t.id === id && t.to === 'closed');
      });
    }
    assert.equal(good.of('error').length, 0, 'errors go only to the viewer that caused them');

    bad.send('{"type":"resync"}');
    await bad.waitFor('a second snapshot', (ms) => ms.filter((m) => m.type === 'snapshot').length === 2);
    await bad.close();
    await good.close();
  });

  test('50 viewers at once do not stall a streaming connection', async () => {
    const CHUNK = 1 << 20;
    const CHUNKS = 8;
    const stream = async (): Promise<{ ms: number; id: string | undefined; ttidText: string }> => {
      const { p, gen, ttidText } = await electedProposer(server);
      proposers.push(p);
      const t0 = performance.now();
      let last: Lsn = 0n;
      for (let i = 0; i < CHUNKS; i++) {
        last = p.appendWal(gen.generate(CHUNK));
        await p.waitForCommit(last, 60_000); // commit keeps advancing, chunk after chunk
      }
      const ms = performance.now() - t0;
      await p.stop();
      return { ms, id: undefined, ttidText };
    };
    const baseline = await stream();

    const crowd: Viewer[] = [];
    for (let i = 0; i < 50; i++) crowd.push(await viewer());
    assert.equal((await stats(server)).viewers >= 50, true);
    const watched = await stream();
    for (const v of crowd) {
      await v.waitFor('the watched connection to close', () => {
        const id = connectionIdFor(v, watched.ttidText);
        return id !== undefined && v.of('transition').some((t) => t.id === id && t.to === 'closed');
      });
    }
    const s = await stats(server);
    assert.equal(s.dropped, 0, 'nobody fell behind');
    assert.equal(s.observerFailures, 0);
    // Not a timed assertion: informative only.
    console.log(`# 8 MiB streamed in ${baseline.ms.toFixed(0)} ms unwatched, ${watched.ms.toFixed(0)} ms with 50 viewers`);
    for (const v of viewers) await v.close();
    await new Promise((r) => setTimeout(r, 200));
    const after = await stats(server);
    assert.equal(after.viewers, 0);
    assert.equal(after.attached, false, 'the last viewer leaving detaches the observer');
  });

  test('a viewer that never reads is dropped; server memory stays bounded', async () => {
    const watcher = await viewer(); // keeps the observer attached and the history full
    const stalled = await viewer();
    stalled.ws.pause();
    const droppedBefore = (await stats(server)).dropped;
    const rssBefore = rssBytes(server.proc.pid!);

    // Keep a connection busy, and have the stalled viewer ask for snapshot after snapshot:
    // unbounded buffering would hold every one of them.
    const { p, gen } = await electedProposer(server);
    proposers.push(p);
    let requested = 0;
    let dropped = false;
    for (let round = 0; round < 400 && !dropped; round++) {
      for (let i = 0; i < 50; i++) stalled.send('{"type":"resync"}');
      requested += 50;
      if (round % 10 === 0) await p.waitForCommit(p.appendWal(gen.generate(128 * 1024)), 30_000);
      await new Promise((r) => setTimeout(r, 5));
      if (round % 10 === 9) dropped = (await stats(server)).dropped > droppedBefore;
    }
    await p.stop();
    const s = await stats(server);
    assert.ok(s.dropped > droppedBefore, `the stalled viewer was dropped (after ${requested} resync requests)`);
    assert.ok(s.maxBufferedBytes < 4 * 1024 * 1024, `send buffer stayed bounded: ${s.maxBufferedBytes} bytes at most`);
    const grew = rssBytes(server.proc.pid!) - rssBefore;
    console.log(`# stalled viewer dropped after ${requested} resync requests; largest send buffer ${s.maxBufferedBytes} bytes; RSS ${(grew / 1048576).toFixed(1)} MiB more`);
    assert.ok(grew < 96 * 1024 * 1024, `server RSS grew by ${(grew / 1048576).toFixed(1)} MiB`);

    stalled.ws.resume();
    await stalled.waitFor('the close', () => false, 15_000).catch(() => {});
    assert.equal(stalled.closed, true, 'the dropped viewer is disconnected');
    const last = stalled.messages.at(-1);
    if (last && last.type === 'dropped') assert.match(last.reason, /fell behind/);
    assert.equal(watcher.closed, false, 'other viewers stay');
    assert.equal(watcher.of('dropped').length, 0);
    await watcher.close();
  });

  test('?format=statelyai streams @statelyai/inspect events', async () => {
    const v = await viewer('?format=statelyai');
    await v.waitFor('the root actor', (ms) => ms.some((m) => m.type === '@xstate.actor' && m.sessionId === 'safekeeper'));
    const root = v.messages.find((m) => m.sessionId === 'safekeeper')!;
    assert.equal(root.rootId, 'safekeeper');
    assert.equal(typeof root._version, 'string');
    assert.match(root.createdAt, /^\d+$/);
    assert.equal(JSON.parse(root.definition).id, 'safekeeper');
    assert.equal(root.snapshot.value, 'running');

    const { p, gen, ttidText } = await electedProposer(server);
    proposers.push(p);
    await p.waitForCommit(p.appendWal(gen.generate(256 * 1024)));
    await p.stop();
    const connActor = () =>
      v.messages.find((m) => m.type === '@xstate.actor' && m.snapshot?.context?.ttid === ttidText && m.parentId === 'safekeeper');
    await v.waitFor('the connection to finish', () => {
      const a = connActor();
      return a !== undefined && v.messages.some((m) => m.type === '@xstate.snapshot' && m.sessionId === a.sessionId && m.snapshot.status === 'done');
    });
    const a = connActor()!;
    assert.equal(JSON.parse(a.definition).id, 'connection');
    assert.deepEqual(a.snapshot.value, { greeting: 'waiting' });
    const events = v.messages.filter((m) => m.type === '@xstate.event' && m.sessionId === a.sessionId);
    const snaps = v.messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === a.sessionId);
    assert.equal(events[0]!.event.type, 'MESSAGES');
    assert.deepEqual(snaps[0]!.snapshot.value, { greeting: 'processing' });
    assert.equal(snaps.at(-1)!.snapshot.value, 'closed');
    for (const m of [...events, ...snaps]) {
      assert.equal(m.rootId, 'safekeeper');
      assert.equal(typeof m.id, 'string');
      assert.equal(typeof m._version, 'string');
    }
    assert.equal(v.messages.filter((m) => m.type === 'hello' || m.type === 'snapshot').length, 0, 'no native messages');
    await v.close();
  });
});
