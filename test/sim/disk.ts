// A simulated disk with a crash model (issue 10, item 1):
// - file data: a write is in the page cache until an fsync/fdatasync of its file
//   completes (or, on an O_DSYNC descriptor, until the write itself completes);
//   a crash keeps any prefix of each unsynced write, in 512-byte units;
// - names: a create, rename or unlink inside a directory is durable once that
//   directory is fsynced; a crash may or may not keep the ones that were not
//   (a coin per directory: the kernel may have written it back on its own).
// Every operation completes after a seeded delay on the virtual clock, and an
// operation of a process that crashed meanwhile never completes.

import path from 'node:path';
import {
  O_CREAT,
  O_DSYNC,
  O_EXCL,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  systemError,
  type DirEntry,
  type StorageFile,
  type StorageFs,
} from '../../src/storage/fs.js';
import type { Incarnation, Scheduler } from './scheduler.js';

const PAGE = 8192;
const SECTOR = 512;

type Op = { kind: 'write'; pos: number; data: Buffer } | { kind: 'truncate'; length: number };

/** File contents as sparse pages; holes read as zeros. */
class Content {
  pages = new Map<number, Buffer>();
  size = 0;

  clone(): Content {
    const c = new Content();
    for (const [k, v] of this.pages) c.pages.set(k, Buffer.from(v));
    c.size = this.size;
    return c;
  }

  apply(op: Op): void {
    if (op.kind === 'truncate') this.truncate(op.length);
    else this.write(op.pos, op.data);
  }

  write(pos: number, data: Buffer): void {
    let done = 0;
    while (done < data.length) {
      const p = pos + done;
      const idx = Math.floor(p / PAGE);
      const off = p % PAGE;
      const n = Math.min(PAGE - off, data.length - done);
      let page = this.pages.get(idx);
      if (!page) this.pages.set(idx, (page = Buffer.alloc(PAGE)));
      data.copy(page, off, done, done + n);
      done += n;
    }
    this.size = Math.max(this.size, pos + data.length);
  }

  truncate(length: number): void {
    if (length < this.size) {
      for (const idx of [...this.pages.keys()]) {
        const start = idx * PAGE;
        if (start >= length) this.pages.delete(idx);
        else if (start + PAGE > length) this.pages.get(idx)!.fill(0, length - start);
      }
    }
    this.size = length;
  }

  read(pos: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - pos));
    const out = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const p = pos + done;
      const idx = Math.floor(p / PAGE);
      const off = p % PAGE;
      const k = Math.min(PAGE - off, n - done);
      this.pages.get(idx)?.copy(out, done, off, off + k);
      done += k;
    }
    return out;
  }
}

class FileNode {
  readonly kind = 'file';
  live = new Content();
  durable = new Content();
  /** Changes since the last sync, in order (live = durable + ops). */
  ops: Op[] = [];
}

class DirNode {
  readonly kind = 'dir';
  live = new Map<string, Node>();
  durable = new Map<string, Node>();
}

type Node = FileNode | DirNode;

export interface DiskBugs {
  /** Planted bug: fsync, fdatasync and O_DSYNC make nothing durable. */
  skipSync?: boolean;
  /** Planted bug: replacing an existing control file (rename onto safekeeper.control) is a silent no-op. */
  dropControlRename?: boolean;
  /** Planted bug: a truncation inside a WAL segment cuts this many bytes more than asked. */
  truncateShortBy?: number;
}

export class SimDisk {
  private root = new DirNode();
  /** Operations started, for the trace and for fault decisions. */
  ops = 0;

  constructor(
    private readonly sched: Scheduler,
    readonly name: string,
    private readonly maxDelayMs = 0.5,
    readonly bugs: DiskBugs = {},
  ) {}

  /** The file system as one incarnation of the process sees it. */
  view(owner: Incarnation): StorageFs {
    return new SimFs(this, owner);
  }

  /** After a crash: what survives (see the header) becomes the disk. */
  crash(): void {
    const rng = this.sched.rng;
    const seen = new Set<Node>();
    const settleNode = (n: Node): void => {
      if (seen.has(n)) return;
      seen.add(n);
      if (n.kind === 'file') {
        const c = n.durable.clone();
        for (const op of n.ops) {
          if (op.kind === 'truncate') {
            if (rng.chance(0.5)) c.apply(op);
          } else {
            const sectors = Math.ceil(op.data.length / SECTOR);
            const keep = Math.min(op.data.length, rng.int(0, sectors) * SECTOR);
            if (keep > 0) c.write(op.pos, op.data.subarray(0, keep));
          }
        }
        n.durable = c;
        n.live = c.clone();
        n.ops = [];
        return;
      }
      const entries = rng.chance(0.5) ? n.live : n.durable;
      n.durable = new Map(entries);
      n.live = new Map(entries);
      for (const child of entries.values()) settleNode(child);
    };
    settleNode(this.root);
  }

  // ---- used by SimFs ----

  delay(): number {
    return this.sched.rng.next() * this.maxDelayMs;
  }

  schedule(owner: Incarnation, fn: () => void): void {
    this.sched.at(this.delay(), fn, owner);
  }

