// In-memory ControlStore and WalStore for tests of the consensus rules.
// They follow the position rules of Neon's wal_storage.rs / control_file.rs
// (storage.md §3.4–3.6, §4.4) without touching a disk, and count every
// write and fsync so tests can assert what became durable and when.

import { cloneMconf, emptyMconf, type MembershipConfiguration } from '../protocol/membership.js';
import { isDeepStrictEqual } from 'node:util';
import { formatLsn, type Lsn } from '../lsn.js';
import type { ControlStore, PersistentState, ServerInfo, WalStore } from '../storage/interfaces.js';
import { walBuffer, type WalBytes } from '../protocol/messages.js';

export const DEFAULT_WAL_SEG_SIZE = 16 * 1024 * 1024;

/** A shared, ordered list of storage events ("control.persist", "wal.fsync", ...) tests can inspect. */
export type EventLog = string[];

/**
 * State of a timeline right after creation from a greeting (acceptor.md §1):
 * term 0, empty history, every LSN 0.
 */
export function freshPersistentState(args: {
  tenantId: string;
  timelineId: string;
  server?: Partial<ServerInfo>;
  mconf?: MembershipConfiguration;
}): PersistentState {
  return {
    tenantId: args.tenantId,
    timelineId: args.timelineId,
    mconf: args.mconf ? cloneMconf(args.mconf) : emptyMconf(),
    acceptorState: { term: 0n, termHistory: [] },
    server: {
      pgVersion: args.server?.pgVersion ?? 150004,
      systemId: args.server?.systemId ?? 0n,
      walSegSize: args.server?.walSegSize ?? DEFAULT_WAL_SEG_SIZE,
    },
    proposerUuid: '0'.repeat(32),
    timelineStartLsn: 0n,
    localStartLsn: 0n,
    commitLsn: 0n,
    backupLsn: 0n,
    peerHorizonLsn: 0n,
    remoteConsistentLsn: 0n,
    partialBackupSegments: [],
    evictionState: { kind: 'Present' },
    creationTs: { secs: 0n, nanos: 0 },
  };
}

export class MemoryControlStore implements ControlStore {
  private state: PersistentState;
  /** Number of states actually written (identical states are skipped, as on disk). */
  writes = 0;
  /** Calls that found the state unchanged and wrote nothing. */
  skipped = 0;
  /** Every state written, in order (deep copies). */
  readonly written: PersistentState[] = [];
  /**
   * Awaited inside persist() before the write becomes visible: lets a test hold
   * a persist open and check that nothing was replied meanwhile.
   */
  beforeWrite: ((state: PersistentState) => Promise<void>) | null = null;
  private failure: Error | null = null;

  constructor(
    initial: PersistentState,
    private readonly events: EventLog = [],
  ) {
    this.state = structuredClone(initial);
  }

  get persisted(): Readonly<PersistentState> {
    return this.state;
  }

  /** The next persist() that would write fails with `err` (nothing changes). */
  failNextWrite(err: Error): void {
    this.failure = err;
  }

  async persist(state: PersistentState): Promise<void> {
    if (isDeepStrictEqual(state, this.state)) {
      this.skipped++;
      return;
    }
    const copy = structuredClone(state);
    if (this.beforeWrite) await this.beforeWrite(copy);
    if (this.failure) {
      const err = this.failure;
      this.failure = null;
      throw err;
    }
    this.state = copy;
    this.written.push(structuredClone(copy));
    this.writes++;
    this.events.push('control.persist');
  }
}

export interface MemoryWalStoreOptions {
  walSegSize?: number;
  /**
   * Ends of the complete records inside a write covering [startLsn, endLsn),
   * ascending, each in (startLsn, endLsn]. Default: the write's end is a
   * record end (every write carries whole records). Return [] for a write that
   * completes no record.
   */
  recordEnds?: (startLsn: Lsn, endLsn: Lsn) => Lsn[];
  /** Neon sets the flag on every process start; default true. */
  pendingTruncation?: boolean;
  /** Positions found by the startup scan (all of write/record/flush); default 0. */
  startLsn?: Lsn;
  events?: EventLog;
}

