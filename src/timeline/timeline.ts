// A Timeline is one (tenant, timeline): its acceptor state, its WAL and
// control stores, its walreceiver registry, and a serial executor through
// which every message for it passes (whichever connection brought it).

import type { ActorRefFrom } from 'xstate';
import type { RegistryMachine } from '../../machines/registry.js';
import { Acceptor } from '../acceptor/index.js';
import type { Logger } from '../log.js';
import { formatLsn, segmentOf } from '../lsn.js';
import type { SafekeeperMetrics, TimelineMetricsSnapshot } from '../metrics.js';
import { ttidString, type Ttid } from '../ids.js';
import { DiskControlStore } from '../storage/control-store.js';
import { DiskWalStore, type WalStorageOperation, type WalStoreObserver } from '../storage/wal-store.js';
import type { ServerInfo } from '../storage/interfaces.js';
import type { WritevAt } from '../storage/segment-file.js';
import { nodeFs, type StorageFs } from '../storage/fs.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { RandomBytes } from '../random.js';
import { SerialExecutor } from './serial-executor.js';
import { failpoint } from '../failpoints.js';
import { WalReceivers } from './wal-receivers.js';
import { WalSenders } from './wal-senders.js';
import { createNanoEvents } from 'nanoevents';
import type { MconfView } from '../../machines/registry.js';
import { lastLogTerm as lastLogTermAt } from '../acceptor/term-history.js';
import type { MembershipConfiguration } from '../protocol/membership.js';
import type { Lsn, Term } from '../lsn.js';

export interface MembershipSwitchReply {
  previous: MembershipConfiguration;
  current: MembershipConfiguration;
  lastLogTerm: Term;
  flushLsn: Lsn;
}

/** A configuration as the inspector shows it (no bigints in actor context). */
export function mconfView(m: MembershipConfiguration): MconfView {
  const ids = (set: MembershipConfiguration['members']) => set.map((x) => `${x.id}@${x.host}:${x.pgPort}`);
  return { generation: m.generation, members: ids(m.members), newMembers: m.newMembers === null ? null : ids(m.newMembers) };
}

/** What every timeline of a process shares. */
export interface TimelineEnv {
  datadir: string;
  nodeId: bigint;
  noSync: boolean;
  logger: Logger;
  metrics: SafekeeperMetrics | null;
  controlFileSaveIntervalMs: number;
  /** The file system timelines live on; default the real one. */
  fs?: StorageFs;
  /** Wall clock and timers; default the system's. */
  clock?: Clock;
  /** Temp-name randomness; default crypto. */
  randomBytes?: RandomBytes;
  /** Test-only seam: the writev a timeline's WAL store uses (default the file's writev). */
  walWritevFor?: (ttid: Ttid) => WritevAt | undefined;
  /** Spawns the timeline's registry actor in the process's actor system. */
  spawnRegistry(ttid: string): ActorRefFrom<RegistryMachine>;
  stopRegistry(ttid: string): void;
}

/** How often the lazy control-file save is considered (Neon's manager wakes on changes, ~300 ms). */
const MANAGER_TICK_MS = 500;

export class TimelineCancelledError extends Error {}

/** The timeline met an I/O error on its files: it serves nothing until the process restarts. */
export class TimelineFailedError extends Error {}

/** What the timeline status shows of a failure (`failure`, null while healthy). */
export interface TimelineFailure {
  /** The system call that failed (write, fsync, rename, open, …). */
  operation: string;
  /** errno name (EIO, ENOSPC, …). */
  code: string;
  message: string;
  /** Unix ms. */
  at: number;
}

/** A system error from a file operation (Node sets `code` and `syscall` on those), here or as a cause. */
function ioErrorOf(err: unknown): { code: string; syscall: string; message: string } | null {
  for (let e = err as { code?: unknown; syscall?: unknown; message?: unknown; cause?: unknown } | null, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && typeof e.syscall === 'string') return { code: e.code, syscall: e.syscall, message: String(e.message) };
    e = e.cause as typeof e;
  }
  return null;
}

