// Scenario "disk": the disk's own sequential-write speed as Node sees it — the
// same WAL bytes in fixed-size writes into segment files in a temp dir on the
// filesystem the servers use (os.tmpdir()), fdatasync on a cadence close to
// the server's. The fsync-on ingest scenarios are judged against this.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SegmentFiles } from '../lib/segment-files.js';
import { mbps } from '../lib/format.js';

export interface DiskResult {
  bytes: number;
  seconds: number;
  mbps: number;
  syncs: number;
  syncEveryBytes: number | null;
}

export async function diskWrite(wal: Buffer, chunkBytes: number, syncEveryBytes: number | null): Promise<DiskResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-bench-disk-'));
  try {
    const files = new SegmentFiles({ dir, syncEveryBytes });
    const t0 = performance.now();
    for (let off = 0; off < wal.length; off += chunkBytes) {
      await files.write([wal.subarray(off, Math.min(off + chunkBytes, wal.length))]);
    }
    await files.close();
    const seconds = (performance.now() - t0) / 1000;
    return { bytes: wal.length, seconds, mbps: mbps(wal.length, seconds), syncs: files.syncs, syncEveryBytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
