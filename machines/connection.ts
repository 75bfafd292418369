// The lifecycle of one walproposer connection (START_WAL_PUSH), as a statechart:
//
//   greeting ─► voting ─► streaming ⇄ flushing ─► closed
//
// The chart only sequences. Bytes never pass through it: the reader child
// parses CopyData into a bounded queue that lives outside the chart (xstate
// drops events a state does not handle, so a queue inside events would lose
// messages) and signals MESSAGES; each processing state asks the processor
// child to RUN one batch (everything queued, through the timeline) and moves
// on when it reports BATCH_DONE or BATCH_FAILED. The greeting's and the vote's
// replies go to the writer child; while streaming, a batch puts its replies on
// the wire itself (an acknowledgement must leave the moment it is durable), so
// the chart only takes note of the positions. All three children live as long
// as the connection: nothing is spawned per batch and no timer is armed per
// commit, so a commit costs three macrosteps (MESSAGES, the append's
// BATCH_DONE, the flush's BATCH_DONE), each with one context update.
// The implementations of every actor, guard and side-effect action are
// supplied by the server with `.provide()`; the defaults here are inert so
// the chart can be drawn, model-tested and inspected on its own.

import { and, assign, fromCallback, not, or, sendTo, setup } from 'xstate';
import type { AcceptorMessage } from '../src/protocol/messages.js';

/**
 * One second, as Neon's FLUSH_INTERVAL: unflushed appends are answered at least this often.
 * The processor measures it (BatchResult.flushDue), so no timer runs per commit.
 */
export const FLUSH_INTERVAL_MS = 1000;

export interface ConnectionInput {
  connId: number;
  /** `tenant/timeline` from the startup packet. */
  ttid: string;
  peer: string;
  /** proto_version of START_WAL_PUSH (2 or 3), fixed for the connection. */
  protocolVersion: number;
}

/** What the timeline reports after a batch; LSNs as `X/Y` text so snapshots stay JSON-friendly. */
export interface Progress {
  /** The timeline's membership generation (0: none). */
  generation: number;
  term: string;
  flushLsn: string;
  commitLsn: string;
}

export interface BatchResult {
  replies: AcceptorMessage[];
  /**
   * The replies are on the wire already: a streaming batch sends its own (a flush's AppendResponse
   * as soon as it is durable, src/receive/direct-ack.ts), so they do not go to the writer.
   */
  repliesSent: boolean;
  /** A FlushWAL ran: everything appended before it is durable (the chart's `dirty` clears). */
  flushed: boolean;
  /** A ProposerElected was dequeued (the walreceiver slot turns Streaming, even if it was ignored). */
  sawElected: boolean;
  /** Voting is over on this connection: an Elected was processed or an AppendRequest is next. */
  readyToStream: boolean;
  /** An AppendRequest was processed since the last flush (heartbeats and refused ones count). */
  appended: boolean;
  /** Messages taken from the queue by this batch. */
  taken: number;
  /** Messages still queued when the batch ended (for observers; the chart does not branch on it). */
  queued: number;
  /**
   * An append batch ended FLUSH_INTERVAL_MS or more after streaming was (re)entered (the end of
   * the vote or of the last flush): a busy connection flushes now even though more is queued.
   */
  flushDue: boolean;
  progress: Progress | null;
}

export interface ConnectionContext extends ConnectionInput {
  generation: number;
  term: string;
  flushLsn: string;
  commitLsn: string;
  /** Unflushed appends since the last FlushWAL. */
  dirty: boolean;
  /** The reader is done (EOF, read error or shutdown): drain the queue, flush, close. */
  eof: boolean;
  /** Why the connection ends with an ErrorResponse; null for a clean end. */
  error: string | null;
  /** Messages processed on this connection. */
  processed: number;
  /** Inbox depth at the end of the last batch. */
  queueDepth: number;
}

/** The batches the processor runs; which one is implied by the state that asks for it. */
export type BatchKind = 'greet' | 'vote' | 'append' | 'flush';

