// Acceptor -> proposer encoding (server side). Sizes are exact: the C reader
// refuses any trailing byte, so each buffer is allocated to its final size
// and every byte of it is written.

import type { AcceptorGreeting, AcceptorMessage, AppendResponse, VoteResponse } from '../messages.js';
import { ProtocolError } from '../errors.js';
import { encodeFeedback, feedbackSize } from '../feedback.js';
import { checkI64, checkU64 } from '../values.js';
import {
  ACCEPTOR_GREETING_SIZE,
  APPEND_RESPONSE_FIXED_SIZE,
  TAG_APPEND,
  TAG_GREETING,
  TAG_VOTE,
  TERM_LSN_SIZE,
  VOTE_RESPONSE_FIXED_SIZE,
} from './layout.js';
import { writeTag } from './tag.js';
import { encodeTermHistory } from './term-history.js';

export function encodeAcceptorMessage(msg: AcceptorMessage): Buffer {
  switch (msg.kind) {
    case 'AppendResponse':
      return encodeAppendResponse(msg);
    case 'AcceptorGreeting':
      return encodeAcceptorGreeting(msg);
    case 'VoteResponse':
      return encodeVoteResponse(msg);
    default:
      throw new ProtocolError('kind', `not an acceptor message: ${String((msg as { kind?: unknown }).kind)}`);
  }
}

function encodeAcceptorGreeting(msg: AcceptorGreeting): Buffer {
  const buf = Buffer.allocUnsafe(ACCEPTOR_GREETING_SIZE);
  writeTag(buf, TAG_GREETING);
  buf.writeBigUInt64LE(checkU64(msg.term, 'AcceptorGreeting.term'), 8);
  buf.writeBigUInt64LE(checkU64(msg.nodeId, 'AcceptorGreeting.node_id'), 16);
  return buf;
}

function encodeVoteResponse(msg: VoteResponse): Buffer {
  const buf = Buffer.allocUnsafe(VOTE_RESPONSE_FIXED_SIZE + msg.termHistory.length * TERM_LSN_SIZE);
  writeTag(buf, TAG_VOTE);
  buf.writeBigUInt64LE(checkU64(msg.term, 'VoteResponse.term'), 8);
  // u64 on the wire only to avoid C struct padding.
  buf.writeBigUInt64LE(msg.voteGiven ? 1n : 0n, 16);
  buf.writeBigUInt64LE(checkU64(msg.flushLsn, 'VoteResponse.flush_lsn'), 24);
  buf.writeBigUInt64LE(checkU64(msg.truncateLsn, 'VoteResponse.truncate_lsn'), 32);
  const o = encodeTermHistory(buf, msg.termHistory, 40, 'VoteResponse');
  buf.writeBigUInt64LE(checkU64(msg.timelineStartLsn, 'VoteResponse.timeline_start_lsn'), o);
  return buf;
}

function encodeAppendResponse(msg: AppendResponse): Buffer {
  const fb = msg.pageserverFeedback;
  const buf = Buffer.allocUnsafe(APPEND_RESPONSE_FIXED_SIZE + (fb ? feedbackSize(fb) : 0));
  writeTag(buf, TAG_APPEND);
  buf.writeBigUInt64LE(checkU64(msg.term, 'AppendResponse.term'), 8);
  buf.writeBigUInt64LE(checkU64(msg.flushLsn, 'AppendResponse.flush_lsn'), 16);
  buf.writeBigUInt64LE(checkU64(msg.commitLsn, 'AppendResponse.commit_lsn'), 24);
  buf.writeBigInt64LE(checkI64(msg.hsFeedback.ts, 'AppendResponse.hs_feedback.ts'), 32);
  buf.writeBigUInt64LE(checkU64(msg.hsFeedback.xmin, 'AppendResponse.hs_feedback.xmin'), 40);
  buf.writeBigUInt64LE(checkU64(msg.hsFeedback.catalogXmin, 'AppendResponse.hs_feedback.catalog_xmin'), 48);
  if (fb) encodeFeedback(fb, buf, APPEND_RESPONSE_FIXED_SIZE);
  return buf;
}
