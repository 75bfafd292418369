// Durability primitives. Every fsync is skipped when `noSync` is set (the
// --no-sync flag, tests only), so callers pass it through rather than branch.

import { promises as fs } from 'node:fs';
import path from 'node:path';

export async function fsyncPath(p: string, noSync: boolean): Promise<void> {
  if (noSync) return;
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory so a create/rename/unlink inside it survives a crash. */
export async function fsyncDir(dir: string, noSync: boolean): Promise<void> {
  await fsyncPath(dir, noSync);
}

/** rename + fsync of the target's directory (and of the source's, when different). */
export async function durableRename(from: string, to: string, noSync: boolean): Promise<void> {
  await fsyncPath(from, noSync);
  await fs.rename(from, to);
  await fsyncDir(path.dirname(to), noSync);
  if (path.dirname(from) !== path.dirname(to)) await fsyncDir(path.dirname(from), noSync);
}

/** Writes `data` to `file` atomically: `<file>.partial`, fsync, rename, fsync of the directory. */
export async function atomicWriteFile(file: string, data: Uint8Array, noSync: boolean, tmpSuffix = '.partial', beforeRename?: () => void): Promise<void> {
  const tmp = file + tmpSuffix;
  const fh = await fs.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    if (!noSync) await fh.sync();
  } finally {
    await fh.close();
  }
  beforeRename?.();
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file), noSync);
}
