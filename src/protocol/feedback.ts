// PageserverFeedback key/value block appended to AppendResponse. Unlike the
// rest of v2 it is BIG-endian (protocol.md §3.8): u8 nkeys, then per key a
// NUL-terminated name, an i32 BE value length and the BE value.
// Neon writes the keys in a fixed order and shard_number only when > 0; the C
// reader also accepts older alias names and skips unknown keys by length.

import type { PageserverFeedback } from './messages.js';
import { ProtocolError } from './errors.js';
import { checkI64, checkU32, checkU64 } from './values.js';

const FIELD = 'pageserver_feedback';

// Names as sent, with their NUL terminator, built once.
const K_TIMELINE_SIZE = Buffer.from('current_timeline_size\0', 'latin1');
const K_WRITE_LSN = Buffer.from('ps_writelsn\0', 'latin1');
const K_FLUSH_LSN = Buffer.from('ps_flushlsn\0', 'latin1');
const K_APPLY_LSN = Buffer.from('ps_applylsn\0', 'latin1');
const K_REPLY_TIME = Buffer.from('ps_replytime\0', 'latin1');
const K_SHARD = Buffer.from('shard_number\0', 'latin1');

/** nkeys + the five always-sent 8-byte keys. */
const BASE_SIZE =
  1 + [K_TIMELINE_SIZE, K_WRITE_LSN, K_FLUSH_LSN, K_APPLY_LSN, K_REPLY_TIME].reduce((n, k) => n + k.length + 4 + 8, 0);
const SHARD_SIZE = K_SHARD.length + 4 + 4;

/** Encoded size of `fb`, as `encodeFeedback` writes it. */
export function feedbackSize(fb: PageserverFeedback): number {
  return fb.shardNumber > 0 ? BASE_SIZE + SHARD_SIZE : BASE_SIZE;
}

function putKey(buf: Buffer, offset: number, key: Buffer, len: number): number {
  key.copy(buf, offset);
  offset += key.length;
  buf.writeInt32BE(len, offset);
  return offset + 4;
}

/** Writes the block at `offset` (space must be there); returns the offset after it. */
export function encodeFeedback(fb: PageserverFeedback, buf: Buffer, offset: number): number {
  const shard = checkU32(fb.shardNumber, `${FIELD}.shard_number`);
  let o = offset;
  buf[o++] = shard > 0 ? 6 : 5;
  o = putKey(buf, o, K_TIMELINE_SIZE, 8);
  o = buf.writeBigUInt64BE(checkU64(fb.currentTimelineSize, `${FIELD}.current_timeline_size`), o);
  o = putKey(buf, o, K_WRITE_LSN, 8);
  o = buf.writeBigUInt64BE(checkU64(fb.lastReceivedLsn, `${FIELD}.ps_writelsn`), o);
  o = putKey(buf, o, K_FLUSH_LSN, 8);
  o = buf.writeBigUInt64BE(checkU64(fb.diskConsistentLsn, `${FIELD}.ps_flushlsn`), o);
  o = putKey(buf, o, K_APPLY_LSN, 8);
  o = buf.writeBigUInt64BE(checkU64(fb.remoteConsistentLsn, `${FIELD}.ps_applylsn`), o);
  o = putKey(buf, o, K_REPLY_TIME, 8);
  o = buf.writeBigInt64BE(checkI64(fb.replyTime, `${FIELD}.ps_replytime`), o);
  if (shard > 0) {
    o = putKey(buf, o, K_SHARD, 4);
    o = buf.writeUInt32BE(shard, o);
  }
  return o;
}

export function emptyFeedback(): PageserverFeedback {
  return {
    currentTimelineSize: 0n,
    lastReceivedLsn: 0n,
    diskConsistentLsn: 0n,
    remoteConsistentLsn: 0n,
    replyTime: 0n,
    shardNumber: 0,
  };
}

function expectLen(key: string, len: number, want: number): void {
  if (len !== want) {
    throw new ProtocolError(`${FIELD}.${key}`, `PageserverFeedback key ${key} has value length ${len}, expected ${want}`);
  }
}

/**
 * Parses the block occupying exactly buf[offset, buf.length). Strict where the
 * C reader asserts (known key lengths) or errors (short data, trailing bytes).
 */
export function decodeFeedback(buf: Buffer, offset: number, opts: { allowTrailing?: boolean } = {}): PageserverFeedback {
  const end = buf.length;
  const fb = emptyFeedback();
  if (offset >= end) throw new ProtocolError(`${FIELD}.nkeys`, 'PageserverFeedback misses nkeys');
  const nkeys = buf[offset]!;
  let o = offset + 1;
  for (let i = 0; i < nkeys; i++) {
    const nul = buf.indexOf(0, o);
    if (nul < 0) throw new ProtocolError(`${FIELD}.key`, `PageserverFeedback key ${i} of ${nkeys} is not NUL-terminated`);
    const key = buf.toString('latin1', o, nul);
    o = nul + 1;
    if (o + 4 > end) throw new ProtocolError(`${FIELD}.${key}`, `PageserverFeedback key ${key} misses its value length`);
    const len = buf.readInt32BE(o);
    o += 4;
    if (len < 0 || o + len > end) {
      throw new ProtocolError(
        `${FIELD}.${key}`,
        `PageserverFeedback key ${key} declares ${len} value bytes, ${end - o} left`,
      );
    }
    switch (key) {
      case 'current_timeline_size':
        expectLen(key, len, 8);
        fb.currentTimelineSize = buf.readBigUInt64BE(o);
        break;
      case 'ps_writelsn':
      case 'last_received_lsn':
        expectLen(key, len, 8);
        fb.lastReceivedLsn = buf.readBigUInt64BE(o);
        break;
      case 'ps_flushlsn':
      case 'disk_consistent_lsn':
        expectLen(key, len, 8);
        fb.diskConsistentLsn = buf.readBigUInt64BE(o);
        break;
      case 'ps_applylsn':
      case 'remote_consistent_lsn':
        expectLen(key, len, 8);
        fb.remoteConsistentLsn = buf.readBigUInt64BE(o);
        break;
      case 'ps_replytime':
      case 'replytime':
        expectLen(key, len, 8);
        fb.replyTime = buf.readBigInt64BE(o);
        break;
      case 'shard_number':
        expectLen(key, len, 4);
        fb.shardNumber = buf.readUInt32BE(o);
        break;
      default:
        // Newer senders may add keys; skipping them by length is the protocol's extension rule.
        break;
    }
    o += len;
  }
  if (o !== end && !opts.allowTrailing) {
    throw new ProtocolError(`${FIELD}.trailing_bytes`, `PageserverFeedback has ${end - o} bytes after its ${nkeys} keys`);
  }
  return fb;
}
