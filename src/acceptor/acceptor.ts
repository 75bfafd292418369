// The acceptor side of the proposer-acceptor consensus for one timeline
// (Neon de7e4a34ca safekeeper/src/safekeeper.rs SafeKeeper + state.rs
// TimelineState; acceptor.md). Pure logic over ControlStore and WalStore:
// no sockets, no files, no timers. The timeline layer owns locking across
// connections, hot-standby feedback, watches and the manager task; it calls in here.

import { isDeepStrictEqual } from 'node:util';
import { formatLsn, maxLsn, minLsn, U64_MAX, type Lsn, type Term } from '../lsn.js';
import type { Ttid } from '../ids.js';
import {
  EMPTY_HS_FEEDBACK,
  walByteLength,
  type AcceptorGreeting,
  type AcceptorMessage,
  type AppendRequest,
  type AppendResponse,
  type ProposerElected,
  type ProposerGreeting,
  type ProposerMessage,
  type TermHistory,
  type VoteRequest,
  type VoteResponse,
} from '../protocol/messages.js';
import { cloneMconf, formatMconf, INVALID_GENERATION, mconfContains, type Generation, type MembershipConfiguration } from '../protocol/membership.js';
import type { ControlStore, DurableAck, PersistentState, ServerInfo, WalStore } from '../storage/interfaces.js';
import { bug, refused } from './errors.js';
import {
  cloneHistory,
  findHighestCommonPoint,
  formatTermHistory,
  formatTermLsn,
  lastLogTerm,
  restrictHistory,
  validateTermHistory,
} from './term-history.js';

export const SK_PROTOCOL_VERSION = 2;
export const UNKNOWN_SERVER_VERSION = 0;
/** PostgreSQL majors Neon's v3 greeting accepts (PgMajorVersion). */
const SUPPORTED_PG_MAJORS = new Set([14, 15, 16, 17]);
/** Neon's --control-file-save-interval default. */
export const DEFAULT_CONTROL_FILE_SAVE_INTERVAL_MS = 300_000;

/** Minimal pino-compatible logger; optional, the acceptor is silent without one. */
export interface AcceptorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AcceptorOptions {
  nodeId: bigint;
  control: ControlStore;
  wal: WalStore;
  /** Milliseconds clock for the lazy-save timestamp; default Date.now. */
  clock?: () => number;
  logger?: AcceptorLogger;
  /** Told after a membership switch is durable (the timeline tells its registry actor). */
  onMembershipSwitch?: (previous: MembershipConfiguration, current: MembershipConfiguration) => void;
  /** Crash-test hook at named points (src/failpoints.ts); a no-op by default. */
  failpoint?: (name: 'elected-before-persist') => void;
}

/** Fields kept in memory and copied into the control file on every write (Neon TimelineMemState). */
export interface InMemoryState {
  commitLsn: Lsn;
  backupLsn: Lsn;
  peerHorizonLsn: Lsn;
  remoteConsistentLsn: Lsn;
  proposerUuid: string;
}

export interface AppendOptions {
  /** Flushing append (JSON_CTRL, tests) vs. the no-flush variant every network append becomes. */
  flush: boolean;
  /** The connection's protocol version (default 2): v3 carries no proposer uuid to record. */
  protocolVersion?: number;
}

export interface ProcessOptions {
  /** For greetings: the ttid of the connection (defaults to the timeline's own). */
  expected?: Ttid;
  /** The connection's protocol version (default 2): v2 keeps de7e4a34ca's rules where v3 differs. */
  protocolVersion?: number;
  /** For appends; default false, as in the server's WalAcceptor. */
  flush?: boolean;
}

export type FlushWal = { kind: 'FlushWAL' };

export interface MembershipSwitchResult {
  previous: MembershipConfiguration;
  current: MembershipConfiguration;
}

export interface TermBumpResult {
  previousTerm: Term;
  currentTerm: Term;
}

