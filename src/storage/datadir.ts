// The safekeeper data directory (storage.md §1–2): node id file, pid lock,
// timeline directories and their crash-safe creation. The node id and pid
// lock belong to the process and use node:fs; timeline directories go through
// the file-system seam (./fs.ts).

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import fsSync from 'node:fs';
import path from 'node:path';
import { U64_MAX } from '../lsn.js';
import { isHexId, ttidString, type Ttid } from '../ids.js';
import { DiskControlStore } from './control-store.js';
import { atomicWriteFile, durableRename, fsyncDir, fsyncPath } from './fsync.js';
import { nodeFs, type StorageFs } from './fs.js';
import type { PersistentState } from './interfaces.js';
import { cryptoRandomBytes, type RandomBytes } from '../random.js';

export const ID_FILE_NAME = 'safekeeper.id';
export const PID_FILE_NAME = 'safekeeper.pid';
export const TMP_DIR_NAME = 'tmp';

export interface SyncOptions {
  noSync: boolean;
}

/** Where timeline directories live: the file system and randomness (for temp names) as seams. */
export interface TimelineDirOptions extends SyncOptions {
  fs?: StorageFs;
  randomBytes?: RandomBytes;
}

export function tenantDir(datadir: string, tenantId: string): string {
  return path.join(datadir, tenantId);
}

export function timelineDir(datadir: string, ttid: Ttid): string {
  return path.join(datadir, ttid.tenantId, ttid.timelineId);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

// ---------------------------------------------------------------- node id

/**
 * Returns this safekeeper's node id: the one in `safekeeper.id`, or `id` (written durably) when
 * the file does not exist yet. A different `id` than the stored one is refused.
 */
export async function ensureNodeId(datadir: string, id: bigint | undefined, opts: SyncOptions): Promise<bigint> {
  const file = path.join(datadir, ID_FILE_NAME);
  let text: string | undefined;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    if (!/^[0-9]+$/.test(text) || BigInt(text) > U64_MAX) {
      throw new Error(`failed to parse safekeeper id in ${file}: '${text}'`);
    }
    const stored = BigInt(text);
    if (id !== undefined && id !== stored) {
      throw new Error(`safekeeper already initialized with id ${stored}, can't set ${id}`);
    }
    return stored;
  }
  if (id === undefined) {
    throw new Error(`safekeeper id is not specified (--id) and ${file} does not exist`);
  }
  if (id < 0n || id > U64_MAX) throw new Error(`safekeeper id ${id} is not a u64`);
  // Via a temp file + rename so a crash can never leave an empty or half-written id file.
  await atomicWriteFile(file, Buffer.from(id.toString(), 'ascii'), opts.noSync);
  return id;
}

// ---------------------------------------------------------------- pid lock

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else — still alive.
    return errno(err) !== 'ESRCH';
  }
}

/**
 * Claims `<datadir>/safekeeper.pid` for this process. Node has no flock, so the lock is the file's
 * existence plus a liveness check of the pid in it: a file left by a dead process is replaced.
 * The file is published with link(2), which is atomic and fails if the name exists, so no other
 * process ever sees it empty. Returns a synchronous unlock (usable from exit handlers).
 *
 * Residual race, accepted: two processes that find the same stale file at the same moment may both
 * remove it; the loser's link then fails and it reports the winner as running.
 */
