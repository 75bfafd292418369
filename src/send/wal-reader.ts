// Reading a timeline's WAL for a sender (send-wal.md §3.3-3.4): where each XLogData ends, and
// its bytes, from `<segment>.partial` or else `<segment>`; before timeline_start_lsn in the
// first segment the bytes are made, not read (first-segment.ts).

import { nodeFs, type StorageFile, type StorageFs } from '../storage/fs.js';
import { formatLsn, type Lsn } from '../lsn.js';
import { firstSegmentBytes, type FirstSegmentParams } from '../storage/first-segment.js';
import { XLOG_BLCKSZ } from '../storage/wal-format.js';
import { openSegmentForRead } from '../storage/wal-scan.js';

/** MAX_SEND_SIZE: 16 pages. */
export const MAX_SEND_BYTES = 16 * XLOG_BLCKSZ;

/** A read that cannot be served; the stream ends with an ErrorResponse carrying the text. */
export class WalReadError extends Error {}

/**
 * Where the message starting at `pos` ends: `pos + 128 KiB` rounded down to a page, or `endPos`
 * if that is reached; never past the segment's end, nor (when making bytes) past timeline_start_lsn.
 */
export function chunkEnd(pos: Lsn, endPos: Lsn, walSegSize: number, timelineStartLsn: Lsn): Lsn {
  let end = pos + BigInt(MAX_SEND_BYTES);
  if (end >= endPos) end = endPos;
  else end -= end % BigInt(XLOG_BLCKSZ);
  const segEnd = pos - (pos % BigInt(walSegSize)) + BigInt(walSegSize);
  if (end > segEnd) end = segEnd;
  if (pos < timelineStartLsn && end > timelineStartLsn) end = timelineStartLsn;
  return end;
}

export interface WalReaderParams extends FirstSegmentParams {
  dir: string;
  timelineStartLsn: Lsn;
  localStartLsn: Lsn;
  /** The file system (default: the real one). */
  fs?: StorageFs;
}

export class SegmentWalReader {
  private fh: StorageFile | null = null;
  private fhSegno = -1n;

  private constructor(private readonly p: WalReaderParams) {}

  /** Neon's checks when the reader is made (after CopyBoth): errors end the stream. */
  static open(p: WalReaderParams, startLsn: Lsn): SegmentWalReader {
    if (p.walSegSize === 0 || p.localStartLsn === 0n) throw new WalReadError('state uninitialized, no data to read');
    const seg = BigInt(p.walSegSize);
    const firstSegStart = p.timelineStartLsn - (p.timelineStartLsn % seg);
    if (startLsn < firstSegStart) {
      throw new WalReadError(
        `Requested streaming from ${formatLsn(startLsn)}, which is before the start of the timeline ${formatLsn(p.timelineStartLsn)}, and also doesn't start at the first segment of that timeline`,
      );
    }
    return new SegmentWalReader(p);
  }

  /**
   * Bytes [pos, end): `end` from chunkEnd(), so within one segment. With `into` (at least
   * MAX_SEND_BYTES long) the bytes are read there and a view of it is returned.
   */
  async read(pos: Lsn, end: Lsn, into?: Buffer): Promise<Buffer> {
    if (pos < this.p.timelineStartLsn) return firstSegmentBytes(this.p.timelineStartLsn, pos, this.p).subarray(0, Number(end - pos));
    const seg = BigInt(this.p.walSegSize);
    const segno = pos / seg;
    const out = into ? into.subarray(0, Number(end - pos)) : Buffer.allocUnsafe(Number(end - pos));
    // A segment renamed from .partial keeps its inode: an open handle stays valid; a new one is looked up by name.
    if (this.fhSegno !== segno || !this.fh) {
      await this.close();
      this.fh = (await openSegmentForRead(this.p.dir, segno, this.p.walSegSize, this.p.fs ?? nodeFs)) ?? null;
      if (!this.fh) throw new WalReadError('WAL segment is not found');
      this.fhSegno = segno;
    }
    let done = 0;
    while (done < out.length) {
      const bytesRead = await this.fh.read(out, done, out.length - done, Number(pos % seg) + done);
      if (bytesRead === 0) throw new WalReadError(`WAL segment ends before ${formatLsn(end)}`);
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.fhSegno = -1n;
    await fh?.close();
  }
}
