// Proposer -> acceptor, v3 (server side), as Neon 6a35a3e9f1 parses it:
// errors carry its context chain; bytes after a complete message are ignored.
// An AppendRequest's WAL stays a view of the frame (or of its split pieces).

import { ProtocolError } from '../errors.js';
import { WalPieces, type AppendRequest, type ProposerMessage } from '../messages.js';
import { MAX_SEND_SIZE } from '../v2/layout.js';
import { tagChar } from '../values.js';
import { APPEND_REQUEST_HEADER_SIZE, TAG_APPEND, TAG_ELECTED, TAG_GREETING, TAG_VOTE } from './layout.js';
import { readMconf, readTermHistory } from './mconf.js';
import { parseHexId, V3Reader } from './reader.js';

const ZERO_ID = '0'.repeat(32);
/** PostgreSQL's only timeline id; v3 greetings no longer carry it. */
const PG_TLI = 1;

export function decodeProposerMessage(body: Buffer, tail?: readonly Buffer[]): ProposerMessage {
  if (body.length === 0 && (!tail || tail.length === 0)) {
    throw new ProtocolError('tag', 'ProposerAcceptorMessage is not complete: missing tag');
  }
  if (tail && tail.length > 0 && body[0] !== TAG_APPEND) return decodeProposerMessage(Buffer.concat([body, ...tail]));
  const tag = body[0]!;
  switch (tag) {
    case TAG_GREETING:
      return decodeGreeting(body);
    case TAG_VOTE: {
      const r = new V3Reader(body.subarray(1), 'VoteRequest');
      const generation = r.within('reading generation', 'generation', () => r.u32('generation'));
      const term = r.within('reading term', 'term', () => r.u64('term'));
      return { kind: 'VoteRequest', generation, term, proposerId: ZERO_ID };
    }
    case TAG_ELECTED: {
      const r = new V3Reader(body.subarray(1), 'ProposerElected');
      const generation = r.within('reading generation', 'generation', () => r.u32('generation'));
      const term = r.within('reading term', 'term', () => r.u64('term'));
      const startStreamingAt = r.within('reading start_streaming_at', 'start_streaming_at', () => r.u64('start_streaming_at'));
      const termHistory = readTermHistory(r);
      return { kind: 'ProposerElected', generation, term, startStreamingAt, termHistory, timelineStartLsn: 0n };
    }
    case TAG_APPEND:
      return decodeAppendRequest(body, tail);
    default:
      throw new ProtocolError('tag', `unknown proposer-acceptor message tag: ${tagChar(tag)}`);
  }
}

function decodeGreeting(body: Buffer) {
  const r = new V3Reader(body.subarray(1), 'ProposerGreeting');
  const tenantId = parseHexId(r.within('reading tenant_id', 'tenant_id', () => r.cstring('tenant_id')), 'ProposerGreeting', 'tenant_id');
  const timelineId = parseHexId(r.within('reading timeline_id', 'timeline_id', () => r.cstring('timeline_id')), 'ProposerGreeting', 'timeline_id');
  const mconf = readMconf(r);
  const pgVersion = r.within('reading pg_version', 'pg_version', () => r.u32('pg_version'));
  // Neon panics (drops the socket without a word) on anything else; we say why.
  if (pgVersion !== 0 && (pgVersion < 140000 || pgVersion > 179999)) {
    throw r.fail('pg_version', `invalid pg_version ${pgVersion}: expected 0 or a PostgreSQL 14–17 version number (140000–179999)`);
  }
  const systemId = r.within('reading system_id', 'system_id', () => r.u64('system_id'));
  const walSegSize = r.within('reading wal_seg_size', 'wal_seg_size', () => r.u32('wal_seg_size'));
  return {
    kind: 'ProposerGreeting' as const,
    protocolVersion: 3,
    mconf,
    pgVersion,
    proposerId: ZERO_ID,
    systemId,
    tenantId,
    timelineId,
    tli: PG_TLI,
    walSegSize,
  };
}

function decodeAppendRequest(body: Buffer, tail: readonly Buffer[] | undefined): AppendRequest {
  const r = new V3Reader(body.subarray(1), 'AppendRequest');
  const generation = r.within('reading generation', 'generation', () => r.u32('generation'));
  const term = r.within('reading term', 'term', () => r.u64('term'));
  const beginLsn = r.within('reading begin_lsn', 'begin_lsn', () => r.u64('begin_lsn'));
  const endLsn = r.within('reading end_lsn', 'end_lsn', () => r.u64('end_lsn'));
  const commitLsn = r.within('reading commit_lsn', 'commit_lsn', () => r.u64('commit_lsn'));
  const truncateLsn = r.within('reading truncate_lsn', 'truncate_lsn', () => r.u64('truncate_lsn'));
  if (beginLsn > endLsn) throw r.fail('begin_lsn', 'begin_lsn > end_lsn in AppendRequest');
  const declared = endLsn - beginLsn;
  if (declared > BigInt(MAX_SEND_SIZE)) throw r.fail('wal', `AppendRequest is longer than MAX_SEND_SIZE (${MAX_SEND_SIZE})`);
  const walLength = Number(declared);
  let tailBytes = 0;
  if (tail) for (const t of tail) tailBytes += t.length;
  const left = r.remaining + tailBytes;
  if (left < walLength) throw r.fail('wal', `reading WAL: only ${left} bytes left, wanted ${walLength}`);
  // Bytes after the WAL are ignored, as Neon does.
  let wal: AppendRequest['wal'];
  if (tailBytes === 0 || r.remaining >= walLength) {
    wal = body.subarray(APPEND_REQUEST_HEADER_SIZE, APPEND_REQUEST_HEADER_SIZE + walLength);
  } else {
    const parts: Buffer[] = [];
    let need = walLength;
    const first = body.subarray(APPEND_REQUEST_HEADER_SIZE);
    if (first.length > 0) parts.push(first), (need -= first.length);
    for (const t of tail!) {
      if (need === 0) break;
      const piece = t.length <= need ? t : t.subarray(0, need);
      parts.push(piece);
      need -= piece.length;
    }
    wal = new WalPieces(parts, walLength);
  }
  return {
    kind: 'AppendRequest',
    generation,
    term,
    termStartLsn: 0n,
    beginLsn,
    endLsn,
    commitLsn,
    truncateLsn,
    proposerUuid: ZERO_ID,
    wal,
  };
}
