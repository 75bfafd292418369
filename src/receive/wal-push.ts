// Binds the connection statechart to real sockets and timelines: every actor,
// guard and side effect the chart names, implemented over the session table.

import { connectionMachine, type BatchResult } from '../../machines/connection.js';
import type { Timelines } from '../timeline/timelines.js';
import { processorActor } from './processor.js';
import { readerActor } from './reader.js';
import type { SessionTable } from './session.js';
import { writerActor } from './writer.js';

export function walPushMachine(sessions: SessionTable, timelines: Timelines) {
  return connectionMachine.provide({
    actors: {
      reader: readerActor(sessions),
      writer: writerActor(sessions),
      processor: processorActor(sessions, timelines),
    },
    guards: {
      hasQueuedMessages: ({ context }) => {
        const s = sessionOrNull(sessions, context.connId);
        return s !== null && s.inbox.length > 0;
      },
    },
    actions: {
      registerReceiver: ({ context }) => {
        sessions.get(context.connId).timeline?.walReceivers.register(context.connId);
      },
      markStreaming: ({ context }, params: { result: BatchResult }) => {
        if (params.result.sawElected) {
          sessions.get(context.connId).timeline?.walReceivers.setStatus(context.connId, 'Streaming');
        }
      },
      releaseReceiver: ({ context }) => {
        sessionOrNull(sessions, context.connId)?.timeline?.walReceivers.unregister(context.connId);
      },
    },
  });
}

function sessionOrNull(sessions: SessionTable, connId: number) {
  try {
    return sessions.get(connId);
  } catch {
    return null;
  }
}