/** What a peer safekeeper publishes through the broker (the fields the acceptor uses). */
export interface PeerTimelineInfo {
  commitLsn: Lsn;
  lastLogTerm: Term;
  backupLsn: Lsn;
  remoteConsistentLsn: Lsn;
  peerHorizonLsn: Lsn;
}

export class Acceptor {
  readonly nodeId: bigint;
  private readonly control: ControlStore;
  private readonly wal: WalStore;
  private readonly clock: () => number;
  private readonly logger: AcceptorLogger | null;
  private readonly onMembershipSwitch: AcceptorOptions['onMembershipSwitch'];
  private readonly failpoint: NonNullable<AcceptorOptions['failpoint']>;

  private inmem: InMemoryState;
  /** Start of the current proposer's term; 0 until the next ProposerElected (per object, not persisted). */
  private _termStartLsn: Lsn = 0n;
  /** Last control-file write by this acceptor (or load time), for the lazy save interval. */
  private lastPersistAtMs: number;
  /** Serialises every state-changing call: Neon requires callers to exclude each other. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(opts: AcceptorOptions) {
    this.nodeId = opts.nodeId;
    this.control = opts.control;
    this.wal = opts.wal;
    this.clock = opts.clock ?? Date.now;
    this.logger = opts.logger ?? null;
    this.onMembershipSwitch = opts.onMembershipSwitch;
    this.failpoint = opts.failpoint ?? (() => {});
    const p = this.control.persisted;
    // Neon refuses to build a SafeKeeper over an uninitialised (all-zero) ttid.
    if (/^0*$/.test(p.tenantId) || /^0*$/.test(p.timelineId)) {
      throw new Error(
        `Acceptor needs a state with non-empty tenant_id (${p.tenantId}) and timeline_id (${p.timelineId})`,
      );
    }
    this.inmem = inMemoryFrom(p);
    this.lastPersistAtMs = this.clock();
  }

  // ---------------------------------------------------------------- getters

  /** The last persisted state (do not mutate). */
  get persisted(): Readonly<PersistentState> {
    return this.control.persisted;
  }
  get term(): Term {
    return this.pers.acceptorState.term;
  }
  /** Full persisted term history (may extend past the local WAL end). */
  get termHistory(): TermHistory {
    return cloneHistory(this.pers.acceptorState.termHistory);
  }
  /** The history reported to proposers: entries up to flushLsn(). */
  get reportedTermHistory(): TermHistory {
    return restrictHistory(this.pers.acceptorState.termHistory, this.flushLsn());
  }
  /** last_log_term ("epoch") against flushLsn(). */
  get lastLogTerm(): Term {
    return lastLogTerm(this.pers.acceptorState.termHistory, this.flushLsn());
  }
  /**
   * last_log_term against the raw storage flush_record_lsn: the copy Neon
   * publishes to peers and to the term/flush watch (same value once WAL exists).
   */
  get publishedLastLogTerm(): Term {
    return lastLogTerm(this.pers.acceptorState.termHistory, this.wal.flushRecordLsn());
  }
  /** max(storage flush_record_lsn, timeline_start_lsn): what replies report. */
  flushLsn(): Lsn {
    return maxLsn(this.wal.flushRecordLsn(), this.pers.timelineStartLsn);
  }
  /** Storage flush_record_lsn without the timeline_start_lsn floor. */
  storageFlushLsn(): Lsn {
    return this.wal.flushRecordLsn();
  }
  writeLsn(): Lsn {
    return this.wal.writeLsn();
  }
  get commitLsn(): Lsn {
    return this.inmem.commitLsn;
  }
  get backupLsn(): Lsn {
    return this.inmem.backupLsn;
  }
  get peerHorizonLsn(): Lsn {
    return this.inmem.peerHorizonLsn;
  }
  get remoteConsistentLsn(): Lsn {
    return this.inmem.remoteConsistentLsn;
  }
  get proposerUuid(): string {
    return this.inmem.proposerUuid;
  }
  /** Copy of all in-memory fields. */
  get inMemory(): InMemoryState {
    return { ...this.inmem };
  }
  get timelineStartLsn(): Lsn {
    return this.pers.timelineStartLsn;
  }
  get localStartLsn(): Lsn {
    return this.pers.localStartLsn;
  }
  get termStartLsn(): Lsn {
    return this._termStartLsn;
  }
  get serverInfo(): ServerInfo {
    return { ...this.pers.server };
  }
  /** The timeline's membership configuration (a copy): generation 0 and empty before generations. */
  get mconf(): MembershipConfiguration {
    return cloneMconf(this.pers.mconf);
  }