export type ConnectionEvent =
  | { type: 'MESSAGES' }
  | { type: 'EOF' }
  | { type: 'READ_ERROR'; message: string }
  | { type: 'SHUTDOWN' }
  | { type: 'BATCH_DONE'; batch: BatchKind; result: BatchResult }
  | { type: 'BATCH_FAILED'; batch: BatchKind; error: string };

/** What the closing connection reports: its last known position and why it ended (null: cleanly). */
export interface ConnectionSummary {
  error: string | null;
  term: string;
  flushLsn: string;
  commitLsn: string;
  processed: number;
}

/**
 * SEND carries a batch's replies; CLOSE ends the connection. Closing goes through the writer's
 * mailbox too, so it always comes after the replies of the batch that ended the connection
 * (sendTo is deferred to the end of the step; an inline action on `closed` would overtake it).
 */
export type WriterEvent = { type: 'SEND'; replies: AcceptorMessage[]; sent: boolean } | { type: 'CLOSE'; summary: ConnectionSummary };
export type ReaderEvent = { type: 'STOP' };
/** One batch at a time: the chart sends RUN only from a processing state, which waits for its result. */
export type ProcessorEvent = { type: 'RUN'; batch: BatchKind };

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: {
    reader: fromCallback<ReaderEvent, ConnectionInput>(() => () => {}),
    writer: fromCallback<WriterEvent, ConnectionInput>(() => () => {}),
    processor: fromCallback<ProcessorEvent, ConnectionInput>(() => () => {}),
  },
  guards: {
    hasQueuedMessages: () => false,
    isEof: ({ context }) => context.eof,
    batchReadyToStream: ({ event }) => event.type === 'BATCH_DONE' && event.result.readyToStream,
    /** Something is unflushed once this batch is applied. */
    dirtyAfterBatch: ({ context, event }) => event.type === 'BATCH_DONE' && (context.dirty || event.result.appended),
    /** Busy for FLUSH_INTERVAL_MS since the last flush (the processor's FlushClock). */
    flushDue: ({ event }) => event.type === 'BATCH_DONE' && event.result.flushDue,
  },
  actions: {
    stopReading: sendTo('reader', { type: 'STOP' as const }),
    run: sendTo('processor', (_, params: { batch: BatchKind }) => ({ type: 'RUN' as const, batch: params.batch })),
    /** Side effects supplied by the server. */
    registerReceiver: () => {},
    /** The walreceiver slot turns Streaming when a batch dequeued a ProposerElected. */
    markStreaming: (_, params: { result: BatchResult }) => {
      void params;
    },
    releaseReceiver: () => {},
    closeConnection: sendTo('writer', ({ context }) => ({
      type: 'CLOSE' as const,
      summary: {
        error: context.error,
        term: context.term,
        flushLsn: context.flushLsn,
        commitLsn: context.commitLsn,
        processed: context.processed,
      },
    })),
    applyBatch: assign(({ context }, params: { result: BatchResult }) => {
      const { result } = params;
      const p = result.progress;
      return {
        dirty: !result.flushed && (context.dirty || result.appended),
        processed: context.processed + result.taken,
        queueDepth: result.queued,
        ...(p ? { generation: p.generation, term: p.term, flushLsn: p.flushLsn, commitLsn: p.commitLsn } : {}),
      };
    }),
    sendReplies: sendTo('writer', (_, params: { result: BatchResult }) => ({
      type: 'SEND' as const,
      replies: params.result.replies,
      sent: params.result.repliesSent,
    })),
    /** The first cause wins: a processing error after a read error does not hide it. */
    recordError: assign(({ context }, params: { error: string }) => ({ error: context.error ?? params.error })),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    ...input,
    generation: 0,
    term: '0',
    flushLsn: '0/0',
    commitLsn: '0/0',
    dirty: false,
    eof: false,
    error: null,
    processed: 0,
    queueDepth: 0,
  }),
  invoke: [
    { id: 'reader', src: 'reader', input: ({ context }) => pickInput(context) },
    { id: 'writer', src: 'writer', input: ({ context }) => pickInput(context) },
    { id: 'processor', src: 'processor', input: ({ context }) => pickInput(context) },
  ],
  on: {
    EOF: { actions: assign({ eof: true }) },
    READ_ERROR: { actions: assign(({ context, event }) => ({ eof: true, error: context.error ?? event.message })) },
    SHUTDOWN: { actions: ['stopReading', assign({ eof: true })] },
    // Any batch that fails ends the connection; no flush (or anything) runs after it.
    BATCH_FAILED: { target: '.closed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
  },
  initial: 'greeting',
  states: {
    greeting: {
      initial: 'waiting',
      states: {
        waiting: {
          always: [
            { guard: 'hasQueuedMessages', target: 'processing' },
            { guard: 'isEof', target: '#connection.closed' },
          ],
          on: { MESSAGES: { guard: 'hasQueuedMessages', target: 'processing' } },
        },
        processing: {
          entry: { type: 'run', params: { batch: 'greet' } },
          on: {
            BATCH_DONE: {
              target: '#connection.voting',
              actions: [
                { type: 'applyBatch', params: batchOutput },
                { type: 'sendReplies', params: batchOutput },
                'registerReceiver',
              ],
            },
          },
        },
      },
    },
    voting: {
      initial: 'waiting',
      states: {
        waiting: {
          always: [
            { guard: 'hasQueuedMessages', target: 'processing' },
            { guard: 'isEof', target: '#connection.closed' },
          ],
          on: { MESSAGES: { guard: 'hasQueuedMessages', target: 'processing' } },
        },
        processing: {
          entry: { type: 'run', params: { batch: 'vote' } },
          on: {
            BATCH_DONE: [
              {
                guard: 'batchReadyToStream',
                target: '#connection.streaming',
                actions: [
                  { type: 'applyBatch', params: batchOutput },
                  { type: 'sendReplies', params: batchOutput },
                  { type: 'markStreaming', params: batchOutput },
                ],
              },
              {
                target: 'waiting',
                actions: [
                  { type: 'applyBatch', params: batchOutput },
                  { type: 'sendReplies', params: batchOutput },
                ],
              },
            ],
          },
        },
      },
    },
    streaming: {
      initial: 'waiting',
      states: {
        waiting: {
          // Never dirty here: an append batch that leaves something unflushed goes to flushing
          // unless more is queued, and then this state moves straight on to appending.
          always: [
            { guard: 'hasQueuedMessages', target: 'appending' },
            { guard: 'isEof', target: '#connection.closed' },
          ],
          on: { MESSAGES: { guard: 'hasQueuedMessages', target: 'appending' } },
        },
        appending: {
          entry: { type: 'run', params: { batch: 'append' } },
          on: {
            BATCH_DONE: [
              {
                // Something to flush, and the queue is drained (the FlushWAL that acknowledges),
                // or a whole second went by busy (flush although more messages are queued).
                guard: and(['dirtyAfterBatch', or([not('hasQueuedMessages'), 'flushDue'])]),
                target: '#connection.flushing',
                actions: [
                  { type: 'applyBatch', params: batchOutput },
                  { type: 'markStreaming', params: batchOutput },
                ],
              },
              {
                target: 'waiting',
                actions: [
                  { type: 'applyBatch', params: batchOutput },
                  { type: 'markStreaming', params: batchOutput },
                ],
              },
            ],
          },
        },
      },
    },
    flushing: {
      entry: { type: 'run', params: { batch: 'flush' } },
      on: {
        // The result says `flushed`: applyBatch clears `dirty` (one context update per commit step).
        BATCH_DONE: { target: 'streaming', actions: { type: 'applyBatch', params: batchOutput } },
      },
    },
    closed: {
      type: 'final',
      entry: ['releaseReceiver', 'closeConnection'],
    },
  },
});

/** Parameters of the batch actions: the finished batch's result (only BATCH_DONE takes them). */
function batchOutput({ event }: { event: ConnectionEvent }): { result: BatchResult } {
  if (event.type !== 'BATCH_DONE') throw new Error(`batch actions run on BATCH_DONE, not ${event.type}`);
  return { result: event.result };
}

function pickInput(context: ConnectionContext): ConnectionInput {
  return { connId: context.connId, ttid: context.ttid, peer: context.peer, protocolVersion: context.protocolVersion };
}

export type ConnectionMachine = typeof connectionMachine;
