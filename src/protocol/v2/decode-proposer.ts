// Proposer -> acceptor decoding (server side). This runs once per received
// CopyData, so the AppendRequest path allocates only the result object, its
// bigints, the uuid string and a view of the WAL (never a copy).

import { WalPieces, type AppendRequest, type ProposerElected, type ProposerGreeting, type ProposerMessage, type VoteRequest } from '../messages.js';
import { ProtocolError } from '../errors.js';
import { emptyMconf, INVALID_GENERATION } from '../membership.js';
import { readHexId, tagChar } from '../values.js';
import {
  APPEND_REQUEST_FIELDS,
  APPEND_REQUEST_HEADER_SIZE,
  MAX_SEND_SIZE,
  PROPOSER_GREETING_FIELDS,
  PROPOSER_GREETING_SIZE,
  TAG_APPEND,
  TAG_ELECTED,
  TAG_GREETING,
  TAG_SIZE,
  TAG_VOTE,
  VOTE_REQUEST_FIELDS,
  VOTE_REQUEST_SIZE,
} from './layout.js';
import { checkTagUpperBytes, readTagByte } from './tag.js';
import { rejectTrailing, requireLength } from './length.js';
import { decodeTermHistory } from './term-history.js';

const MAX_SEND_SIZE_BIG = BigInt(MAX_SEND_SIZE);

/**
 * Decodes one CopyData payload from the walproposer. Throws ProtocolError on anything malformed.
 * A payload that arrived across socket reads may come as `body` (its start, holding at least any
 * fixed header) plus `tail` (the rest, as the chunks' views): an AppendRequest then keeps them as
 * WalPieces; any other message is joined first (they are small, so that is rare and cheap).
 */
export function decodeProposerMessage(body: Buffer, tail?: readonly Buffer[]): ProposerMessage {
  const tag = readTagByte(body, 'proposer-acceptor');
  if (tail && tail.length > 0 && tag !== TAG_APPEND) return decodeProposerMessage(Buffer.concat([body, ...tail]));
  switch (tag) {
    case TAG_APPEND:
      return decodeAppendRequest(body, tail);
    case TAG_GREETING:
      return decodeGreeting(body);
    case TAG_VOTE:
      return decodeVoteRequest(body);
    case TAG_ELECTED:
      return decodeElected(body);
    default:
      throw new ProtocolError('tag', `unknown proposer-acceptor message tag: ${tagChar(tag)}`);
  }
}

function decodeGreeting(body: Buffer): ProposerGreeting {
  checkTagUpperBytes(body, 'ProposerGreeting');
  requireLength(body, PROPOSER_GREETING_SIZE, 'ProposerGreeting', PROPOSER_GREETING_FIELDS);
  rejectTrailing(body, PROPOSER_GREETING_SIZE, 'ProposerGreeting');
  return {
    kind: 'ProposerGreeting',
    protocolVersion: body.readUInt32LE(8),
    mconf: emptyMconf(),
    pgVersion: body.readUInt32LE(12),
    proposerId: readHexId(body, 16),
    systemId: body.readBigUInt64LE(32),
    // The C struct puts the timeline id before the tenant id.
    timelineId: readHexId(body, 40),
    tenantId: readHexId(body, 56),
    tli: body.readUInt32LE(72),
    walSegSize: body.readUInt32LE(76),
  };
}

function decodeVoteRequest(body: Buffer): VoteRequest {
  checkTagUpperBytes(body, 'VoteRequest');
  // Neon's parser reads only the term, but the C struct always carries the proposer id too.
  requireLength(body, VOTE_REQUEST_SIZE, 'VoteRequest', VOTE_REQUEST_FIELDS);
  rejectTrailing(body, VOTE_REQUEST_SIZE, 'VoteRequest');
  return { kind: 'VoteRequest', generation: INVALID_GENERATION, term: body.readBigUInt64LE(8), proposerId: readHexId(body, 16) };
}

function decodeElected(body: Buffer): ProposerElected {
  checkTagUpperBytes(body, 'ProposerElected');
  // Texts follow Neon's ProposerAcceptorMessage::parse.
  if (body.length < TAG_SIZE + 16) {
    const field = body.length < TAG_SIZE + 8 ? 'term' : 'start_streaming_at';
    throw new ProtocolError(`ProposerElected.${field}`, 'ProposerElected message is not complete');
  }
  const term = body.readBigUInt64LE(8);
  const startStreamingAt = body.readBigUInt64LE(16);
  const { history, end } = decodeTermHistory(body, 24, 'ProposerElected');
  if (body.length - end < 8) {
    throw new ProtocolError('ProposerElected.timeline_start_lsn', 'ProposerElected message is not complete');
  }
  const timelineStartLsn = body.readBigUInt64LE(end);
  rejectTrailing(body, end + 8, 'ProposerElected');
  return { kind: 'ProposerElected', generation: INVALID_GENERATION, term, startStreamingAt, termHistory: history, timelineStartLsn };
}

function decodeAppendRequest(body: Buffer, tail: readonly Buffer[] | undefined): AppendRequest {
  checkTagUpperBytes(body, 'AppendRequest');
  requireLength(body, APPEND_REQUEST_HEADER_SIZE, 'AppendRequest', APPEND_REQUEST_FIELDS);
  const beginLsn = body.readBigUInt64LE(24);
  const endLsn = body.readBigUInt64LE(32);
  if (beginLsn > endLsn) {
    throw new ProtocolError('AppendRequest.begin_lsn', 'begin_lsn > end_lsn in AppendRequest');
  }
  const declared = endLsn - beginLsn;
  if (declared > MAX_SEND_SIZE_BIG) {
    throw new ProtocolError('AppendRequest.wal', `AppendRequest is longer than MAX_SEND_SIZE (${MAX_SEND_SIZE})`);
  }
  const walLength = Number(declared);
  let tailBytes = 0;
  if (tail) for (const t of tail) tailBytes += t.length;
  const got = body.length - APPEND_REQUEST_HEADER_SIZE + tailBytes;
  if (got !== walLength) {
    // The payload size comes from the header, so both short and long frames are malformed.
    throw new ProtocolError(
      'AppendRequest.wal',
      got < walLength
        ? `AppendRequest is incomplete: end_lsn - begin_lsn = ${walLength} WAL bytes, frame holds ${got}`
        : `AppendRequest has ${got - walLength} unexpected trailing bytes after the ${walLength} WAL bytes of end_lsn - begin_lsn`,
    );
  }
  return {
    kind: 'AppendRequest',
    generation: INVALID_GENERATION,
    term: body.readBigUInt64LE(8),
    termStartLsn: body.readBigUInt64LE(16),
    beginLsn,
    endLsn,
    commitLsn: body.readBigUInt64LE(40),
    truncateLsn: body.readBigUInt64LE(48),
    proposerUuid: readHexId(body, 56),
    wal: tailBytes === 0 ? body.subarray(APPEND_REQUEST_HEADER_SIZE) : walPieces(body.subarray(APPEND_REQUEST_HEADER_SIZE), tail!, walLength),
  };
}

function walPieces(first: Buffer, tail: readonly Buffer[], byteLength: number): WalPieces {
  const parts = first.length > 0 ? [first, ...tail] : [...tail];
  return new WalPieces(parts, byteLength);
}