  /** "sk gen": the generation of the stored configuration. */
  get generation(): Generation {
    return this.pers.mconf.generation;
  }

  /**
   * Switches to `mconf` if its generation is higher than ours, durably before resolving
   * (Neon TimelineState::membership_switch). Equal or lower: nothing is written. The caller
   * checks membership first (greeting: refuse; HTTP: 403).
   */
  membershipSwitch(mconf: MembershipConfiguration): Promise<MembershipSwitchResult> {
    return this.serial(() => this.switchMembership(mconf));
  }

  get walSegSize(): number {
    return this.pers.server.walSegSize;
  }
  /** Timestamp (clock ms) of the last control-file write by this acceptor, or of its construction. */
  get lastPersistAt(): number {
    return this.lastPersistAtMs;
  }
  /** True when an in-memory LSN is ahead of the control file (Neon has_unflushed_inmem_state). */
  hasUnpersistedInMemoryState(): boolean {
    const p = this.pers;
    return (
      this.inmem.commitLsn > p.commitLsn ||
      this.inmem.backupLsn > p.backupLsn ||
      this.inmem.peerHorizonLsn > p.peerHorizonLsn ||
      this.inmem.remoteConsistentLsn > p.remoteConsistentLsn
    );
  }

  // ---------------------------------------------------------------- dispatch

  /** Processes one proposer message (or FlushWAL); returns the reply, if any. */
  process(msg: ProposerMessage | FlushWal, opts: ProcessOptions = {}): Promise<AcceptorMessage | null> {
    switch (msg.kind) {
      case 'ProposerGreeting':
        return this.handleGreeting(msg, opts.expected, opts.protocolVersion);
      case 'VoteRequest':
        return this.handleVoteRequest(msg);
      case 'ProposerElected':
        return this.handleElected(msg, opts.protocolVersion).then(() => null);
      case 'AppendRequest':
        return this.handleAppend(msg, { flush: opts.flush ?? false, protocolVersion: opts.protocolVersion });
      case 'FlushWAL':
        return this.flushWal();
    }
  }

  // ---------------------------------------------------------------- §1 greeting

