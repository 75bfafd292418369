// Reused memory for WAL batches on their way to disk. A batch is copied into a
// buffer from this pool and written from there; the buffer comes back when the
// write has completed. Reuse matters more than the copy: touching fresh pages
// costs microseconds each on the machines we run on (every new page faults in
// the kernel and again on first use), while copying into warm memory costs
// about 0.1 ms per MiB. It also frees the caller's buffers as soon as write()
// returns, so the receive path can reuse its socket memory.

export class WriteBufferPool {
  private readonly free: Buffer[] = [];

  /**
   * @param size bytes per buffer (a batch's capacity)
   * @param keep free buffers kept for reuse; more are left to the GC
   */
  constructor(
    readonly size: number,
    private readonly keep = 8,
  ) {}

  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  release(buf: Buffer): void {
    if (buf.length === this.size && this.free.length < this.keep) this.free.push(buf);
  }

  /** Free buffers held for reuse (tests, metrics). */
  get idle(): number {
    return this.free.length;
  }
}
