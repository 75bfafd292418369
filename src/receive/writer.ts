// The writer child of a connection: the greeting's and the vote's replies →
// CopyData frames → socket (a streaming batch sends its own, see sendReplies),
// the closing ErrorResponse, and, like the seed's network_write, a copy of the
// last AppendResponse with the pageserver feedback attached whenever the
// timeline broadcasts one (feedback before the first AppendResponse is dropped).

import { fromCallback } from 'xstate';
import type { ConnectionInput, ConnectionSummary, WriterEvent } from '../../machines/connection.js';
import type { AcceptorMessage, PageserverFeedback } from '../protocol/messages.js';
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

/** Replies to the socket now; the last AppendResponse among them is remembered for feedback copies. */
export function sendReplies(session: WalPushSession, replies: readonly AcceptorMessage[]): void {
  for (const reply of replies) session.replied(reply);
  writeReplies(session, replies);
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
    let unsubscribe: (() => void) | null = null;

    const onFeedback = (feedback: PageserverFeedback) => {
      const last = session.lastAppendResponse;
      if (last) writeReplies(session, [{ ...last, pageserverFeedback: feedback }]);
    };

    receive((event) => {
      if (event.type === 'CLOSE') {
        closeSession(sessions, session, event.summary);
        return;
      }
      if (event.replies.length === 0) return;
      // The timeline is known once the greeting was processed, and the greeting's reply comes here.
      if (!unsubscribe && session.timeline) {
        unsubscribe = session.timeline.walReceivers.onPageserverFeedback(onFeedback);
      }
      if (!event.sent) sendReplies(session, event.replies);
    });

    return () => unsubscribe?.();
  });
}