  handleGreeting(msg: ProposerGreeting, expected?: Ttid, protocolVersion = SK_PROTOCOL_VERSION): Promise<AcceptorGreeting> {
    return this.serial(async () => {
      const p = this.pers;
      const want = expected ?? { tenantId: p.tenantId, timelineId: p.timelineId };
      const stored = p.server.pgVersion;
      if (protocolVersion === SK_PROTOCOL_VERSION) {
        // v2 (de7e4a34ca): the greeting's own protocol_version field must say 2.
        if (msg.protocolVersion !== SK_PROTOCOL_VERSION) {
          throw refused(`incompatible protocol version ${msg.protocolVersion}, expected ${SK_PROTOCOL_VERSION}`);
        }
      } else {
        // v3 (6a35a3e9f1): both versions must name a supported major before they are compared.
        for (const v of [msg.pgVersion, stored]) {
          if (!SUPPORTED_PG_MAJORS.has(Math.trunc(v / 10000))) throw refused(`InvalidPgVersion(${v})`);
        }
      }
      // Safekeepers parse WAL page headers, whose format changes between majors.
      if (Math.trunc(msg.pgVersion / 10000) !== Math.trunc(stored / 10000) && stored !== UNKNOWN_SERVER_VERSION) {
        throw refused(`incompatible server version ${msg.pgVersion}, expected ${stored}`);
      }
      if (msg.tenantId !== want.tenantId) {
        throw refused(`invalid tenant ID, got ${msg.tenantId}, expected ${want.tenantId}`);
      }
      if (msg.timelineId !== want.timelineId) {
        throw refused(`invalid timeline ID, got ${msg.timelineId}, expected ${want.timelineId}`);
      }
      if (msg.walSegSize !== p.server.walSegSize) {
        throw refused(`invalid wal_seg_size, got ${msg.walSegSize}, expected ${p.server.walSegSize}`);
      }

      // sync-safekeepers does not know the system id and sends 0: ignore that.
      if (msg.systemId !== 0n && msg.systemId !== p.server.systemId) {
        if (p.server.systemId !== 0n) {
          this.logger?.warn(
            { got: msg.systemId.toString(), expected: p.server.systemId.toString() },
            `unexpected system ID arrived, got ${msg.systemId}, expected ${p.server.systemId}`,
          );
        }
        const s = this.startChange();
        s.server.systemId = msg.systemId;
        if (msg.pgVersion !== UNKNOWN_SERVER_VERSION) s.server.pgVersion = msg.pgVersion;
        await this.finishChange(s);
      }

      // Membership (v3; a v2 greeting carries the empty configuration and never switches).
      if (msg.mconf.generation > this.generation && !mconfContains(msg.mconf, this.nodeId)) {
        throw refused(`refused to switch into ${formatMconf(msg.mconf)}, node ${this.nodeId} is not a member of it`);
      }
      // A higher generation is adopted, durably, before the reply; lower or equal: nothing, no error.
      await this.switchMembership(msg.mconf);
      return { kind: 'AcceptorGreeting', term: this.pers.acceptorState.term, nodeId: this.nodeId, mconf: this.mconf };
    });
  }

  // ---------------------------------------------------------------- §2 vote

  handleVoteRequest(msg: VoteRequest): Promise<VoteResponse> {
    return this.serial(async () => {
      // First, before anything else happens (not even the WAL flush below).
      if (msg.generation !== this.generation) {
        throw refused(
          `refusing VoteRequest { generation: SafekeeperGeneration(${msg.generation}), term: ${msg.term} } due to generation mismatch: sk generation ${this.generation}`,
        );
      }
      // Flush what older proposers sent so the new one starts streaming at our
      // real end and never overwrites bytes we could have acked.
      await this.wal.flush();
      const p = this.pers;
      const flushLsn = this.flushLsn();
      // Every value except term/vote_given is taken before the term changes.
      const resp: VoteResponse = {
        kind: 'VoteResponse',
        generation: this.generation,
        term: p.acceptorState.term,
        voteGiven: false,
        flushLsn,
        truncateLsn: this.inmem.peerHorizonLsn,
        termHistory: restrictHistory(p.acceptorState.termHistory, flushLsn),
        timelineStartLsn: p.timelineStartLsn,
      };
      if (p.acceptorState.term < msg.term) {
        const s = this.startChange();
        s.acceptorState.term = msg.term;
        // The vote must be durable before anyone can learn about it.
        await this.finishChange(s);
        resp.term = this.pers.acceptorState.term;
        resp.voteGiven = true;
      }
      this.logger?.info(
        { term: msg.term.toString(), voteGiven: resp.voteGiven },
        `processed VoteRequest for term ${msg.term}: vote_given=${resp.voteGiven}, flush_lsn=${formatLsn(resp.flushLsn)}`,
      );
      return resp;
    });
  }

  // ---------------------------------------------------------------- §3 elected

