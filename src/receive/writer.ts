// The writer child of a connection: replies → CopyData frames → socket. Like
// the seed's network_write it remembers the last AppendResponse and, whenever
// the timeline broadcasts pageserver feedback, re-sends a copy of it with the
// feedback attached (feedback before the first AppendResponse is dropped).

import { fromCallback } from 'xstate';
import type { ConnectionInput, ConnectionSummary, WriterEvent } from '../../machines/connection.js';
import type { AcceptorMessage, AppendResponse, PageserverFeedback } from '../protocol/messages.js';
import type { ProtocolCodec } from '../protocol/index.js';
import { copyDataHeader } from '../wire/index.js';
import type { SessionTable, WalPushSession } from './session.js';

/** Replies as the CopyData frames that carry them, in one buffer. */
export function encodeReplies(codec: ProtocolCodec, replies: readonly AcceptorMessage[]): Buffer {
  if (replies.length === 1) {
    const body = codec.encodeAcceptorMessage(replies[0]);
    return Buffer.concat([copyDataHeader(body.length), body]);
  }
  const parts: Buffer[] = [];
  for (const reply of replies) {
    const body = codec.encodeAcceptorMessage(reply);
    parts.push(copyDataHeader(body.length), body);
  }
  return Buffer.concat(parts);
}

function writeReplies(session: WalPushSession, replies: readonly AcceptorMessage[]): void {
  const { socket } = session;
  if (session.isEnded || socket.destroyed || !socket.writable) return;
  // Through the session's DirectAck: behind an acknowledgement the I/O thread may be sending.
  session.ack.write(encodeReplies(session.codec!, replies));
}

/** Logs the end with the connection's last positions, sends the ErrorResponse if any, closes. */
function closeSession(sessions: SessionTable, session: WalPushSession, summary: ConnectionSummary): void {
  const fields = {
    term: summary.term,
    flush_lsn: summary.flushLsn,
    commit_lsn: summary.commitLsn,
    processed: summary.processed,
  };
  if (summary.error === null) {
    session.logger.info(fields, 'WAL push connection closed');
  } else {
    session.logger.warn({ ...fields, error: summary.error }, `WAL push connection closed with error: ${summary.error}`);
  }
  session.end(summary.error);
  sessions.remove(session.connId);
}

export function writerActor(sessions: SessionTable) {
  return fromCallback<WriterEvent, ConnectionInput>(({ input, receive }) => {
    const session = sessions.get(input.connId);
    let lastAppendResponse: AppendResponse | null = null;
    let unsubscribe: (() => void) | null = null;

    const onFeedback = (feedback: PageserverFeedback) => {
      if (lastAppendResponse) writeReplies(session, [{ ...lastAppendResponse, pageserverFeedback: feedback }]);
    };

    receive((event) => {
      if (event.type === 'CLOSE') {
        closeSession(sessions, session, event.summary);
        return;
      }
      if (event.replies.length === 0) return;
      for (const reply of event.replies) {
        if (reply.kind === 'AppendResponse') lastAppendResponse = reply;
      }
      // The timeline is known once the greeting was processed, before any reply is sent.
      if (!unsubscribe && session.timeline) {
        unsubscribe = session.timeline.walReceivers.onPageserverFeedback(onFeedback);
      }
      if (!event.sent) writeReplies(session, event.replies);
    });

    return () => unsubscribe?.();
  });
}
