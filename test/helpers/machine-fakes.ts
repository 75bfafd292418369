// Fakes for the connection statechart: every actor, guard and side-effect
// action the server supplies through `.provide()`, replaced by recorders the
// tests control. The chart itself runs for real (createActor). The 1 s flush
// tick is the processor's business: a test says an append batch ended with
// the flush due through its outcome (flushDue), as the real FlushClock would.
//
// The fakes mirror the server's contract, not its code:
// - the reader pushes parsed messages into an inbox that lives outside the
//   chart and signals MESSAGES (or EOF / READ_ERROR) through sendBack;
// - the processor, asked to RUN a batch: greet takes one message (the greeting,
//   as the server's greet does), vote and append take everything queued, flush
//   takes nothing; then the batch waits until the test settles it, which the
//   processor reports as BATCH_DONE or BATCH_FAILED. (The server's vote
//   stops at an Elected or before an AppendRequest; tests model leftovers with
//   enqueueSilently, the chart only sees "is the queue empty".)
// - every reply list and every side effect lands in one chronological log so
//   tests can assert order, not just counts.

import { createActor, fromCallback, type Actor, type AnyTransitionDefinition, type InspectionEvent } from 'xstate';
import {
  connectionMachine,
  type BatchKind,
  type BatchResult,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ProcessorEvent,
  type ReaderEvent,
  type WriterEvent,
} from '../../machines/connection.js';
import { EMPTY_HS_FEEDBACK, type AcceptorMessage } from '../../src/protocol/messages.js';

export type { BatchKind };

/** A parsed proposer message as far as the chart is concerned: only its identity matters. */
export interface FakeMessage {
  seq: number;
}

/** What a batch reports; `taken` and `queued` are filled in by the fake from its real inbox. */
export type BatchOutcome = Omit<BatchResult, 'taken' | 'queued'>;

export type FakeRecord =
  | { kind: 'reader-started' }
  | { kind: 'reader-received'; event: ReaderEvent }
  | { kind: 'reader-stopped' }
  | { kind: 'writer-started' }
  | { kind: 'writer-received'; replies: AcceptorMessage[] }
  | { kind: 'writer-stopped' }
  | { kind: 'batch-started'; batch: BatchKind; taken: number }
  | { kind: 'batch-settled'; batch: BatchKind; outcome: 'done' | 'error'; taken: number }
  | { kind: 'registerReceiver'; connId: number }
  | { kind: 'markStreaming'; result: BatchResult }
  | { kind: 'releaseReceiver'; connId: number }
  | { kind: 'closeConnection'; error: string | null; dirty: boolean };

export type FakeRecordKind = FakeRecord['kind'];

/** The bounded queue between the reader and the chart, reduced to what the chart observes. */
export class FakeInbox {
  private items: FakeMessage[] = [];
  private nextSeq = 1;

  get size(): number {
    return this.items.length;
  }

  push(count: number): FakeMessage[] {
    const added: FakeMessage[] = [];
    for (let i = 0; i < count; i++) added.push({ seq: this.nextSeq++ });
    this.items.push(...added);
    return added;
  }

  take(count: number): FakeMessage[] {
    return this.items.splice(0, count);
  }

  takeAll(): FakeMessage[] {
    return this.items.splice(0, this.items.length);
  }
}

interface PendingBatch {
  batch: BatchKind;
  taken: FakeMessage[];
  resolve: (result: BatchResult) => void;
  reject: (error: Error) => void;
}

export const DEFAULT_INPUT: ConnectionInput = Object.freeze({ connId: 7, ttid: 'tenant/timeline', peer: '127.0.0.1:5432', protocolVersion: 2 });

// ---- sample replies and outcomes ----

export function greetingReply(): AcceptorMessage {
  return { kind: 'AcceptorGreeting', mconf: { generation: 0, members: [], newMembers: null }, term: 1n, nodeId: 1n };
}