  /** ProposerElected never produces a reply. */
  handleElected(msg: ProposerElected, protocolVersion = SK_PROTOCOL_VERSION): Promise<void> {
    return this.serial(async () => {
      if (msg.generation !== this.generation) {
        throw refused(
          `refusing ProposerElected { generation: SafekeeperGeneration(${msg.generation}), term: ${msg.term}, start_streaming_at: ${formatLsn(msg.startStreamingAt)}, term_history: ${formatTermHistory(msg.termHistory)} } due to generation mismatch: sk generation ${this.generation}`,
        );
      }
      // 1. A higher term is adopted and persisted at once, even if a later step fails.
      if (this.pers.acceptorState.term < msg.term) {
        const s = this.startChange();
        s.acceptorState.term = msg.term;
        await this.finishChange(s);
      }
      // 2. Our term is higher: ignore; the next AppendResponse tells the proposer.
      if (this.pers.acceptorState.term > msg.term) return;

      // Not in Neon: a non-ascending history can only come from a broken proposer.
      validateTermHistory(msg.termHistory, 'walproposer term history');

      // 3. Cross-check the divergence point the proposer computed.
      const flushLsn = this.flushLsn();
      const skTh = restrictHistory(this.pers.acceptorState.termHistory, flushLsn);
      let lcp = findHighestCommonPoint(msg.termHistory, skTh, flushLsn);
      if (lcp === null) {
        // No common term: the proposer streams from the start of its history.
        const first = msg.termHistory[0];
        if (first === undefined) {
          throw refused(`empty walproposer term history ${formatTermHistory(msg.termHistory)}`);
        }
        lcp = first;
      }
      const context = () =>
        `term=${this.pers.acceptorState.term}, sk_th=${formatTermHistory(skTh)} flush_lsn=${formatLsn(flushLsn)}, wp_th=${formatTermHistory(msg.termHistory)}`;
      // 4. Transient when a stale connection of the same proposer races a newer one.
      if (lcp.lsn !== msg.startStreamingAt) {
        throw refused(
          `refusing ProposerElected with unexpected truncation point: lcp=${formatTermLsn(lcp)} start_streaming_at=${formatLsn(msg.startStreamingAt)}, ${context()}`,
        );
      }
      // 5. Committed WAL must never be truncated.
      if (msg.startStreamingAt < this.inmem.commitLsn) {
        throw bug(
          `attempt to truncate committed data: start_streaming_at=${formatLsn(msg.startStreamingAt)}, commit_lsn=${formatLsn(this.inmem.commitLsn)}, ${context()}`,
        );
      }
      // 6. The compute's stream lacks the first segment's headers; write them before any WAL.
      if (this.wal.flushRecordLsn() === 0n) {
        await this.wal.initializeFirstSegment(msg.startStreamingAt);
      }
      // 7. Storage skips this when already clean at exactly that point.
      await this.wal.truncate(msg.startStreamingAt);

      this.failpoint('elected-before-persist');
      // 8. Adopt the history and learn the start LSNs, in one atomic write.
      const s = this.startChange();
      // v2 carries timeline_start_lsn; v3 takes it from the start of the proposer's history.
      const timelineStartLsn = protocolVersion === SK_PROTOCOL_VERSION ? msg.timelineStartLsn : (msg.termHistory[0]?.lsn ?? 0n);
      if (s.timelineStartLsn === 0n) s.timelineStartLsn = timelineStartLsn;
      // peer_horizon_lsn is never 0 once timeline_start_lsn is known.
      if (s.peerHorizonLsn === 0n) s.peerHorizonLsn = s.timelineStartLsn;
      if (s.localStartLsn === 0n) s.localStartLsn = msg.startStreamingAt;
      // commit_lsn set before the first ack lets the startup WAL scan skip the
      // hole at the start of the first segment; backup/remote_consistent alike.
      s.commitLsn = maxLsn(s.commitLsn, s.timelineStartLsn);
      s.backupLsn = maxLsn(s.backupLsn, s.timelineStartLsn);
      s.remoteConsistentLsn = maxLsn(s.remoteConsistentLsn, s.timelineStartLsn);
      s.acceptorState.termHistory = cloneHistory(msg.termHistory);
      await this.finishChange(s);

      // 9. Remembered so commit_lsn reaching it forces a persist (§4 step 7).
      const last = msg.termHistory[msg.termHistory.length - 1];
      if (last === undefined) throw refused('proposer elected with empty term history');
      this._termStartLsn = last.lsn;
      this.logger?.info(
        { term: msg.term.toString(), startStreamingAt: formatLsn(msg.startStreamingAt) },
        `start receiving WAL since ${formatLsn(msg.startStreamingAt)}`,
      );
    });
  }

