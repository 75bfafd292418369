// Acceptor -> proposer decoding (client side). As strict as the C reader:
// exact sizes, and the optional PageserverFeedback block must fill the rest.

import type { AcceptorGreeting, AcceptorMessage, AppendResponse, VoteResponse } from '../messages.js';
import { ProtocolError } from '../errors.js';
import { emptyMconf, INVALID_GENERATION } from '../membership.js';
import { decodeFeedback } from '../feedback.js';
import { tagChar } from '../values.js';
import {
  ACCEPTOR_GREETING_FIELDS,
  ACCEPTOR_GREETING_SIZE,
  APPEND_RESPONSE_FIELDS,
  APPEND_RESPONSE_FIXED_SIZE,
  TAG_APPEND,
  TAG_GREETING,
  TAG_VOTE,
  type FieldSpan,
} from './layout.js';
import { checkTagUpperBytes, readTagByte } from './tag.js';
import { rejectTrailing, requireLength } from './length.js';
import { decodeTermHistory } from './term-history.js';

/** VoteResponse up to (not including) the term history's n_entries. */
const VOTE_RESPONSE_HEAD_FIELDS: readonly FieldSpan[] = [
  ['tag', 0, 8],
  ['term', 8, 8],
  ['vote_given', 16, 8],
  ['flush_lsn', 24, 8],
  ['truncate_lsn', 32, 8],
];
const VOTE_RESPONSE_HEAD_SIZE = 40;

export function decodeAcceptorMessage(body: Buffer): AcceptorMessage {
  const tag = readTagByte(body, 'acceptor-proposer');
  switch (tag) {
    case TAG_APPEND:
      return decodeAppendResponse(body);
    case TAG_GREETING:
      return decodeAcceptorGreeting(body);
    case TAG_VOTE:
      return decodeVoteResponse(body);
    default:
      throw new ProtocolError('tag', `unknown acceptor-proposer message tag: ${tagChar(tag)}`);
  }
}

function decodeAcceptorGreeting(body: Buffer): AcceptorGreeting {
  checkTagUpperBytes(body, 'AcceptorGreeting');
  requireLength(body, ACCEPTOR_GREETING_SIZE, 'AcceptorGreeting', ACCEPTOR_GREETING_FIELDS);
  rejectTrailing(body, ACCEPTOR_GREETING_SIZE, 'AcceptorGreeting');
  return { kind: 'AcceptorGreeting', term: body.readBigUInt64LE(8), nodeId: body.readBigUInt64LE(16), mconf: emptyMconf() };
}

function decodeVoteResponse(body: Buffer): VoteResponse {
  checkTagUpperBytes(body, 'VoteResponse');
  requireLength(body, VOTE_RESPONSE_HEAD_SIZE, 'VoteResponse', VOTE_RESPONSE_HEAD_FIELDS);
  const voteGiven = body.readBigUInt64LE(16);
  if (voteGiven > 1n) {
    throw new ProtocolError('VoteResponse.vote_given', `VoteResponse vote_given is ${voteGiven}, expected 0 or 1`);
  }
  const { history, end } = decodeTermHistory(body, VOTE_RESPONSE_HEAD_SIZE, 'VoteResponse');
  if (body.length - end < 8) {
    throw new ProtocolError('VoteResponse.timeline_start_lsn', 'VoteResponse message is not complete');
  }
  rejectTrailing(body, end + 8, 'VoteResponse');
  return {
    kind: 'VoteResponse',
    generation: INVALID_GENERATION,
    term: body.readBigUInt64LE(8),
    voteGiven: voteGiven === 1n,
    flushLsn: body.readBigUInt64LE(24),
    truncateLsn: body.readBigUInt64LE(32),
    termHistory: history,
    timelineStartLsn: body.readBigUInt64LE(end),
  };
}

function decodeAppendResponse(body: Buffer): AppendResponse {
  checkTagUpperBytes(body, 'AppendResponse');
  requireLength(body, APPEND_RESPONSE_FIXED_SIZE, 'AppendResponse', APPEND_RESPONSE_FIELDS);
  const msg: AppendResponse = {
    kind: 'AppendResponse',
    generation: INVALID_GENERATION,
    term: body.readBigUInt64LE(8),
    flushLsn: body.readBigUInt64LE(16),
    commitLsn: body.readBigUInt64LE(24),
    hsFeedback: {
      ts: body.readBigInt64LE(32),
      xmin: body.readBigUInt64LE(40),
      catalogXmin: body.readBigUInt64LE(48),
    },
  };
  // Like the C reader: any bytes after the fixed part are a feedback block.
  if (body.length > APPEND_RESPONSE_FIXED_SIZE) {
    msg.pageserverFeedback = decodeFeedback(body, APPEND_RESPONSE_FIXED_SIZE);
  }
  return msg;
}