/** Record ends at exactly the given LSNs: a write completes those inside it. */
export function recordEndsAt(ends: Iterable<Lsn>): (startLsn: Lsn, endLsn: Lsn) => Lsn[] {
  const sorted = [...ends].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return (start, end) => sorted.filter((l) => l > start && l <= end);
}

interface Chunk {
  lsn: Lsn;
  data: Buffer;
}

export class MemoryWalStore implements WalStore {
  readonly walSegSize: number;
  private readonly recordEnds: (startLsn: Lsn, endLsn: Lsn) => Lsn[];
  private readonly events: EventLog;

  private _writeLsn: Lsn;
  private _writeRecordLsn: Lsn;
  /** Raw durable position (may be mid-record). */
  private _flushLsn: Lsn;
  private _flushRecordLsn: Lsn;
  private pending: boolean;
  private chunks: Chunk[] = [];

  /** fsync/fdatasync calls (segment completion, flush, truncation). */
  fsyncs = 0;
  /** write() calls that stored bytes. */
  writes = 0;
  /** End LSNs of truncations actually performed. */
  readonly truncations: Lsn[] = [];
  /** truncate() calls skipped because nothing was to do. */
  skippedTruncations = 0;
  /** start LSNs passed to initializeFirstSegment(). */
  readonly firstSegmentInits: Lsn[] = [];

  constructor(opts: MemoryWalStoreOptions = {}) {
    this.walSegSize = opts.walSegSize ?? DEFAULT_WAL_SEG_SIZE;
    this.recordEnds = opts.recordEnds ?? ((_s, e) => [e]);
    this.events = opts.events ?? [];
    const start = opts.startLsn ?? 0n;
    this._writeLsn = start;
    this._writeRecordLsn = start;
    this._flushLsn = start;
    this._flushRecordLsn = start;
    this.pending = opts.pendingTruncation ?? true;
  }

  writeLsn(): Lsn {
    return this._writeLsn;
  }
  writeRecordLsn(): Lsn {
    return this._writeRecordLsn;
  }
  flushRecordLsn(): Lsn {
    return this._flushRecordLsn;
  }
  /** Raw durable byte position; storage-internal in Neon, exposed for tests. */
  rawFlushLsn(): Lsn {
    return this._flushLsn;
  }
  pendingTruncation(): boolean {
    return this.pending;
  }

  async write(startLsn: Lsn, walBytes: WalBytes): Promise<void> {
    const wal = walBuffer(walBytes);
    if (this._writeLsn > startLsn) {
      throw new Error(
        `write_wal rewrites WAL written before, write_lsn=${formatLsn(this._writeLsn)}, startpos=${formatLsn(startLsn)}`,
      );
    }
    if (this._writeLsn < startLsn && this._writeLsn !== 0n) {
      throw new Error(
        `write_wal creates gap in written WAL, write_lsn=${formatLsn(this._writeLsn)}, startpos=${formatLsn(startLsn)}`,
      );
    }
    if (this.pending) {
      throw new Error(
        `write_wal called with pending WAL truncation, write_lsn=${formatLsn(this._writeLsn)}, startpos=${formatLsn(startLsn)}`,
      );
    }
    if (wal.length === 0) return;
    const end = startLsn + BigInt(wal.length);
    this.chunks.push({ lsn: startLsn, data: Buffer.from(wal) });
    this.writes++;
    this.events.push('wal.write');

    // A piece that ends exactly at a segment end is fdatasynced and the segment closed.
    const seg = BigInt(this.walSegSize);
    const firstSegEnd = (startLsn / seg + 1n) * seg;
    for (let segEnd = firstSegEnd; segEnd <= end; segEnd += seg) {
      this.fsyncs++;
      this.events.push('wal.fsync');
      this._flushLsn = segEnd;
    }
    this._writeLsn = end;

    // Same order as Neon's write_wal: an earlier record may now be covered by the raw flush.
    if (this._writeRecordLsn <= this._flushLsn) this._flushRecordLsn = this._writeRecordLsn;
    for (const lsn of this.recordEnds(startLsn, end)) {
      this._writeRecordLsn = lsn;
      if (lsn <= this._flushLsn) this._flushRecordLsn = lsn;
    }
  }

