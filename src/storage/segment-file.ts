// WAL segment files on disk (storage.md §3.1-§3.2): paths, open-or-create with a
// pre-sized `waltmp` renamed durably to `<name>.partial`, removal, full positioned writes.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { durableRename } from './fsync.js';
import { PARTIAL_SUFFIX, isSegmentFileName, parseSegmentFileName, segmentFileName } from './wal-format.js';

export const WAL_TMP_NAME = 'waltmp';

export function segmentPaths(dir: string, segno: bigint, walSegSize: number): { full: string; partial: string } {
  const full = path.join(dir, segmentFileName(segno, walSegSize));
  return { full, partial: full + PARTIAL_SUFFIX };
}

async function openIfExists(p: string, flags: string): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(p, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface OpenedSegment {
  fh: fs.FileHandle;
  /** False when the completed (plain-named) file was opened. */
  partial: boolean;
}

/**
 * Opens segment `segno` for writing: the completed file, else `<name>.partial`, else creates it:
 * `waltmp` sized to `walSegSize` (sparse zeros, so later writes only need fdatasync), then a
 * durable rename to `<name>.partial`. `onCreate` gets the seconds creation took.
 */
export async function openOrCreateSegment(
  dir: string,
  segno: bigint,
  walSegSize: number,
  noSync: boolean,
  onCreate?: (seconds: number) => void,
): Promise<OpenedSegment> {
  const { full, partial } = segmentPaths(dir, segno, walSegSize);
  const done = await openIfExists(full, 'r+');
  if (done) return { fh: done, partial: false };
  const part = await openIfExists(partial, 'r+');
  if (part) return { fh: part, partial: true };

  const t0 = performance.now();
  const tmp = path.join(dir, WAL_TMP_NAME);
  const fh = await fs.open(tmp, 'w+');
  try {
    await fh.truncate(walSegSize);
    try {
      await durableRename(tmp, partial, noSync);
    } catch (e) {
      // The rename may have happened with only its fsync failing: never leave a file we did not vouch for.
      await fs.rm(partial, { force: true });
      throw e;
    }
  } catch (e) {
    await fh.close();
    throw e;
  }
  onCreate?.((performance.now() - t0) / 1000);
  return { fh, partial: true };
}

/** Deletes every segment file (plain or .partial) whose segno satisfies `pred`. Returns how many. */
export async function removeSegments(dir: string, walSegSize: number, pred: (segno: bigint) => boolean): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(dir)) {
    if (!isSegmentFileName(name)) continue;
    if (!pred(parseSegmentFileName(name, walSegSize).segno)) continue;
    await fs.rm(path.join(dir, name), { force: true });
    removed++;
  }
  return removed;
}

/** Writes all of `bufs` at `position`, continuing after short writes. */
export async function writeFullyAt(fh: fs.FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let pos = position;
  let rest = bufs;
  while (total > 0) {
    const { bytesWritten } = await fh.writev(rest, pos);
    if (bytesWritten === 0) throw new Error(`writev wrote 0 of ${total} bytes at offset ${pos}`);
    total -= bytesWritten;
    pos += bytesWritten;
    if (total === 0) break;
    // Drop what was written, keeping the tail of a partly written buffer.
    let skip = bytesWritten;
    let i = 0;
    while (skip >= rest[i].length) skip -= rest[i++].length;
    rest = [rest[i].subarray(skip), ...rest.slice(i + 1)];
  }
}