/** A refusal of a membership change the HTTP layer maps to a status code (403, 409). */
export class MembershipError extends Error {
  constructor(readonly kind: 'forbidden' | 'conflict', message: string) {
    super(message);
  }
}

/**
 * A timeline's WAL I/O into the process metrics and its own totals. A class, not an object of
 * closures: the WAL store's hot path calls these methods, and V8 inlines a call site for one
 * target; with closures made per timeline, every new timeline's differ, so the optimized write
 * path was thrown away and compiled again at each stream's start (wp-bench's stream, after the
 * warm-up's two timelines).
 */
class WalIoObserver implements WalStoreObserver {
  timeline: Timeline | null = null;

  constructor(private readonly m: SafekeeperMetrics | null) {}

  write(bytes: number, seconds: number): void {
    this.m?.writeWalBytes.observe(bytes);
    this.m?.writeWalSeconds.observe(seconds);
    if (this.timeline) {
      this.timeline.writtenWalBytes += bytes;
      this.timeline.writtenWalSeconds += seconds;
    }
  }

  flush(seconds: number): void {
    this.m?.flushWalSeconds.observe(seconds);
    if (this.timeline) this.timeline.flushedWalSeconds += seconds;
  }

  operation(name: WalStorageOperation, seconds: number): void {
    this.m?.walStorageOperationSeconds.observe({ operation: name }, seconds);
  }
}

export class Timeline {
  readonly key: string;
  readonly walReceivers: WalReceivers;
  /** Replication clients reading this timeline's WAL. */
  readonly walSenders = new WalSenders();
  readonly logger: Logger;
  /** Senders wait on this instead of polling: told after any work that moved commit, flush or the terms. */
  private readonly positions = createNanoEvents<{ moved: () => void }>();
  // What the last position event told (three fields, so publishing allocates nothing per commit).
  private publishedCommit = -1n;
  private publishedFlush = -1n;
  private publishedState: unknown = null;
  private readonly executor = new SerialExecutor();
  private managerTimer: TimerHandle | null = null;
  private readonly clock: Clock;
  /** The file system its files live on (senders read WAL through it). */
  readonly fs: StorageFs;
  private cancelled = false;
  /**
   * Set by the first I/O error on the timeline's files. After a failed durable write nobody knows
   * what reached the disk (PostgreSQL's fsync lesson): nothing is retried as if it had worked and
   * nothing more is acknowledged; a restart reloads what is durable.
   */
  failure: TimelineFailure | null = null;
  // Since load, for the per-timeline gauges.
  writtenWalBytes = 0;
  writtenWalSeconds = 0;
  flushedWalSeconds = 0;

  private constructor(
    private readonly env: TimelineEnv,
    readonly ttid: Ttid,
    readonly dir: string,
    readonly control: DiskControlStore,
    readonly wal: DiskWalStore,
    readonly acceptor: Acceptor,
  ) {
    this.key = ttidString(ttid);
    this.logger = env.logger.child({ ttid: this.key });
    this.walReceivers = new WalReceivers(env.spawnRegistry(this.key), (d) => env.metrics?.walReceivers.inc(d));
    if (acceptor.generation !== 0) this.walReceivers.membershipSwitched(mconfView(acceptor.mconf));
    this.clock = env.clock ?? systemClock;
    this.fs = env.fs ?? nodeFs;
    this.managerTimer = this.clock.setInterval(() => void this.manage(), MANAGER_TICK_MS, true);
  }

