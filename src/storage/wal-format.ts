// PostgreSQL WAL layout (storage.md §3.1, §3.7): page and record headers, segment
// file names. Pure: no I/O. Offsets and sizes are for PostgreSQL >= 14 on 64-bit.

import type { Lsn } from '../lsn.js';

export const XLOG_BLCKSZ = 8192;
export const WAL_SEGMENT_SIZE = 16 * 1024 * 1024;
export const SIZE_OF_SHORT_PAGE_HEADER = 24;
export const SIZE_OF_LONG_PAGE_HEADER = 40;
export const SIZE_OF_RECORD_HEADER = 24;
/** Offset of xl_crc inside XLogRecord; the CRC covers the header bytes before it. */
export const RECORD_CRC_OFFSET = 20;
/** Offset of xlp_rem_len inside XLogPageHeaderData. */
export const PAGE_REM_LEN_OFFSET = 16;
export const MAXALIGN = 8;

export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_BKP_REMOVABLE = 0x0004;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;

export const RM_XLOG_ID = 0;
export const RM_LOGICALMSG_ID = 21;
export const XLOG_SWITCH = 0x40;
/** xl_info of an XLOG no-op record (its main data is ignored). */
export const XLOG_NOOP = 0x20;
export const XLOG_LOGICAL_MESSAGE = 0x00;
export const XLR_BLOCK_ID_DATA_SHORT = 255;
export const XLR_BLOCK_ID_DATA_LONG = 254;

/** The only timeline a safekeeper names its files with. */
export const PG_TLI = 1;
export const PARTIAL_SUFFIX = '.partial';

const PAGE_MAGIC: Record<number, number> = { 14: 0xd10d, 15: 0xd110, 16: 0xd113, 17: 0xd116 };

/** Major version from a full PG_VERSION_NUM (150004 → 15); a bare major (15) passes through. */
export function pgMajorOf(pgVersion: number): number {
  return pgVersion >= 10000 ? Math.floor(pgVersion / 10000) : pgVersion;
}

/** XLOG_PAGE_MAGIC of a PostgreSQL major version (or full PG_VERSION_NUM). */
export function xlogPageMagic(pgVersionOrMajor: number): number {
  const major = pgMajorOf(pgVersionOrMajor);
  const magic = PAGE_MAGIC[major];
  if (magic === undefined) {
    throw new Error(`unsupported postgres version: ${pgVersionOrMajor} (major ${major}); supported majors are 14, 15, 16, 17`);
  }
  return magic;
}

export function maxAlign(n: number): number {
  return (n + (MAXALIGN - 1)) & ~(MAXALIGN - 1);
}

export function maxAlignLsn(lsn: Lsn): Lsn {
  return (lsn + 7n) & ~7n;
}

/** Size of the page header at a page-aligned segment offset (long at the segment start). */
export function pageHeaderSizeAt(segmentOffset: number): number {
  return segmentOffset === 0 ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
}

export interface PageHeader {
  magic: number;
  info: number;
  tli: number;
  pageAddr: Lsn;
  remLen: number;
}

export interface LongPageHeader extends PageHeader {
  sysid: bigint;
  segSize: number;
  blcksz: number;
}

