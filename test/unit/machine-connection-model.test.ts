// Model-based tests of the connection statechart with @xstate/graph.
//
// createTestModel() refuses machines with invocations, and the chart's `hasQueuedMessages` guard reads a queue that lives outside
// the chart, so the graph walks a small wrapper logic instead of the bare
// machine: its state is the machine snapshot plus the one bit of the outside
// world the chart observes (is anything queued?). Its transition function runs
// the machine's own pure `transition()` (guards, assigns, targets: the real
// chart definition; actions are not executed), with the queue bit exposed to
// the guard for the duration of that call.
//
// Each generated path is then replayed against a real actor with the fakes of
// test/helpers/machine-fakes.ts. BATCH_DONE / BATCH_FAILED are produced by
// settling the fake processor's running batch (never sent synthetically), and
// reader events through the fake reader's sendBack, so the replay exercises the
// same delivery paths as the server. The 1 s flush tick is part of an append's
// outcome (flushDue), so the model offers it as an append result.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getAdjacencyMap, getShortestPaths, TestModel, type PathGenerator, type StatePath, type TestPath } from '@xstate/graph';
import { createEmptyActor } from 'xstate';
import type { ActorLogic, ActorScope, AnyStateNode, AnyTransitionDefinition, EventObject, InspectionEvent, SnapshotFrom } from 'xstate';
import { connectionMachine, type BatchResult, type ConnectionInput } from '../../machines/connection.js';
import {
  ConnectionHarness,
  DEFAULT_INPUT,
  OUTCOMES,
  type BatchKind,
  type BatchOutcome,
} from '../helpers/machine-fakes.js';

type ConnSnapshot = SnapshotFrom<typeof connectionMachine>;
type OutcomeName = keyof typeof OUTCOMES;

// ---- what the chart definition contains ----

function allStateNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allStateNodes(child as AnyStateNode))];
}

const STATE_NODES = allStateNodes(connectionMachine.root);
const STATE_IDS = STATE_NODES.map((n) => n.id).sort();

/**
 * A transition's name: `<source> <event>#<candidate index>` (`always` for eventless ones).
 * Names, not object identity: `.provide()` builds a new machine with its own state nodes.
 */
function transitionName(t: AnyTransitionDefinition): string {
  const node = t.source as AnyStateNode;
  const eventless = (node.always ?? []).indexOf(t);
  if (eventless >= 0) return `${node.id} always#${eventless}`;
  const index = node.transitions.get(t.eventType)?.indexOf(t) ?? -1;
  if (index < 0) throw new Error(`transition from ${node.id} on '${t.eventType}' is not in its source state`);
  return `${node.id} ${t.eventType}#${index}`;
}

const TRANSITION_NAMES = STATE_NODES.flatMap((node) => [
  ...[...node.transitions.values()].flat(),
  ...(node.always ?? []),
])
  .map(transitionName)
  .sort();

const BATCH_KINDS: readonly BatchKind[] = ['greet', 'vote', 'append', 'flush'];

/** The processing states, found in the definition: each asks the processor to RUN its batch on entry. */
interface BatchState {
  kind: BatchKind;
  stateId: string;
}
const BATCHES: BatchState[] = STATE_NODES.flatMap((node) =>
  node.entry
    .filter((a) => typeof a === 'object' && a !== null && (a as { type?: unknown }).type === 'run')
    .map((a) => ({ kind: (a as { params: { batch: BatchKind } }).params.batch, stateId: node.id })),
);

/** The results offered per batch: one per branch the chart distinguishes. */
const SAMPLE_OUTCOMES: Record<BatchKind, OutcomeName[]> = {
  greet: ['greeted'],
  vote: ['votedStillVoting', 'votedElected'],
  append: ['appended', 'appendedNothing', 'appendedFlushDue', 'appendedNothingFlushDue'],
  flush: ['flushed'],
};

// ---- the model ----

