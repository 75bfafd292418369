// Sequential writes into a set of 16 MiB segment-like files, the way a
// safekeeper lays WAL out: each file pre-sized (sparse) when opened, positioned
// writes, fdatasync every `syncEveryBytes` and once when a segment completes.
// This is the "what the disk gives a Node process" half of the bench; it does
// no directory fsyncs and no renames, so it is a slightly optimistic floor.

import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface SegmentFilesOptions {
  dir: string;
  segSize?: number;
  /** fdatasync after at least this many bytes since the last one; null = never sync. */
  syncEveryBytes: number | null;
}

export class SegmentFiles {
  readonly segSize: number;
  private fh: FileHandle | null = null;
  private segno = 0;
  /** Offset inside the open segment. */
  private off = 0;
  private unsynced = 0;
  /** fdatasync calls made, for the report. */
  syncs = 0;

  constructor(private readonly opts: SegmentFilesOptions) {
    this.segSize = opts.segSize ?? 16 * 1024 * 1024;
  }

  /** Appends `bufs` in order (one writev per segment they touch). */
  async write(bufs: Buffer[]): Promise<void> {
    let i = 0;
    let head: Buffer | undefined = bufs[0];
    while (head !== undefined) {
      if (!this.fh) await this.open();
      const room = this.segSize - this.off;
      const pieces: Buffer[] = [];
      let n = 0;
      while (head !== undefined && n < room) {
        const take = Math.min(head.length, room - n);
        pieces.push(head.subarray(0, take));
        n += take;
        head = take < head.length ? head.subarray(take) : bufs[++i];
      }
      await writeAll(this.fh!, pieces, this.off);
      this.off += n;
      this.unsynced += n;
      if (this.off === this.segSize) {
        await this.sync();
        await this.fh!.close();
        this.fh = null;
        this.segno++;
        this.off = 0;
      } else if (this.opts.syncEveryBytes !== null && this.unsynced >= this.opts.syncEveryBytes) {
        await this.sync();
      }
    }
  }

  /** Syncs what is unsynced and closes the open segment. */
  async close(): Promise<void> {
    if (!this.fh) return;
    await this.sync();
    await this.fh.close();
    this.fh = null;
  }

  private async open(): Promise<void> {
    const name = path.join(this.opts.dir, `seg-${String(this.segno).padStart(8, '0')}`);
    this.fh = await open(name, 'w+');
    await this.fh.truncate(this.segSize);
  }

  private async sync(): Promise<void> {
    if (this.opts.syncEveryBytes === null || this.unsynced === 0) return;
    await this.fh!.datasync();
    this.syncs++;
    this.unsynced = 0;
  }
}

async function writeAll(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let rest = bufs;
  let pos = position;
  for (;;) {
    const { bytesWritten } = await fh.writev(rest, pos);
    pos += bytesWritten;
    let skip = bytesWritten;
    let k = 0;
    while (k < rest.length && skip >= rest[k]!.length) skip -= rest[k++]!.length;
    if (k === rest.length) return;
    if (bytesWritten === 0) throw new Error(`writev wrote nothing at offset ${pos}`);
    rest = [rest[k]!.subarray(skip), ...rest.slice(k + 1)];
  }
}