export function isLongHeader(h: PageHeader): h is LongPageHeader {
  return (h as LongPageHeader).sysid !== undefined;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Parses a short page header at `off`; a long one too when XLP_LONG_HEADER is set and 40 bytes are there. */
export function parsePageHeader(buf: Uint8Array, off = 0): PageHeader | LongPageHeader {
  if (buf.length - off < SIZE_OF_SHORT_PAGE_HEADER) {
    throw new Error(`page header needs ${SIZE_OF_SHORT_PAGE_HEADER} bytes, got ${buf.length - off}`);
  }
  const dv = view(buf);
  const h: PageHeader = {
    magic: dv.getUint16(off, true),
    info: dv.getUint16(off + 2, true),
    tli: dv.getUint32(off + 4, true),
    pageAddr: dv.getBigUint64(off + 8, true),
    remLen: dv.getUint32(off + 16, true),
  };
  if (h.info & XLP_LONG_HEADER && buf.length - off >= SIZE_OF_LONG_PAGE_HEADER) {
    return {
      ...h,
      sysid: dv.getBigUint64(off + 24, true),
      segSize: dv.getUint32(off + 32, true),
      blcksz: dv.getUint32(off + 36, true),
    };
  }
  return h;
}

/** Writes a short header (24 bytes) or, when `long` is given, a long one (40 bytes) at `off`. Returns its size. */
export function encodePageHeader(
  out: Uint8Array,
  off: number,
  h: { magic: number; info: number; tli?: number; pageAddr: Lsn; remLen: number },
  long?: { sysid: bigint; segSize: number; blcksz?: number },
): number {
  const dv = view(out);
  dv.setUint16(off, h.magic, true);
  dv.setUint16(off + 2, long ? h.info | XLP_LONG_HEADER : h.info, true);
  dv.setUint32(off + 4, h.tli ?? PG_TLI, true);
  dv.setBigUint64(off + 8, h.pageAddr, true);
  dv.setUint32(off + 16, h.remLen, true);
  dv.setUint32(off + 20, 0, true);
  if (!long) return SIZE_OF_SHORT_PAGE_HEADER;
  dv.setBigUint64(off + 24, long.sysid, true);
  dv.setUint32(off + 32, long.segSize, true);
  dv.setUint32(off + 36, long.blcksz ?? XLOG_BLCKSZ, true);
  return SIZE_OF_LONG_PAGE_HEADER;
}

export interface RecordHeader {
  totLen: number;
  xid: number;
  prev: Lsn;
  info: number;
  rmid: number;
  crc: number;
}

export function parseRecordHeader(buf: Uint8Array, off = 0): RecordHeader {
  if (buf.length - off < SIZE_OF_RECORD_HEADER) {
    throw new Error(`record header needs ${SIZE_OF_RECORD_HEADER} bytes, got ${buf.length - off}`);
  }
  const dv = view(buf);
  return {
    totLen: dv.getUint32(off, true),
    xid: dv.getUint32(off + 4, true),
    prev: dv.getBigUint64(off + 8, true),
    info: buf[off + 16],
    rmid: buf[off + 17],
    crc: dv.getUint32(off + 20, true),
  };
}

export function encodeRecordHeader(out: Uint8Array, off: number, h: RecordHeader): void {
  const dv = view(out);
  dv.setUint32(off, h.totLen, true);
  dv.setUint32(off + 4, h.xid, true);
  dv.setBigUint64(off + 8, h.prev, true);
  out[off + 16] = h.info;
  out[off + 17] = h.rmid;
  out[off + 18] = 0;
  out[off + 19] = 0;
  dv.setUint32(off + 20, h.crc >>> 0, true);
}

export function isXlogSwitch(rmid: number, info: number): boolean {
  return rmid === RM_XLOG_ID && info === XLOG_SWITCH;
}

// --- segment names -------------------------------------------------------

function segsPerXlogId(walSegSize: number): bigint {
  return 0x100000000n / BigInt(walSegSize);
}

function hex8(n: bigint): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** `%08X%08X%08X` of tli, segno / segs-per-xlogid, segno % segs-per-xlogid. */
export function segmentFileName(segno: bigint, walSegSize: number, tli = PG_TLI): string {
  const per = segsPerXlogId(walSegSize);
  return hex8(BigInt(tli)) + hex8(segno / per) + hex8(segno % per);
}

const SEGMENT_NAME = /^([0-9A-Fa-f]{8})([0-9A-Fa-f]{8})([0-9A-Fa-f]{8})(\.partial)?$/;

export function isSegmentFileName(name: string): boolean {
  return SEGMENT_NAME.test(name);
}

/** Inverse of segmentFileName, also accepting the `.partial` suffix. Throws on any other name. */
export function parseSegmentFileName(
  name: string,
  walSegSize: number,
): { segno: bigint; tli: number; partial: boolean } {
  const m = SEGMENT_NAME.exec(name);
  if (!m) throw new Error(`'${name}' is not a WAL segment file name`);
  const log = BigInt(`0x${m[2]}`);
  const seg = BigInt(`0x${m[3]}`);
  return { segno: log * segsPerXlogId(walSegSize) + seg, tli: Number.parseInt(m[1], 16), partial: m[4] !== undefined };
}

export function segmentStartLsn(segno: bigint, walSegSize: number): Lsn {
  return segno * BigInt(walSegSize);
}
