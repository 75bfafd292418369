// End-of-WAL scan at startup (storage.md §3.6, Neon's find_end_of_wal): decode forward
// from a known record boundary through `<name>.partial` (else `<name>`) segment files
// until EOF, a missing segment, or the first invalid page header / record.

import { nodeFs, O_RDONLY, type StorageFile, type StorageFs } from './fs.js';
import path from 'node:path';
import type { Lsn } from '../lsn.js';
import { WalDecoder } from './wal-decoder.js';
import { PARTIAL_SUFFIX, segmentFileName } from './wal-format.js';

/** Read size; larger than Neon's 8 KiB to keep the number of syscalls low. */
const CHUNK = 1024 * 1024;

/** Opens `<name>.partial`, else `<name>`; undefined when neither exists. */
export async function openSegmentForRead(dir: string, segno: bigint, walSegSize: number, fs: StorageFs = nodeFs): Promise<StorageFile | undefined> {
  const name = segmentFileName(segno, walSegSize);
  for (const candidate of [name + PARTIAL_SUFFIX, name]) {
    try {
      return await fs.open(path.join(dir, candidate), O_RDONLY);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return undefined;
}

export interface EndOfWal {
  end: Lsn;
  /** Why the scan stopped: decoder error text, or which file ran out / is missing. */
  reason: string;
}

/** Like findEndOfWal, also saying why the scan stopped (for logs). */
export async function scanEndOfWal(dir: string, startLsn: Lsn, walSegSize: number, pgMajor: number, fs: StorageFs = nodeFs): Promise<EndOfWal> {
  const decoder = new WalDecoder({ pgMajor, walSegSize, startLsn });
  const segSize = BigInt(walSegSize);
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, walSegSize));
  let pos = startLsn;
  for (;;) {
    const segno = pos / segSize;
    const fh = await openSegmentForRead(dir, segno, walSegSize, fs);
    if (!fh) {
      return { end: decoder.lastRecordEnd, reason: `segment ${segmentFileName(segno, walSegSize)} does not exist` };
    }
    try {
      let off = Number(pos % segSize);
      while (off < walSegSize) {
        const want = Math.min(buf.length, walSegSize - off);
        const bytesRead = await fh.read(buf, 0, want, off);
        if (bytesRead === 0) {
          return { end: decoder.lastRecordEnd, reason: `EOF in segment ${segmentFileName(segno, walSegSize)} at offset ${off}` };
        }
        decoder.feed(buf.subarray(0, bytesRead));
        if (decoder.error) return { end: decoder.lastRecordEnd, reason: decoder.errorMessage! };
        off += bytesRead;
        pos += BigInt(bytesRead);
      }
    } finally {
      await fh.close();
    }
  }
}

/**
 * The next-record position after the last valid record at or after `startLsn` (which must be
 * a record boundary); `startLsn` itself when no valid record follows. Never fails on bad WAL.
 */
export async function findEndOfWal(dir: string, startLsn: Lsn, walSegSize: number, pgMajor: number, fs: StorageFs = nodeFs): Promise<Lsn> {
  return (await scanEndOfWal(dir, startLsn, walSegSize, pgMajor, fs)).end;
}
