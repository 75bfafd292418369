// Where the proposer reads the WAL it ships. A real walproposer reads its own
// pg_wal and fetches older WAL from a donor safekeeper (proposer.md §3.5); this
// client keeps WAL in memory, handed to it by the caller (tests, benchmarks).

import { formatLsn, type Lsn } from '../lsn.js';

export interface WalSource {
  /** Bytes [begin, end); throws RangeError for anything the source does not hold. */
  read(begin: Lsn, end: Lsn): Buffer;
  /** End of the WAL held (exclusive). */
  readonly end: Lsn;
}

interface Chunk {
  begin: Lsn;
  end: Lsn;
  bytes: Buffer;
}

/**
 * Contiguous WAL from `start`, kept as the appended chunks (no copying on
 * append; a read inside one chunk is a view). Appended buffers must not be
 * modified afterwards.
 */
export class MemoryWalLog implements WalSource {
  private chunks: Chunk[] = [];
  private first = 0;
  private startLsn: Lsn;
  private endLsn: Lsn;
  private held = 0;

  constructor(start: Lsn) {
    if (start < 0n) throw new RangeError(`MemoryWalLog start ${start} is negative`);
    this.startLsn = start;
    this.endLsn = start;
  }

  /** Lowest LSN still held. */
  get start(): Lsn {
    return this.startLsn;
  }

  get end(): Lsn {
    return this.endLsn;
  }

  /** Bytes currently held in memory. */
  get byteLength(): number {
    return this.held;
  }

  /** Appends `bytes` at the current end; `beginLsn`, if given, must be that end. Returns the new end. */
  append(bytes: Buffer, beginLsn?: Lsn): Lsn {
    if (beginLsn !== undefined && beginLsn !== this.endLsn) {
      throw new RangeError(`WAL chunk begins at ${formatLsn(beginLsn)} but the log ends at ${formatLsn(this.endLsn)}; chunks must be contiguous`);
    }
    if (bytes.length === 0) return this.endLsn;
    const begin = this.endLsn;
    const end = begin + BigInt(bytes.length);
    this.chunks.push({ begin, end, bytes });
    this.endLsn = end;
    this.held += bytes.length;
    return end;
  }

  /** A WalGenerator chunk ({beginLsn, endLsn, bytes}); checked for contiguity and length. */
  appendChunk(chunk: { beginLsn: Lsn; endLsn: Lsn; bytes: Buffer }): Lsn {
    if (chunk.endLsn - chunk.beginLsn !== BigInt(chunk.bytes.length)) {
      throw new RangeError(`WAL chunk ${formatLsn(chunk.beginLsn)}..${formatLsn(chunk.endLsn)} carries ${chunk.bytes.length} bytes`);
    }
    return this.append(chunk.bytes, chunk.beginLsn);
  }

  /** Moves the start of an empty log (e.g. to a term start learned at election). */
  rebase(start: Lsn): void {
    if (this.endLsn !== this.startLsn) {
      throw new Error(`cannot rebase a MemoryWalLog holding ${formatLsn(this.startLsn)}..${formatLsn(this.endLsn)}`);
    }
    this.startLsn = start;
    this.endLsn = start;
  }

  /** Drops whole chunks that end at or below `lsn` (no longer needed by anyone); the start moves accordingly. */
  releaseBefore(lsn: Lsn): void {
    while (this.first < this.chunks.length && this.chunks[this.first]!.end <= lsn) {
      this.held -= this.chunks[this.first]!.bytes.length;
      this.first++;
    }
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
      this.startLsn = this.endLsn;
      return;
    }
    this.startLsn = this.chunks[this.first]!.begin;
    if (this.first > 1024 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }

  read(begin: Lsn, end: Lsn): Buffer {
    if (begin > end) throw new RangeError(`WAL read ${formatLsn(begin)}..${formatLsn(end)}: begin is after end`);
    if (begin < this.startLsn || end > this.endLsn) {
      throw new RangeError(
        `WAL ${formatLsn(begin)}..${formatLsn(end)} is not held: this log has ${formatLsn(this.startLsn)}..${formatLsn(this.endLsn)}`,
      );
    }
    if (begin === end) return Buffer.alloc(0);
    let i = this.find(begin);
    const c = this.chunks[i]!;
    if (end <= c.end) return c.bytes.subarray(Number(begin - c.begin), Number(end - c.begin));
    const out = Buffer.allocUnsafe(Number(end - begin));
    let at = 0;
    let pos = begin;
    while (pos < end) {
      const k = this.chunks[i++]!;
      const from = Number(pos - k.begin);
      const to = Number((end < k.end ? end : k.end) - k.begin);
      k.bytes.copy(out, at, from, to);
      at += to - from;
      pos = k.begin + BigInt(to);
    }
    return out;
  }

  /** Index of the chunk containing `lsn` (which is held). */
  private find(lsn: Lsn): number {
    let lo = this.first;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid]!.begin <= lsn) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
