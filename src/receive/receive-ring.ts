// Reused memory for one connection's incoming bytes. The socket reads straight
// into it (reserve() hands out the free space at its head, commit() takes what
// a read put there; socket-reads.ts), and the framer and the queued messages
// hold views of it. Bytes from anywhere else are copied in with store(). Memory is reused because on
// the machines we run on a fresh page costs microseconds to touch (the kernel
// faults it in, and its first use faults again): Node's default of a new 64 KiB
// buffer per read made that the largest cost of receiving WAL.
//
// Bytes are live from store() until release(): the reader marks each queued
// message with the stream position after it, and a batch releases up to the
// last message it processed. The WAL store copies what it keeps
// (write-buffers.ts), so nothing refers to the ring after that.

/** One store() of stream bytes [streamEnd - n, streamEnd) that went into the ring up to ringEnd. */
interface Segment {
  streamEnd: number;
  ringEnd: number;
}

export class ReceiveRing {
  private readonly mem: Buffer;
  /** Bytes ever stored in the ring / released from it (monotonic; ring offset = total % capacity). */
  private storedTotal = 0;
  private releasedTotal = 0;
  /** Bytes of the stream seen so far, ring or not (the framer's positions). */
  private streamTotal: number;
  private readonly segments: Segment[] = [];
  private segHead = 0;
  private roomListener: (() => void) | null = null;

  /** @param streamStart stream bytes already framed or buffered outside the ring */
  constructor(
    readonly capacity: number,
    streamStart = 0,
    mem?: Buffer,
  ) {
    if (mem && mem.length !== capacity) throw new Error(`receive ring: memory of ${mem.length} bytes for a ring of ${capacity}`);
    this.mem = mem ?? Buffer.allocUnsafeSlow(capacity);
    this.streamTotal = streamStart;
  }

  /** Stream position after the last byte stored. */
  get streamPosition(): number {
    return this.streamTotal;
  }

  /** Nothing in the ring is referenced any more (everything stored was released). */
  get empty(): boolean {
    return this.releasedTotal === this.storedTotal;
  }

  /** The ring's memory, for a pool to reuse once the ring is empty and abandoned. */
  get memory(): Buffer {
    return this.mem;
  }

  /** Bytes that can be stored without overwriting live ones. */
  get free(): number {
    return this.capacity - (this.storedTotal - this.releasedTotal);
  }

  /**
   * Takes the next stream bytes: copied into the ring (one view, or two when it wraps), or,
   * when the ring has no room for them, into a fresh buffer (correct, only slower).
   */
  store(bytes: Uint8Array): Buffer[] {
    const n = bytes.length;
    this.streamTotal += n;
    if (n === 0) return [];
    if (n > this.free) return [Buffer.from(bytes)];
    const at = this.storedTotal % this.capacity;
    const first = Math.min(n, this.capacity - at);
    this.mem.set(first === n ? bytes : bytes.subarray(0, first), at);
    const views = [this.mem.subarray(at, at + first)];
    if (first < n) {
      this.mem.set(bytes.subarray(first), 0);
      views.push(this.mem.subarray(0, n - first));
    }
    this.storedTotal += n;
    this.segments.push({ streamEnd: this.streamTotal, ringEnd: this.storedTotal });
    return views;
  }

  /**
   * Free space at the head for the next read: up to `max` contiguous bytes, at least `min`
   * (the unusable end of the memory is skipped to reach its start), or null when there is not
   * that much room. Only commit() or store() may follow; nothing else writes into the ring.
   */
  reserve(max: number, min: number): Buffer | null {
    let at = this.storedTotal % this.capacity;
    let room = Math.min(this.free, this.capacity - at);
    if (room < min && at + min > this.capacity && this.free - (this.capacity - at) >= min) {
      // Pad to the end of the memory: released together with the bytes before it.
      this.storedTotal += this.capacity - at;
      this.segments.push({ streamEnd: this.streamTotal, ringEnd: this.storedTotal });
      at = 0;
      room = Math.min(this.free, this.capacity);
    }
    if (room < min) return null;
    return this.mem.subarray(at, at + Math.min(room, max));
  }

  /** A read put `n` bytes at the start of the last reserve()d space: they are stored now. */
  commit(n: number): Buffer {
    const at = this.storedTotal % this.capacity;
    if (n > this.free || at + n > this.capacity) throw new Error(`receive ring: commit of ${n} bytes overruns the reserved space`);
    this.streamTotal += n;
    this.storedTotal += n;
    this.segments.push({ streamEnd: this.streamTotal, ringEnd: this.storedTotal });
    return this.mem.subarray(at, at + n);
  }

  /** Whether `view` lies in the ring's memory. */
  owns(view: Uint8Array): boolean {
    return view.buffer === this.mem.buffer;
  }

  /**
   * Nothing before stream position `mark` is referenced any more. Ring memory is freed only
   * up to the end of the last store() that lies wholly before the mark (a store the mark cuts
   * stays live), so a mark is always safe to give.
   */
  release(mark: number): void {
    let freed = false;
    while (this.segHead < this.segments.length && this.segments[this.segHead]!.streamEnd <= mark) {
      this.releasedTotal = this.segments[this.segHead++]!.ringEnd;
      freed = true;
    }
    if (this.segHead > 1024 && this.segHead * 2 > this.segments.length) {
      this.segments.splice(0, this.segHead);
      this.segHead = 0;
    }
    if (freed) this.roomListener?.();
  }

  /** Called whenever release() freed memory. */
  onRoom(listener: (() => void) | null): void {
    this.roomListener = listener;
  }
}
