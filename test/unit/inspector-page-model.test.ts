// The inspector page's pure modules (plain browser JS, no DOM at import):
// the model that turns protocol messages into connections, registries and a
// log, and the chart layout computed from a ChartDef. Loaded by file URL
// because they are JavaScript without type declarations.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chartDefOf } from '../../inspector/chart-def.js';
import type { ActorView, ChartDef, ConnectionContextView, Transition } from '../../inspector/protocol.js';
import { connectionMachine } from '../../machines/connection.js';
import { registryMachine } from '../../machines/registry.js';
import { repoRoot } from '../helpers/paths.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
async function load(name: string): Promise<any> {
  return import(pathToFileURL(path.join(repoRoot(), 'inspector', 'public', 'js', name)).href);
}
const { Model } = await load('model.js');
const { layoutChart, toneOf } = await load('chart.js');

const TTID = 'aaaa/bbbb';
const def: ChartDef = chartDefOf(connectionMachine);

function ctx(connId: number, over: Partial<ConnectionContextView> = {}): ConnectionContextView {
  return {
    connId,
    ttid: TTID,
    tenantId: 'aaaa',
    timelineId: 'bbbb',
    peer: `127.0.0.1:${50000 + connId}`,
    protocolVersion: 2,
    generation: 0,
    term: '1',
    flushLsn: '0/0',
    commitLsn: '0/0',
    queueDepth: 0,
    dirty: false,
    eof: false,
    error: null,
    processed: 0,
    ...over,
  };
}

function conn(connId: number, state: string, spawnedAt: number, over: Partial<ConnectionContextView> = {}): ActorView {
  return { id: `conn-${connId}`, kind: 'connection', parentId: 'safekeeper', state, status: 'active', context: ctx(connId, over), spawnedAt };
}

function tr(connId: number, from: string, to: string, at: number, over: Partial<ConnectionContextView> = {}): Transition & { type: 'transition' } {
  return { type: 'transition', id: `conn-${connId}`, kind: 'connection', from, to, event: 'E', at, context: ctx(connId, over) };
}

function model(clock: { t: number }) {
  const m = new Model({ now: () => clock.t });
  m.apply({ type: 'hello', version: 1, nodeId: '1', machines: { connection: def, registry: chartDefOf(registryMachine) }, now: clock.t });
  return m;
}

function visits(c: any): string {
  return [...c.visits.keys()].join(' ');
}

