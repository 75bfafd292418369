// Makes valid PostgreSQL WAL without a PostgreSQL: a stream of logical-message
// records (storage.md §5), optionally with XLOG no-ops among them, laid over
// 8 KiB pages, starting at any record boundary.
// Used by tests, the benchmark and the test proposer; content is deterministic per seed.

import { crcAny, crcRange } from '../storage/wal-crc.js';
import { formatLsn, type Lsn } from '../lsn.js';
import {
  RECORD_CRC_OFFSET,
  RM_LOGICALMSG_ID,
  SIZE_OF_LONG_PAGE_HEADER,
  SIZE_OF_RECORD_HEADER,
  SIZE_OF_SHORT_PAGE_HEADER,
  WAL_SEGMENT_SIZE,
  XLOG_BLCKSZ,
  XLOG_LOGICAL_MESSAGE,
  XLOG_NOOP,
  RM_XLOG_ID,
  XLP_FIRST_IS_CONTRECORD,
  XLR_BLOCK_ID_DATA_LONG,
  XLR_BLOCK_ID_DATA_SHORT,
  encodePageHeader,
  xlogPageMagic,
} from '../storage/wal-format.js';

export interface WalGeneratorOptions {
  /** Where the stream starts: 8-aligned, not inside a page header. */
  startLsn: Lsn;
  systemId?: bigint;
  /** Full PG_VERSION_NUM; selects the page magic. Default 150000 (0xD110). */
  pgVersion?: number;
  walSegSize?: number;
  /** xl_prev of the first record. */
  prevLsn?: Lsn;
  /** Seeds message contents and the record sizes generate() picks. Default 1. */
  seed?: number;
  /** Logical message prefix (stored NUL-terminated). */
  prefix?: string;
  /**
   * Every Nth record generate() makes is an XLOG no-op instead of a logical message: real WAL
   * mixes resource managers, and the decoder looks twice at XLOG ones (a switch ends the segment).
   * Default 0: none.
   */
  xlogNoopEvery?: number;
}

export interface WalChunk {
  beginLsn: Lsn;
  endLsn: Lsn;
  bytes: Buffer;
}

/** Bytes of main data before the message: dbId u32, transactional u8 + 3 pad, prefix_size u64, message_size u64. */
const XL_LOGICAL_MESSAGE_SIZE = 24;
const PATTERN_SIZE = 65536 + 61;

/** xl_tot_len of a logical message record with `messageLen` bytes and a prefix of `prefixSize` bytes (NUL included). */
export function logicalMessageRecordLength(messageLen: number, prefixSize: number): number {
  const main = XL_LOGICAL_MESSAGE_SIZE + prefixSize + messageLen;
  return SIZE_OF_RECORD_HEADER + (main < 256 ? 2 : 5) + main;
}

/** Writes one complete logical-message record (header with CRC + data) at `out[off..]`; returns its length. */
export function writeLogicalMessageRecord(
  out: Buffer,
  off: number,
  prefix: Uint8Array,
  message: Uint8Array,
  prevLsn: Lsn,
  dbId = 5,
): number {
  const prefixSize = prefix.length + 1;
  const main = XL_LOGICAL_MESSAGE_SIZE + prefixSize + message.length;
  const totLen = logicalMessageRecordLength(message.length, prefixSize);
  let p = writeRecordStart(out, off, totLen, prevLsn, XLOG_LOGICAL_MESSAGE, RM_LOGICALMSG_ID, main);
  out.writeUInt32LE(dbId, p);
  out.writeUInt32LE(0, p + 4); // transactional = false, then 3 bytes of padding
  out.writeUInt32LE(prefixSize, p + 8);
  out.writeUInt32LE(0, p + 12);
  out.writeUInt32LE(message.length, p + 16);
  out.writeUInt32LE(0, p + 20);
  p += XL_LOGICAL_MESSAGE_SIZE;
  out.set(prefix, p);
  out[p + prefix.length] = 0;
  p += prefixSize;
  out.set(message, p);
  sealRecord(out, off, totLen);
  return totLen;
}

/** xl_tot_len of an XLOG no-op record carrying `dataLen` bytes of main data. */
export function noopRecordLength(dataLen: number): number {
  return SIZE_OF_RECORD_HEADER + (dataLen < 256 ? 2 : 5) + dataLen;
}

/** Writes one complete XLOG no-op record (resource manager XLOG, like checkpoints and FPIs); returns its length. */
export function writeNoopRecord(out: Buffer, off: number, data: Uint8Array, prevLsn: Lsn): number {
  const totLen = noopRecordLength(data.length);
  out.set(data, writeRecordStart(out, off, totLen, prevLsn, XLOG_NOOP, RM_XLOG_ID, data.length));
  sealRecord(out, off, totLen);
  return totLen;
}