  // ---------------------------------------------------------------- §4 append

  handleAppend(msg: AppendRequest, opts: AppendOptions): Promise<AppendResponse | null> {
    return this.serial(async () => {
      // Before the term checks: a stale proposer of another generation gets an error, not a term.
      if (msg.generation !== this.generation) {
        throw refused(`refusing append request due to generation mismatch: request ${msg.generation}, sk ${this.generation}`);
      }
      const term = this.pers.acceptorState.term;
      // 1.
      if (term < msg.term) throw refused('got AppendRequest before ProposerElected');
      // 2. Refuse at once, with our term; the proposer exits on seeing it.
      if (term > msg.term) return termOnlyResponse(term, this.generation);

      // 3. Only sequential writes: moving the position is ProposerElected's job.
      // Checked against raw write_lsn, for heartbeats too.
      const writeLsn = this.wal.writeLsn();
      if (writeLsn > msg.beginLsn) {
        throw refused(
          `append request rewrites WAL written before, write_lsn=${formatLsn(writeLsn)}, msg lsn=${formatLsn(msg.beginLsn)}`,
        );
      }
      if (writeLsn < msg.beginLsn && writeLsn !== 0n) {
        throw refused(
          `append request creates gap in written WAL, write_lsn=${formatLsn(writeLsn)}, msg lsn=${formatLsn(msg.beginLsn)}`,
        );
      }
      const flushBefore = this.wal.flushRecordLsn();

      // 4. (v2 only: the v3 AppendRequest has no proposer uuid, and Neon no longer records one.)
      if ((opts.protocolVersion ?? SK_PROTOCOL_VERSION) === SK_PROTOCOL_VERSION) this.inmem.proposerUuid = msg.proposerUuid;
      // 5. A write completing a segment may fsync it and move the flush position.
      if (walByteLength(msg.wal) > 0) await this.wal.write(msg.beginLsn, msg.wal);
      // 6.
      if (opts.flush) await this.wal.flush();
      // 7. In memory only; the manager (maybePersistLazily) saves it later.
      if (msg.commitLsn !== 0n) await this.updateCommitLsn(msg.commitLsn);
      // 8. The proposer's value can lag ours (it may have heard a persisted one): take the max.
      this.inmem.peerHorizonLsn = maxLsn(this.inmem.peerHorizonLsn, msg.truncateLsn);

      // 9. A no-flush append only answers when the flush position moved.
      if (!opts.flush && flushBefore === this.flushLsn()) return null;
      return this.appendResponse();
    });
  }

  /** FlushWAL: fsync complete records, then always the normal AppendResponse. */
  flushWal(): Promise<AppendResponse> {
    return this.flushWalAcking(null).then((r) => r.reply);
  }

  /**
   * FlushWAL whose AppendResponse may leave with the write. `prepare` gets the reply as it will be
   * once the flush is durable (the WalStore contract: flushRecordLsn := writeRecordLsn) and may
   * turn it into bytes for the proposer's socket, which the store then sends as soon as the flush
   * is durable, never before. `ackSent`: how many of those bytes it sent.
   */
  flushWalAcking(prepare: ((reply: AppendResponse) => DurableAck | null) | null): Promise<{ reply: AppendResponse; ackSent: number }> {
    return this.serial(async () => {
      const reply = this.appendResponse();
      reply.flushLsn = maxLsn(this.wal.writeRecordLsn(), this.pers.timelineStartLsn);
      const ack = prepare ? prepare(reply) : null;
      const ackSent = await this.wal.flush(ack);
      // What may already be on the wire must be what is true now.
      if (reply.flushLsn !== this.flushLsn() || reply.commitLsn !== this.pers.commitLsn || reply.term !== this.pers.acceptorState.term) {
        throw bug(`FlushWAL reply ${formatLsn(reply.flushLsn)} prepared before the flush differs from flush_lsn ${formatLsn(this.flushLsn())} after it`);
      }
      return { reply, ackSent };
    });
  }