  lookup(p: string): Node | undefined {
    let n: Node = this.root;
    for (const part of parts(p)) {
      if (n.kind !== 'dir') return undefined;
      const next = n.live.get(part);
      if (!next) return undefined;
      n = next;
    }
    return n;
  }

  parentOf(p: string, syscall: string): { dir: DirNode; name: string } {
    const dir = this.lookup(path.dirname(p));
    if (!dir) throw systemError('ENOENT', syscall, p);
    if (dir.kind !== 'dir') throw systemError('ENOTDIR', syscall, p);
    return { dir, name: path.basename(p) };
  }

  /** Folds the first `n` pending ops of `f` into its durable content. */
  makeDurable(f: FileNode, n: number): void {
    if (this.bugs.skipSync) return;
    for (const op of f.ops.slice(0, n)) f.durable.apply(op);
    f.ops = f.ops.slice(n);
  }

  /** Reads a file as any crash would leave it: durable names, durable bytes (for the checker). */
  durableRead(p: string, pos: number, length: number): Buffer | undefined {
    let n: Node = this.root;
    for (const part of parts(p)) {
      if (n.kind !== 'dir') return undefined;
      const next = n.durable.get(part);
      if (!next) return undefined;
      n = next;
    }
    return n.kind === 'file' ? n.durable.read(pos, length) : undefined;
  }

  /** A directory that exists durably before the run (the data dir). */
  prepareDir(p: string): void {
    let n: DirNode = this.root;
    for (const part of parts(p)) {
      let next = n.live.get(part);
      if (!next) {
        next = new DirNode();
        n.live.set(part, next);
        n.durable.set(part, next);
      }
      if (next.kind !== 'dir') throw new Error(`${p}: not a directory`);
      n = next;
    }
  }

  /** Live read of a file (what the running process would read), for the checker. */
  liveRead(p: string, pos: number, length: number): Buffer | undefined {
    const n = this.lookup(p);
    return n?.kind === 'file' ? n.live.read(pos, length) : undefined;
  }
}

function parts(p: string): string[] {
  return p.split('/').filter((x) => x.length > 0);
}

class SimFile implements StorageFile {
  private closed = false;

  constructor(
    private readonly fs: SimFs,
    private readonly node: FileNode,
    private readonly dsync: boolean,
    readonly filePath: string,
  ) {}

  private check(syscall: string): void {
    if (this.closed) throw systemError('EBADF', syscall, this.filePath);
  }

  writev(bufs: Buffer[], position: number): Promise<number> {
    return this.fs.run(() => this.check('write'), () => {
      // In the page cache from the moment it is issued: a crash may keep part of it even if it never returned.
      const data = Buffer.concat(bufs); // a copy: the caller reuses its buffers
      this.node.ops.push({ kind: 'write', pos: position, data });
      this.node.live.write(position, data);
      const index = this.node.ops.length;
      return () => {
        if (this.dsync) this.fs.disk.makeDurable(this.node, Math.min(index, this.node.ops.length));
        return data.length;
      };
    });
  }

  read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.fs.run(() => this.check('read'), () => () => {
      const data = this.node.live.read(position, length);
      data.copy(buf, offset);
      return data.length;
    });
  }

  truncate(length: number): Promise<void> {
    return this.fs.run(() => this.check('ftruncate'), () => {
      let len = length;
      const short = this.fs.disk.bugs.truncateShortBy ?? 0;
      if (short > 0 && len > 0 && len % (16 * 1024 * 1024) !== 0 && /[0-9A-F]{24}/.test(path.basename(this.filePath))) {
        len = Math.max(0, len - short);
      }
      this.node.ops.push({ kind: 'truncate', length: len });
      this.node.live.truncate(len);
      return () => undefined;
    });
  }

  sync(): Promise<void> {
    return this.syncAll('fsync');
  }

  datasync(): Promise<void> {
    return this.syncAll('fdatasync');
  }

  private syncAll(syscall: string): Promise<void> {
    return this.fs.run(() => this.check(syscall), () => {
      const n = this.node.ops.length;
      return () => this.fs.disk.makeDurable(this.node, Math.min(n, this.node.ops.length));
    });
  }

  close(): Promise<void> {
    return this.fs.run(() => this.check('close'), () => {
      this.closed = true;
      return () => undefined;
    });
  }
}

/** A directory opened read-only: only fsync means anything (it makes its entries durable). */
class SimDirHandle implements StorageFile {
  constructor(
    private readonly disk: SimDisk,
    private readonly node: DirNode,
  ) {}
  writev(): Promise<number> {
    return Promise.reject(systemError('EISDIR', 'write'));
  }
  read(): Promise<number> {
    return Promise.reject(systemError('EISDIR', 'read'));
  }
  truncate(): Promise<void> {
    return Promise.reject(systemError('EISDIR', 'ftruncate'));
  }
  async sync(): Promise<void> {
    if (!this.disk.bugs.skipSync) this.node.durable = new Map(this.node.live);
  }
  datasync(): Promise<void> {
    return this.sync();
  }
  async close(): Promise<void> {}
}

