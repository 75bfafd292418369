// Proposer -> acceptor, v3 (client side): the bytes Neon's walproposer sends.

import { ProtocolError } from '../errors.js';
import { walByteLength, walParts, type AppendRequest, type ProposerMessage } from '../messages.js';
import { checkU32, checkU64 } from '../values.js';
import { APPEND_REQUEST_HEADER_SIZE, TAG_APPEND, TAG_ELECTED, TAG_GREETING, TAG_VOTE } from './layout.js';
import { mconfSize, termHistorySize, writeMconf, writeTermHistory } from './mconf.js';

const HEX32 = /^[0-9a-f]{32}$/;

export function encodeProposerMessage(msg: ProposerMessage): Buffer {
  switch (msg.kind) {
    case 'ProposerGreeting': {
      for (const [f, v] of [['tenant_id', msg.tenantId], ['timeline_id', msg.timelineId]] as const) {
        if (!HEX32.test(v)) throw new ProtocolError(`ProposerGreeting.${f}`, `ProposerGreeting.${f} '${v}' is not 32 lowercase hex characters`);
      }
      const buf = Buffer.allocUnsafe(1 + 33 + 33 + mconfSize(msg.mconf) + 4 + 8 + 4);
      buf[0] = TAG_GREETING;
      let o = 1 + buf.write(msg.tenantId, 1, 'latin1');
      buf[o++] = 0;
      o += buf.write(msg.timelineId, o, 'latin1');
      buf[o++] = 0;
      o = writeMconf(buf, msg.mconf, o, 'ProposerGreeting');
      o = buf.writeUInt32BE(checkU32(msg.pgVersion, 'ProposerGreeting.pg_version'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.systemId, 'ProposerGreeting.system_id'), o);
      buf.writeUInt32BE(checkU32(msg.walSegSize, 'ProposerGreeting.wal_seg_size'), o);
      return buf;
    }
    case 'VoteRequest': {
      const buf = Buffer.allocUnsafe(13);
      buf[0] = TAG_VOTE;
      buf.writeUInt32BE(checkU32(msg.generation, 'VoteRequest.generation'), 1);
      buf.writeBigUInt64BE(checkU64(msg.term, 'VoteRequest.term'), 5);
      return buf;
    }
    case 'ProposerElected': {
      const buf = Buffer.allocUnsafe(1 + 4 + 8 + 8 + termHistorySize(msg.termHistory));
      buf[0] = TAG_ELECTED;
      let o = buf.writeUInt32BE(checkU32(msg.generation, 'ProposerElected.generation'), 1);
      o = buf.writeBigUInt64BE(checkU64(msg.term, 'ProposerElected.term'), o);
      o = buf.writeBigUInt64BE(checkU64(msg.startStreamingAt, 'ProposerElected.start_streaming_at'), o);
      writeTermHistory(buf, msg.termHistory, o, 'ProposerElected');
      return buf;
    }
    case 'AppendRequest': {
      const header = encodeAppendRequestHeader(msg);
      return Buffer.concat([header, ...walParts(msg.wal)], header.length + walByteLength(msg.wal));
    }
    default:
      throw new ProtocolError('kind', `not a proposer message: ${String((msg as { kind?: unknown }).kind)}`);
  }
}

export function encodeAppendRequestHeader(msg: AppendRequest, target?: Buffer): Buffer {
  if (msg.endLsn - msg.beginLsn !== BigInt(walByteLength(msg.wal))) {
    throw new ProtocolError('AppendRequest.wal', `AppendRequest carries ${walByteLength(msg.wal)} WAL bytes, end_lsn - begin_lsn = ${msg.endLsn - msg.beginLsn}`);
  }
  const buf = target ?? Buffer.allocUnsafe(APPEND_REQUEST_HEADER_SIZE);
  buf[0] = TAG_APPEND;
  let o = buf.writeUInt32BE(checkU32(msg.generation, 'AppendRequest.generation'), 1);
  o = buf.writeBigUInt64BE(checkU64(msg.term, 'AppendRequest.term'), o);
  o = buf.writeBigUInt64BE(checkU64(msg.beginLsn, 'AppendRequest.begin_lsn'), o);
  o = buf.writeBigUInt64BE(checkU64(msg.endLsn, 'AppendRequest.end_lsn'), o);
  o = buf.writeBigUInt64BE(checkU64(msg.commitLsn, 'AppendRequest.commit_lsn'), o);
  buf.writeBigUInt64BE(checkU64(msg.truncateLsn, 'AppendRequest.truncate_lsn'), o);
  return buf;
}