  /** Never sends an ack itself (there is no socket here): resolves 0. */
  async flush(): Promise<number> {
    if (this._flushRecordLsn === this._writeRecordLsn) return 0;
    this.fsyncs++;
    this.events.push('wal.fsync');
    this._flushLsn = this._writeLsn;
    this._flushRecordLsn = this._writeRecordLsn;
    return 0;
  }

  async truncate(endLsn: Lsn): Promise<void> {
    if (this._writeRecordLsn !== 0n && endLsn > this._writeRecordLsn) {
      throw new Error(
        `truncate_wal called on non-written WAL, write_record_lsn=${formatLsn(this._writeRecordLsn)}, end_pos=${formatLsn(endLsn)}`,
      );
    }
    if (!this.pending && endLsn === this._writeLsn && endLsn === this._flushRecordLsn) {
      this.skippedTruncations++;
      return;
    }
    this.pending = true;
    this._writeLsn = endLsn;
    this._flushLsn = endLsn;
    this._writeRecordLsn = endLsn;
    this._flushRecordLsn = endLsn;
    this.chunks = this.chunks
      .filter((c) => c.lsn < endLsn)
      .map((c) => {
        const keep = endLsn - c.lsn;
        return keep < BigInt(c.data.length) ? { lsn: c.lsn, data: c.data.subarray(0, Number(keep)) } : c;
      });
    this.fsyncs++;
    this.events.push('wal.fsync');
    this.truncations.push(endLsn);
    this.events.push('wal.truncate');
    this.pending = false;
  }

  async initializeFirstSegment(startLsn: Lsn): Promise<void> {
    // Idempotent header write, not fsynced by itself (the truncation that follows is).
    this.firstSegmentInits.push(startLsn);
    this.events.push('wal.initFirstSegment');
  }

  /** Bytes in [start, end); never-written bytes read as zeros. */
  read(start: Lsn, end: Lsn): Buffer {
    const out = Buffer.alloc(Number(end - start));
    for (const c of this.chunks) {
      const cEnd = c.lsn + BigInt(c.data.length);
      const from = c.lsn > start ? c.lsn : start;
      const to = cEnd < end ? cEnd : end;
      if (from >= to) continue;
      c.data.copy(out, Number(from - start), Number(from - c.lsn), Number(to - c.lsn));
    }
    return out;
  }

  /**
   * The store a restarted process would open (acceptor.md §0 "After a process
   * restart"): positions at the end of the last complete record the startup
   * scan finds, or all 0 when the persisted commit_lsn is 0; the truncation flag
   * set. A plain process restart keeps what reached the page cache
   * (`lose: 'nothing'`, end = write_record_lsn); a power loss keeps only
   * fsynced data (`lose: 'unflushed'`, end = flush_record_lsn). Bytes past the
   * end stay as garbage until the first truncation removes them.
   */
  restart(
    persistedCommitLsn: Lsn,
    opts: Pick<MemoryWalStoreOptions, 'recordEnds' | 'events'> & { lose?: 'nothing' | 'unflushed' } = {},
  ): MemoryWalStore {
    const scanned = opts.lose === 'unflushed' ? this._flushRecordLsn : this._writeRecordLsn;
    const end = persistedCommitLsn === 0n ? 0n : scanned;
    if (end < persistedCommitLsn) {
      throw new Error(
        `potential data loss: flush_lsn ${formatLsn(end)} by find_end_of_wal is less than commit_lsn ${formatLsn(persistedCommitLsn)} from control file`,
      );
    }
    const next = new MemoryWalStore({
      walSegSize: this.walSegSize,
      recordEnds: opts.recordEnds ?? this.recordEnds,
      events: opts.events ?? this.events,
      pendingTruncation: true,
      startLsn: end,
    });
    next.chunks = this.chunks.map((c) => ({ lsn: c.lsn, data: c.data }));
    return next;
  }
}
