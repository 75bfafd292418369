// Physical replication messages inside CopyData (send-wal.md §3.4-3.5, §4), big-endian:
// what a WAL sender writes (XLogData 'w', keepalive 'k') and what the client sends back
// (standby status 'r', hot-standby feedback 'h', Neon's pageserver feedback 'z'). Pure.

import type { Lsn } from '../lsn.js';
import { decodeFeedback } from '../protocol/feedback.js';
import type { PageserverFeedback } from '../protocol/messages.js';

/** µs between 1970-01-01 and PostgreSQL's epoch, 2000-01-01. */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

export function pgNowMicros(nowMs = Date.now()): bigint {
  return BigInt(Math.round(nowMs * 1000)) - PG_EPOCH_OFFSET_US;
}

/** XLogData header: 'w', wal_start, wal_end, send time; the WAL bytes follow (25 bytes). */
export const XLOG_DATA_HEADER_SIZE = 25;

export function xlogDataHeader(walStart: Lsn, walEnd: Lsn, now: bigint): Buffer {
  const b = Buffer.allocUnsafe(XLOG_DATA_HEADER_SIZE);
  b[0] = 0x77; // 'w'
  b.writeBigUInt64BE(walStart, 1);
  b.writeBigUInt64BE(walEnd, 9);
  b.writeBigInt64BE(now, 17);
  return b;
}

/** Primary keepalive: 'k', wal_end, send time, reply requested (Neon: always 1). */
export function keepalive(walEnd: Lsn, now: bigint): Buffer {
  const b = Buffer.allocUnsafe(18);
  b[0] = 0x6b; // 'k'
  b.writeBigUInt64BE(walEnd, 1);
  b.writeBigInt64BE(now, 9);
  b[17] = 1;
  return b;
}

export interface StandbyReply {
  writeLsn: Lsn;
  flushLsn: Lsn;
  applyLsn: Lsn;
  /** Client time, µs since 2000-01-01. */
  replyTs: bigint;
  replyRequested: boolean;
}

export interface HotStandbyFeedbackMsg {
  ts: bigint;
  /** FullTransactionIds: (epoch << 32) | xid. */
  xmin: bigint;
  catalogXmin: bigint;
}

export type ClientMessage =
  | { kind: 'reply'; reply: StandbyReply }
  | { kind: 'hs'; feedback: HotStandbyFeedbackMsg }
  | { kind: 'ps'; feedback: PageserverFeedback }
  | { kind: 'other'; firstByte: number | null };

/** A client message that cannot be decoded; the stream ends with an ErrorResponse naming it. */
export class ClientMessageError extends Error {}

/** Decodes one CopyData payload from a replication client (send-wal.md §4). */
export function decodeClientMessage(b: Buffer): ClientMessage {
  if (b.length === 0) return { kind: 'other', firstByte: null };
  switch (b[0]) {
    case 0x72: {
      // 'r': exactly 34 bytes, reply_requested 0 or 1 (Neon's bincode is exact-length).
      if (b.length !== 34 || b[33]! > 1) throw new ClientMessageError('failed to deserialize StandbyReply: deserialize error');
      return {
        kind: 'reply',
        reply: {
          writeLsn: b.readBigUInt64BE(1),
          flushLsn: b.readBigUInt64BE(9),
          applyLsn: b.readBigUInt64BE(17),
          replyTs: b.readBigInt64BE(25),
          replyRequested: b[33] === 1,
        },
      };
    }
    case 0x68: {
      // 'h': exactly 25 bytes; each (xid u32, epoch u32) pair read as one u64 and rotated by 32 bits.
      if (b.length !== 25) throw new ClientMessageError('failed to deserialize HotStandbyFeedback: deserialize error');
      const full = (o: number) => (BigInt(b.readUInt32BE(o + 4)) << 32n) | BigInt(b.readUInt32BE(o));
      return { kind: 'hs', feedback: { ts: b.readBigInt64BE(1), xmin: full(9), catalogXmin: full(17) } };
    }
    case 0x7a: {
      // 'z': u64 payload length (skipped unchecked, as Neon does), then the key/value blob.
      if (b.length < 10) throw new ClientMessageError(`malformed pageserver feedback: ${b.length} bytes, need at least 10`);
      try {
        return { kind: 'ps', feedback: decodeFeedback(b, 9, { allowTrailing: true }) };
      } catch (err) {
        throw new ClientMessageError(`malformed pageserver feedback: ${(err as Error).message}`);
      }
    }
    default:
      return { kind: 'other', firstByte: b[0]! };
  }
}
