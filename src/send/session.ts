// Everything one START_REPLICATION connection owns outside its statechart: the socket, the
// bytes not yet parsed, the timeline, its slot among the timeline's senders, and where the
// stream is. The sender actor's children reach it by conn_id (machines/sender.ts); sockets and
// buffers never enter machine context or events.

import type { Conn } from '../transport.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Lsn, Term } from '../lsn.js';
import type { SafekeeperMetrics } from '../metrics.js';
import type { Timeline } from '../timeline/timeline.js';
import { BackendSerializer, SqlState, type FrameReader } from '../wire/index.js';
import { IoAccounting, type IoLabels } from '../io-accounting.js';

export interface SendSessionInit {
  connId: number;
  socket: Conn;
  frames: FrameReader;
  timeline: Timeline;
  peer: string;
  appName: string | null;
  startLsn: Lsn;
  /** Flush mode (walproposer recovery) when set; commit mode otherwise. */
  term: Term | null;
  logger: Logger;
  metrics: SafekeeperMetrics | null;
  ioLabels: IoLabels;
  clock: Clock;
}

export class SendSession {
  readonly connId: number;
  readonly socket: Conn;
  readonly frames: FrameReader;
  readonly timeline: Timeline;
  readonly peer: string;
  readonly appName: string | null;
  readonly startLsn: Lsn;
  readonly term: Term | null;
  readonly logger: Logger;
  readonly metrics: SafekeeperMetrics | null;
  readonly clock: Clock;
  /** Slot in timeline.walSenders. */
  readonly slot: number;
  /** Next byte to send. */
  pos: Lsn;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private ended = false;
  private readonly io: IoAccounting;

  constructor(init: SendSessionInit) {
    this.connId = init.connId;
    this.socket = init.socket;
    this.frames = init.frames;
    this.timeline = init.timeline;
    this.peer = init.peer;
    this.appName = init.appName;
    this.startLsn = init.startLsn;
    this.pos = init.startLsn;
    this.term = init.term;
    this.logger = init.logger;
    this.metrics = init.metrics;
    this.clock = init.clock;
    this.slot = init.timeline.walSenders.register({
      ttid: init.timeline.ttid,
      addr: init.peer,
      connId: init.connId,
      appname: init.appName,
    });
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.io = new IoAccounting(init.socket, init.metrics, init.ioLabels);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Ends the stream (send-wal.md §3.6): an ErrorResponse with `sqlState` when `error` is given,
   * CopyDone when `copyDone`, else nothing; then close. Idempotent.
   */
  end(answer: { error?: string; sqlState?: string; copyDone?: boolean } = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.timeline.walSenders.unregister(this.slot);
    const s = this.socket;
    if (!s.destroyed && s.writable) {
      const out = new BackendSerializer();
      if (answer.error !== undefined) s.write(out.errorResponse(answer.error, answer.sqlState ?? SqlState.InternalError).flush());
      else if (answer.copyDone) s.write(out.copyDone().flush());
    }
    if (!s.destroyed) s.end();
    this.clock.setTimeout(() => s.destroy(), 5000, true);
    this.io.finish();
    this.resolveClosed();
  }
}

/** conn_id → session, for the sender actors' implementations. */
export class SendSessions {
  private readonly sessions = new Map<number, SendSession>();

  add(s: SendSession): void {
    this.sessions.set(s.connId, s);
    void s.closed.then(() => this.sessions.delete(s.connId));
  }

  get(connId: number): SendSession {
    const s = this.sessions.get(connId);
    if (!s) throw new Error(`no replication session for conn_id ${connId}`);
    return s;
  }

  all(): SendSession[] {
    return [...this.sessions.values()];
  }
}
