// Durability primitives. Every fsync is skipped when `noSync` is set (the
// --no-sync flag, tests only), so callers pass it through rather than branch.
// Each takes the file system (./fs.ts) last, the real one by default.

import path from 'node:path';
import { nodeFs, O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY, type StorageFs } from './fs.js';

export async function fsyncPath(p: string, noSync: boolean, fs: StorageFs = nodeFs): Promise<void> {
  if (noSync) return;
  const f = await fs.open(p, O_RDONLY);
  try {
    await f.sync();
  } finally {
    await f.close();
  }
}

/** fsync a directory so a create/rename/unlink inside it survives a crash. */
export async function fsyncDir(dir: string, noSync: boolean, fs: StorageFs = nodeFs): Promise<void> {
  if (noSync) return;
  await fs.fsyncDir(dir);
}

/** rename + fsync of the target's directory (and of the source's, when different). */
export async function durableRename(from: string, to: string, noSync: boolean, fs: StorageFs = nodeFs): Promise<void> {
  await fsyncPath(from, noSync, fs);
  await fs.rename(from, to);
  await fsyncDir(path.dirname(to), noSync, fs);
  if (path.dirname(from) !== path.dirname(to)) await fsyncDir(path.dirname(from), noSync, fs);
}

/** Writes all of `data` at `position`, continuing after short writes. */
export async function writeAllAt(f: { writev(bufs: Buffer[], position: number): Promise<number> }, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const n = await f.writev([data.subarray(done)], position + done);
    if (n === 0) throw new Error(`write wrote 0 of ${data.length - done} bytes at offset ${position + done}`);
    done += n;
  }
}

/** Writes `data` to `file` atomically: `<file>.partial`, fsync, rename, fsync of the directory. */
export async function atomicWriteFile(
  file: string,
  data: Uint8Array,
  noSync: boolean,
  tmpSuffix = '.partial',
  beforeRename?: () => void,
  fs: StorageFs = nodeFs,
): Promise<void> {
  const tmp = file + tmpSuffix;
  const f = await fs.open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  try {
    await writeAllAt(f, Buffer.from(data.buffer, data.byteOffset, data.byteLength), 0);
    if (!noSync) await f.sync();
  } finally {
    await f.close();
  }
  beforeRename?.();
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file), noSync, fs);
}