/**
 * Reader events mirror src/receive/reader.ts: one MESSAGES per socket chunk
 * (here: one message per chunk), and EOF / READ_ERROR either alone or — when
 * the chunk that ended the stream also carried messages — preceded by those
 * messages entering the queue and followed by their MESSAGES signal, all in one
 * synchronous pump (`withMessages`).
 */
type ModelEvent =
  | { type: 'MESSAGES' }
  | { type: 'EOF'; withMessages?: true }
  | { type: 'READ_ERROR'; message: string; withMessages?: true }
  | { type: 'SHUTDOWN' }
  /** Replies are left out (bigints do not serialize); the replay uses OUTCOMES[sample]. */
  | { type: 'BATCH_DONE'; batch: BatchKind; result: BatchResult; sample: OutcomeName }
  | { type: 'BATCH_FAILED'; batch: BatchKind; error: string };

interface ModelSnapshot {
  status: 'active' | 'done';
  output: undefined;
  error: undefined;
  conn: ConnSnapshot;
  /** The outside queue is non-empty. */
  queued: boolean;
  toJSON(): string;
}

function serializeModel(s: Pick<ModelSnapshot, 'conn' | 'queued'>): string {
  const c = s.conn.context;
  const flags = [c.dirty && 'dirty', c.eof && 'eof', c.error !== null && 'error', s.queued && 'queued']
    .filter(Boolean)
    .join(',');
  return `${JSON.stringify(s.conn.value)}{${flags}}`;
}

function modelSnapshot(conn: ConnSnapshot, queued: boolean): ModelSnapshot {
  const s: ModelSnapshot = {
    status: conn.status === 'active' ? 'active' : 'done',
    output: undefined,
    error: undefined,
    conn,
    queued,
    toJSON: () => serializeModel(s),
  };
  return s;
}

/** The queue bit as the model machine's guard sees it, set around each pure transition. */
const modelQueue = { queued: false };
/** Where the model's microsteps go while a path is re-simulated for coverage. */
let modelRecorder: ((t: AnyTransitionDefinition) => void) | null = null;

const modelMachine = connectionMachine.provide({ guards: { hasQueuedMessages: () => modelQueue.queued } });

function recordingScope(scope: ActorScope<any, any, any, any>): ActorScope<any, any, any, any> {
  const system = Object.create(scope.system) as typeof scope.system;
  system._sendInspectionEvent = (event: InspectionEvent) => {
    if (event.type === '@xstate.microstep' && modelRecorder) event._transitions.forEach(modelRecorder);
  };
  return { ...scope, system };
}

/**
 * Did this step start a new greet/vote/append (which takes what is queued)? Entering a processing
 * state starts its batch; so does being in one after a BATCH_DONE, which always ended the
 * previous batch (appending → waiting → appending in one step).
 */
function startedTakingBatch(prev: ConnSnapshot, next: ConnSnapshot, event: EventObject): boolean {
  const running = runningBatch(next);
  if (!running || running.kind === 'flush') return false;
  return event.type === 'BATCH_DONE' || runningBatch(prev) !== running;
}

/** One event through the machine's pure transition, with the queue bit visible to its guard. */
function machineStep(s: ModelSnapshot, event: EventObject, scope: ActorScope<any, any, any, any>, queued: boolean): ModelSnapshot {
  modelQueue.queued = queued;
  try {
    const next = modelMachine.transition(s.conn, event as never, recordingScope(scope));
    return modelSnapshot(next, startedTakingBatch(s.conn, next, event) ? false : queued);
  } finally {
    modelQueue.queued = false;
  }
}

const modelLogic: ActorLogic<ModelSnapshot, ModelEvent, undefined> = {
  getInitialSnapshot: (scope) => {
    modelQueue.queued = false;
    return modelSnapshot(modelMachine.getInitialSnapshot(recordingScope(scope), DEFAULT_INPUT), false);
  },
  transition: (s, event, scope) => {
    if (event.type === 'MESSAGES') return machineStep(s, event, scope, true);
    if ('withMessages' in event && event.withMessages) {
      const { withMessages: _, ...ending } = event;
      const ended = machineStep(s, ending, scope, true);
      return ended.status === 'active' ? machineStep(ended, { type: 'MESSAGES' }, scope, ended.queued) : ended;
    }
    return machineStep(s, event, scope, s.queued);
  },
  getPersistedSnapshot: (s) => s,
};