/** The record header (its CRC still 0) and the main data's block header; returns where the main data goes. */
function writeRecordStart(out: Buffer, off: number, totLen: number, prevLsn: Lsn, info: number, rmid: number, main: number): number {
  out.writeUInt32LE(totLen, off);
  out.writeUInt32LE(0, off + 4); // xl_xid: none
  out.writeBigUInt64LE(prevLsn, off + 8);
  out[off + 16] = info;
  out[off + 17] = rmid;
  out[off + 18] = 0;
  out[off + 19] = 0;
  let p = off + SIZE_OF_RECORD_HEADER;
  if (main < 256) {
    out[p++] = XLR_BLOCK_ID_DATA_SHORT;
    out[p++] = main;
  } else {
    out[p++] = XLR_BLOCK_ID_DATA_LONG;
    out.writeUInt32LE(main, p);
    p += 4;
  }
  return p;
}

/** The record's CRC: over its data, then the header up to the CRC field (PostgreSQL's order). */
function sealRecord(out: Buffer, off: number, totLen: number): void {
  let crc = crcAny(out, off + SIZE_OF_RECORD_HEADER, off + totLen, 0);
  crc = crcRange(out, off, off + RECORD_CRC_OFFSET, crc);
  out.writeUInt32LE(crc, off + RECORD_CRC_OFFSET);
}

