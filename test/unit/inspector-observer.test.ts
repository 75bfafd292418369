// The inspection observer on a real actor system (the root machine with real
// connection charts whose batches, reader and writer are fakes the test
// settles by hand): what it announces, which transitions it sends, how it
// folds per-batch churn into coalesced progress, and that it costs nothing
// and keeps nothing once detached.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromCallback, setup, type AnyActorRef } from 'xstate';
import { connectionMachine, type BatchResult, type ConnectionEvent, type ConnectionInput, type ProcessorEvent } from '../../machines/connection.js';
import { safekeeperMachine } from '../../machines/safekeeper.js';
import { PROGRESS_INTERVAL_MS, SystemObserver, TRANSITION_HISTORY, type ObservationSink, type ObservedActor } from '../../inspector/observer.js';
import type { ActorView, ContextView, Transition } from '../../inspector/protocol.js';

const GEN0 = { generation: 0, members: [], newMembers: null };

type Kind = 'greet' | 'vote' | 'append' | 'flush';

/** Timers the test fires by hand. */
class ManualClock {
  t = 1_000_000;
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  now = () => this.t;
  setTimer = (fn: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimer = (id: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== id);
  };
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (!due) return;
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
  }
}

type Record =
  | { type: 'spawned'; view: ActorView }
  | { type: 'stopped'; id: string; final: ActorView }
  | { type: 'transition'; t: Transition }
  | { type: 'progress'; id: string; at: number; context: ContextView };

class RecordingSink implements ObservationSink {
  readonly records: Record[] = [];
  throwOnTransition = false;
  spawned(_a: ObservedActor, view: ActorView) {
    this.records.push({ type: 'spawned', view });
  }
  stopped(a: ObservedActor, _at: number, final: ActorView) {
    this.records.push({ type: 'stopped', id: a.id, final });
  }
  transition(_a: ObservedActor, t: Transition) {
    if (this.throwOnTransition) throw new Error('sink failure');
    this.records.push({ type: 'transition', t });
  }
  progress(a: ObservedActor, at: number, context: ContextView) {
    this.records.push({ type: 'progress', id: a.id, at, context });
  }
  of<T extends Record['type']>(type: T): Array<Extract<Record, { type: T }>> {
    return this.records.filter((r): r is Extract<Record, { type: T }> => r.type === type);
  }
  clear() {
    this.records.length = 0;
  }
}

/** A safekeeper root whose connections run the real chart on fakes. */
class World {
  queued = new Map<number, number>();
  readers = new Map<number, (e: ConnectionEvent) => void>();
  pending: Array<{ kind: Kind; connId: number; resolve: (r: BatchResult) => void }> = [];
  readonly root;

  constructor() {
    // The fake processor: takes what the batch would take, then waits for the test to settle it.
    const processor = fromCallback<ProcessorEvent, ConnectionInput>(({ input, sendBack, receive }) => {
      receive(({ batch: kind }) => {
        const taken = kind === 'flush' ? 0 : kind === 'greet' ? 1 : (this.queued.get(input.connId) ?? 0);
        this.queued.set(input.connId, (this.queued.get(input.connId) ?? 0) - taken);
        this.pending.push({
          kind,
          connId: input.connId,
          resolve: (r) => sendBack({ type: 'BATCH_DONE', batch: kind, result: { ...r, taken } }),
        });
      });
    });
    const conn = connectionMachine.provide({
      actors: {
        reader: fromCallback<{ type: 'STOP' }, ConnectionInput>(({ sendBack, input }) => {
          this.readers.set(input.connId, sendBack as (e: ConnectionEvent) => void);
        }),
        writer: fromCallback(() => () => {}),
        processor,
      },
      guards: { hasQueuedMessages: ({ context }) => (this.queued.get(context.connId) ?? 0) > 0 },
    });
    this.root = createActor(safekeeperMachine.provide({ actors: { connection: conn } }));
    this.root.start();
  }

  accept(connId: number): void {
    this.root.send({ type: 'CONNECTION.ACCEPTED', input: { connId, ttid: 'tenant-a/timeline-b', peer: '10.0.0.1:5000', protocolVersion: 3 } });
  }

  deliver(connId: number, n = 1): void {
    this.queued.set(connId, (this.queued.get(connId) ?? 0) + n);
    this.readers.get(connId)!({ type: 'MESSAGES' });
  }

