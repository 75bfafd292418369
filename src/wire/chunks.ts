// Socket chunks waiting to be cut into frames. Chunks are kept as a list and
// only joined when a frame straddles a chunk boundary, so a large CopyData
// arriving in many small reads is concatenated once, not once per read.

export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** Index of the first chunk still holding unread bytes. */
  private head = 0;
  /** Read offset inside chunks[head]. */
  private offset = 0;
  private total = 0;
  private consumedTotal = 0;

  get available(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The byte `i` positions past the read point; caller ensures i < available. */
  byteAt(i: number): number {
    let k = this.head;
    let at = this.offset + i;
    for (;;) {
      const c = this.chunks[k]!;
      if (at < c.length) return c[at]!;
      at -= c.length;
      k++;
    }
  }

  /** Big-endian u32 at `i` past the read point; caller ensures i + 4 <= available. */
  u32At(i: number): number {
    const c = this.chunks[this.head]!;
    const at = this.offset + i;
    if (at + 4 <= c.length) return c.readUInt32BE(at);
    return ((this.byteAt(i) << 24) | (this.byteAt(i + 1) << 16) | (this.byteAt(i + 2) << 8) | this.byteAt(i + 3)) >>> 0;
  }

  /**
   * Removes and returns the next `n` bytes (n <= available). A view into the
   * pushed chunk when the bytes lie in one chunk; otherwise one fresh Buffer.
   */
  take(n: number): Buffer {
    const first = this.chunks[this.head];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (this.offset + n <= first.length) {
      const out = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.head]!;
      const part = Math.min(c.length - this.offset, n - filled);
      c.copy(out, filled, this.offset, this.offset + part);
      filled += part;
      this.advance(part);
    }
    return out;
  }

  /**
   * Removes the next `n` bytes (n <= available) as views of the chunks they lie in, never
   * copied: for large payloads whose consumer takes a list (writev, a streaming decoder).
   */
  takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const part = Math.min(c.length - this.offset, n);
      parts.push(c.subarray(this.offset, this.offset + part));
      this.advance(part);
      n -= part;
    }
    return parts;
  }

  /** Bytes left in the chunk at the read point (0 when empty). */
  get contiguous(): number {
    const first = this.chunks[this.head];
    return first === undefined ? 0 : first.length - this.offset;
  }

  skip(n: number): void {
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const part = Math.min(c.length - this.offset, n);
      this.advance(part);
      n -= part;
    }
  }

  /** Bytes taken or skipped since the queue was created: the read point's stream position. */
  get consumed(): number {
    return this.consumedTotal;
  }

  /** Moves the read point within/past the head chunk (n <= bytes left in it). */
  private advance(n: number): void {
    this.consumedTotal += n;
    this.total -= n;
    this.offset += n;
    if (this.offset === this.chunks[this.head]!.length) {
      this.chunks[this.head] = EMPTY; // let the chunk be collected
      this.head++;
      this.offset = 0;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);