export function voteReply(voteGiven = true): AcceptorMessage {
  return {
    kind: 'VoteResponse', generation: 0,
    term: 2n,
    voteGiven,
    flushLsn: 0x1000000n,
    truncateLsn: 0n,
    termHistory: [{ term: 1n, lsn: 0x1000000n }],
    timelineStartLsn: 0x1000000n,
  };
}

export function appendReply(flushLsn = 0x1000100n): AcceptorMessage {
  return { kind: 'AppendResponse', generation: 0, term: 2n, flushLsn, commitLsn: 0x1000000n, hsFeedback: { ...EMPTY_HS_FEEDBACK } };
}

export function outcome(fields: Partial<BatchOutcome> = {}): BatchOutcome {
  return { replies: [], repliesSent: false, flushed: false, sawElected: false, readyToStream: false, appended: false, flushDue: false, progress: null, ...fields };
}

/** Samples used by the model and by the scenarios: one per branch the chart can take. */
export const OUTCOMES = {
  greeted: outcome({ replies: [greetingReply()], progress: { generation: 0, term: '1', flushLsn: '0/0', commitLsn: '0/0' } }),
  votedStillVoting: outcome({ replies: [voteReply()] }),
  votedElected: outcome({
    replies: [voteReply()],
    sawElected: true,
    readyToStream: true,
    progress: { generation: 0, term: '2', flushLsn: '0/1000000', commitLsn: '0/0' },
  }),
  /**
   * The batch filled a segment, so the flush position moved and the acceptor replied. Streaming
   * batches send their replies themselves (repliesSent), as the server's do.
   */
  appended: outcome({
    replies: [appendReply(0x2000000n)],
    repliesSent: true,
    appended: true,
    progress: { generation: 0, term: '2', flushLsn: '0/2000000', commitLsn: '0/1000000' },
  }),
  appendedNothing: outcome({ repliesSent: true }),
  /** As `appended`, but streaming has been busy for FLUSH_INTERVAL_MS since its last flush. */
  appendedFlushDue: outcome({
    replies: [appendReply(0x2000000n)],
    repliesSent: true,
    appended: true,
    flushDue: true,
    progress: { generation: 0, term: '2', flushLsn: '0/2000000', commitLsn: '0/1000000' },
  }),
  /** The flush is due but this batch appended nothing (e.g. only an Elected was queued). */
  appendedNothingFlushDue: outcome({ repliesSent: true, flushDue: true }),
  flushed: outcome({ replies: [appendReply()], repliesSent: true, flushed: true, progress: { generation: 0, term: '2', flushLsn: '0/1000100', commitLsn: '0/1000000' } }),
} satisfies Record<string, BatchOutcome>;

// ---- the harness ----

export interface HarnessOptions {
  input?: ConnectionInput;
  /** Messages already queued when the connection actor starts. */
  prefill?: number;
}

export class ConnectionHarness {
  readonly inbox = new FakeInbox();
  readonly log: FakeRecord[] = [];
  /** Every machine transition definition the real actor took, in order (from inspection microsteps). */
  readonly transitionsTaken: AnyTransitionDefinition[] = [];
  /** Broken fake expectations (e.g. two batches at once); tests assert this stays empty. */
  readonly problems: string[] = [];
  /** Leaf states the actor rested in, in order, consecutive repeats dropped (e.g. 'streaming.waiting'). */
  readonly trail: string[] = [];
  readonly actor: Actor<typeof connectionMachine>;

  private pending: PendingBatch | null = null;
  private readerSendBack: ((event: ConnectionEvent) => void) | null = null;
  private processorSendBack: ((event: ConnectionEvent) => void) | null = null;
  private readerRunning = false;

