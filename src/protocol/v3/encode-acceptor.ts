// Acceptor -> proposer, v3 (server side). Exact sizes: the walproposer checks them.

import { ProtocolError } from '../errors.js';
import { encodeFeedback, feedbackSize } from '../feedback.js';
import type { AcceptorMessage } from '../messages.js';
import { checkI64, checkU32, checkU64 } from '../values.js';
import { APPEND_RESPONSE_FIXED_SIZE, TAG_APPEND, TAG_GREETING, TAG_VOTE } from './layout.js';
import { mconfSize, termHistorySize, writeMconf, writeTermHistory } from './mconf.js';

export function encodeAcceptorMessage(msg: AcceptorMessage): Buffer {
  switch (msg.kind) {
    case 'AcceptorGreeting': {
      const buf = Buffer.allocUnsafe(1 + 8 + mconfSize(msg.mconf) + 8);
      buf[0] = TAG_GREETING;
      let o = buf.writeBigUInt64BE(checkU64(msg.nodeId, 'AcceptorGreeting.node_id'), 1);
      o = writeMconf(buf, msg.mconf, o, 'AcceptorGreeting');
      buf.writeBigUInt64BE(checkU64(msg.term, 'AcceptorGreeting.term'), o);
      return buf;
    }
    case 'VoteResponse': {
      const buf = Buffer.allocUnsafe(1 + 4 + 8 + 1 + 8 + 8 + termHistorySize(msg.termHistory));
      buf[0] = TAG_VOTE;
      let o = buf.writeUInt32BE(checkU32(msg.generation, 'VoteResponse.generation'), 1);
      o = buf.writeBigUInt64BE(checkU64(msg.term, 'VoteResponse.term'), o);
      buf[o++] = msg.voteGiven ? 1 : 0;
      o = buf.writeBigUInt64BE(checkU64(msg.flushLsn, 'VoteResponse.flush_lsn'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.truncateLsn, 'VoteResponse.truncate_lsn'), o);
      writeTermHistory(buf, msg.termHistory, o, 'VoteResponse');
      return buf;
    }
    case 'AppendResponse': {
      const fb = msg.pageserverFeedback;
      const buf = Buffer.allocUnsafe(APPEND_RESPONSE_FIXED_SIZE + (fb ? feedbackSize(fb) : 0));
      buf[0] = TAG_APPEND;
      let o = buf.writeUInt32BE(checkU32(msg.generation, 'AppendResponse.generation'), 1);
      o = buf.writeBigUInt64BE(checkU64(msg.term, 'AppendResponse.term'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.flushLsn, 'AppendResponse.flush_lsn'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.commitLsn, 'AppendResponse.commit_lsn'), o);
      o = buf.writeBigInt64BE(checkI64(msg.hsFeedback.ts, 'AppendResponse.hs_feedback.ts'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.hsFeedback.xmin, 'AppendResponse.hs_feedback.xmin'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.hsFeedback.catalogXmin, 'AppendResponse.hs_feedback.catalog_xmin'), o);
      if (fb) encodeFeedback(fb, buf, o);
      return buf;
    }
    default:
      throw new ProtocolError('kind', `not an acceptor message: ${String((msg as { kind?: unknown }).kind)}`);
  }
}