function runningBatch(conn: ConnSnapshot): BatchState | undefined {
  if (conn.status !== 'active') return undefined;
  return BATCHES.find((b) => conn._nodes.some((n) => n.id === b.stateId));
}

const READ_ERROR_TEXT = 'connection reset by peer';

/** The events that can happen in a model state, as the server would produce them. */
function modelEvents(s: ModelSnapshot): ModelEvent[] {
  if (s.conn.status !== 'active') return [];
  const c = s.conn.context;
  const events: ModelEvent[] = [{ type: 'SHUTDOWN' }];
  // Once the reader is done (EOF, read error, STOP) it produces nothing more.
  if (!c.eof) {
    events.push(
      { type: 'MESSAGES' },
      { type: 'EOF' },
      { type: 'EOF', withMessages: true },
      { type: 'READ_ERROR', message: READ_ERROR_TEXT },
      { type: 'READ_ERROR', message: READ_ERROR_TEXT, withMessages: true },
    );
  }
  const batch = runningBatch(s.conn);
  if (batch) {
    for (const sample of SAMPLE_OUTCOMES[batch.kind]) {
      events.push({ type: 'BATCH_DONE', batch: batch.kind, result: { ...OUTCOMES[sample], replies: [], taken: 0, queued: 0 }, sample });
    }
    events.push({ type: 'BATCH_FAILED', batch: batch.kind, error: `${batch.kind} failed` });
  }
  return events;
}

const testModel = new TestModel<ModelSnapshot, ModelEvent, undefined>(modelLogic, {
  events: modelEvents,
  serializeState: (s) => serializeModel(s),
  serializeEvent: (e) => JSON.stringify(e),
});

/** Like @xstate/graph's own scope for pure traversal: nothing deferred, nothing executed. */
const INERT_SCOPE: ActorScope<any, any, any, any> = (() => {
  const empty = createEmptyActor();
  return {
    self: empty,
    id: '',
    sessionId: 'model',
    logger: () => {},
    defer: () => {},
    system: empty.system,
    stopChild: () => {},
    emit: () => {},
    actionExecutor: () => {},
  } as unknown as ActorScope<any, any, any, any>;
})();

/** The chart transitions a path takes in the model (re-simulated with a recorder). */
function modelTransitions(path: TestPath<ModelSnapshot, ModelEvent>): string[] {
  const taken: string[] = [];
  modelRecorder = (t) => taken.push(transitionName(t));
  try {
    let s = modelLogic.getInitialSnapshot(INERT_SCOPE, undefined);
    for (const step of path.steps.slice(1)) {
      s = modelLogic.transition(s, step.event, INERT_SCOPE);
      assert.equal(serializeModel(s), serializeModel(step.state), 'model re-simulation diverged from the generated path');
    }
  } finally {
    modelRecorder = null;
  }
  return taken;
}

// ---- replay against the real actor ----

/** What the fakes must have seen so far, accumulated from the path's events. */
interface Ledger {
  shutdowns: number;
  greeted: boolean;
  replies: unknown[];
  markStreaming: BatchOutcome[];
  batchFailed: string | null;
  /** The first error the path produced (read error or failed batch): the one the close reports. */
  firstError: string | null;
}

function realSerialization(h: ConnectionHarness): string {
  return serializeModel({ conn: h.snapshot, queued: h.inbox.size > 0 });
}

