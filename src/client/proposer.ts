// A walproposer in TypeScript (proposer.md §5) for one process lifetime: it
// elects itself over a quorum of safekeepers, then streams WAL from a
// MemoryWalLog to every safekeeper it can reach and reports quorum commit.
//
// Deliberate differences from the C walproposer:
// * WAL below the term start that a lagging safekeeper needs is read from the
//   same MemoryWalLog. A proposer starting with an empty log (option
//   donorRecovery) first fetches it from the donor via START_REPLICATION,
//   from the timeline start (./recovery.ts); otherwise the log must hold it.
// * No sync-safekeepers mode and no basebackup check: a log that cannot supply
//   WAL up to the elected term start is a fatal error instead.
// * Flow control: at most `maxInflightBytes` (default 16 MiB) sent but not yet
//   reported flushed per safekeeper, so a slow safekeeper is not buried;
//   socket backpressure ('drain') is respected as well.
// * Connection timeout is enforced in every state, not only after election.
//
// Protocol v3 (option protocolVersion: 3) follows walproposer.c at 6a35a3e9f1:
// the greeting carries the empty configuration; a higher one in an
// AcceptorGreeting is adopted before voting starts (a fatal restart after);
// with a configuration (or `generations`), voting, election and commit count
// members of each set of it (protocol-v3.md §5), otherwise all connections.

import { cloneMconf, emptyMconf, formatMconf, INVALID_GENERATION, type MembershipConfiguration } from '../protocol/membership.js';
import { cryptoRandomBytes, type RandomBytes } from '../random.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { Connect } from '../transport.js';
import { createNanoEvents, type Emitter } from 'nanoevents';
import { formatLsn, type Lsn, type Term } from '../lsn.js';
import { COPY_DATA_HEADER_SIZE } from '../wire/index.js';
import {
  APPEND_REQUEST_HEADER_SIZE,
  MAX_SEND_SIZE,
  ProtocolError,
  type AcceptorGreeting,
  type AcceptorMessage,
  type AppendRequest,
  type AppendResponse,
  type TermHistory,
  type VoteResponse,
} from '../protocol/index.js';
import { PgConnection } from './pg-connection.js';
import { fetchWalFromDonor } from './recovery.js';
import { ConnectionError, ProposerFatalError, ServerError, type FatalReason } from './errors.js';
import { determineEpochStart, startStreamingAt } from './election.js';
import { coversMconfQuorum, mconfCommitLsn, nextTruncateLsn, quorumCommitLsn, quorumSize } from './quorum.js';
import type { MemoryWalLog } from './wal-source.js';
import type { WalChunk } from './walgen.js';

/** pino-compatible subset; bigints are passed as formatted strings. */
export interface ClientLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ProposerOptions {
  /** "host:port" each; 1..31 of them. */
  safekeepers: string[];
  tenantId: string;
  timelineId: string;
  systemId: bigint;
  /** PG_VERSION_NUM in the greeting. Default 150002. */
  pgVersion?: number;
  /** Default 16 MiB. */
  walSegSize?: number;
  /** PostgreSQL timeline in the greeting. Default 1. */
  pgTimeline?: number;
  /** 32 hex chars; default random. */
  proposerId?: string;
  /** WAL this proposer ships; appendWal() appends to it. */
  wal: MemoryWalLog;
  /** Term start on a fresh timeline (every voter empty). Default: wal.start. */
  basebackupLsn?: Lsn;
  /** R: reconnect tick and idle heartbeat period. Default 1000 ms. */
  reconnectIntervalMs?: number;
  /** C: drop a connection that sent nothing for this long. Default 10000 ms. */
  connectionTimeoutMs?: number;
  /** Sent-but-unflushed WAL allowed per safekeeper. Default 16 MiB (one segment). */
  maxInflightBytes?: number;
  /** WAL bytes per AppendRequest, at most MAX_SEND_SIZE (131072, the default). */
  maxSendSize?: number;
  /** Drop WAL below truncate_lsn (held by every safekeeper) from the log. Default false. */
  releaseWal?: boolean;
  applicationName?: string;
  user?: string;
  /** JWT sent when a safekeeper asks for a password (NEON_AUTH_TOKEN). */
  password?: string;
  /** Send an SSLRequest first, like libpq's sslmode=prefer. Default false. */
  sslRequest?: boolean;
  /** 2 (plain START_WAL_PUSH, de7e4a34ca's walproposer) or 3 (Neon's current default). Default 2. */
  protocolVersion?: 2 | 3;
  /**
   * neon.safekeepers = 'g#N:…': the timeline must exist (allow_timeline_creation 'false') and its
   * safekeepers' configuration is adopted and counted. Requires protocol version 3.
   */
  generations?: boolean;
  logger?: ClientLogger;
  /**
   * Elected with an empty WAL log below a term start that voters hold: fetch [timeline start, term
   * start) from the donor over START_REPLICATION (src/client/recovery.ts) instead of failing.
   * Default false.
   */
  donorRecovery?: boolean;
  /** Seams (default: TCP, the system clock, crypto randomness); the simulation passes its own. */
  connect?: Connect;
  clock?: Clock;
  randomBytes?: RandomBytes;
}

