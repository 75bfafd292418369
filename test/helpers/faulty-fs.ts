// A fault-injecting file system over the real one (the StorageFs seam): when armed, the first
// matching call of the chosen operation on a matching path fails with the chosen errno, as the
// kernel's would (code and syscall set), and nothing else changes.

import { nodeFs, systemError, type StorageFile, type StorageFs } from '../../src/storage/fs.js';

export type FaultOp = 'open' | 'write' | 'read' | 'ftruncate' | 'fsync' | 'fdatasync' | 'close' | 'rename' | 'unlink' | 'dirfsync';

export interface Fault {
  op: FaultOp;
  /** Which path the call must touch (the source, for a rename). */
  path: RegExp;
  code: 'EIO' | 'ENOSPC';
}

export class FaultyFs implements StorageFs {
  /** Armed fault; cleared once it fired. */
  fault: Fault | null = null;
  /** Faults fired so far. */
  fired: { op: FaultOp; path: string }[] = [];

  constructor(private readonly inner: StorageFs = nodeFs) {}

  /** Throws the armed fault if it matches this call. */
  check(op: FaultOp, p: string): void {
    const f = this.fault;
    if (!f || f.op !== op || !f.path.test(p)) return;
    this.fault = null;
    this.fired.push({ op, path: p });
    // The syscall name as Node reports it: a directory fsync is an fsync.
    throw systemError(f.code, op === 'dirfsync' ? 'fsync' : op, p);
  }

  async open(p: string, flags: number): Promise<StorageFile> {
    this.check('open', p);
    return new FaultyFile(this, p, await this.inner.open(p, flags));
  }
  readFile(p: string) {
    this.check('read', p);
    return this.inner.readFile(p);
  }
  async rename(from: string, to: string) {
    this.check('rename', from);
    return this.inner.rename(from, to);
  }
  async unlink(p: string) {
    this.check('unlink', p);
    return this.inner.unlink(p);
  }
  removeTree(p: string) {
    return this.inner.removeTree(p);
  }
  readdir(dir: string) {
    return this.inner.readdir(dir);
  }
  mkdir(p: string, recursive?: boolean) {
    return this.inner.mkdir(p, recursive);
  }
  exists(p: string) {
    return this.inner.exists(p);
  }
  async fsyncDir(dir: string) {
    this.check('dirfsync', dir);
    return this.inner.fsyncDir(dir);
  }
}

class FaultyFile implements StorageFile {
  constructor(
    private readonly fs: FaultyFs,
    private readonly path: string,
    private readonly inner: StorageFile,
  ) {}
  async writev(bufs: Buffer[], position: number) {
    this.fs.check('write', this.path);
    return this.inner.writev(bufs, position);
  }
  async read(buf: Buffer, offset: number, length: number, position: number) {
    this.fs.check('read', this.path);
    return this.inner.read(buf, offset, length, position);
  }
  async truncate(length: number) {
    this.fs.check('ftruncate', this.path);
    return this.inner.truncate(length);
  }
  async sync() {
    this.fs.check('fsync', this.path);
    return this.inner.sync();
  }
  async datasync() {
    this.fs.check('fdatasync', this.path);
    return this.inner.datasync();
  }
  async close() {
    // A failed close still releases the descriptor (as close(2) does).
    await this.inner.close();
    this.fs.check('close', this.path);
  }
}