  constructor(options: HarnessOptions = {}) {
    if (options.prefill) this.inbox.push(options.prefill);
    const machine = connectionMachine.provide({
      actors: {
        reader: fromCallback<ReaderEvent, ConnectionInput>(({ sendBack, receive }) => {
          this.readerSendBack = sendBack as (event: ConnectionEvent) => void;
          this.readerRunning = true;
          this.log.push({ kind: 'reader-started' });
          receive((event) => this.log.push({ kind: 'reader-received', event }));
          return () => {
            this.readerRunning = false;
            this.log.push({ kind: 'reader-stopped' });
          };
        }),
        writer: fromCallback<WriterEvent, ConnectionInput>(({ receive }) => {
          this.log.push({ kind: 'writer-started' });
          receive((event) => {
            if (event.type === 'CLOSE') {
              const { error } = event.summary;
              this.log.push({ kind: 'closeConnection', error, dirty: this.actor.getSnapshot().context.dirty });
            } else {
              this.log.push({ kind: 'writer-received', replies: event.replies });
            }
          });
          return () => this.log.push({ kind: 'writer-stopped' });
        }),
        processor: fromCallback<ProcessorEvent, ConnectionInput>(({ sendBack, receive }) => {
          this.processorSendBack = sendBack as (event: ConnectionEvent) => void;
          receive((event) => this.startBatch(event.batch));
          return () => {
            this.processorSendBack = null;
          };
        }),
      },
      guards: {
        hasQueuedMessages: () => this.inbox.size > 0,
      },
      actions: {
        registerReceiver: ({ context }) => this.log.push({ kind: 'registerReceiver', connId: context.connId }),
        markStreaming: (_, params) => this.log.push({ kind: 'markStreaming', result: params.result }),
        releaseReceiver: ({ context }) => this.log.push({ kind: 'releaseReceiver', connId: context.connId }),
      },
    });
    this.actor = createActor(machine, {
      input: options.input ?? DEFAULT_INPUT,
      inspect: (event: InspectionEvent) => {
        // Only machine actors emit microsteps, and the connection is the only machine here.
        // (Checking actorRef against this.actor would miss the initial microsteps, which run
        // inside createActor before it returns.)
        if (event.type === '@xstate.microstep') {
          this.transitionsTaken.push(...event._transitions);
        }
      },
    });
  }

  private startBatch(batch: BatchKind): void {
    if (this.pending) this.problems.push(`${batch} started while ${this.pending.batch} was still running`);
    const taken = batch === 'flush' ? [] : batch === 'greet' ? this.inbox.take(1) : this.inbox.takeAll();
    this.log.push({ kind: 'batch-started', batch, taken: taken.length });
    // Like the real processor: a result is reported only while the connection is alive.
    const report = (event: ConnectionEvent) => this.processorSendBack?.(event);
    this.pending = {
      batch,
      taken,
      resolve: (result) => report({ type: 'BATCH_DONE', batch, result }),
      reject: (error) => report({ type: 'BATCH_FAILED', batch, error: error instanceof Error ? error.message : String(error) }),
    };
  }

  start(): this {
    const rest = () => {
      const name = leafState(this.actor.getSnapshot().value);
      if (this.trail[this.trail.length - 1] !== name) this.trail.push(name);
    };
    this.actor.subscribe({ next: rest, error: (err) => this.problems.push(`actor failed: ${String(err)}`) });
    rest();
    this.actor.start();
    return this;
  }

  get snapshot() {
    return this.actor.getSnapshot();
  }

  get context(): ConnectionContext {
    return this.snapshot.context;
  }

  /** The batch actor currently running, if any. */
  get running(): BatchKind | null {
    return this.pending?.batch ?? null;
  }

  /** Reader side: `count` messages parsed into the inbox, then the MESSAGES signal. */
  deliver(count = 1): void {
    this.requireReader('deliver messages');
    this.inbox.push(count);
    this.readerSendBack!({ type: 'MESSAGES' });
  }

  /** Reader side: messages parsed into the inbox without a signal yet. */
  enqueueSilently(count = 1): void {
    this.inbox.push(count);
  }