export type SafekeeperState = 'offline' | 'connecting' | 'handshake' | 'voting' | 'wait_verdict' | 'idle' | 'active';

export interface SafekeeperInfo {
  index: number;
  address: string;
  state: SafekeeperState;
  /** From its AcceptorGreeting, once greeted. */
  nodeId: bigint | undefined;
  /** Last AppendResponse values in this process (kept across reconnects; 0 if never heard). */
  flushLsn: Lsn;
  commitLsn: Lsn;
  /** Where streaming on the current connection began / has reached (0 when not active). */
  startStreamingAt: Lsn;
  streamingAt: Lsn;
}

export interface ElectionInfo {
  term: Term;
  epochStartLsn: Lsn;
  truncateLsn: Lsn;
  timelineStartLsn: Lsn;
  termHistory: TermHistory;
  donor: string;
}

export interface ProposerEvents {
  /** commit_lsn rose. */
  commit: (lsn: Lsn) => void;
  /** The proposer is dead (higher term, refused vote, lost majority, …). */
  error: (err: Error) => void;
  /** A safekeeper slot changed state. */
  state: (sk: SafekeeperInfo, previous: SafekeeperState) => void;
  elected: (info: ElectionInfo) => void;
  /** A VoteResponse arrived (given or refused). */
  vote: (sk: SafekeeperInfo, vote: VoteResponse) => void;
  /** An AppendResponse arrived. */
  response: (sk: SafekeeperInfo, response: AppendResponse) => void;
  /** A connection to a safekeeper failed or was refused; the proposer reconnects, as the walproposer does. */
  disconnected: (sk: SafekeeperInfo, err: ConnectionError | ServerError) => void;
}

class Slot {
  state: SafekeeperState = 'offline';
  /** Bumped whenever a connection ends, so callbacks of an old connection do nothing. */
  gen = 0;
  conn: PgConnection | undefined;
  nodeId: bigint | undefined;
  vote: VoteResponse | undefined;
  flushLsn: Lsn = 0n;
  commitLsn: Lsn = 0n;
  startStreamingAt: Lsn = 0n;
  streamingAt: Lsn = 0n;
  /** Highest flush reported on this connection (window accounting). */
  ackedLsn: Lsn = 0n;
  latestMsgAt = 0;
  pumping = false;
  /** A broadcast asked for at least one AppendRequest, empty if nothing is new. */
  wantSend = false;
  sentSinceTick = false;

