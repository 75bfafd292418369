// The file system storage stands on, as an interface: the real one (node:fs)
// by default, a simulated disk in test/sim, fault-injecting decorators in the
// disk-fault tests. Only what storage does is here: positioned writes and
// reads, truncate, fsync/fdatasync, rename, unlink, directory fsync.
//
// Errors follow Node's shape (`code` such as ENOENT/EIO, `syscall` such as
// open/write/fsync) so callers and the timeline's failure state read them the
// same way whichever implementation raised them.

import { constants as fsc, promises as fsp, writev as writevCb, read as readCb } from 'node:fs';

/** An open file. Positions are byte offsets; nothing here moves a file pointer. */
export interface StorageFile {
  /** One positioned writev; resolves with the bytes written (possibly fewer than given). */
  writev(bufs: Buffer[], position: number): Promise<number>;
  /** One positioned read into `buf[offset, offset+length)`; resolves with the bytes read (0 at EOF). */
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  truncate(length: number): Promise<void>;
  /** fsync: data and all metadata. */
  sync(): Promise<void>;
  /** fdatasync: data and the metadata needed to read it back. */
  datasync(): Promise<void>;
  close(): Promise<void>;
  /**
   * The OS file descriptor, for writers outside the event loop (storage/io-thread.ts); absent for
   * files that must go through these methods (a test's faulty file system).
   */
  readonly fd?: number;
}

export interface DirEntry {
  name: string;
  isDirectory: boolean;
  isFile: boolean;
}

export interface StorageFs {
  /** `flags` are node:fs constants (O_RDONLY, O_RDWR, O_CREAT, O_TRUNC, O_EXCL, O_DSYNC, …). */
  open(path: string, flags: number): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** rm -rf: no error when absent. */
  removeTree(path: string): Promise<void>;
  readdir(dir: string): Promise<DirEntry[]>;
  /** mkdir; `recursive` also creates parents and tolerates an existing directory. */
  mkdir(path: string, recursive?: boolean): Promise<void>;
  /** Whether the path exists (lstat); other errors are thrown. */
  exists(path: string): Promise<boolean>;
  /** fsync of a directory: makes creates, renames and unlinks inside it durable. */
  fsyncDir(dir: string): Promise<void>;
}

/** A Node-style system error: what a simulated or injected failure throws. */
export function systemError(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${syscall}${path ? ` '${path}'` : ''}`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  if (path) e.path = path;
  return e;
}

export const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_EXCL } = fsc;
/** 0 where the platform has no O_DSYNC. */
export const O_DSYNC = fsc.O_DSYNC ?? 0;

/** A real file: the callback API on the descriptor (leaner than FileHandle's methods on the hot path). */
class NodeFile implements StorageFile {
  constructor(private readonly fh: fsp.FileHandle) {}

  get fd(): number {
    return this.fh.fd;
  }

  writev(bufs: Buffer[], position: number): Promise<number> {
    return new Promise((resolve, reject) => writevCb(this.fh.fd, bufs, position, (err, n) => (err ? reject(err) : resolve(n))));
  }

  read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => readCb(this.fh.fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** The real file system. */
export const nodeFs: StorageFs = {
  async open(path, flags) {
    return new NodeFile(await fsp.open(path, flags));
  },
  readFile: (path) => fsp.readFile(path),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  removeTree: (path) => fsp.rm(path, { recursive: true, force: true }),
  async readdir(dir) {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, isDirectory: e.isDirectory(), isFile: e.isFile() }));
  },
  async mkdir(path, recursive = false) {
    await fsp.mkdir(path, { recursive });
  },
  async exists(path) {
    try {
      await fsp.lstat(path);
      return true;
    } catch (err) {
      if (code(err) === 'ENOENT') return false;
      throw err;
    }
  },
  async fsyncDir(dir) {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