  /** Opens a timeline directory: control file, then the end-of-WAL scan from its commit_lsn. */
  static async open(env: TimelineEnv, ttid: Ttid, dir: string): Promise<Timeline> {
    const m = env.metrics;
    const control = await DiskControlStore.load(dir, {
      noSync: env.noSync,
      fs: env.fs,
      observer: m ? { persisted: (s) => m.persistControlFileSeconds.observe(s) } : undefined,
    });
    const state = control.persisted;
    let self: Timeline | null = null;
    const walObserver = new WalIoObserver(m);
    const wal = await DiskWalStore.open({
      dir,
      walSegSize: state.server.walSegSize,
      pgVersion: state.server.pgVersion,
      systemId: state.server.systemId,
      startLsn: state.commitLsn,
      noSync: env.noSync,
      writevAt: env.walWritevFor?.(ttid),
      fs: env.fs,
      observer: walObserver,
    });
    const logger = env.logger.child({ ttid: ttidString(ttid) });
    const acceptor = new Acceptor({
      nodeId: env.nodeId,
      control,
      wal,
      logger,
      onMembershipSwitch: (_previous, current) => self?.walReceivers.membershipSwitched(mconfView(current)),
      failpoint,
      clock: env.clock ? () => env.clock!.now() : undefined,
    });
    self = new Timeline(env, ttid, dir, control, wal, acceptor);
    walObserver.timeline = self;
    logger.info(
      { flush_lsn: formatLsn(acceptor.flushLsn()), commit_lsn: formatLsn(acceptor.commitLsn), term: acceptor.term },
      'timeline loaded',
    );
    return self;
  }

  get serverInfo(): ServerInfo {
    return this.acceptor.serverInfo;
  }

  /** Runs `task` with exclusive access to this timeline's acceptor and stores. */
  run<T>(task: (acceptor: Acceptor) => Promise<T>): Promise<T> {
    if (this.cancelled) {
      return Promise.reject(new TimelineCancelledError(`Timeline ${this.key} was cancelled and cannot be used anymore`));
    }
    if (this.failure) return Promise.reject(this.failedError());
    return this.executor.run(async () => {
      if (this.cancelled) throw new TimelineCancelledError(`Timeline ${this.key} was cancelled and cannot be used anymore`);
      if (this.failure) throw this.failedError();
      try {
        return await task(this.acceptor);
      } catch (err) {
        const io = ioErrorOf(err);
        if (io) this.fail(io);
        throw err;
      } finally {
        this.publishPositions();
      }
    });
  }

  private fail(io: { code: string; syscall: string; message: string }): void {
    if (this.failure) return;
    this.failure = { operation: io.syscall, code: io.code, message: io.message, at: this.clock.now() };
    this.env.metrics?.ioErrors.inc({ operation: io.syscall });
    this.logger.error(
      { operation: io.syscall, code: io.code, err: io.message },
      'I/O error on the timeline files: the timeline stops serving until the safekeeper restarts',
    );
  }

  private failedError(): TimelineFailedError {
    const f = this.failure!;
    return new TimelineFailedError(
      `Timeline ${this.key} stopped after an I/O error (${f.code} in ${f.operation}: ${f.message}); it serves nothing until the safekeeper restarts`,
    );
  }

  /** Calls `listener` whenever commit_lsn, flush_lsn, the term or last_log_term moved; returns the unsubscribe. */
  onPositions(listener: () => void): () => void {
    return this.positions.on('moved', listener);
  }

  private publishPositions(): void {
    const a = this.acceptor;
    const commit = a.commitLsn;
    const flush = a.flushLsn();
    // Terms and history change only with a control-file write, which replaces `persisted`.
    const state = this.control.persisted;
    if (commit === this.publishedCommit && flush === this.publishedFlush && state === this.publishedState) return;
    this.publishedCommit = commit;
    this.publishedFlush = flush;
    this.publishedState = state;
    this.positions.emit('moved');
  }

  /** Neon's "active": a compute is connected, backup would be required, or the pageserver lags commit. */
  isActive(): boolean {
    const a = this.acceptor;
    const seg = a.walSegSize;
    return (
      this.walReceivers.numComputes() > 0 ||
      segmentOf(a.commitLsn, seg) > segmentOf(a.backupLsn, seg) ||
      a.remoteConsistentLsn < a.commitLsn
    );
  }

