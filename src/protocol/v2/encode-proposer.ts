// Proposer -> acceptor encoding (client side: our TypeScript proposer and
// tests). Produces exactly what the C walproposer sends, so our own decoder
// accepts it; values that would not survive the trip are refused here.

import { walByteLength, walParts, type AppendRequest, type ProposerElected, type ProposerGreeting, type ProposerMessage, type VoteRequest } from '../messages.js';
import { ProtocolError } from '../errors.js';
import { checkU32, checkU64, writeHexId } from '../values.js';
import {
  APPEND_REQUEST_HEADER_SIZE,
  MAX_SEND_SIZE,
  PROPOSER_ELECTED_FIXED_SIZE,
  PROPOSER_GREETING_SIZE,
  TAG_APPEND,
  TAG_ELECTED,
  TAG_GREETING,
  TAG_VOTE,
  TERM_LSN_SIZE,
  VOTE_REQUEST_SIZE,
} from './layout.js';
import { writeTag } from './tag.js';
import { encodeTermHistory } from './term-history.js';

export function encodeProposerMessage(msg: ProposerMessage): Buffer {
  switch (msg.kind) {
    case 'AppendRequest': {
      const buf = Buffer.allocUnsafe(APPEND_REQUEST_HEADER_SIZE + walByteLength(msg.wal));
      encodeAppendRequestHeader(msg, buf);
      let at = APPEND_REQUEST_HEADER_SIZE;
      for (const part of walParts(msg.wal)) at += part.copy(buf, at);
      return buf;
    }
    case 'ProposerGreeting':
      return encodeGreeting(msg);
    case 'VoteRequest':
      return encodeVoteRequest(msg);
    case 'ProposerElected':
      return encodeElected(msg);
    default:
      throw new ProtocolError('kind', `not a proposer message: ${String((msg as { kind?: unknown }).kind)}`);
  }
}

/**
 * Writes the 72-byte AppendRequest header into `target` (at offset 0; a fresh
 * buffer if omitted) and returns those 72 bytes, so a client can writev the
 * header and `msg.wal` without copying the WAL. `msg.wal` must hold exactly
 * end_lsn - begin_lsn bytes, as the frame will.
 */
export function encodeAppendRequestHeader(msg: AppendRequest, target?: Buffer): Buffer {
  const begin = checkU64(msg.beginLsn, 'AppendRequest.begin_lsn');
  const end = checkU64(msg.endLsn, 'AppendRequest.end_lsn');
  if (begin > end) throw new ProtocolError('AppendRequest.begin_lsn', 'begin_lsn > end_lsn in AppendRequest');
  if (end - begin > BigInt(MAX_SEND_SIZE)) {
    throw new ProtocolError('AppendRequest.wal', `AppendRequest is longer than MAX_SEND_SIZE (${MAX_SEND_SIZE})`);
  }
  const walLength = walByteLength(msg.wal);
  if (BigInt(walLength) !== end - begin) {
    throw new ProtocolError(
      'AppendRequest.wal',
      `AppendRequest carries ${walLength} WAL bytes but end_lsn - begin_lsn = ${end - begin}`,
    );
  }
  if (target !== undefined && target.length < APPEND_REQUEST_HEADER_SIZE) {
    throw new RangeError(`AppendRequest header needs ${APPEND_REQUEST_HEADER_SIZE} bytes, target has ${target.length}`);
  }
  const buf = target ?? Buffer.allocUnsafe(APPEND_REQUEST_HEADER_SIZE);
  writeTag(buf, TAG_APPEND);
  buf.writeBigUInt64LE(checkU64(msg.term, 'AppendRequest.term'), 8);
  buf.writeBigUInt64LE(checkU64(msg.termStartLsn, 'AppendRequest.term_start_lsn'), 16);
  buf.writeBigUInt64LE(begin, 24);
  buf.writeBigUInt64LE(end, 32);
  buf.writeBigUInt64LE(checkU64(msg.commitLsn, 'AppendRequest.commit_lsn'), 40);
  buf.writeBigUInt64LE(checkU64(msg.truncateLsn, 'AppendRequest.truncate_lsn'), 48);
  writeHexId(buf, msg.proposerUuid, 56, 'AppendRequest.proposer_uuid');
  return buf.length === APPEND_REQUEST_HEADER_SIZE ? buf : buf.subarray(0, APPEND_REQUEST_HEADER_SIZE);
}

function encodeGreeting(msg: ProposerGreeting): Buffer {
  const buf = Buffer.allocUnsafe(PROPOSER_GREETING_SIZE);
  writeTag(buf, TAG_GREETING);
  buf.writeUInt32LE(checkU32(msg.protocolVersion, 'ProposerGreeting.protocol_version'), 8);
  buf.writeUInt32LE(checkU32(msg.pgVersion, 'ProposerGreeting.pg_version'), 12);
  writeHexId(buf, msg.proposerId, 16, 'ProposerGreeting.proposer_id');
  buf.writeBigUInt64LE(checkU64(msg.systemId, 'ProposerGreeting.system_id'), 32);
  writeHexId(buf, msg.timelineId, 40, 'ProposerGreeting.timeline_id');
  writeHexId(buf, msg.tenantId, 56, 'ProposerGreeting.tenant_id');
  buf.writeUInt32LE(checkU32(msg.tli, 'ProposerGreeting.tli'), 72);
  buf.writeUInt32LE(checkU32(msg.walSegSize, 'ProposerGreeting.wal_seg_size'), 76);
  return buf;
}

function encodeVoteRequest(msg: VoteRequest): Buffer {
  const buf = Buffer.allocUnsafe(VOTE_REQUEST_SIZE);
  writeTag(buf, TAG_VOTE);
  buf.writeBigUInt64LE(checkU64(msg.term, 'VoteRequest.term'), 8);
  writeHexId(buf, msg.proposerId, 16, 'VoteRequest.proposer_id');
  return buf;
}

function encodeElected(msg: ProposerElected): Buffer {
  const buf = Buffer.allocUnsafe(PROPOSER_ELECTED_FIXED_SIZE + msg.termHistory.length * TERM_LSN_SIZE);
  writeTag(buf, TAG_ELECTED);
  buf.writeBigUInt64LE(checkU64(msg.term, 'ProposerElected.term'), 8);
  buf.writeBigUInt64LE(checkU64(msg.startStreamingAt, 'ProposerElected.start_streaming_at'), 16);
  const o = encodeTermHistory(buf, msg.termHistory, 24, 'ProposerElected');
  buf.writeBigUInt64LE(checkU64(msg.timelineStartLsn, 'ProposerElected.timeline_start_lsn'), o);
  return buf;
}