  /** Broker info from a peer: commit_lsn if our logs agree, the other LSNs by max (Neon record_safekeeper_info). */
  recordPeerInfo(info: PeerTimelineInfo): Promise<void> {
    return this.serial(async () => {
      // Too strict (a peer whose history contains ours would do) but that is the reference rule.
      if (info.commitLsn !== 0n && info.lastLogTerm !== 0n && info.lastLogTerm === this.lastLogTerm) {
        await this.updateCommitLsn(info.commitLsn);
      }
      const seg = BigInt(this.pers.server.walSegSize);
      const p = this.pers;
      this.inmem.backupLsn = maxLsn(this.inmem.backupLsn, info.backupLsn);
      this.inmem.remoteConsistentLsn = maxLsn(this.inmem.remoteConsistentLsn, info.remoteConsistentLsn);
      this.inmem.peerHorizonLsn = maxLsn(this.inmem.peerHorizonLsn, info.peerHorizonLsn);
      // Save at once when some value got more than a segment ahead of disk.
      const sync =
        p.backupLsn + seg < this.inmem.backupLsn ||
        p.remoteConsistentLsn + seg < this.inmem.remoteConsistentLsn ||
        p.peerHorizonLsn + seg < this.inmem.peerHorizonLsn;
      if (sync) await this.finishChange(this.startChange());
    });
  }

  /** Pageserver feedback from a walsender: in memory only. */
  updateRemoteConsistentLsn(candidate: Lsn): void {
    this.inmem.remoteConsistentLsn = maxLsn(this.inmem.remoteConsistentLsn, candidate);
  }

  /** Offload progress: in memory only. */
  updateBackupLsn(candidate: Lsn): void {
    this.inmem.backupLsn = maxLsn(this.inmem.backupLsn, candidate);
  }

  // ---------------------------------------------------------------- §6 persistence

  /**
   * The timeline manager's control-file save (timeline_manager.rs
   * update_control_file_save): when some in-memory LSN is ahead of disk AND
   * (commit_lsn is at least one WAL segment ahead of the persisted one OR more
   * than `saveIntervalMs` passed since the last persist). Returns whether it wrote.
   *
   * Neon at de7e4a34ca sets the "last persist" instant only when the control
   * file is created/loaded, so after one interval every wake-up saves. We
   * refresh it on every control-file write made through this acceptor — the
   * evident intent; no consensus rule depends on it (acceptor.md §6).
   */
  maybePersistLazily(nowMs: number, opts: { saveIntervalMs?: number } = {}): Promise<boolean> {
    const interval = opts.saveIntervalMs ?? DEFAULT_CONTROL_FILE_SAVE_INTERVAL_MS;
    return this.serial(async () => {
      if (!this.hasUnpersistedInMemoryState()) return false;
      const p = this.pers;
      const commitAhead = this.inmem.commitLsn > p.commitLsn ? this.inmem.commitLsn - p.commitLsn : 0n;
      if (nowMs - this.lastPersistAtMs > interval || commitAhead >= BigInt(p.server.walSegSize)) {
        await this.finishChange(this.startChange());
        return true;
      }
      return false;
    });
  }

  /** When the interval trigger of maybePersistLazily fires next (clock ms). */
  nextLazySaveAt(opts: { saveIntervalMs?: number } = {}): number {
    return this.lastPersistAtMs + (opts.saveIntervalMs ?? DEFAULT_CONTROL_FILE_SAVE_INTERVAL_MS);
  }

  /** HTTP checkpoint: write the in-memory LSNs into the control file now. */
  checkpoint(): Promise<void> {
    return this.serial(() => this.finishChange(this.startChange()));
  }