class SimFs implements StorageFs {
  constructor(
    readonly disk: SimDisk,
    private readonly owner: Incarnation,
  ) {}

  /**
   * One operation: `validate` throws synchronously-detected errors, `start` takes effect at once
   * and returns the completion, which runs after the disk's delay (never, if the process died).
   */
  run<T>(validate: () => void, start: () => () => T): Promise<T> {
    // A dead process's code may still run a little (promise continuations); its I/O goes nowhere.
    if (!this.owner.alive) return new Promise<T>(() => undefined);
    this.disk.ops++;
    return new Promise<T>((resolve, reject) => {
      let complete: () => T;
      try {
        validate();
        complete = start();
      } catch (e) {
        this.disk.schedule(this.owner, () => reject(e));
        return;
      }
      this.disk.schedule(this.owner, () => {
        try {
          resolve(complete());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Like run(), with the whole effect at completion time. */
  private later<T>(fn: () => T): Promise<T> {
    return this.run(() => undefined, () => fn);
  }

  open(p: string, flags: number): Promise<StorageFile> {
    return this.later(() => {
      const d = this.disk;
      let node = d.lookup(p);
      if (node && flags & O_CREAT && flags & O_EXCL) throw systemError('EEXIST', 'open', p);
      if (!node) {
        if (!(flags & O_CREAT)) throw systemError('ENOENT', 'open', p);
        const { dir, name } = d.parentOf(p, 'open');
        node = new FileNode();
        dir.live.set(name, node);
      }
      if (node.kind === 'dir') {
        if ((flags & (O_WRONLY | O_RDWR)) !== 0) throw systemError('EISDIR', 'open', p);
        return new SimDirHandle(this.disk, node);
      }
      if (flags & O_TRUNC && node.live.size > 0) {
        node.ops.push({ kind: 'truncate', length: 0 });
        node.live.truncate(0);
      }
      return new SimFile(this, node, O_DSYNC !== 0 && (flags & O_DSYNC) !== 0, p);
    });
  }

  async readFile(p: string): Promise<Buffer> {
    return this.later(() => {
      const n = this.disk.lookup(p);
      if (!n) throw systemError('ENOENT', 'open', p);
      if (n.kind === 'dir') throw systemError('EISDIR', 'read', p);
      return n.live.read(0, n.live.size);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.later(() => {
      const d = this.disk;
      const src = d.parentOf(from, 'rename');
      const node = src.dir.live.get(src.name);
      if (!node) throw systemError('ENOENT', 'rename', from);
      const dst = d.parentOf(to, 'rename');
      // Planted bug: a new control file never replaces an existing one (creating the first still works).
      if (d.bugs.dropControlRename && dst.name === 'safekeeper.control' && dst.dir.live.has(dst.name)) return;
      src.dir.live.delete(src.name);
      dst.dir.live.set(dst.name, node);
    });
  }

  unlink(p: string): Promise<void> {
    return this.later(() => {
      const { dir, name } = this.disk.parentOf(p, 'unlink');
      const n = dir.live.get(name);
      if (!n) throw systemError('ENOENT', 'unlink', p);
      if (n.kind === 'dir') throw systemError('EISDIR', 'unlink', p);
      dir.live.delete(name);
    });
  }

  removeTree(p: string): Promise<void> {
    return this.later(() => {
      const dir = this.disk.lookup(path.dirname(p));
      if (dir?.kind === 'dir') dir.live.delete(path.basename(p));
    });
  }

  readdir(dir: string): Promise<DirEntry[]> {
    return this.later(() => {
      const n = this.disk.lookup(dir);
      if (!n) throw systemError('ENOENT', 'scandir', dir);
      if (n.kind !== 'dir') throw systemError('ENOTDIR', 'scandir', dir);
      return [...n.live.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, child]) => ({ name, isDirectory: child.kind === 'dir', isFile: child.kind === 'file' }));
    });
  }

  mkdir(p: string, recursive = false): Promise<void> {
    return this.later(() => {
      const d = this.disk;
      if (recursive) {
        let cur = '/';
        for (const part of parts(p)) {
          cur = path.join(cur, part);
          const n = d.lookup(cur);
          if (n?.kind === 'file') throw systemError('ENOTDIR', 'mkdir', cur);
          if (!n) {
            const { dir, name } = d.parentOf(cur, 'mkdir');
            dir.live.set(name, new DirNode());
          }
        }
        return;
      }
      if (d.lookup(p)) throw systemError('EEXIST', 'mkdir', p);
      const { dir, name } = d.parentOf(p, 'mkdir');
      dir.live.set(name, new DirNode());
    });
  }

  exists(p: string): Promise<boolean> {
    return this.later(() => this.disk.lookup(p) !== undefined);
  }

  fsyncDir(p: string): Promise<void> {
    return this.later(() => {
      const n = this.disk.lookup(p);
      if (!n) throw systemError('ENOENT', 'open', p);
      if (n.kind !== 'dir') {
        this.disk.makeDurable(n, n.ops.length);
        return;
      }
      if (!this.disk.bugs.skipSync) n.durable = new Map(n.live);
    });
  }
}
