// The lifecycle of one walproposer connection (START_WAL_PUSH), as a statechart:
//
//   greeting ─► voting ─► streaming ⇄ flushing ─► closed
//
// The chart only sequences. Bytes never pass through it: the reader child
// parses CopyData into a bounded queue that lives outside the chart (xstate
// drops events a state does not handle, so a queue inside events would lose
// messages) and signals MESSAGES; the processing states pull whole batches
// from that queue through the timeline and hand the replies to the writer
// child. The implementations of every actor, guard and side-effect action are
// supplied by the server with `.provide()`; the defaults here are inert so
// the chart can be drawn, model-tested and inspected on its own.

import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { AcceptorMessage } from '../src/protocol/messages.js';

/** One second, as Neon's FLUSH_INTERVAL: unflushed appends are answered at least this often. */
export const FLUSH_INTERVAL_MS = 1000;

export interface ConnectionInput {
  connId: number;
  /** `tenant/timeline` from the startup packet. */
  ttid: string;
  peer: string;
}

/** What the timeline reports after a batch; LSNs as `X/Y` text so snapshots stay JSON-friendly. */
export interface Progress {
  term: string;
  flushLsn: string;
  commitLsn: string;
}

export interface BatchResult {
  replies: AcceptorMessage[];
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
  progress: Progress | null;
}

export interface ConnectionContext extends ConnectionInput {
  term: string;
  flushLsn: string;
  commitLsn: string;
  /** Unflushed appends since the last FlushWAL. */
  dirty: boolean;
  /** The 1 s flush tick fired while streaming stayed busy. */
  flushDue: boolean;
  /** The reader is done (EOF, read error or shutdown): drain the queue, flush, close. */
  eof: boolean;
  /** Why the connection ends with an ErrorResponse; null for a clean end. */
  error: string | null;
  /** Messages processed on this connection. */
  processed: number;
  /** Inbox depth at the end of the last batch. */
  queueDepth: number;
}

export type ConnectionEvent =
  | { type: 'MESSAGES' }
  | { type: 'EOF' }
  | { type: 'READ_ERROR'; message: string }
  | { type: 'SHUTDOWN' };

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
export type WriterEvent = { type: 'SEND'; replies: AcceptorMessage[] } | { type: 'CLOSE'; summary: ConnectionSummary };
export type ReaderEvent = { type: 'STOP' };

const inertBatch = fromPromise<BatchResult, ConnectionInput>(async () => ({
  replies: [],
  sawElected: false,
  readyToStream: false,
  appended: false,
  taken: 0,
  queued: 0,
  progress: null,
}));

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: {
    reader: fromCallback<ReaderEvent, ConnectionInput>(() => () => {}),
    writer: fromCallback<WriterEvent, ConnectionInput>(() => () => {}),
    greet: inertBatch,
    vote: inertBatch,
    append: inertBatch,
    flush: inertBatch,
  },
  guards: {
    hasQueuedMessages: () => false,
    isDirty: ({ context }) => context.dirty,
    isEof: ({ context }) => context.eof,
    batchReadyToStream: (_, params: { result: BatchResult }) => params.result.readyToStream,
    /** The 1 s tick fired during a busy stretch and there is something to flush. */
    flushDueAfterBatch: ({ context }, params: { result: BatchResult }) =>
      context.flushDue && (context.dirty || params.result.appended),
  },
  actions: {
    stopReading: sendTo('reader', { type: 'STOP' as const }),
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
        dirty: context.dirty || result.appended,
        processed: context.processed + result.taken,
        queueDepth: result.queued,
        ...(p ? { term: p.term, flushLsn: p.flushLsn, commitLsn: p.commitLsn } : {}),
      };
    }),
    sendReplies: sendTo('writer', (_, params: { result: BatchResult }) => ({
      type: 'SEND' as const,
      replies: params.result.replies,
    })),
    /** The first cause wins: a processing error after a read error does not hide it. */
    recordError: assign(({ context }, params: { error: unknown }) => ({ error: context.error ?? errorText(params.error) })),
  },
  delays: {
    flushInterval: FLUSH_INTERVAL_MS,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    ...input,
    term: '0',
    flushLsn: '0/0',
    commitLsn: '0/0',
    dirty: false,
    flushDue: false,
    eof: false,
    error: null,
    processed: 0,
    queueDepth: 0,
  }),
  invoke: [
    { id: 'reader', src: 'reader', input: ({ context }) => pickInput(context) },
    { id: 'writer', src: 'writer', input: ({ context }) => pickInput(context) },
  ],
  on: {
    EOF: { actions: assign({ eof: true }) },
    READ_ERROR: { actions: assign(({ context, event }) => ({ eof: true, error: context.error ?? event.message })) },
    SHUTDOWN: { actions: ['stopReading', assign({ eof: true })] },
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
          invoke: {
            src: 'greet',
            input: ({ context }) => pickInput(context),
            onDone: {
              target: '#connection.voting',
              actions: [
                { type: 'applyBatch', params: batchOutput },
                { type: 'sendReplies', params: batchOutput },
                'registerReceiver',
              ],
            },
            onError: {
              target: '#connection.closed',
              actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) },
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
          invoke: {
            src: 'vote',
            input: ({ context }) => pickInput(context),
            onDone: [
              {
                guard: { type: 'batchReadyToStream', params: batchOutput },
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
            onError: {
              target: '#connection.closed',
              actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) },
            },
          },
        },
      },
    },
    streaming: {
      initial: 'waiting',
      // The tick only raises a flag: leaving `appending` mid-batch would abandon a running batch.
      after: { flushInterval: { actions: assign({ flushDue: true }) } },
      states: {
        waiting: {
          always: [
            { guard: 'hasQueuedMessages', target: 'appending' },
            { guard: 'isDirty', target: '#connection.flushing' },
            { guard: 'isEof', target: '#connection.closed' },
          ],
          on: { MESSAGES: { guard: 'hasQueuedMessages', target: 'appending' } },
        },
        appending: {
          invoke: {
            src: 'append',
            input: ({ context }) => pickInput(context),
            onDone: [
              {
                // Busy for a whole second: flush now even though more messages are queued.
                guard: { type: 'flushDueAfterBatch', params: batchOutput },
                target: '#connection.flushing',
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
                  { type: 'markStreaming', params: batchOutput },
                ],
              },
            ],
            onError: {
              target: '#connection.closed',
              actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) },
            },
          },
        },
      },
    },
    flushing: {
      invoke: {
        src: 'flush',
        input: ({ context }) => pickInput(context),
        onDone: {
          target: 'streaming',
          actions: [
            { type: 'applyBatch', params: batchOutput },
            { type: 'sendReplies', params: batchOutput },
            assign({ dirty: false, flushDue: false }),
          ],
        },
        onError: {
          target: 'closed',
          actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) },
        },
      },
    },
    closed: {
      type: 'final',
      entry: ['releaseReceiver', 'closeConnection'],
    },
  },
});

/** Parameters of the batch actions and guards: the finished batch's result. */
function batchOutput({ event }: { event: { output: BatchResult } }): { result: BatchResult } {
  return { result: event.output };
}

function pickInput(context: ConnectionContext): ConnectionInput {
  return { connId: context.connId, ttid: context.ttid, peer: context.peer };
}

export type ConnectionMachine = typeof connectionMachine;