function checkCoherence(h: ConnectionHarness, ledger: Ledger): void {
  assert.deepEqual(h.problems, []);
  const snap = h.snapshot;
  const ctx = snap.context;
  const taken = h.records('batch-settled').reduce((n, r) => n + (r.outcome === 'done' ? r.taken : 0), 0);
  assert.equal(ctx.processed, taken, 'context.processed counts what the finished batches dequeued');

  assert.equal(h.count('registerReceiver'), ledger.greeted ? 1 : 0, 'registerReceiver once, after the greeting');
  if (ledger.greeted) {
    const firstMark = h.indexOf('markStreaming');
    assert.ok(firstMark === -1 || h.indexOf('registerReceiver') < firstMark, 'registered before marked Streaming');
  }
  assert.deepEqual(h.repliesWritten(), ledger.replies, 'the writer got the replies of every batch that did not send its own, in order');
  assert.deepEqual(
    h.records('markStreaming').map((r) => {
      const { taken: _t, queued: _q, ...rest } = r.result;
      return rest;
    }),
    ledger.markStreaming,
  );
  assert.equal(h.records('reader-received').filter((r) => r.event.type === 'STOP').length, ledger.shutdowns, 'one STOP per SHUTDOWN');

  const closed = snap.matches('closed');
  assert.equal(snap.status, closed ? 'done' : 'active');
  for (const kind of ['releaseReceiver', 'closeConnection', 'reader-stopped', 'writer-stopped'] as const) {
    assert.equal(h.count(kind), closed ? 1 : 0, `${kind} ${closed ? 'once when closed' : 'not before closed'}`);
  }
  if (!closed) return;
  const close = h.records('closeConnection')[0]!;
  assert.ok(h.indexOf('releaseReceiver') < h.indexOf('closeConnection'), 'slot released before the connection closes');
  assert.equal(close.error, ctx.error);
  assert.ok(h.lastIndexOf('writer-received') < h.indexOf('writer-stopped'), 'no reply is lost to the writer stopping');
  if (ledger.batchFailed) {
    assert.equal(ctx.error, ledger.firstError, 'the first error (read error or failed batch) is the reason the connection closed');
    const failedAt = h.log.findIndex((r) => r.kind === 'batch-settled' && r.outcome === 'error');
    assert.equal(h.log.slice(failedAt).filter((r) => r.kind === 'batch-started').length, 0, 'no flush (or anything) after a failed batch');
  } else {
    assert.equal(close.dirty, false, 'a connection that ends without a batch failure flushes everything first');
  }
}

function field<T>(event: { type: string }, name: string): T {
  const value = (event as unknown as Record<string, unknown>)[name];
  if (value === undefined) throw new Error(`${event.type} has no ${name}`);
  return value as T;
}

interface ReplayResult {
  /** Chart transitions the real actor took. */
  transitions: string[];
  /** State node ids the real actor was in after some step. */
  states: Set<string>;
  /** The connection's protocol version as its context holds it at the end. */
  protocolVersion: number;
}

async function replay(path: TestPath<ModelSnapshot, ModelEvent>, input: ConnectionInput = DEFAULT_INPUT): Promise<ReplayResult> {
  const h = new ConnectionHarness({ input }).start();
  const states = new Set<string>();
  const ledger: Ledger = { shutdowns: 0, greeted: false, replies: [], markStreaming: [], batchFailed: null, firstError: null };
  const pendingWith = (event: { type: string }) => ((event as { withMessages?: true }).withMessages ? 1 : 0);
  // Executors get the step's event typed as `{ type: string }`; each knows its own event's shape.
  const events: Record<string, (step: { event: { type: string } }) => Promise<void> | void> = {
    MESSAGES: () => h.deliver(1),
    EOF: ({ event }) => h.endOfStream(pendingWith(event)),
    READ_ERROR: ({ event }) => {
      ledger.firstError ??= field<string>(event, 'message');
      h.readError(field<string>(event, 'message'), pendingWith(event));
    },
    SHUTDOWN: () => {
      ledger.shutdowns++;
      h.shutdown();
    },
    BATCH_DONE: async ({ event }) => {
      const kind = field<BatchKind>(event, 'batch');
      const result = OUTCOMES[field<OutcomeName>(event, 'sample')];
      // Replies a batch has not sent itself (the greeting's, the vote's) are the writer's to send.
      if (!result.repliesSent) ledger.replies.push(...result.replies);
      if (kind === 'greet') ledger.greeted = true;
      if (kind === 'append' || (kind === 'vote' && result.readyToStream)) ledger.markStreaming.push(result);
      await h.complete(kind, result);
    },
    BATCH_FAILED: async ({ event }) => {
      const message = field<string>(event, 'error');
      ledger.batchFailed = message;
      ledger.firstError ??= message;
      await h.fail(field<BatchKind>(event, 'batch'), new Error(message));
    },
  };
  try {
    await path.test({
      events,
      states: {
        '*': (expected) => {
          assert.equal(realSerialization(h), serializeModel(expected), 'real actor is where the path says');
          checkCoherence(h, ledger);
          for (const node of h.snapshot._nodes) states.add(node.id);
        },
      },
    });
  } finally {
    h.stop();
  }
  return { transitions: h.transitionsTaken.map(transitionName), states, protocolVersion: h.context.protocolVersion };
}