  /** The lazy control-file save of Neon's timeline manager (acceptor.md §6), off the ingest path. */
  private async manage(): Promise<void> {
    if (this.cancelled || !this.acceptor.hasUnpersistedInMemoryState() || this.executor.queued > 0) return;
    try {
      await this.run((a) => a.maybePersistLazily(this.clock.now(), { saveIntervalMs: this.env.controlFileSaveIntervalMs }));
    } catch (err) {
      if (!(err instanceof TimelineCancelledError)) this.logger.error({ err }, 'lazy control file save failed');
    }
  }

  /**
   * HTTP membership switch (the caller checked membership and the generation): the reply of
   * Neon's PUT …/membership, with the raw storage flush_lsn and the last log term against it.
   */
  membershipSwitch(mconf: MembershipConfiguration): Promise<MembershipSwitchReply> {
    return this.run(async (a) => {
      // Checked under the timeline's lock, so a greeting's switch cannot slip in between.
      if (mconf.generation < a.generation) {
        throw new MembershipError('conflict', `request to switch into ${mconf.generation} ignored, current generation ${a.generation}`);
      }
      const r = await a.membershipSwitch(mconf);
      const flushLsn = a.storageFlushLsn();
      return { previous: r.previous, current: r.current, lastLogTerm: lastLogTermAt(a.termHistory, flushLsn), flushLsn };
    });
  }

  /** Writes in-memory LSNs into the control file now (HTTP checkpoint, shutdown). */
  checkpoint(): Promise<void> {
    return this.run((a) => a.checkpoint());
  }

  metricsSnapshot(): TimelineMetricsSnapshot {
    const a = this.acceptor;
    return {
      tenantId: this.ttid.tenantId,
      timelineId: this.ttid.timelineId,
      active: this.isActive(),
      commitLsn: a.commitLsn,
      flushLsn: a.flushLsn(),
      epochStartLsn: a.termStartLsn,
      peerHorizonLsn: a.peerHorizonLsn,
      backupLsn: a.backupLsn,
      remoteConsistentLsn: a.remoteConsistentLsn,
      term: a.term,
      connectedComputes: this.walReceivers.numComputes(),
      psLastReceivedLsn: this.walSenders.lastPsFeedback.lastReceivedLsn,
      // replytime is µs since 2000-01-01; the gauge is Unix seconds.
      feedbackLastTimeSeconds: 946684800 + Number(this.walSenders.lastPsFeedback.replyTime) / 1e6,
      psFeedbackCount: this.walSenders.psFeedbackCount,
      writtenWalBytes: this.writtenWalBytes,
      writtenWalSeconds: this.writtenWalSeconds,
      flushedWalSeconds: this.flushedWalSeconds,
    };
  }

  /** Stops background work, flushes WAL and saves every in-memory LSN (graceful shutdown). */
  async shutdown(): Promise<void> {
    if (this.managerTimer) this.clock.clearInterval(this.managerTimer);
    this.managerTimer = null;
    if (this.cancelled) return;
    // A failed timeline has nothing it can make durable any more: only its files are closed.
    if (!this.failure) {
      await this.run(async (a) => {
        await this.wal.flush();
        await a.checkpoint();
      });
    }
    this.cancelled = true;
    await this.wal.close().catch((err: unknown) => {
      if (!this.failure) throw err;
    });
    this.env.stopRegistry(this.key);
  }

  /** Deletion: refuse every later message, stop background work, close files. */
  async cancel(): Promise<void> {
    if (this.managerTimer) this.clock.clearInterval(this.managerTimer);
    this.managerTimer = null;
    this.cancelled = true;
    await this.executor.idle();
    await this.wal.close();
    this.env.stopRegistry(this.key);
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }
}