/** Encodes one complete logical-message record (header with CRC + data), without page headers. */
export function encodeLogicalMessageRecord(prefix: Uint8Array, message: Uint8Array, prevLsn: Lsn, dbId = 5): Buffer {
  const rec = Buffer.allocUnsafe(logicalMessageRecordLength(message.length, prefix.length + 1));
  writeLogicalMessageRecord(rec, 0, prefix, message, prevLsn, dbId);
  return rec;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

export class WalGenerator {
  readonly walSegSize: number;
  readonly magic: number;
  readonly systemId: bigint;
  private readonly segSizeBig: bigint;
  private readonly prefix: Uint8Array;
  private readonly rand: () => number;
  private readonly pattern: Buffer;
  private patternPos = 0;

  private pos: Lsn;
  /** pos % XLOG_BLCKSZ, kept as a number for the per-record path. */
  private pageOff = 0;
  private prev: Lsn;
  private takenUpTo: Lsn;
  private buf: Buffer = Buffer.alloc(0);
  private len = 0;
  private records = 0;
  private readonly xlogNoopEvery: number;

  constructor(opts: WalGeneratorOptions) {
    this.xlogNoopEvery = opts.xlogNoopEvery ?? 0;
    this.walSegSize = opts.walSegSize ?? WAL_SEGMENT_SIZE;
    if (this.walSegSize % XLOG_BLCKSZ !== 0) throw new Error(`walSegSize ${this.walSegSize} is not a multiple of ${XLOG_BLCKSZ}`);
    this.segSizeBig = BigInt(this.walSegSize);
    this.magic = xlogPageMagic(opts.pgVersion ?? 150000);
    this.systemId = opts.systemId ?? 0n;
    this.prefix = new TextEncoder().encode(opts.prefix ?? 'walgen');
    if (this.prefix.includes(0)) throw new Error('prefix must not contain NUL');
    const start = opts.startLsn;
    const pageOff = Number(start % BigInt(XLOG_BLCKSZ));
    const hdr = start % BigInt(this.walSegSize) === BigInt(pageOff) ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
    if (start % 8n !== 0n || (pageOff > 0 && pageOff < hdr)) {
      throw new Error(`WalGenerator startLsn ${formatLsn(start)} is not a record boundary (8-aligned, outside page headers)`);
    }
    this.pos = start;
    this.takenUpTo = start;
    this.prev = opts.prevLsn ?? 0n;
    this.rand = xorshift(opts.seed ?? 1);
    this.pattern = Buffer.allocUnsafe(2 * PATTERN_SIZE);
    for (let i = 0; i < PATTERN_SIZE; i++) this.pattern[i] = this.rand() & 0xff;
    this.pattern.copy(this.pattern, PATTERN_SIZE, 0, PATTERN_SIZE);
    this.pageOff = pageOff;
  }

  /** Next record position (end of everything appended, padding included). */
  get lsn(): Lsn {
    return this.pos;
  }

  /** Start of the last record appended (xl_prev of the next one). */
  get prevLsn(): Lsn {
    return this.prev;
  }

  get recordCount(): number {
    return this.records;
  }

  /**
   * Appends one record whose message is `message`, or `message` deterministic bytes: a logical
   * message, or with `noop` an XLOG no-op record carrying them.
   */
  appendRecord(message: Uint8Array | number, noop = false): { start: Lsn; end: Lsn } {
    const msg = typeof message === 'number' ? this.messageBytes(message) : message;
    const totLen = noop ? noopRecordLength(msg.length) : logicalMessageRecordLength(msg.length, this.prefix.length + 1);
    // Room for the record, a header per page it touches, and padding.
    this.ensure(totLen + (Math.ceil(totLen / (XLOG_BLCKSZ - SIZE_OF_SHORT_PAGE_HEADER)) + 2) * SIZE_OF_LONG_PAGE_HEADER + 8);
    if (this.pageOff === 0) this.pageHeader(0);
    const start = this.pos;
    if (totLen <= XLOG_BLCKSZ - this.pageOff) {
      // Common case: the record fits the current page; build it in place.
      if (noop) writeNoopRecord(this.buf, this.len, msg, this.prev);
      else writeLogicalMessageRecord(this.buf, this.len, this.prefix, msg, this.prev);
      this.emitted(totLen);
    } else {
      const rec = Buffer.allocUnsafe(totLen);
      if (noop) writeNoopRecord(rec, 0, msg, this.prev);
      else writeLogicalMessageRecord(rec, 0, this.prefix, msg, this.prev);
      let src = 0;
      while (src < totLen) {
        if (this.pageOff === 0) this.pageHeader(totLen - src);
        const k = Math.min(XLOG_BLCKSZ - this.pageOff, totLen - src);
        rec.copy(this.buf, this.len, src, src + k);
        this.emitted(k);
        src += k;
      }
    }
    const pad = (8 - (this.pageOff & 7)) & 7;
    this.buf.fill(0, this.len, this.len + pad);
    this.emitted(pad);
    this.prev = start;
    this.records++;
    return { start, end: this.pos };
  }

  /** Everything appended since the previous take (or the start). */
  take(): WalChunk {
    const chunk = { beginLsn: this.takenUpTo, endLsn: this.pos, bytes: this.buf.subarray(0, this.len) };
    this.buf = Buffer.alloc(0);
    this.len = 0;
    this.takenUpTo = this.pos;
    return chunk;
  }

  /**
   * Appends records until at least `totalBytes` more WAL exist, then take()s. With `recordSize`
   * every message has that many bytes; otherwise sizes vary (mostly small, some spanning pages).
   */
  generate(totalBytes: number, recordSize?: number): WalChunk {
    const target = this.pos + BigInt(totalBytes);
    // Room for it all at once: growing by doubling from 64 KiB allocated and copied about four
    // times the final size (the warm-up's 16 MiB stream spent 160 ms of CPU in those copies).
    this.ensure(totalBytes + Math.ceil(totalBytes / XLOG_BLCKSZ) * SIZE_OF_LONG_PAGE_HEADER + 64 * 1024);
    const every = this.xlogNoopEvery;
    while (this.pos < target) this.appendRecord(recordSize ?? this.pickSize(), every > 0 && this.records % every === every - 1);
    return this.take();
  }

  private pickSize(): number {
    const r = this.rand();
    const bucket = r % 100;
    if (bucket < 70) return (r >>> 8) % 200;
    if (bucket < 95) return 200 + ((r >>> 8) % 3000);
    return 8000 + ((r >>> 8) % 30000);
  }

  private messageBytes(n: number): Uint8Array {
    // The pattern is stored twice over, so any window up to its length is one view.
    if (n <= PATTERN_SIZE) {
      const view = this.pattern.subarray(this.patternPos, this.patternPos + n);
      this.patternPos = (this.patternPos + n + 131) % PATTERN_SIZE;
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    for (let o = 0; o < n; o += PATTERN_SIZE) this.pattern.copy(out, o, 0, Math.min(PATTERN_SIZE, n - o));
    return out;
  }

  /** Advances the position over `n` bytes just placed in the buffer. */
  private emitted(n: number): void {
    this.len += n;
    this.pos += BigInt(n);
    this.pageOff = (this.pageOff + n) & (XLOG_BLCKSZ - 1);
  }

  /** Emits the header of the page starting at pos; `remLen` > 0 marks a continuation. */
  private pageHeader(remLen: number): void {
    const long = this.pos % this.segSizeBig === 0n;
    const n = encodePageHeader(
      this.buf,
      this.len,
      { magic: this.magic, info: remLen > 0 ? XLP_FIRST_IS_CONTRECORD : 0, pageAddr: this.pos, remLen },
      long ? { sysid: this.systemId, segSize: this.walSegSize } : undefined,
    );
    this.emitted(n);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.len + extra, this.buf.length * 2, 64 * 1024));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}
