// The lifecycle of one replication connection (START_REPLICATION), as a statechart:
//
//   opening ─► streaming ⇄ waiting ─► closed
//
// Like the walproposer connection's chart, it only sequences. A long-lived `streamer` child
// reads WAL and writes XLogData (bytes never pass through the chart) and reports when it is
// caught up (CAUGHT_UP) and when WAL flows again (WAL); a `client` child reads what the client
// sends back (feedback is data: it goes to the timeline, not here) and reports how the client
// ends the stream. Every end is one END event carrying why; `closed` answers the client as
// send-wal.md §3.6 says (supplied by the server with `.provide()`).

import { assign, fromCallback, sendTo, setup } from 'xstate';

export interface SenderInput {
  connId: number;
  /** `tenant/timeline`. */
  ttid: string;
  peer: string;
  appName: string | null;
  /** Where streaming starts, `X/Y`. */
  startLsn: string;
  /** commit: up to commit_lsn (pageservers, standbys, pg_receivewal); flush: up to flush_lsn for a term (recovery). */
  mode: 'commit' | 'flush';
  /** The term of a flush-mode stream, as text (u64). */
  term: string | null;
}

export type SenderEndReason =
  | 'copy-done' // the client sent CopyDone: answer CopyDone, close
  | 'copy-fail' // the client sent CopyFail: ErrorResponse 00000 `received CopyFail`, close
  | 'client-gone' // Terminate, EOF, socket error or a protocol violation: close, nothing sent
  | 'caught-up' // a pageserver is caught up and no compute is left: ErrorResponse 00000, close
  | 'error' // a read, term or client-message error: ErrorResponse XX000, close
  | 'shutdown'; // the safekeeper stops

export interface SenderContext extends SenderInput {
  /** Position streamed up to and the end position last seen, `X/Y`. */
  pos: string;
  endPos: string;
  reason: SenderEndReason | null;
  message: string | null;
}

export type SenderEvent =
  | { type: 'READY' }
  | { type: 'CAUGHT_UP'; pos: string; endPos: string }
  | { type: 'WAL'; pos: string; endPos: string }
  | { type: 'END'; reason: SenderEndReason; message?: string; pos?: string };

export type StreamerEvent = { type: 'STOP' };

export const senderMachine = setup({
  types: {
    context: {} as SenderContext,
    events: {} as SenderEvent,
    input: {} as SenderInput,
  },
  actors: {
    streamer: fromCallback<StreamerEvent, SenderInput>(() => () => {}),
    client: fromCallback<StreamerEvent, SenderInput>(() => () => {}),
  },
  actions: {
    /** Answers the client for the reason of the end and closes the socket (send-wal.md §3.6). */
    closeStream: () => {},
    stopStreamer: sendTo('streamer', { type: 'STOP' as const }),
    position: assign(({ event }) => (event.type === 'CAUGHT_UP' || event.type === 'WAL' ? { pos: event.pos, endPos: event.endPos } : {})),
  },
}).createMachine({
  id: 'sender',
  context: ({ input }) => ({ ...input, pos: input.startLsn, endPos: '0/0', reason: null, message: null }),
  invoke: [
    { id: 'streamer', src: 'streamer', input: ({ context }) => pick(context) },
    { id: 'client', src: 'client', input: ({ context }) => pick(context) },
  ],
  on: {
    // The first cause wins: whatever ends the stream, nothing after it changes the answer.
    END: {
      target: '.closed',
      actions: assign(({ context, event }) => ({
        reason: context.reason ?? event.reason,
        message: context.message ?? event.message ?? null,
        pos: event.pos ?? context.pos,
      })),
    },
  },
  initial: 'opening',
  states: {
    opening: { on: { READY: 'streaming' } },
    streaming: { on: { CAUGHT_UP: { target: 'waiting', actions: 'position' } } },
    waiting: { on: { WAL: { target: 'streaming', actions: 'position' }, CAUGHT_UP: { actions: 'position' } } },
    closed: { type: 'final', entry: ['stopStreamer', 'closeStream'] },
  },
});

function pick(c: SenderContext): SenderInput {
  return { connId: c.connId, ttid: c.ttid, peer: c.peer, appName: c.appName, startLsn: c.startLsn, mode: c.mode, term: c.term };
}

export type SenderMachine = typeof senderMachine;
