// WAL segment files on disk (storage.md §3.1-§3.2): paths, open-or-create with a
// pre-sized `waltmp` renamed durably to `<name>.partial`, removal, full positioned writes.
//
// Unless sync is off, segments are opened O_DSYNC: a write that completed is durable (its
// data and the metadata to reach it, as write + fdatasync of that range), so acknowledging
// a commit costs ONE thread-pool round trip (the write) instead of two (write, then
// fdatasync), and a full batch's background write syncs while the next batch fills.

import path from 'node:path';
import { durableRename } from './fsync.js';
import { nodeFs, O_CREAT, O_DSYNC, O_RDWR, O_TRUNC, type StorageFile, type StorageFs } from './fs.js';
import { PARTIAL_SUFFIX, isSegmentFileName, parseSegmentFileName, segmentFileName } from './wal-format.js';

export const WAL_TMP_NAME = 'waltmp';

export function segmentPaths(dir: string, segno: bigint, walSegSize: number): { full: string; partial: string } {
  const full = path.join(dir, segmentFileName(segno, walSegSize));
  return { full, partial: full + PARTIAL_SUFFIX };
}

async function openIfExists(fs: StorageFs, p: string, flags: number): Promise<StorageFile | undefined> {
  try {
    return await fs.open(p, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface OpenedSegment {
  fh: StorageFile;
  /** False when the completed (plain-named) file was opened. */
  partial: boolean;
  /** Writes through `fh` are durable when they complete (O_DSYNC): no fdatasync needed for them. */
  dsync: boolean;
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
  fs: StorageFs = nodeFs,
): Promise<OpenedSegment> {
  const { full, partial } = segmentPaths(dir, segno, walSegSize);
  const dsync = !noSync && O_DSYNC !== 0;
  const flags = O_RDWR | (dsync ? O_DSYNC : 0);
  const done = await openIfExists(fs, full, flags);
  if (done) return { fh: done, partial: false, dsync };
  const part = await openIfExists(fs, partial, flags);
  if (part) return { fh: part, partial: true, dsync };

  const t0 = performance.now();
  const tmp = path.join(dir, WAL_TMP_NAME);
  const fh = await fs.open(tmp, flags | O_CREAT | O_TRUNC);
  try {
    await fh.truncate(walSegSize);
    try {
      await durableRename(tmp, partial, noSync, fs);
    } catch (e) {
      // The rename may have happened with only its fsync failing: never leave a file we did not vouch for.
      await fs.removeTree(partial);
      throw e;
    }
  } catch (e) {
    await fh.close();
    throw e;
  }
  onCreate?.((performance.now() - t0) / 1000);
  return { fh, partial: true, dsync };
}

/** Deletes every segment file (plain or .partial) whose segno satisfies `pred`. Returns how many. */
export async function removeSegments(dir: string, walSegSize: number, pred: (segno: bigint) => boolean, fs: StorageFs = nodeFs): Promise<number> {
  let removed = 0;
  for (const { name } of await fs.readdir(dir)) {
    if (!isSegmentFileName(name)) continue;
    if (!pred(parseSegmentFileName(name, walSegSize).segno)) continue;
    await fs.removeTree(path.join(dir, name));
    removed++;
  }
  return removed;
}

/** How a batch reaches the file: one positioned writev (a seam for fault-injection tests). */
export type WritevAt = (file: StorageFile, bufs: Buffer[], position: number) => Promise<number>;

export const writevAt: WritevAt = (file, bufs, position) => file.writev(bufs, position);

/** Writes all of `bufs` at `position`, continuing after short writes. */
export async function writeFullyAt(fh: StorageFile, bufs: Buffer[], position: number, writev: WritevAt = writevAt): Promise<void> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let pos = position;
  let rest = bufs;
  while (total > 0) {
    const bytesWritten = await writev(fh, rest, pos);
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