// ---- the tests ----

/**
 * Every edge of the model graph (every model state × every event it offers),
 * each reached by a shortest path. getSimplePaths() is not usable here: the
 * model has ~70 states and ~250 edges with streaming ⇄ flushing cycles, and
 * enumerating all simple paths did not finish in minutes. Covering every
 * model edge is stronger than covering every chart transition, which the tests
 * below check separately.
 */
const edgeCoverGenerator: PathGenerator<ModelSnapshot, ModelEvent, undefined> = (logic, options) => {
  const serialize = (s: ModelSnapshot) => serializeModel(s);
  const toState = new Map<string, StatePath<ModelSnapshot, ModelEvent>>();
  for (const path of getShortestPaths(logic, options)) toState.set(serialize(path.state), path);
  const paths: Array<StatePath<ModelSnapshot, ModelEvent>> = [];
  for (const [key, { transitions }] of Object.entries(getAdjacencyMap(logic, options))) {
    const head = toState.get(key);
    if (!head) throw new Error(`model state ${key} has no shortest path`);
    for (const { event, state } of Object.values(transitions) as Array<{ event: ModelEvent; state: ModelSnapshot }>) {
      paths.push({ state, steps: [...head.steps, { event, state }], weight: head.weight + 1 });
    }
  }
  return paths;
};

const shortestPaths = testModel.getShortestPaths();
const edgePaths = testModel.getPaths(edgeCoverGenerator);

/**
 * Normal operation: messages, a clean EOF, and batches that succeed with the
 * outcome that moves the connection forward. Small enough (~24 states) for
 * getSimplePaths(): every loop-free route from connect to close.
 */
const NORMAL_SAMPLES = new Set<OutcomeName>(['greeted', 'votedElected', 'appended', 'flushed']);
const normalRoutes = testModel.getSimplePaths({
  events: (s) =>
    modelEvents(s).filter(
      (e) =>
        e.type === 'MESSAGES' ||
        (e.type === 'EOF' && !('withMessages' in e)) ||
        ('sample' in e && NORMAL_SAMPLES.has(e.sample)),
    ),
  toState: (s) => s.status === 'done',
});

function statesOnPaths(paths: Array<TestPath<ModelSnapshot, ModelEvent>>): Set<string> {
  const ids = new Set<string>();
  for (const path of paths) {
    for (const step of path.steps) for (const node of step.state.conn._nodes) ids.add(node.id);
  }
  return ids;
}

function missing(all: readonly string[], reached: Iterable<string>): string[] {
  const seen = new Set(reached);
  return all.filter((x) => !seen.has(x));
}