export async function lockDataDir(datadir: string): Promise<() => void> {
  const file = path.join(datadir, PID_FILE_NAME);
  const myPid = process.pid;
  const tmp = path.join(datadir, `${PID_FILE_NAME}.${myPid}.${randomBytes(4).toString('hex')}.tmp`);
  await fsp.writeFile(tmp, String(myPid), { flag: 'wx' });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.link(tmp, file);
        break;
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw err;
        if (attempt >= 2) throw new Error(`could not claim ${file}: it keeps reappearing`);
      }
      let text: string;
      try {
        text = await fsp.readFile(file, 'utf8');
      } catch (err) {
        if (errno(err) === 'ENOENT') continue; // released meanwhile
        throw err;
      }
      const pid = /^[0-9]+$/.test(text.trim()) ? Number(text.trim()) : NaN;
      if (!Number.isSafeInteger(pid) || pid <= 0) {
        throw new Error(`${file} holds '${text}', not a pid; remove it if no safekeeper is running on ${datadir}`);
      }
      // Our own pid can only be a leftover of an earlier incarnation (pid reuse, e.g. pid 1 in a container).
      if (pid !== myPid && processAlive(pid)) {
        throw new Error(`another safekeeper (pid ${pid}) is running on ${datadir}`);
      }
      await fsp.unlink(file).catch((err) => {
        if (errno(err) !== 'ENOENT') throw err;
      });
    }
  } finally {
    await fsp.unlink(tmp).catch(() => undefined);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // Remove only our own lock: never someone else's that replaced it.
    try {
      if (fsSync.readFileSync(file, 'utf8') === String(myPid)) fsSync.unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

// ---------------------------------------------------------------- timelines

export interface TimelineDirEntry {
  ttid: Ttid;
  path: string;
}

async function subdirs(dir: string, fs: StorageFs): Promise<string[]> {
  try {
    const entries = await fs.readdir(dir);
    return entries.filter((e) => e.isDirectory).map((e) => e.name);
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return [];
    throw err;
  }
}

/** Every `<tenant hex32>/<timeline hex32>` directory, sorted; anything else (tmp/, stray names) is skipped. */
export async function listTimelineDirs(datadir: string, fs: StorageFs = nodeFs): Promise<TimelineDirEntry[]> {
  const out: TimelineDirEntry[] = [];
  for (const tenant of (await subdirs(datadir, fs)).filter(isHexId).sort()) {
    for (const timeline of (await subdirs(path.join(datadir, tenant), fs)).filter(isHexId).sort()) {
      out.push({
        ttid: { tenantId: tenant.toLowerCase(), timelineId: timeline.toLowerCase() },
        path: path.join(datadir, tenant, timeline),
      });
    }
  }
  return out;
}

/**
 * Crash-safe creation of a timeline directory holding only its control file (storage.md §2
 * steps 4–6): built under tmp/, then renamed into place, so a crash leaves either nothing or a
 * complete timeline. Refuses to overwrite an existing directory (a timeline that failed to load
 * must not be silently replaced). Returns the timeline directory.
 */
export async function createTimelineDir(
  datadir: string,
  ttid: Ttid,
  state: PersistentState,
  opts: TimelineDirOptions,
): Promise<string> {
  const fs = opts.fs ?? nodeFs;
  const random = opts.randomBytes ?? cryptoRandomBytes;
  if (state.tenantId.toLowerCase() !== ttid.tenantId || state.timelineId.toLowerCase() !== ttid.timelineId) {
    throw new Error(`state for ${state.tenantId}/${state.timelineId} does not belong to timeline ${ttidString(ttid)}`);
  }
  const tmpBase = path.join(datadir, TMP_DIR_NAME);
  await fs.mkdir(tmpBase, true);
  const tmpDir = path.join(tmpBase, `${ttid.tenantId}_${ttid.timelineId}_${random(6).toString('hex')}_temptli`);
  await fs.mkdir(tmpDir);
  try {
    await DiskControlStore.create(tmpDir, state, { noSync: opts.noSync, fs });

    const target = timelineDir(datadir, ttid);
    if (await fs.exists(target)) {
      throw new Error(`Timeline ${ttidString(ttid)} exists on disk (${target}), but wasn't loaded; refusing to overwrite it`);
    }
    const tenant = tenantDir(datadir, ttid.tenantId);
    try {
      await fs.mkdir(tenant);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    await fsyncDir(tenant, opts.noSync, fs);
    await fsyncDir(datadir, opts.noSync, fs);
    await durableRename(tmpDir, target, opts.noSync, fs);
    return target;
  } catch (err) {
    await fs.removeTree(tmpDir).catch(() => undefined);
    throw err;
  }
}

// ---------------------------------------------------------------- startup sync

/**
 * Makes everything under the data directory durable: Neon syncfs()es the filesystem at startup so
 * WAL a previous run left in the page cache counts as flushed. Node has no syncfs, so every regular
 * file and directory is fsynced (children before their directory).
 */
export async function syncDataDir(datadir: string, opts: SyncOptions): Promise<void> {
  if (opts.noSync) return;
  const walk = async (dir: string): Promise<void> => {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    const files: string[] = [];
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) files.push(p);
    }
    // A few at a time: parallel fsyncs let the disk merge flushes without opening hundreds of fds.
    for (let i = 0; i < files.length; i += 8) {
      await Promise.all(
        files.slice(i, i + 8).map((f) =>
          fsyncPath(f, false).catch((err) => {
            if (errno(err) !== 'ENOENT') throw err; // removed under us: nothing to make durable
          }),
        ),
      );
    }
    await fsyncPath(dir, false);
  };
  await walk(datadir);
}
