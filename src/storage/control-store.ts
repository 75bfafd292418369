// A timeline's durable PersistentState in `<timeline dir>/safekeeper.control`
// (storage.md §4.4). The in-memory copy changes only after the file is
// durable, so a failed write leaves `persisted` describing what is on disk.

import { failpoint } from '../failpoints.js';
import { nodeFs, type StorageFs } from './fs.js';
import path from 'node:path';
import {
  CONTROL_FILE_NAME,
  clonePersistentState,
  decodeControlFile,
  encodeControlFile,
  persistentStateEquals,
} from './control-file.js';
import { atomicWriteFile } from './fsync.js';
import type { ControlStore, PersistentState } from './interfaces.js';

export interface ControlStoreObserver {
  /** Duration of one successful durable write (safekeeper_persist_control_file_seconds). */
  persisted(seconds: number): void;
}

export interface ControlStoreOptions {
  noSync: boolean;
  observer?: ControlStoreObserver;
  /** The file system (default: the real one). */
  fs?: StorageFs;
}

/** Reads and decodes `<timelineDir>/safekeeper.control`; errors name the file and the reason. */
export async function readControlFile(file: string, fs: StorageFs = nodeFs): Promise<PersistentState> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`control file ${file} does not exist`);
    throw new Error(`failed to read control file ${file}: ${e.message}`);
  }
  try {
    return decodeControlFile(buf);
  } catch (err) {
    throw new Error(`while reading control file ${file}: ${(err as Error).message}`);
  }
}

function deepFreeze(s: PersistentState): Readonly<PersistentState> {
  const freezeAll = (o: object): void => {
    for (const v of Object.values(o)) if (v !== null && typeof v === 'object') freezeAll(v);
    Object.freeze(o);
  };
  freezeAll(s);
  return s;
}

export class DiskControlStore implements ControlStore {
  private last: Readonly<PersistentState>;
  /** Writes are serialized: two overlapping persists must not share the .partial file. */
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    readonly timelineDir: string,
    state: PersistentState,
    private readonly opts: ControlStoreOptions,
  ) {
    this.last = deepFreeze(clonePersistentState(state));
  }

  get file(): string {
    return path.join(this.timelineDir, CONTROL_FILE_NAME);
  }

  get persisted(): Readonly<PersistentState> {
    return this.last;
  }

  /** Loads an existing timeline's control file. A missing or corrupt file is an error, never a reset. */
  static async load(timelineDir: string, opts: ControlStoreOptions): Promise<DiskControlStore> {
    const state = await readControlFile(path.join(timelineDir, CONTROL_FILE_NAME), opts.fs);
    return new DiskControlStore(timelineDir, state, opts);
  }

  /** Writes `state` as a new control file (unconditionally) and returns the store. */
  static async create(timelineDir: string, state: PersistentState, opts: ControlStoreOptions): Promise<DiskControlStore> {
    // Neon never creates a timeline offloaded; an Offloaded state here means a caller bug.
    if (state.evictionState.kind !== 'Present') {
      throw new Error(`cannot create a control file in ${timelineDir} for an offloaded timeline`);
    }
    const store = new DiskControlStore(timelineDir, state, opts);
    await store.write(state);
    return store;
  }

  persist(state: PersistentState): Promise<void> {
    // Snapshot now: the caller may keep mutating its object while we wait our turn.
    const snapshot = clonePersistentState(state);
    const run = this.queue.then(async () => {
      if (persistentStateEquals(snapshot, this.last)) return;
      await this.write(snapshot);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(state: PersistentState): Promise<void> {
    const started = process.hrtime.bigint();
    const bytes = encodeControlFile(state);
    await atomicWriteFile(
      this.file,
      bytes,
      this.opts.noSync,
      undefined,
      () => failpoint('control-file-before-rename'),
      this.opts.fs,
    );
    this.last = deepFreeze(clonePersistentState(state));
    this.opts.observer?.persisted(Number(process.hrtime.bigint() - started) / 1e9);
  }
}