describe('inspector page model', () => {
  test('late join: live connections from the snapshot, ended ones rebuilt from history as closed', () => {
    const clock = { t: 10_000 };
    const m = model(clock);
    m.apply({
      type: 'snapshot',
      now: clock.t,
      actors: [conn(2, 'streaming.waiting', 9_000)],
      transitions: [
        tr(1, 'greeting.waiting', 'voting.waiting', 8_000),
        tr(1, 'voting.processing', 'streaming.waiting', 8_100),
        tr(1, 'streaming.waiting', 'closed', 8_200, { error: 'boom' }),
        tr(2, 'greeting.processing', 'voting.waiting', 9_100),
        tr(2, 'voting.processing', 'streaming.waiting', 9_200),
      ],
    });
    const all = [...m.conns.values()];
    assert.equal(all.length, 2);
    const live = all.find((c: any) => c.id === 'conn-2');
    const closed = all.find((c: any) => c.id === 'conn-1');
    assert.equal(visits(live), 'greeting voting streaming');
    assert.equal(live.closedLocal, null);
    assert.equal(visits(closed), 'greeting voting streaming closed');
    assert.equal(closed.state, 'closed');
    assert.equal(closed.ctx.error, 'boom');
    assert.notEqual(closed.closedLocal, null);
  });

  test('streaming ⇄ flushing folds into one counting log row per connection; other transitions end the fold', () => {
    const clock = { t: 1_000 };
    const m = model(clock);
    m.apply({ type: 'snapshot', now: clock.t, actors: [conn(1, 'streaming.waiting', 900)], transitions: [] });
    m.apply(tr(1, 'streaming.waiting', 'flushing', 1_001));
    for (let i = 0; i < 10; i++) {
      m.apply(tr(1, 'flushing', 'streaming.waiting', 1_010 + i * 2));
      m.apply(tr(1, 'streaming.appending', 'flushing', 1_011 + i * 2));
    }
    m.apply(tr(1, 'flushing', 'closed', 2_000));
    const rows = m.log.filter((e: any) => e.id === 'conn-1');
    assert.deepEqual(
      rows.map((e: any) => e.kind),
      ['transition', 'cycle', 'transition'],
    );
    assert.equal(rows[1].count, 20);
    assert.deepEqual(rows[1].pair, ['streaming', 'flushing']);
    const c = [...m.conns.values()][0];
    assert.equal(visits(c), 'streaming flushing closed');
    assert.equal(c.visits.get('flushing').count, 11);
  });

  test('a resync replays history without logging it twice', () => {
    const clock = { t: 1_000 };
    const m = model(clock);
    const history = [tr(1, 'greeting.waiting', 'greeting.processing', 950), tr(1, 'greeting.processing', 'voting.waiting', 960)];
    const snap = { type: 'snapshot', now: clock.t, actors: [conn(1, 'voting.waiting', 900)], transitions: history };
    m.apply(snap);
    const n = m.log.length;
    m.apply(snap);
    assert.equal(m.log.length, n);
  });

  test('reconnect: vanished connections close; a new spawnedAt with the same peer is the same connection, another peer a new one', () => {
    const clock = { t: 1_000 };
    const m = model(clock);
    m.apply({ type: 'snapshot', now: clock.t, actors: [conn(1, 'streaming.waiting', 900), conn(2, 'voting.waiting', 950)], transitions: [] });
    clock.t = 5_000;
    // The server forgot its bookkeeping (last viewer left): conn-1 comes back with a new spawnedAt, same peer.
    // conn-2 is gone. conn-3 is new.
    m.apply({ type: 'snapshot', now: clock.t, actors: [conn(1, 'flushing', 4_900), conn(3, 'greeting.waiting', 4_950)], transitions: [] });
    const byId = (id: string) => [...m.conns.values()].filter((c: any) => c.id === id);
    assert.equal(byId('conn-1').length, 1, 'same peer: one card');
    assert.equal(byId('conn-1')[0].state, 'flushing');
    assert.equal(byId('conn-1')[0].closedLocal, null);
    assert.notEqual(byId('conn-2')[0].closedLocal, null, 'gone while away: closed');
    assert.equal(byId('conn-3')[0].closedLocal, null);
    // A restarted safekeeper reuses conn-1 for another client: the old card closes, a new one opens.
    m.apply({ type: 'actor.spawned', actor: conn(1, 'greeting.waiting', 6_000, { peer: '10.0.0.9:1234' }) });
    assert.equal(byId('conn-1').length, 2);
    assert.equal(byId('conn-1').filter((c: any) => c.closedLocal === null).length, 1);
  });

  test('closed connections are kept for a while and at most keepClosedMax of them', () => {
    const clock = { t: 0 };
    const m = model(clock);
    for (let i = 1; i <= 25; i++) {
      clock.t = i * 100;
      m.apply({ type: 'actor.spawned', actor: conn(i, 'greeting.waiting', clock.t) });
      m.apply(tr(i, 'greeting.waiting', 'closed', clock.t + 1));
      m.apply({ type: 'actor.stopped', id: `conn-${i}`, at: clock.t + 2, final: { ...conn(i, 'closed', clock.t), status: 'done' } });
    }
    m.apply({ type: 'actor.spawned', actor: conn(99, 'voting.waiting', clock.t) });
    m.prune();
    const closed = [...m.conns.values()].filter((c: any) => c.closedLocal !== null);
    assert.equal(closed.length, 20);
    assert.ok(!closed.some((c: any) => c.id === 'conn-1'), 'the oldest closed ones go first');
    clock.t += 60_001;
    m.prune();
    assert.deepEqual([...m.conns.values()].map((c: any) => c.id), ['conn-99'], 'after 60 s only the live one is left');
  });

  test('registry slots and computes follow progress messages', () => {
    const clock = { t: 0 };
    const m = model(clock);
    const reg = { ttid: TTID, tenantId: 'aaaa', timelineId: 'bbbb', slots: [{ connId: 1, status: 'Voting' }], computes: 1 };
    m.apply({ type: 'actor.spawned', actor: { id: `registry-${TTID}`, kind: 'registry', parentId: 'safekeeper', state: 'tracking', status: 'active', context: reg, spawnedAt: 0 } });
    m.apply({ type: 'progress', id: `registry-${TTID}`, at: 1, context: { ...reg, slots: [{ connId: 1, status: 'Streaming' }, { connId: 2, status: 'Voting' }], computes: 2 } });
    const r = m.registries.get(TTID);
    assert.deepEqual(r.slots.map((s: any) => s.status), ['Streaming', 'Voting']);
    assert.equal(r.computes, 2);
  });

  test('WAL rate from flush LSN progress, ignoring 0/0 and falling to 0 when quiet', () => {
    const clock = { t: 0 };
    const m = model(clock);
    m.apply({ type: 'actor.spawned', actor: conn(1, 'streaming.waiting', 0) });
    m.apply({ type: 'progress', id: 'conn-1', at: 0, context: ctx(1, { flushLsn: '0/1000000' }) });
    clock.t = 1_000;
    m.apply({ type: 'progress', id: 'conn-1', at: 1_000, context: ctx(1, { flushLsn: '0/1100000' }) });
    const c = [...m.conns.values()][0];
    assert.equal(Math.round(m.rateOf(c)), 0x100000);
    clock.t = 20_000;
    assert.equal(m.rateOf(c), 0);
  });

  test('malformed messages are ignored', () => {
    const m = model({ t: 0 });
    for (const bad of [null, 42, 'x', {}, { type: 'transition' }, { type: 'progress', id: 'nope' }, { type: 'actor.stopped' }, { type: 'snapshot', actors: 'no' }]) {
      m.apply(bad);
    }
    assert.equal(m.conns.size, 0);
  });
});

