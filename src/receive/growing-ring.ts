// A connection's receive memory (./receive-ring.ts) that starts small and grows. Most WAL push
// connections carry a compute's commits, a few KiB at a time, and never fill 1 MiB; a walproposer
// streaming at disk speed fills that at once and gets an 8 MiB ring instead, which keeps the disk
// and the CPU busy together (smaller rings streamed 5-15 % slower). The memory comes from a
// process-wide pool, so connections coming and going do not churn the allocator (freed 8 MiB
// blocks made the heap grow for good under connection churn).

import { ReceiveRing } from './receive-ring.js';

export const SMALL_RING_BYTES = 1024 * 1024;
export const LARGE_RING_BYTES = 8 * 1024 * 1024;

/** Free ring memory kept for reuse, per size. */
class RingMemoryPool {
  private readonly free = new Map<number, Buffer[]>();

  constructor(private readonly keep: (size: number) => number) {}

  acquire(size: number): Buffer {
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  /** Memory of this size ready for reuse. */
  available(size: number): number {
    return this.free.get(size)?.length ?? 0;
  }

  /** Only for memory nothing refers to any more. */
  release(mem: Buffer): void {
    let list = this.free.get(mem.length);
    if (!list) this.free.set(mem.length, (list = []));
    if (list.length < this.keep(mem.length)) list.push(mem);
  }
}

const pool = new RingMemoryPool((size) => (size >= LARGE_RING_BYTES ? 8 : 64));

/** Pooled ring memory of `size` bytes ready for the next connection (for tests). */
export function pooledRings(size: number): number {
  return pool.available(size);
}

/**
 * Puts one ring of each size into the pool with every page already touched. The first stream
 * after start otherwise reads into memory the kernel has not mapped yet: on this project's VM each
 * first touch of a page costs a fault worth about 3.5 ms per MiB, so a fresh 8 MiB ring kept the
 * event loop in 32 back-to-back socket reads for 30 ms at the start of wp-bench's stream. (A ring
 * returns to the pool only once its socket is closed, up to 5 s after the connection ends, so the
 * warm-up's own rings are not back in time.)
 */
export function primeRingPool(): void {
  // fill() writes every page (calloc-style zeroed allocations leave fresh pages untouched).
  for (const size of [SMALL_RING_BYTES, LARGE_RING_BYTES]) pool.release(Buffer.allocUnsafeSlow(size).fill(0));
}

export class GrowingRing {
  private current: ReceiveRing;
  /** Outgrown rings whose bytes are still referenced; freed as releases empty them. */
  private outgrown: ReceiveRing[] = [];
  private roomListener: (() => void) | null = null;

  constructor(streamStart: number) {
    this.current = new ReceiveRing(SMALL_RING_BYTES, streamStart, pool.acquire(SMALL_RING_BYTES));
  }

  get capacity(): number {
    return this.current.capacity;
  }

  /** True when fewer than `bytes` are free and the ring cannot grow any more (reading should pause). */
  low(bytes: number): boolean {
    return this.current.free < bytes && this.current.capacity >= LARGE_RING_BYTES;
  }

  reserve(max: number, min: number): Buffer | null {
    return this.current.reserve(max, min) ?? (this.grow() ? this.current.reserve(max, min) : null);
  }

  commit(n: number): Buffer {
    return this.current.commit(n);
  }

  store(bytes: Uint8Array): Buffer[] {
    if (bytes.length > this.current.free) this.grow();
    return this.current.store(bytes);
  }

  owns(view: Uint8Array): boolean {
    return this.current.owns(view);
  }

  release(mark: number): void {
    this.current.release(mark);
    if (this.outgrown.length === 0) return;
    for (const r of this.outgrown) r.release(mark);
    const kept: ReceiveRing[] = [];
    for (const r of this.outgrown) {
      if (r.empty) pool.release(r.memory);
      else kept.push(r);
    }
    this.outgrown = kept;
  }

  onRoom(listener: (() => void) | null): void {
    this.roomListener = listener;
    this.current.onRoom(listener);
  }

  /**
   * The connection is over and nothing refers to the ring any more (its socket is closed, no batch
   * runs): all its memory goes back to the pool. Freeing it instead would not just cost the next
   * allocation: a freed 8 MiB block raises glibc's mmap threshold for good, after which every
   * smaller buffer comes from the heap and the heap fragments (the soak's RSS creep).
   */
  retire(): void {
    for (const r of [this.current, ...this.outgrown]) pool.release(r.memory);
    this.outgrown = [];
    this.current.onRoom(null);
  }

  private grow(): boolean {
    if (this.current.capacity >= LARGE_RING_BYTES) return false;
    const next = new ReceiveRing(LARGE_RING_BYTES, this.current.streamPosition, pool.acquire(LARGE_RING_BYTES));
    next.onRoom(this.roomListener);
    this.current.onRoom(null);
    this.outgrown.push(this.current);
    this.current = next;
    return true;
  }
}