  /** HTTP term_bump: term := max(term, to), or term + 1; persisted only if it grew. */
  termBump(to?: Term): Promise<TermBumpResult> {
    return this.serial(async () => {
      const before = this.pers.acceptorState.term;
      const next = to === undefined ? before + 1n : maxLsn(before, to);
      if (next > U64_MAX) throw refused(`term_bump: term ${next} does not fit in u64`);
      if (next > before) {
        const s = this.startChange();
        s.acceptorState.term = next;
        await this.finishChange(s);
      }
      return { previousTerm: before, currentTerm: this.pers.acceptorState.term };
    });
  }

  // ---------------------------------------------------------------- internals

  private async switchMembership(to: MembershipConfiguration): Promise<MembershipSwitchResult> {
    const previous = cloneMconf(this.pers.mconf);
    if (to.generation > previous.generation) {
      const s = this.startChange();
      s.mconf = cloneMconf(to);
      await this.finishChange(s);
      this.logger?.info(
        { from_generation: previous.generation, to_generation: to.generation },
        `switched membership from ${formatMconf(previous)} to ${formatMconf(to)}`,
      );
      this.onMembershipSwitch?.(previous, cloneMconf(this.pers.mconf));
    }
    return { previous, current: cloneMconf(this.pers.mconf) };
  }

  private get pers(): Readonly<PersistentState> {
    return this.control.persisted;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private appendResponse(): AppendResponse {
    return {
      kind: 'AppendResponse',
      generation: this.generation,
      term: this.pers.acceptorState.term,
      flushLsn: this.flushLsn(),
      // The persisted value: what survives a restart is what the proposer may rely on.
      commitLsn: this.pers.commitLsn,
      hsFeedback: { ...EMPTY_HS_FEEDBACK },
    };
  }

  /** Neon update_commit_lsn: monotone, capped by local flush, forced save at term start. */
  private async updateCommitLsn(candidate: Lsn): Promise<void> {
    // Peers and the proposer both send it; ours may already be fresher.
    const raised = maxLsn(candidate, this.inmem.commitLsn);
    const commit = minLsn(raised, this.flushLsn());
    if (commit < this.inmem.commitLsn) {
      throw bug(
        `commit_lsn monotonicity violated: old=${formatLsn(this.inmem.commitLsn)} new=${formatLsn(commit)}`,
      );
    }
    this.inmem.commitLsn = commit;
    // sync-safekeepers waits for the *persisted* commit_lsn to reach its term start.
    if (commit >= this._termStartLsn && this.pers.commitLsn < this._termStartLsn) {
      await this.finishChange(this.startChange());
    }
  }

  /** Neon start_change: the persisted state with the in-memory fields merged in. */
  private startChange(): PersistentState {
    const s = structuredClone(this.pers) as PersistentState;
    s.commitLsn = this.inmem.commitLsn;
    s.backupLsn = this.inmem.backupLsn;
    s.peerHorizonLsn = this.inmem.peerHorizonLsn;
    s.remoteConsistentLsn = this.inmem.remoteConsistentLsn;
    s.proposerUuid = this.inmem.proposerUuid;
    return s;
  }

  /** Neon finish_change: write unless unchanged, then mirror the in-memory fields from it. */
  private async finishChange(s: PersistentState): Promise<void> {
    if (!isDeepStrictEqual(s, this.pers)) {
      await this.control.persist(s);
      this.lastPersistAtMs = this.clock();
    }
    this.inmem = inMemoryFrom(s);
  }
}

function inMemoryFrom(p: Readonly<PersistentState>): InMemoryState {
  return {
    commitLsn: p.commitLsn,
    backupLsn: p.backupLsn,
    peerHorizonLsn: p.peerHorizonLsn,
    remoteConsistentLsn: p.remoteConsistentLsn,
    proposerUuid: p.proposerUuid,
  };
}

/** Refusal for a stale proposer: only the term matters. */
export function termOnlyResponse(term: Term, generation: Generation = INVALID_GENERATION): AppendResponse {
  return { kind: 'AppendResponse', generation, term, flushLsn: 0n, commitLsn: 0n, hsFeedback: { ...EMPTY_HS_FEEDBACK } };
}