describe('inspector page chart layout', () => {
  const layout = layoutChart(def);
  const box = (p: string) => layout.boxes.get(p);

  test('one box per state, top-level states left to right in definition order, substates inside their parent', () => {
    const paths: string[] = [];
    const visit = (s: any) => {
      paths.push(s.path);
      s.states.forEach(visit);
    };
    def.states.forEach(visit);
    assert.deepEqual([...layout.boxes.keys()].sort(), paths.sort());
    for (let i = 1; i < def.states.length; i++) {
      const a = box(def.states[i - 1]!.path);
      const b = box(def.states[i]!.path);
      assert.ok(a.x + a.w < b.x, `${def.states[i - 1]!.path} left of ${def.states[i]!.path}`);
    }
    for (const top of def.states) {
      const p = box(top.path);
      for (const k of top.states) {
        const c = box(k.path);
        assert.ok(c.x > p.x && c.y > p.y && c.x + c.w < p.x + p.w && c.y + c.h < p.y + p.h, `${k.path} inside ${top.path}`);
      }
    }
    assert.ok(layout.width > 0 && layout.height > 0);
  });

  test('every transition with a target has an arrow that explains it', () => {
    const within = (p: string, a: string) => p === a || p.startsWith(a + '.');
    const visit = (s: any) => {
      for (const t of s.transitions) {
        for (const dst of t.targets) {
          if (dst === s.path) continue;
          const ok = layout.edges.some((e: any) => within(s.path, e.src) && within(dst, e.dst));
          assert.ok(ok, `an arrow for ${s.path} → ${dst} (${t.label})`);
        }
      }
      s.states.forEach(visit);
    };
    def.states.forEach(visit);
    const labels = layout.edges.map((e: any) => e.label).join(' ');
    assert.match(labels, /done: greet/);
    assert.match(labels, /MESSAGES/);
  });

  test('a different definition gives a different drawing (nothing is hard-wired)', () => {
    const other: ChartDef = {
      id: 'tiny',
      states: [
        { key: 'a', path: 'a', type: 'atomic', states: [], transitions: [{ event: 'GO', label: 'GO', targets: ['b'] }], invokes: [] },
        { key: 'b', path: 'b', type: 'final', states: [], transitions: [], invokes: [] },
      ],
      transitions: [],
      invokes: [],
    };
    const l = layoutChart(other);
    assert.deepEqual([...l.boxes.keys()], ['a', 'b']);
    assert.equal(l.edges.length, 1);
    assert.equal(l.edges[0].label, 'GO');
    assert.equal(toneOf(other, 'b'), 'tone-final');
    assert.equal(toneOf(def, 'streaming.waiting'), 'tone-2');
  });
});