  /**
   * Reader side: the stream ended. `withMessages` > 0 is a last chunk that also carried
   * messages: like the real reader, they are queued first and signalled after the EOF.
   */
  endOfStream(withMessages = 0): void {
    this.endReading({ type: 'EOF' }, withMessages);
  }

  /** Reader side: a socket or decoding error, with the same `withMessages` ordering as endOfStream. */
  readError(message: string, withMessages = 0): void {
    this.endReading({ type: 'READ_ERROR', message }, withMessages);
  }

  private endReading(event: ConnectionEvent, withMessages: number): void {
    this.requireReader(`report ${event.type}`);
    if (withMessages > 0) this.inbox.push(withMessages);
    this.readerSendBack!(event);
    if (withMessages > 0) this.readerSendBack!({ type: 'MESSAGES' });
  }

  shutdown(): void {
    this.actor.send({ type: 'SHUTDOWN' });
  }

  /** Resolves the running batch and waits until the chart has processed its done event. */
  async complete(expected: BatchKind, result: BatchOutcome): Promise<void> {
    const pending = this.takePending(expected);
    this.log.push({ kind: 'batch-settled', batch: expected, outcome: 'done', taken: pending.taken.length });
    pending.resolve({ ...result, taken: pending.taken.length, queued: this.inbox.size });
    await this.settled();
  }

  /** Rejects the running batch and waits until the chart has processed its error event. */
  async fail(expected: BatchKind, error: Error): Promise<void> {
    const pending = this.takePending(expected);
    this.log.push({ kind: 'batch-settled', batch: expected, outcome: 'error', taken: pending.taken.length });
    pending.reject(error);
    await this.settled();
  }

  /**
   * Waits until the chart has taken the settled batch's BATCH_DONE/BATCH_FAILED: that event
   * always moves the chart on, so the snapshot changes. The processor reports synchronously,
   * so this normally returns at once; a few microtask turns and a macrotask are the fallback.
   */
  private async settled(): Promise<void> {
    const before = this.actor.getSnapshot();
    for (let i = 0; i < 20 && this.actor.getSnapshot() === before; i++) await Promise.resolve();
    if (this.actor.getSnapshot() === before) await settle();
  }

  count(kind: FakeRecordKind): number {
    return this.log.filter((r) => r.kind === kind).length;
  }

  records<K extends FakeRecordKind>(kind: K): Array<Extract<FakeRecord, { kind: K }>> {
    return this.log.filter((r): r is Extract<FakeRecord, { kind: K }> => r.kind === kind);
  }

  /** Index of the first record of `kind` in the log, -1 if none. */
  indexOf(kind: FakeRecordKind): number {
    return this.log.findIndex((r) => r.kind === kind);
  }

  /** Index of the last record of `kind` in the log, -1 if none. */
  lastIndexOf(kind: FakeRecordKind): number {
    for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i]!.kind === kind) return i;
    return -1;
  }

  /** Replies the writer received, flattened in arrival order. */
  repliesWritten(): AcceptorMessage[] {
    return this.records('writer-received').flatMap((r) => r.replies);
  }

  stop(): void {
    this.actor.stop();
  }

  private takePending(expected: BatchKind): PendingBatch {
    const pending = this.pending;
    if (!pending) throw new Error(`no batch is running; expected ${expected} (state ${JSON.stringify(this.snapshot.value)})`);
    if (pending.batch !== expected) throw new Error(`running batch is ${pending.batch}, expected ${expected}`);
    this.pending = null;
    return pending;
  }

  private requireReader(what: string): void {
    if (!this.readerRunning || !this.readerSendBack) throw new Error(`reader is not running, cannot ${what}`);
  }
}

/** 'streaming.waiting' for { streaming: 'waiting' }. */
export function leafState(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, inner] = Object.entries(value as Record<string, unknown>)[0]!;
  return `${key}.${leafState(inner)}`;
}

/** Lets a settled promise actor report to its parent: the done event travels through microtasks. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function startConnection(options: HarnessOptions = {}): ConnectionHarness {
  return new ConnectionHarness(options).start();
}