  async settle(kind: Kind, fields: Partial<BatchResult> = {}): Promise<void> {
    const i = this.pending.findIndex((p) => p.kind === kind);
    assert.ok(i >= 0, `no ${kind} batch running (running: ${this.pending.map((p) => p.kind).join(', ') || 'none'})`);
    const [p] = this.pending.splice(i, 1);
    p!.resolve({ replies: [], repliesSent: false, flushed: kind === 'flush', sawElected: false, readyToStream: false, appended: false, taken: 0, queued: 0, flushDue: false, progress: null, ...fields });
    for (let k = 0; k < 5; k++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }

  conn(connId: number): AnyActorRef {
    return this.root.getSnapshot().children[`conn-${connId}`] as AnyActorRef;
  }

  /** Greets and wins an election: connection `connId` rests in streaming.waiting. */
  async toStreaming(connId: number): Promise<void> {
    this.deliver(connId);
    await this.settle('greet', { progress: { generation: 0, term: '1', flushLsn: '0/0', commitLsn: '0/0' } });
    this.deliver(connId, 2);
    await this.settle('vote', { readyToStream: true, sawElected: true, progress: { generation: 0, term: '2', flushLsn: '0/1000028', commitLsn: '0/0' } });
  }
}

function setupObserved(): { world: World; sink: RecordingSink; clock: ManualClock; observer: SystemObserver } {
  const world = new World();
  const sink = new RecordingSink();
  const clock = new ManualClock();
  const observer = new SystemObserver(world.root, sink, clock);
  observer.attach();
  return { world, sink, clock, observer };
}

describe('inspector observer', () => {
  test('announces a connection before its reader and writer, with a compact context', () => {
    const { world, sink } = setupObserved();
    world.accept(1);
    const spawned = sink.of('spawned').map((r) => r.view);
    assert.deepEqual(spawned.map((v) => [v.id, v.kind, v.parentId]), [
      ['conn-1', 'connection', 'safekeeper'],
      ['conn-1/reader', 'reader', 'conn-1'],
      ['conn-1/writer', 'writer', 'conn-1'],
      ['conn-1/processor', 'processor', 'conn-1'],
    ]);
    assert.equal(spawned[0]!.state, 'greeting.waiting');
    assert.deepEqual(spawned[0]!.context, {
      connId: 1, ttid: 'tenant-a/timeline-b', tenantId: 'tenant-a', timelineId: 'timeline-b', peer: '10.0.0.1:5000',
      protocolVersion: 3, generation: 0, term: '0', flushLsn: '0/0', commitLsn: '0/0', queueDepth: 0, dirty: false, eof: false, error: null, processed: 0,
    });
    assert.equal(spawned[1]!.state, '');
    assert.equal(sink.of('transition').length, 0, 'the root counting a connection is not a state change');
  });

  test('sends every lifecycle transition with its event; the three children are announced once each', async () => {
    const { world, sink } = setupObserved();
    world.accept(1);
    await world.toStreaming(1);
    for (let i = 0; i < 3; i++) {
      world.deliver(1, 4);
      await world.settle('append', { appended: true, progress: { generation: 0, term: '2', flushLsn: `0/${(0x1000028 + 4096 * (i + 1)).toString(16).toUpperCase()}`, commitLsn: '0/0' } });
      await world.settle('flush');
    }
    world.readers.get(1)!({ type: 'EOF' });
    await new Promise((r) => setImmediate(r));

    const ts = sink.of('transition').map((r) => r.t).filter((t) => t.id === 'conn-1');
    assert.deepEqual(ts.map((t) => `${t.from} -> ${t.to}`), [
      'greeting.waiting -> greeting.processing',
      'greeting.processing -> voting.waiting',
      'voting.waiting -> voting.processing',
      'voting.processing -> streaming.waiting',
      'streaming.appending -> flushing',
      'flushing -> streaming.waiting',
      'streaming.appending -> flushing',
      'flushing -> streaming.waiting',
      'streaming.appending -> flushing',
      'flushing -> streaming.waiting',
      'streaming.waiting -> closed',
    ]);
    assert.equal(ts[0]!.event, 'MESSAGES');
    assert.equal(ts[1]!.event, 'BATCH_DONE');
    assert.equal(ts.at(-1)!.event, 'EOF');
    assert.equal(ts[4]!.kind, 'connection');
    assert.equal((ts[4]!.context as { flushLsn: string }).flushLsn, '0/1001028', 'the context after the batch rides along');

    const spawnedIds = sink.of('spawned').map((r) => r.view.id);
    assert.deepEqual(
      spawnedIds.filter((id) => id.startsWith('conn-1')).sort(),
      ['conn-1', 'conn-1/processor', 'conn-1/reader', 'conn-1/writer'],
      'one actor per connection and its three children: nothing is spawned per batch',
    );

    const stopped = sink.of('stopped').filter((r) => !r.id.includes('#')).map((r) => `${r.id}:${r.final.status}`);
    assert.deepEqual(stopped.sort(), ['conn-1/processor:stopped', 'conn-1/reader:stopped', 'conn-1/writer:stopped', 'conn-1:done']);
    const final = sink.of('stopped').find((r) => r.id === 'conn-1')!.final;
    assert.equal(final.state, 'closed');
    assert.equal(typeof final.stoppedAt, 'number');
  });

  test('folds streaming.waiting ⇄ appending into progress, at most one per interval per connection', async () => {
    const { world, sink, clock } = setupObserved();
    world.accept(1);
    world.accept(2);
    await world.toStreaming(1);
    await world.toStreaming(2);
    clock.advance(PROGRESS_INTERVAL_MS); // whatever the lifecycle left due
    sink.clear();

    // 50 heartbeat-like batches per connection: the chart goes waiting → appending → waiting each time.
    for (let i = 1; i <= 50; i++) {
      for (const c of [1, 2]) {
        world.deliver(c, 1);
        await world.settle('append', { progress: { generation: 0, term: '2', flushLsn: '0/1000028', commitLsn: `0/${(0x1000000 + i).toString(16).toUpperCase()}` } });
      }
      assert.equal(world.conn(1).getSnapshot().value.streaming, 'waiting');
    }
    assert.equal(sink.of('transition').length, 0, 'no per-batch transitions');
    // Leading edge: the first batch after a quiet interval goes out at once, the other 49 wait.
    const first = sink.of('progress');
    assert.deepEqual(first.map((p) => p.id), ['conn-1', 'conn-2']);
    for (const p of first) assert.equal((p.context as { processed: number }).processed, 1 + 2 + 1);

    clock.advance(PROGRESS_INTERVAL_MS - 1);
    assert.equal(sink.of('progress').length, 2, 'nothing more before the interval ends');
    clock.advance(1);
    const progress = sink.of('progress').slice(2);
    assert.deepEqual(progress.map((p) => p.id).sort(), ['conn-1', 'conn-2'], 'one more per connection');
    for (const p of progress) {
      assert.equal((p.context as { commitLsn: string }).commitLsn, '0/1000032', 'the latest context, not a stale one');
      assert.equal((p.context as { processed: number }).processed, 1 + 2 + 50);
    }

    // Quiet: no change, no message, no timer.
    sink.clear();
    clock.advance(PROGRESS_INTERVAL_MS * 4);
    assert.equal(sink.records.length, 0);
    assert.equal(clock.timers.length, 0);

    // Rate over a longer busy stretch: at most one per connection per interval.
    for (let i = 0; i < 40; i++) {
      world.deliver(1, 1);
      await world.settle('append');
      clock.advance(PROGRESS_INTERVAL_MS / 4);
    }
    const times = sink.of('progress').map((p) => p.at);
    assert.ok(times.length >= 10 && times.length <= 11, `2.5 s of busy streaming gave ${times.length} progress messages`);
    for (let i = 1; i < times.length; i++) {
      assert.ok(times[i]! - times[i - 1]! >= PROGRESS_INTERVAL_MS, `progress ${i} came ${times[i]! - times[i - 1]!} ms after the previous one`);
    }
  });

  test('a transition carries the latest context and cancels the pending progress', async () => {
    const { world, sink, clock } = setupObserved();
    world.accept(1);
    await world.toStreaming(1);
    clock.advance(PROGRESS_INTERVAL_MS);
    sink.clear();
    world.deliver(1, 1);
    await world.settle('append', { appended: true }); // waiting → flushing: a real transition
    assert.equal(sink.of('transition').length, 1);
    clock.advance(PROGRESS_INTERVAL_MS);
    assert.equal(sink.of('progress').length, 0, 'nothing newer than what the transition carried');
  });

  test('late viewers: live actors by walking the root, the last N transitions oldest first', async () => {
    const { world, sink, observer } = setupObserved();
    world.accept(1);
    world.accept(2);
    await world.toStreaming(1);
    world.readers.get(2)!({ type: 'EOF' });
    const live = observer.liveActors().map((r) => observer.view(r));
    assert.deepEqual(live.map((v) => v.id), ['safekeeper', 'conn-1', 'conn-1/reader', 'conn-1/writer', 'conn-1/processor']);
    assert.equal(live[0]!.kind, 'root');
    assert.equal(live[0]!.state, 'running');
    assert.equal(live[1]!.state, 'streaming.waiting');
    const history = observer.recentTransitions();
    assert.deepEqual(history, sink.of('transition').map((r) => r.t));
    assert.equal(history.at(-1)!.id, 'conn-2');
    assert.equal(history.at(-1)!.to, 'closed');
  });

  test('the history keeps only the last TRANSITION_HISTORY transitions', () => {
    const toggler = setup({ types: { events: {} as { type: 'FLIP' } } }).createMachine({
      id: 'toggler',
      initial: 'a',
      states: { a: { on: { FLIP: 'b' } }, b: { on: { FLIP: 'a' } } },
    });
    const root = createActor(toggler).start();
    const observer = new SystemObserver(root, new RecordingSink(), new ManualClock());
    observer.attach();
    const total = TRANSITION_HISTORY + 57;
    for (let i = 0; i < total; i++) root.send({ type: 'FLIP' });
    const h = observer.recentTransitions();
    assert.equal(h.length, TRANSITION_HISTORY);
    // Transition k (0-based) goes to 'b' when k is even: the first kept is number 57.
    assert.equal(h[0]!.to, 57 % 2 === 0 ? 'b' : 'a');
    assert.ok(h.every((t, i) => i === 0 || t.from === h[i - 1]!.to), 'consecutive, oldest first');
  });

  test('detached: nothing is observed or kept; re-attached: actors alive meanwhile are in the walk', async () => {
    const { world, sink, observer, clock } = setupObserved();
    world.accept(1);
    observer.detach();
    sink.clear();
    await world.toStreaming(1);
    world.accept(2);
    clock.advance(PROGRESS_INTERVAL_MS * 2);
    assert.equal(sink.records.length, 0);
    assert.equal(observer.recentTransitions().length, 0);

    observer.attach();
    assert.deepEqual(observer.liveActors().map((r) => r.id), [
      'safekeeper', 'conn-1', 'conn-1/reader', 'conn-1/writer', 'conn-1/processor', 'conn-2', 'conn-2/reader', 'conn-2/writer', 'conn-2/processor',
    ]);
    assert.equal(sink.records.length, 0, 'attaching announces nothing by itself (the snapshot covers it)');
    world.readers.get(2)!({ type: 'EOF' });
    assert.deepEqual(sink.of('transition').map((r) => `${r.t.id}:${r.t.from}->${r.t.to}`), ['conn-2:greeting.waiting->closed']);
  });

  test('a failing sink never breaks the actors it watches', async () => {
    const { world, sink, observer } = setupObserved();
    sink.throwOnTransition = true;
    world.accept(1);
    await world.toStreaming(1);
    assert.equal(world.conn(1).getSnapshot().value.streaming, 'waiting', 'the connection went on');
    assert.ok(observer.failures >= 4);
  });

  test('registries report slot changes as progress, the first at once', () => {
    const world = new World();
    const sink = new RecordingSink();
    const clock = new ManualClock();
    const observer = new SystemObserver(world.root, sink, clock);
    observer.attach();
    world.root.send({ type: 'TIMELINE.LOADED', ttid: 'tenant-a/timeline-b' });
    const reg = world.root.system.get('registry:tenant-a/timeline-b') as AnyActorRef;
    reg.send({ type: 'REGISTER', connId: 4 });
    assert.deepEqual(sink.of('spawned').map((r) => [r.view.id, r.view.kind]), [['registry-tenant-a/timeline-b', 'registry']]);
    // A rare change goes out at once...
    assert.deepEqual(sink.of('progress').map((p) => p.context), [
      { ttid: 'tenant-a/timeline-b', tenantId: 'tenant-a', timelineId: 'timeline-b', slots: [{ connId: 4, status: 'Voting' }], computes: 1, mconf: GEN0 },
    ]);
    // ...the next one within the interval waits for it.
    reg.send({ type: 'SET_STATUS', connId: 4, status: 'Streaming' });
    assert.equal(sink.of('progress').length, 1);
    clock.advance(PROGRESS_INTERVAL_MS);
    const p = sink.of('progress');
    assert.equal(p.length, 2);
    assert.deepEqual(p[1]!.context, {
      ttid: 'tenant-a/timeline-b', tenantId: 'tenant-a', timelineId: 'timeline-b',
      slots: [{ connId: 4, status: 'Streaming' }], computes: 1, mconf: GEN0,
    });
  });

  test('a membership switch is a registry event the observer reports at once', () => {
    const world = new World();
    const sink = new RecordingSink();
    const observer = new SystemObserver(world.root, sink, new ManualClock());
    observer.attach();
    world.root.send({ type: 'TIMELINE.LOADED', ttid: 'tenant-a/timeline-b' });
    const reg = world.root.system.get('registry:tenant-a/timeline-b') as AnyActorRef;
    const mconf = { generation: 4, members: ['1@sk-1:5454', '3@sk-3:5454'], newMembers: null };
    reg.send({ type: 'MEMBERSHIP.SWITCHED', mconf });
    const p = sink.of('progress');
    assert.equal(p.length, 1);
    assert.deepEqual((p[0]!.context as { mconf: unknown }).mconf, mconf);
  });
});
