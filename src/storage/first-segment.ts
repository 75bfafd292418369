// The bytes of a timeline's first segment before timeline_start_lsn (storage.md §3.3, Neon's
// generate_wal_segment): the compute's stream starts mid-segment, so the safekeeper writes the
// page headers a reader needs and zeros elsewhere. The WAL store writes the headers on the first
// ProposerElected; a WAL sender makes the same bytes when asked to stream from before that LSN.

import { formatLsn, type Lsn } from '../lsn.js';
import {
  SIZE_OF_LONG_PAGE_HEADER,
  SIZE_OF_SHORT_PAGE_HEADER,
  XLOG_BLCKSZ,
  XLP_FIRST_IS_CONTRECORD,
  encodePageHeader,
  xlogPageMagic,
} from './wal-format.js';

export interface FirstSegmentParams {
  pgVersion: number;
  systemId: bigint;
  walSegSize: number;
}

/** The page headers to place in the segment holding `startLsn`, at their segment offsets. */
export function firstSegmentHeaders(startLsn: Lsn, p: FirstSegmentParams): Array<{ offset: number; bytes: Buffer }> {
  const segSize = BigInt(p.walSegSize);
  const segOff = Number(startLsn % segSize);
  const pageOff = segOff % XLOG_BLCKSZ;
  const segStart = startLsn - BigInt(segOff);
  const magic = xlogPageMagic(p.pgVersion);
  const firstPage = segOff < XLOG_BLCKSZ;
  if (firstPage && segOff > 0 && segOff < SIZE_OF_LONG_PAGE_HEADER) {
    throw new Error(`cannot initialize first segment at ${formatLsn(startLsn)}: inside the long page header`);
  }
  if (!firstPage && pageOff > 0 && pageOff < SIZE_OF_SHORT_PAGE_HEADER) {
    throw new Error(`cannot initialize first segment at ${formatLsn(startLsn)}: inside a page header`);
  }
  // A pretend record "continues" up to the start point so page-header readers are content.
  const long = Buffer.alloc(SIZE_OF_LONG_PAGE_HEADER);
  encodePageHeader(
    long,
    0,
    {
      magic,
      info: firstPage && segOff > 0 ? XLP_FIRST_IS_CONTRECORD : 0,
      pageAddr: segStart,
      remLen: firstPage && segOff > 0 ? segOff - SIZE_OF_LONG_PAGE_HEADER : 0,
    },
    { sysid: p.systemId, segSize: p.walSegSize },
  );
  const out = [{ offset: 0, bytes: long }];
  if (!firstPage) {
    const short = Buffer.alloc(SIZE_OF_SHORT_PAGE_HEADER);
    encodePageHeader(short, 0, {
      magic,
      info: pageOff > 0 ? XLP_FIRST_IS_CONTRECORD : 0,
      pageAddr: startLsn - BigInt(pageOff),
      remLen: pageOff > 0 ? pageOff - SIZE_OF_SHORT_PAGE_HEADER : 0,
    });
    out.push({ offset: segOff - pageOff, bytes: short });
  }
  return out;
}

/** Bytes [from, startLsn) of that segment as the image has them: headers and zeros. */
export function firstSegmentBytes(startLsn: Lsn, from: Lsn, p: FirstSegmentParams): Buffer {
  const segSize = BigInt(p.walSegSize);
  const segStart = startLsn - (startLsn % segSize);
  if (from < segStart || from > startLsn) throw new RangeError(`${formatLsn(from)} is not in [segment start, ${formatLsn(startLsn)}]`);
  const image = Buffer.alloc(Number(startLsn - segStart));
  // A start exactly at a page start has nothing before it on that page: no short header inside the image.
  for (const h of firstSegmentHeaders(startLsn, p)) if (h.offset < image.length) h.bytes.copy(image, h.offset);
  return image.subarray(Number(from - segStart));
}
