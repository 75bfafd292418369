// What the consensus code (src/acceptor) needs from storage. The disk
// implementations live beside this file; tests use in-memory ones.

import type { MembershipConfiguration } from '../protocol/membership.js';
import type { Lsn, Term } from '../lsn.js';
import type { TermHistory, WalBytes } from '../protocol/messages.js';

export interface ServerInfo {
  /** Full PG_VERSION_NUM, e.g. 150004. */
  pgVersion: number;
  /** Postgres system identifier (u64); 0 until a compute sends one. */
  systemId: bigint;
  walSegSize: number;
}

export interface PartialBackupSegment {
  /** 0 InProgress, 1 Uploaded, 2 Deleting. */
  status: number;
  name: string;
  commitLsn: Lsn;
  flushLsn: Lsn;
  term: Term;
}

export type EvictionState = { kind: 'Present' } | { kind: 'Offloaded'; flushLsn: Lsn };

/** Everything in `safekeeper.control` (storage.md §4.3), in field order. */
export interface PersistentState {
  tenantId: string;
  timelineId: string;
  /** Membership configuration (protocol v3); the empty one (generation 0) for pre-generation timelines. */
  mconf: MembershipConfiguration;
  acceptorState: { term: Term; termHistory: TermHistory };
  server: ServerInfo;
  /** 32 hex chars. */
  proposerUuid: string;
  timelineStartLsn: Lsn;
  localStartLsn: Lsn;
  commitLsn: Lsn;
  backupLsn: Lsn;
  peerHorizonLsn: Lsn;
  remoteConsistentLsn: Lsn;
  partialBackupSegments: PartialBackupSegment[];
  evictionState: EvictionState;
  /** When the timeline was created; the epoch for files older than format 10 (and gen-0 ones, written as 9). */
  creationTs: SystemTime;
}

/** Rust's SystemTime as bincode and serde write it: seconds and nanoseconds since 1970-01-01. */
export interface SystemTime {
  secs: bigint;
  nanos: number;
}

/** Durable home of a timeline's PersistentState. */
export interface ControlStore {
  /** The last state that reached disk (a deep copy callers may not mutate). */
  readonly persisted: Readonly<PersistentState>;
  /**
   * Makes `state` durable (atomic write + fsync unless no-sync). Skips the write when `state`
   * equals the last persisted one. Resolves only once durable; `persisted` updates on success only.
   */
  persist(state: PersistentState): Promise<void>;
}

/** Bytes for a socket (the flush's AppendResponse), to be sent the moment a flush is durable. */
export interface DurableAck {
  /** The socket's file descriptor; it stays open until the flush settles (receive/direct-ack.ts). */
  fd: number;
  bytes: Uint8Array;
}

/**
 * A timeline's WAL. Positions follow Neon's wal_storage:
 *  writeLsn       end of bytes written (may be mid-record)
 *  writeRecordLsn end of the last complete record written
 *  flushRecordLsn end of the last complete record that is durable (what is reported as flush)
 * Invariant: writeLsn >= writeRecordLsn >= flushRecordLsn.
 */
export interface WalStore {
  writeLsn(): Lsn;
  writeRecordLsn(): Lsn;
  flushRecordLsn(): Lsn;
  /** True from process start until the first truncate() completes. */
  pendingTruncation(): boolean;
  /**
   * Appends `wal` at `startLsn` without fsync (a segment that fills up is fdatasynced and closed,
   * which may advance flushRecordLsn). Errors: pending truncation; startLsn != writeLsn (when writeLsn != 0).
   * May buffer in memory; a later flush() or truncate() makes it durable.
   */
  write(startLsn: Lsn, wal: WalBytes): Promise<void>;
  /**
   * fdatasync written bytes; flushRecordLsn := writeRecordLsn. No-op when already equal.
   * With `ack`, a store may write those bytes to the ack's socket itself as soon as the flush is
   * durable (never before); it resolves with how many it sent (0: the caller sends them all).
   */
  flush(ack?: DurableAck | null): Promise<number>;
  /** storage.md §3.5: positions := endLsn, later segments removed, rest of segment zeroed, fsynced. */
  truncate(endLsn: Lsn): Promise<void>;
  /** storage.md §3.3: writes the first segment header for the segment containing startLsn. */
  initializeFirstSegment(startLsn: Lsn): Promise<void>;
}