  constructor(
    readonly index: number,
    readonly host: string,
    readonly port: number,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: TimerHandle | undefined;
}

const NOOP_LOGGER: ClientLogger = { debug() {}, info() {}, warn() {}, error() {} };
const EMPTY = Buffer.alloc(0);
/**
 * AppendRequests written to a socket in one go. Small messages then cost one
 * syscall per batch instead of one each (the C walproposer leaves such
 * coalescing to libpq's output buffer); large ones are views of the log, so a
 * batch costs no copying.
 */
const SEND_BATCH_BYTES = 1024 * 1024;
/** CopyData header + AppendRequest header, for the batch budget. */
const APPEND_REQUEST_WIRE_OVERHEAD = COPY_DATA_HEADER_SIZE + APPEND_REQUEST_HEADER_SIZE;
/**
 * Default sent-but-unflushed window: one segment. A busy safekeeper answers
 * only at segment ends and once a second (it flushes when its queue drains),
 * so with this window the stream pauses briefly at each segment end until that
 * reply arrives (seen in response traces); a larger window removes the pause
 * but lets a slow safekeeper fall further behind the quorum, which the
 * three-node SIGKILL test's "restarted behind" bound is sensitive to, and no
 * throughput gain was measurable on the shared bench machine. The C
 * walproposer has no window, only socket backpressure (which applies here too).
 */
const DEFAULT_MAX_INFLIGHT_BYTES = 16 * 1024 * 1024;

function parseAddress(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  if (i <= 0) throw new Error(`safekeeper address '${text}': port is not specified`);
  const port = Number(text.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`safekeeper address '${text}': invalid port`);
  let host = text.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

export class Proposer {
  readonly quorum: number;
  readonly proposerId: string;
  private readonly slots: Slot[];
  private readonly wal: MemoryWalLog;
  private readonly log: ClientLogger;
  private readonly emitter: Emitter<ProposerEvents> = createNanoEvents<ProposerEvents>();
  private readonly R: number;
  private readonly C: number;
  private readonly maxInflight: bigint;
  private readonly maxSend: bigint;

  private term: Term = 0n;
  private nConnected = 0;
  private nVotes = 0;
  private elected = false;
  private epochStart: Lsn = 0n;
  private history: TermHistory = [];
  private timelineStart: Lsn = 0n;
  private commit: Lsn = 0n;
  private truncate: Lsn = 0n;
  private available: Lsn = 0n;

  /** Our membership configuration: empty until an AcceptorGreeting brings a higher one. */
  private mconf: MembershipConfiguration = emptyMconf();
  /** VoteRequests went out: a higher configuration can no longer be adopted in this run. */
  private votingStarted = false;

  private started = false;
  private stopped = false;
  private failure: Error | undefined;
  private ticker: TimerHandle | undefined;
  private readonly clock: Clock;
  /** Fetching WAL from the donor after winning the vote (donorRecovery). */
  private recovering = false;
  private recoveredTo: Lsn | undefined;
  private electionWaiter: { resolve: (i: ElectionInfo) => void; reject: (e: Error) => void } | undefined;
  private waiters = new Set<Waiter>();

  constructor(private readonly opts: ProposerOptions) {
    const n = opts.safekeepers.length;
    if (n < 1 || n > 31) throw new Error(`a proposer needs 1..31 safekeepers, got ${n}`);
    this.slots = opts.safekeepers.map((s, i) => {
      const { host, port } = parseAddress(s);
      return new Slot(i, host, port);
    });
    this.quorum = quorumSize(n);
    this.clock = opts.clock ?? systemClock;
    this.proposerId = opts.proposerId ?? (opts.randomBytes ?? cryptoRandomBytes)(16).toString('hex');
    this.wal = opts.wal;
    this.log = opts.logger ?? NOOP_LOGGER;
    this.R = opts.reconnectIntervalMs ?? 1000;
    this.C = opts.connectionTimeoutMs ?? 10_000;
    this.maxInflight = BigInt(opts.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES);
    const maxSend = opts.maxSendSize ?? MAX_SEND_SIZE;
    if (maxSend < 1 || maxSend > MAX_SEND_SIZE) throw new RangeError(`maxSendSize must be 1..${MAX_SEND_SIZE}, got ${maxSend}`);
    this.maxSend = BigInt(maxSend);
    if (opts.generations && opts.protocolVersion !== 3) throw new Error('enabling generations requires protocol version 3');
  }

  private get v3(): boolean {
    return this.opts.protocolVersion === 3;
  }

  /** Count members of the configuration rather than connections (protocol-v3.md §5). */
  private get countsMembers(): boolean {
    return this.opts.generations === true || this.mconf.generation !== INVALID_GENERATION;
  }

  /** The configuration this proposer counts by (empty: legacy counting). */
  get membership(): MembershipConfiguration {
    return cloneMconf(this.mconf);
  }

  // ---- observation ----

  get propTerm(): Term {
    return this.term;
  }
  get epochStartLsn(): Lsn {
    return this.epochStart;
  }
  get commitLsn(): Lsn {
    return this.commit;
  }
  get truncateLsn(): Lsn {
    return this.truncate;
  }
  get availableLsn(): Lsn {
    return this.available;
  }
  get timelineStartLsn(): Lsn {
    return this.timelineStart;
  }
  get termHistory(): TermHistory {
    return this.history.map((e) => ({ ...e }));
  }
  get isElected(): boolean {
    return this.elected;
  }
  /** Why the proposer died, if it did. */
  get error(): Error | undefined {
    return this.failure;
  }
  get safekeepers(): SafekeeperInfo[] {
    return this.slots.map((s) => this.info(s));
  }

  on<E extends keyof ProposerEvents>(event: E, cb: ProposerEvents[E]): () => void {
    return this.emitter.on(event, cb);
  }

  // ---- lifecycle ----

  /** Connects to every safekeeper and resolves once elected; rejects (and stops) on any fatal outcome. */
  start(): Promise<ElectionInfo> {
    if (this.started) return Promise.reject(new Error('Proposer.start() called twice'));
    this.started = true;
    const elected = new Promise<ElectionInfo>((resolve, reject) => {
      this.electionWaiter = { resolve, reject };
    });
    this.ticker = this.clock.setInterval(() => this.tick(), this.R);
    for (const s of this.slots) void this.runSlot(s);
    return elected;
  }

  /** Closes every connection (Terminate) and rejects pending waits. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.halt(this.failure ?? new Error('proposer stopped'));
    await Promise.all(
      this.slots.map((s) => {
        const conn = s.conn;
        this.shutdown(s, undefined);
        return conn?.close().catch(() => undefined);
      }),
    );
  }

  // ---- WAL input ----

  /**
   * Appends WAL at the log's end and streams it once elected. A WalChunk's
   * beginLsn must equal the log's end. Returns the new end of WAL.
   */
  appendWal(wal: Buffer | WalChunk): Lsn {
    if (this.failure) throw this.failure;
    if (this.stopped) throw new Error('proposer stopped');
    const end = Buffer.isBuffer(wal) ? this.wal.append(wal) : this.wal.appendChunk(wal);
    if (this.elected && end > this.available) {
      this.available = end;
      for (const s of this.slots) if (s.state === 'active') this.pump(s);
    }
    return end;
  }

  // ---- waiting ----

  /** Resolves once commit_lsn ≥ lsn. */
  waitForCommit(lsn: Lsn, timeoutMs = 30_000): Promise<void> {
    return this.waitFor(() => this.commit >= lsn, timeoutMs, () => `commit_lsn ${formatLsn(lsn)} (at ${formatLsn(this.commit)})`);
  }

  /** Resolves once every safekeeper ('all') or a quorum of them reported flush_lsn ≥ lsn. */
  waitForFlush(lsn: Lsn, mode: 'all' | 'quorum' = 'all', timeoutMs = 30_000): Promise<void> {
    const need = mode === 'all' ? this.slots.length : this.quorum;
    return this.waitFor(
      () => this.slots.filter((s) => s.flushLsn >= lsn).length >= need,
      timeoutMs,
      () => `flush_lsn ${formatLsn(lsn)} on ${mode} safekeepers (at ${this.slots.map((s) => formatLsn(s.flushLsn)).join(', ')})`,
    );
  }

  /** Resolves once elected. */
  waitForElection(timeoutMs = 30_000): Promise<void> {
    return this.waitFor(() => this.elected, timeoutMs, () => 'election');
  }

  private waitFor(ready: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    if (ready()) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    if (this.stopped) return Promise.reject(new Error('proposer stopped'));
    return new Promise((resolve, reject) => {
      const w: Waiter = { ready, resolve, reject, timer: undefined };
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        w.timer = this.clock.setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
        }, timeoutMs);
      }
      this.waiters.add(w);
    });
  }

  private checkWaiters(): void {
    for (const w of this.waiters) {
      if (w.ready()) {
        this.waiters.delete(w);
        if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  // ---- connections ----

  private async runSlot(slot: Slot): Promise<void> {
    const gen = ++slot.gen;
    this.setState(slot, 'connecting');
    slot.latestMsgAt = this.clock.now();
    try {
      const conn = await PgConnection.connect({
        host: slot.host,
        port: slot.port,
        tenantId: this.opts.tenantId,
        timelineId: this.opts.timelineId,
        user: this.opts.user,
        applicationName: this.opts.applicationName,
        password: this.opts.password,
        sslRequest: this.opts.sslRequest,
        connectTimeoutMs: this.C,
        connect: this.opts.connect,
        clock: this.clock,
      });
      if (gen !== slot.gen || this.stopped) {
        conn.destroy();
        return;
      }
      slot.conn = conn;
      slot.latestMsgAt = this.clock.now();
      await conn.startWalPush(this.v3 ? { protoVersion: 3, allowTimelineCreation: !this.opts.generations } : {});
      if (gen !== slot.gen) return;
      this.setState(slot, 'handshake');
      this.sendTo(slot, {
        kind: 'ProposerGreeting',
        mconf: emptyMconf(),
        protocolVersion: this.v3 ? 3 : 2,
        pgVersion: this.opts.pgVersion ?? 150002,
        proposerId: this.proposerId,
        systemId: this.opts.systemId,
        tenantId: this.opts.tenantId,
        timelineId: this.opts.timelineId,
        tli: this.opts.pgTimeline ?? 1,
        walSegSize: this.opts.walSegSize ?? 16 * 1024 * 1024,
      });
      for (;;) {
        const m = await conn.next();
        if (gen !== slot.gen || this.stopped) return;
        this.onMessage(slot, m);
      }
    } catch (e) {
      if (gen !== slot.gen || this.stopped) return;
      this.onConnectionFailure(slot, e as Error);
    }
  }

  private onConnectionFailure(slot: Slot, err: Error): void {
    if (err instanceof ProtocolError) {
      // The C parser ERRORs on a malformed acceptor message, which ends the walproposer.
      this.fatal('protocol', `malformed message from safekeeper ${slot.address}: ${err.message}`);
      return;
    }
    if (!(err instanceof ConnectionError || err instanceof ServerError)) {
      // Not the network or the safekeeper: a bug here; hiding it behind reconnects would only confuse.
      this.fatal('internal', `proposer failed handling safekeeper ${slot.address}: ${err.stack ?? err.message}`);
      return;
    }
    const quiet = err instanceof ConnectionError && err.kind === 'connect';
    const level = quiet ? 'debug' : 'warn';
    this.log[level]({ sk: slot.address, state: slot.state, error: err.message }, `connection to safekeeper ${slot.address} failed`);
    this.emitter.emit('disconnected', this.info(slot), err);
    // Readable while voting/idle means EOF: the C code resets (reconnects) at once.
    const reconnectNow = (slot.state === 'voting' || slot.state === 'idle') && !(err instanceof ServerError);
    this.shutdown(slot, err);
    if (reconnectNow) void this.runSlot(slot);
  }

  /** ShutdownConnection: drop the socket, forget the vote and the stream position, keep the last AppendResponse. */
  private shutdown(slot: Slot, reason: Error | undefined): void {
    slot.gen++;
    const conn = slot.conn;
    slot.conn = undefined;
    if (conn && reason !== undefined) conn.destroy();
    slot.vote = undefined;
    slot.streamingAt = 0n;
    slot.startStreamingAt = 0n;
    slot.ackedLsn = 0n;
    slot.pumping = false;
    slot.wantSend = false;
    this.setState(slot, 'offline');
  }

  private reset(slot: Slot, why: string): void {
    this.log.warn({ sk: slot.address, state: slot.state }, why);
    this.shutdown(slot, new Error(why));
    void this.runSlot(slot);
  }

  private sendTo(slot: Slot, msg: Parameters<PgConnection['send']>[0]): Promise<void> {
    const conn = slot.conn;
    const gen = slot.gen;
    if (!conn) return Promise.resolve();
    return conn.send(msg).catch((e: Error) => {
      if (gen === slot.gen && !this.stopped) this.onConnectionFailure(slot, e);
    });
  }

  // ---- messages ----

  private onMessage(slot: Slot, m: AcceptorMessage): void {
    const expected: Partial<Record<SafekeeperState, AcceptorMessage['kind']>> = {
      handshake: 'AcceptorGreeting',
      wait_verdict: 'VoteResponse',
      active: 'AppendResponse',
    };
    const want = expected[slot.state];
    if (want === undefined) {
      this.reset(slot, `unexpected ${m.kind} from safekeeper ${slot.address} in ${slot.state} state`);
      return;
    }
    if (m.kind !== want) {
      this.reset(slot, `unexpected message tag: ${m.kind} from safekeeper ${slot.address}, expected ${want}`);
      return;
    }
    slot.latestMsgAt = this.clock.now();
    if (m.kind === 'AcceptorGreeting') this.onGreeting(slot, m);
    else if (m.kind === 'VoteResponse') this.onVote(slot, m);
    else this.onAppendResponse(slot, m);
  }

  private onGreeting(slot: Slot, g: AcceptorGreeting): void {
    if (this.v3 && g.mconf.generation > this.mconf.generation && !this.adoptMconf(slot, g.mconf)) return;
    slot.nodeId = g.nodeId;
    this.nConnected++;
    if (this.countsMembers) {
      this.onGreetingCountingMembers(slot, g);
      return;
    }
    if (this.nConnected <= this.quorum) {
      if (g.term > this.term) this.term = g.term;
      if (this.nConnected === this.quorum) {
        this.term += 1n;
        this.log.info({ term: String(this.term) }, `proposer connected to quorum (${this.quorum}) safekeepers, propTerm=${this.term}`);
      }
    } else if (g.term > this.term) {
      this.fatal('higher-term', `WAL acceptor ${slot.address} with term ${g.term} rejects our connection request with term ${this.term}`);
      return;
    }
    this.setState(slot, 'voting');
    if (this.nConnected >= this.quorum) {
      this.votingStarted = true;
      this.requestVotes();
    }
  }

  /** A higher configuration from a safekeeper: adopted before voting, a fatal restart after. */
  private adoptMconf(slot: Slot, m: MembershipConfiguration): boolean {
    if (this.votingStarted) {
      this.fatal('membership', `restarting to adopt mconf generation ${m.generation}`);
      return false;
    }
    if (m.members.length === 0) {
      this.fatal('membership', `mconf ${m.generation} has zero members`);
      return false;
    }
    if (m.members.length > 32 || (m.newMembers?.length ?? 0) > 32) {
      const joint = m.members.length <= 32;
      this.fatal('membership', `too many ${joint ? 'new_members' : 'members'} ${joint ? m.newMembers!.length : m.members.length} in mconf`);
      return false;
    }
    this.log.info({ sk: slot.address, generation: m.generation }, `adopting mconf ${formatMconf(m)} from safekeeper ${slot.address}`);
    this.mconf = cloneMconf(m);
    return true;
  }

  /** Greeting while counting configuration members: vote once the greeted cover a majority of each set. */
  private onGreetingCountingMembers(slot: Slot, g: AcceptorGreeting): void {
    if (g.nodeId === 0n) this.log.warn({ sk: slot.address }, `safekeeper ${slot.address} greeted with node id 0; it is not counted`);
    if (!this.votingStarted) {
      if (g.term > this.term) this.term = g.term;
    } else if (g.term > this.term) {
      this.fatal('higher-term', `WAL acceptor ${slot.address} with term ${g.term} rejects our connection request with term ${this.term}`);
      return;
    }
    this.setState(slot, 'voting');
    if (!this.votingStarted && this.mconf.generation !== INVALID_GENERATION) {
      const greeted = this.nodeIdsOf((s) => s.state === 'voting');
      if (coversMconfQuorum(this.mconf, greeted)) {
        this.votingStarted = true;
        this.term += 1n;
        this.log.info({ term: String(this.term) }, `proposer connected to a quorum of mconf ${formatMconf(this.mconf)}, propTerm=${this.term}`);
      }
    }
    if (this.votingStarted) this.requestVotes();
  }

  private requestVotes(): void {
    for (const s of this.slots) {
      if (s.state !== 'voting') continue;
      this.setState(s, 'wait_verdict');
      void this.sendTo(s, { kind: 'VoteRequest', generation: this.mconf.generation, term: this.term, proposerId: this.proposerId });
    }
  }

  /** Node ids (from AcceptorGreeting) of the slots matching `pred`; 0 is never counted. */
  private nodeIdsOf(pred: (s: Slot) => boolean): Set<bigint> {
    const ids = new Set<bigint>();
    for (const s of this.slots) if (pred(s) && s.nodeId !== undefined && s.nodeId !== 0n) ids.add(s.nodeId);
    return ids;
  }

  private onVote(slot: Slot, v: VoteResponse): void {
    this.log.info(
      {
        sk: slot.address,
        voteGiven: v.voteGiven,
        term: String(v.term),
        flushLsn: formatLsn(v.flushLsn),
        truncateLsn: formatLsn(v.truncateLsn),
        timelineStartLsn: formatLsn(v.timelineStartLsn),
      },
      `got VoteResponse from acceptor ${slot.address}`,
    );
    this.emitter.emit('vote', this.info(slot), v);
    if (!v.voteGiven && (v.term > this.term || (this.countsMembers ? !this.elected : this.nVotes < this.quorum))) {
      this.fatal('vote-refused', `WAL acceptor ${slot.address} with term ${v.term} rejects our connection request with term ${this.term}`);
      return;
    }
    slot.vote = v;
    this.nVotes++;
    if (this.countsMembers) {
      if (this.elected) {
        this.sendElected(slot);
        return;
      }
      this.setState(slot, 'idle');
      if (coversMconfQuorum(this.mconf, this.nodeIdsOf((s) => s.state === 'idle'))) this.elect();
      return;
    }
    if (this.nVotes < this.quorum) {
      this.setState(slot, 'idle');
    } else if (this.nVotes === this.quorum) {
      this.setState(slot, 'idle');
      this.elect();
    } else if (this.elected) {
      this.sendElected(slot);
    } else {
      this.setState(slot, 'idle'); // recovering from the donor: elected messages go out after it
    }
  }

  /** DetermineEpochStartLsn + ProposerElected to every voter (proposer.md §2.3, §2.4). */
  private elect(): void {
    if (this.recovering) return;
    const idle = this.slots.filter((s) => s.state === 'idle');
    // Counting members, only the configuration's members choose the donor; every voter streams.
    const inMconf = (s: Slot) =>
      s.nodeId !== undefined && [...this.mconf.members, ...(this.mconf.newMembers ?? [])].some((m) => m.id === s.nodeId);
    const voters = this.countsMembers ? idle.filter(inMconf) : idle;
    if (this.countsMembers ? !coversMconfQuorum(this.mconf, this.nodeIdsOf((s) => voters.includes(s))) : voters.length < this.quorum) {
      this.fatal('missing-majority', `missing majority of votes, collected ${this.nVotes}, expected ${this.quorum}, got ${voters.length}`);
      return;
    }
    const d = determineEpochStart(
      voters.map((s) => s.vote!),
      this.term,
      this.opts.basebackupLsn ?? this.wal.start,
    );
    if (d.inconsistentTimelineStart) this.log.warn({}, 'inconsistent timelineStartLsn among voters');
    const E = d.epochStartLsn;
    if (this.recoveredTo !== undefined && this.recoveredTo !== E) {
      this.fatal('wal-unavailable', `voters changed during donor recovery: term start ${formatLsn(E)}, recovered up to ${formatLsn(this.recoveredTo)}`);
      return;
    }
    if (this.wal.start === this.wal.end && this.wal.start !== E) {
      // Where the WAL begins: v2 votes carry timeline_start_lsn; v3 ones do not, the history's first entry says it.
      const from = d.timelineStartLsn !== 0n ? d.timelineStartLsn : (d.termHistory[0]?.lsn ?? 0n);
      if (this.opts.donorRecovery && from !== 0n && from < E) {
        this.recoverFrom(voters[d.donor]!, from, E);
        return;
      }
      this.wal.rebase(E);
    }
    if (E < this.wal.start || E > this.wal.end) {
      this.fatal(
        'wal-unavailable',
        `elected with epochStartLsn ${formatLsn(E)}, but the WAL log holds ${formatLsn(this.wal.start)}..${formatLsn(this.wal.end)}; ` +
          'fetching WAL from a donor safekeeper is not implemented',
      );
      return;
    }
    this.epochStart = E;
    this.truncate = d.truncateLsn;
    this.timelineStart = d.timelineStartLsn;
    this.history = d.termHistory;
    this.available = this.wal.end;
    this.elected = true;
    const donor = voters[d.donor]!.address;
    this.log.info(
      { term: String(this.term), epochStartLsn: formatLsn(E), donor, truncateLsn: formatLsn(d.truncateLsn) },
      `got votes from majority (${this.quorum}) of nodes, term ${this.term}, epochStartLsn ${formatLsn(E)}, donor ${donor}, truncate_lsn ${formatLsn(d.truncateLsn)}`,
    );
    const info: ElectionInfo = {
      term: this.term,
      epochStartLsn: E,
      truncateLsn: d.truncateLsn,
      timelineStartLsn: d.timelineStartLsn,
      termHistory: this.termHistory,
      donor,
    };
    this.emitter.emit('elected', info);
    for (const s of idle) this.sendElected(s);
    const w = this.electionWaiter;
    this.electionWaiter = undefined;
    w?.resolve(info);
    this.checkWaiters();
  }

  /** Fetches [from, to) from the donor, then elects again with the same votes (elect() re-checks them). */
  private recoverFrom(donor: Slot, from: Lsn, to: Lsn): void {
    this.recovering = true;
    this.log.info({ donor: donor.address, from: formatLsn(from), to: formatLsn(to) }, `fetching WAL from donor ${donor.address}`);
    fetchWalFromDonor(
      {
        host: donor.host,
        port: donor.port,
        tenantId: this.opts.tenantId,
        timelineId: this.opts.timelineId,
        user: this.opts.user,
        applicationName: this.opts.applicationName,
        password: this.opts.password,
        connectTimeoutMs: this.C,
        connect: this.opts.connect,
        clock: this.clock,
      },
      from,
      to,
      this.term,
    ).then(
      (bytes) => {
        this.recovering = false;
        if (this.stopped || this.failure) return;
        this.wal.rebase(from);
        this.wal.append(bytes, from);
        this.recoveredTo = to;
        this.elect();
      },
      (err: Error) => {
        this.recovering = false;
        this.fatal('wal-unavailable', `fetching WAL ${formatLsn(from)}..${formatLsn(to)} from donor ${donor.address} failed: ${err.message}`);
      },
    );
  }

  private sendElected(slot: Slot): void {
    const v = slot.vote!;
    let start: Lsn;
    try {
      start = startStreamingAt(this.history, this.term, v.termHistory, v.flushLsn);
    } catch (e) {
      this.fatal('internal', `safekeeper ${slot.address}: ${(e as Error).message}`);
      return;
    }
    if (start > this.available || start < this.wal.start) {
      const why =
        start > this.available
          ? `start point ${formatLsn(start)} for safekeeper ${slot.address} is past the available WAL ${formatLsn(this.available)}`
          : `safekeeper ${slot.address} needs WAL from ${formatLsn(start)}, but the WAL log starts at ${formatLsn(this.wal.start)} (donor fetch is not implemented)`;
      this.log.error({ sk: slot.address }, why);
      this.shutdown(slot, new Error(why));
      return;
    }
    this.log.info(
      { sk: slot.address, term: String(this.term), startStreamingAt: formatLsn(start) },
      `sending elected msg to node ${slot.nodeId ?? '?'} term=${this.term}, startStreamingAt=${formatLsn(start)}`,
    );
    void this.sendTo(slot, {
      kind: 'ProposerElected',
      generation: this.mconf.generation,
      term: this.term,
      startStreamingAt: start,
      termHistory: this.history,
      timelineStartLsn: this.timelineStart,
    });
    slot.startStreamingAt = start;
    slot.streamingAt = start;
    slot.ackedLsn = start;
    slot.wantSend = true;
    this.setState(slot, 'active');
    this.pump(slot);
  }

  private onAppendResponse(slot: Slot, r: AppendResponse): void {
    if (this.v3 && r.generation !== this.mconf.generation) {
      this.fatal('membership', `safekeeper ${slot.address} sent response with generation ${r.generation}, expected ${this.mconf.generation}`);
      return;
    }
    if (r.term > this.term) {
      this.fatal(
        'higher-term',
        `WAL acceptor ${slot.address} with term ${r.term} rejected our request, our term ${this.term}, ` +
          'meaning another compute is running at the same time, and it conflicts with us',
      );
      return;
    }
    slot.flushLsn = r.flushLsn;
    slot.commitLsn = r.commitLsn;
    if (r.flushLsn > slot.ackedLsn) slot.ackedLsn = r.flushLsn;
    const flushes = this.slots.map((s) => s.flushLsn);
    const c = this.countsMembers
      ? mconfCommitLsn(this.mconf, new Map(this.slots.filter((s) => s.nodeId !== undefined).map((s) => [s.nodeId!, s.flushLsn])), this.epochStart)
      : quorumCommitLsn(flushes, this.epochStart, this.quorum);
    if (c > this.commit) {
      this.commit = c;
      this.broadcast();
      this.emitter.emit('commit', c);
    }
    // After the broadcast, as in the C code: the message carrying a new commit carries the previous truncate.
    this.truncate = nextTruncateLsn(this.truncate, flushes, this.commit);
    if (this.opts.releaseWal) this.wal.releaseBefore(this.truncate);
    this.emitter.emit('response', this.info(slot), r);
    this.checkWaiters();
    this.pump(slot); // the window may have opened
  }

  // ---- streaming ----

  /** At least one AppendRequest to every active safekeeper (an empty one if it is caught up). */
  private broadcast(): void {
    for (const s of this.slots) {
      if (s.state !== 'active') continue;
      s.wantSend = true;
      this.pump(s);
    }
  }

  /** Starts the send loop of a slot unless it is running; it stops when caught up or the window is full. */
  private pump(slot: Slot): void {
    if (slot.pumping || slot.state !== 'active' || this.stopped) return;
    slot.pumping = true;
    const gen = slot.gen;
    void this.pumpLoop(slot, gen).finally(() => {
      if (slot.gen === gen) slot.pumping = false;
    });
  }

  private async pumpLoop(slot: Slot, gen: number): Promise<void> {
    const conn = slot.conn!;
    try {
      while (slot.gen === gen && slot.state === 'active' && !this.stopped) {
        // Cut as many AppendRequests as fit in one socket write, then wait for the socket.
        const batch: AppendRequest[] = [];
        let bytes = 0;
        while (bytes < SEND_BATCH_BYTES) {
          const begin = slot.streamingAt;
          const hasData = begin < this.available;
          const windowOpen = begin - slot.ackedLsn < this.maxInflight;
          if (!slot.wantSend && !(hasData && windowOpen)) break;
          slot.wantSend = false;
          let end = begin;
          if (hasData && windowOpen) {
            end = begin + this.maxSend;
            if (end > this.available) end = this.available;
          }
          const wal = end > begin ? this.wal.read(begin, end) : EMPTY;
          batch.push({
            kind: 'AppendRequest',
            generation: this.mconf.generation,
            term: this.term,
            termStartLsn: this.epochStart,
            beginLsn: begin,
            endLsn: end,
            commitLsn: this.commit,
            truncateLsn: this.truncate,
            proposerUuid: this.proposerId,
            wal,
          });
          bytes += APPEND_REQUEST_WIRE_OVERHEAD + wal.length;
          slot.streamingAt = end;
          slot.sentSinceTick = true;
        }
        if (batch.length === 0) return;
        await conn.sendBatch(batch);
      }
    } catch (e) {
      if (slot.gen !== gen || this.stopped) return;
      if (e instanceof RangeError) {
        // As in C: a WAL read error shuts this connection down; it is retried on the next tick.
        const why = `WAL reading for node ${slot.address} failed: ${e.message}`;
        this.log.error({ sk: slot.address }, why);
        this.shutdown(slot, new Error(why));
        return;
      }
      this.onConnectionFailure(slot, e as Error);
    }
  }

  // ---- timers ----

  /** Every R: reconnect offline slots, heartbeat idle streams, drop silent connections (proposer.md §1.3). */
  private tick(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    for (const s of this.slots) if (s.state === 'offline') void this.runSlot(s);
    if (this.elected) {
      for (const s of this.slots) {
        if (s.state !== 'active') continue;
        if (!s.sentSinceTick) {
          s.wantSend = true;
          this.pump(s);
        }
        s.sentSinceTick = false;
      }
    }
    for (const s of this.slots) {
      if (s.state === 'offline' || now - s.latestMsgAt <= this.C) continue;
      const why =
        `terminating connection to safekeeper ${s.address} in ${s.state} state: no messages received during the last ` +
        `${now - s.latestMsgAt}ms or connection attempt took longer than that`;
      this.log.warn({ sk: s.address }, why);
      this.shutdown(s, new ConnectionError('timeout', why));
    }
  }

  // ---- bookkeeping ----

  private setState(slot: Slot, state: SafekeeperState): void {
    const prev = slot.state;
    if (prev === state) return;
    slot.state = state;
    this.emitter.emit('state', this.info(slot), prev);
  }

  private info(s: Slot): SafekeeperInfo {
    return {
      index: s.index,
      address: s.address,
      state: s.state,
      nodeId: s.nodeId,
      flushLsn: s.flushLsn,
      commitLsn: s.commitLsn,
      startStreamingAt: s.startStreamingAt,
      streamingAt: s.streamingAt,
    };
  }

  private fatal(reason: FatalReason, message: string): void {
    if (this.failure || this.stopped) return;
    const err = new ProposerFatalError(reason, message);
    this.failure = err;
    this.log.error({ reason }, message);
    this.emitter.emit('error', err);
    void this.stop();
  }

  /** Stops timers and rejects everything still waiting. */
  private halt(err: Error): void {
    if (this.ticker !== undefined) this.clock.clearInterval(this.ticker);
    this.ticker = undefined;
    const w = this.electionWaiter;
    this.electionWaiter = undefined;
    w?.reject(err);
    for (const x of this.waiters) {
      if (x.timer !== undefined) this.clock.clearTimeout(x.timer);
      x.reject(err);
    }
    this.waiters.clear();
  }
}
