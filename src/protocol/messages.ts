// Decoded proposer <-> acceptor messages, independent of the protocol version
// that carried them. Every LSN and term is a bigint (u64 on the wire); ids are
// 32-char lowercase hex strings.

import type { Lsn, Term } from '../lsn.js';
import type { Generation, MembershipConfiguration } from './membership.js';

/** One term-history entry: term `term` starts at `lsn`. */
export interface TermLsn {
  term: Term;
  lsn: Lsn;
}

/** Ascending list of term switches. */
export type TermHistory = TermLsn[];

// ---- proposer -> acceptor ----

export interface ProposerGreeting {
  kind: 'ProposerGreeting';
  /** v2: the greeting's own protocol_version field. v3 has no such field: 3. */
  protocolVersion: number;
  /** v3: the proposer's configuration (Neon's walproposer always sends the empty one); v2: empty. */
  mconf: MembershipConfiguration;
  pgVersion: number;
  /** 16 bytes as 32 hex chars; logging only. */
  proposerId: string;
  systemId: bigint;
  tenantId: string;
  timelineId: string;
  /** v2 only (v3: 1, PostgreSQL's only timeline id). */
  tli: number;
  walSegSize: number;
}

export interface VoteRequest {
  kind: 'VoteRequest';
  /** v3; 0 on v2. */
  generation: Generation;
  term: Term;
  /** Sent by the C walproposer, ignored by the acceptor. 32 hex chars (v3: zeros, not on the wire). */
  proposerId: string;
}

export interface ProposerElected {
  kind: 'ProposerElected';
  /** v3; 0 on v2. */
  generation: Generation;
  term: Term;
  startStreamingAt: Lsn;
  termHistory: TermHistory;
  /** v2 only (v3: 0; its acceptor takes the first term-history entry's LSN). */
  timelineStartLsn: Lsn;
}

export interface AppendRequest {
  kind: 'AppendRequest';
  /** v3; 0 on v2. */
  generation: Generation;
  term: Term;
  /** walproposer's epochStartLsn; ignored by the acceptor. v2 only (v3: 0). */
  termStartLsn: Lsn;
  beginLsn: Lsn;
  endLsn: Lsn;
  commitLsn: Lsn;
  truncateLsn: Lsn;
  /** 32 hex chars. v2 only (v3: zeros). */
  proposerUuid: string;
  /** WAL bytes [beginLsn, endLsn): views into the received frame, never a copy. */
  wal: WalBytes;
}

/**
 * WAL that arrived split across socket reads, kept as the chunks' views instead of being joined:
 * a 128 KiB AppendRequest always spans several 64 KiB reads, and joining it was the receive
 * path's largest cost. Not a Buffer on purpose: code that needs the byte count must ask for it.
 */
export class WalPieces {
  constructor(
    readonly parts: readonly Buffer[],
    readonly byteLength: number,
  ) {}
}

/** An AppendRequest's WAL: one contiguous view, or pieces (see WalPieces). */
export type WalBytes = Buffer | WalPieces;

export function walByteLength(wal: WalBytes): number {
  return wal instanceof WalPieces ? wal.byteLength : wal.length;
}

/** The WAL as a list of buffers, for writev and piecewise consumers. */
export function walParts(wal: WalBytes): readonly Buffer[] {
  return wal instanceof WalPieces ? wal.parts : [wal];
}

/** One contiguous Buffer: the view itself, or (only off the hot path) the pieces joined. */
export function walBuffer(wal: WalBytes): Buffer {
  return wal instanceof WalPieces ? Buffer.concat(wal.parts, wal.byteLength) : wal;
}

export type ProposerMessage = ProposerGreeting | VoteRequest | ProposerElected | AppendRequest;

// ---- acceptor -> proposer ----

export interface AcceptorGreeting {
  kind: 'AcceptorGreeting';
  term: Term;
  nodeId: bigint;
  /** The acceptor's current configuration; v3 only on the wire. */
  mconf: MembershipConfiguration;
}

export interface VoteResponse {
  kind: 'VoteResponse';
  /** The acceptor's generation; v3 only on the wire. */
  generation: Generation;
  term: Term;
  voteGiven: boolean;
  flushLsn: Lsn;
  truncateLsn: Lsn;
  termHistory: TermHistory;
  /** v2 only on the wire. */
  timelineStartLsn: Lsn;
}

export interface HotStandbyFeedback {
  /** µs since 2000-01-01 (i64). */
  ts: bigint;
  /** FullTransactionId, 0 = invalid. */
  xmin: bigint;
  catalogXmin: bigint;
}

export interface PageserverFeedback {
  currentTimelineSize: bigint;
  lastReceivedLsn: Lsn;
  diskConsistentLsn: Lsn;
  remoteConsistentLsn: Lsn;
  /** µs since 2000-01-01 (i64). */
  replyTime: bigint;
  /** Sent only when > 0. */
  shardNumber: number;
}

export interface AppendResponse {
  kind: 'AppendResponse';
  /** The acceptor's generation when the reply was built; v3 only on the wire. */
  generation: Generation;
  term: Term;
  flushLsn: Lsn;
  /** The persisted (control-file) commit_lsn. */
  commitLsn: Lsn;
  hsFeedback: HotStandbyFeedback;
  pageserverFeedback?: PageserverFeedback;
}

export type AcceptorMessage = AcceptorGreeting | VoteResponse | AppendResponse;

export const EMPTY_HS_FEEDBACK: Readonly<HotStandbyFeedback> = Object.freeze({ ts: 0n, xmin: 0n, catalogXmin: 0n });