describe('connection chart: generated paths', () => {
  test('the definition is what the model assumes (one processing state per batch, no timers)', () => {
    assert.deepEqual(BATCHES.map((b) => b.kind).sort(), [...BATCH_KINDS].sort());
    assert.ok(TRANSITION_NAMES.length > 0);
    assert.deepEqual(
      STATE_NODES.filter((n) => n.after.length > 0).map((n) => n.id),
      [],
      'no delayed transitions: nothing is armed per commit',
    );
    assert.deepEqual(
      STATE_NODES.flatMap((n) => n.invoke.map((i) => i.src)).sort(),
      ['processor', 'reader', 'writer'],
      'three children for the whole connection, nothing invoked per batch',
    );
  });

  test('shortest paths reach every state node, nested ones included', (t) => {
    const adjacency = testModel.getAdjacencyMap();
    const edges = Object.values(adjacency).reduce((n, v) => n + Object.keys(v.transitions).length, 0);
    t.diagnostic(`model: ${Object.keys(adjacency).length} states, ${edges} edges`);
    t.diagnostic(`paths: ${shortestPaths.length} shortest, ${edgePaths.length} edge-cover (${edgePaths.reduce((n, p) => n + p.steps.length - 1, 0)} steps)`);
    const reached = statesOnPaths(shortestPaths);
    t.diagnostic(`chart states reached: ${STATE_IDS.filter((id) => reached.has(id)).length}/${STATE_IDS.length}`);
    assert.deepEqual(missing(STATE_IDS, reached), []);
  });

  test('edge-cover paths take every transition of the chart (in the model)', (t) => {
    const taken = new Set(edgePaths.flatMap(modelTransitions));
    t.diagnostic(`chart transitions taken: ${TRANSITION_NAMES.filter((n) => taken.has(n)).length}/${TRANSITION_NAMES.length}`);
    assert.deepEqual(missing(TRANSITION_NAMES, taken), []);
  });

  test('once the reader is done, every state reaches closed through batch completions alone (no hang)', (t) => {
    const readerDone = Object.values(testModel.getAdjacencyMap())
      .map((v) => v.state)
      .filter((s) => s.status === 'active' && s.conn.context.eof);
    t.diagnostic(`model states after the reader ended: ${readerDone.length}`);
    assert.ok(readerDone.length > 0);
    const stuck = readerDone.filter(
      (fromState) =>
        getShortestPaths(modelLogic, {
          fromState,
          serializeState: (s) => serializeModel(s),
          events: (s) => modelEvents(s).filter((e) => 'sample' in e),
          toState: (s) => s.status === 'done',
        }).length === 0,
    );
    assert.deepEqual(stuck.map(serializeModel), []);
  });

  test('shortest paths replay on the real actor, reaching every state', async () => {
    const reached = new Set<string>();
    for (const path of shortestPaths) for (const id of (await replay(path)).states) reached.add(id);
    assert.deepEqual(missing(STATE_IDS, reached), []);
  });

  test('simple paths of normal operation all end closed, clean and flushed', async (t) => {
    t.diagnostic(`normal-operation simple paths to closed: ${normalRoutes.length}`);
    assert.ok(normalRoutes.length > 10);
    for (const path of normalRoutes) {
      await replay(path); // checkCoherence: a close without a failed batch is never dirty
      assert.equal(path.state.conn.value, 'closed');
      assert.equal(path.state.conn.context.error, null);
    }
  });

  test('edge-cover paths replay on the real actor, taking every transition', async () => {
    const taken = new Set<string>();
    for (const path of edgePaths) for (const name of (await replay(path)).transitions) taken.add(name);
    assert.deepEqual(missing(TRANSITION_NAMES, taken), []);
  });

  test('a protocol v3 connection takes exactly the same transitions on every edge-cover path', async () => {
    const v3: ConnectionInput = { ...DEFAULT_INPUT, protocolVersion: 3 };
    for (const path of edgePaths) {
      const [a, b] = [await replay(path), await replay(path, v3)];
      assert.deepEqual(b.transitions, a.transitions);
      assert.deepEqual([...b.states], [...a.states]);
      assert.deepEqual([a.protocolVersion, b.protocolVersion], [2, 3]);
    }
  });
});
