// Everything one START_WAL_PUSH connection owns outside its statechart: the
// socket, the framer holding bytes not yet parsed, the inbound queue, and the
// timeline once the greeting has named it. The connection actor and its
// children reach it by conn_id; it never enters machine context or events
// (inspection observers would see sockets and WAL buffers).

import type { Conn } from '../transport.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Ttid } from '../ids.js';
import type { SafekeeperMetrics } from '../metrics.js';
import { codecForVersion, type AcceptorMessage, type AppendResponse, type ProtocolCodec } from '../protocol/index.js';
import type { Timeline } from '../timeline/timeline.js';
import { BackendSerializer, SqlState, type FrameReader } from '../wire/index.js';
import { Inbox } from './inbox.js';
import type { GrowingRing } from './growing-ring.js';
import { IoAccounting, type IoLabels } from '../io-accounting.js';
import { DirectAck } from './direct-ack.js';

export interface SessionInit {
  connId: number;
  socket: Conn;
  frames: FrameReader;
  ttid: Ttid;
  peer: string;
  appName: string | undefined;
  allowTimelineCreation: boolean;
  /** From START_WAL_PUSH; fixed for the connection. */
  protocolVersion: number;
  logger: Logger;
  metrics: SafekeeperMetrics | null;
  ioLabels: IoLabels;
  clock: Clock;
}

export class WalPushSession {
  readonly connId: number;
  readonly socket: Conn;
  readonly frames: FrameReader;
  readonly ttid: Ttid;
  readonly peer: string;
  readonly appName: string | undefined;
  readonly allowTimelineCreation: boolean;
  readonly protocolVersion: number;
  /**
   * The codec of protocolVersion; null for a version we do not speak, which (as in Neon) is only
   * refused at the first CopyData: the client has already been told CopyBothResponse.
   */
  readonly codec: ProtocolCodec | null;
  readonly inbox = new Inbox();
  /** Every write to the socket while streaming goes through it (see direct-ack.ts). */
  readonly ack: DirectAck;
  readonly metrics: SafekeeperMetrics | null;
  readonly clock: Clock;
  logger: Logger;
  timeline: Timeline | null = null;
  /**
   * An append batch has run: WAL is flowing. Until then the reader reads no further than the
   * message being processed (see reader.ts).
   */
  streaming = false;
  /**
   * The last AppendResponse sent: the writer sends a copy with each pageserver feedback the timeline
   * broadcasts, as Neon's network_write does.
   */
  lastAppendResponse: AppendResponse | null = null;
  /** Where socket reads land once the reader switched to a reused buffer; null until then (or if it could not). */
  ring: GrowingRing | null = null;
  /** Resolves once end() ran. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private ended = false;
  private readonly io: IoAccounting;

  constructor(init: SessionInit) {
    this.connId = init.connId;
    this.socket = init.socket;
    this.frames = init.frames;
    this.ttid = init.ttid;
    this.peer = init.peer;
    this.appName = init.appName;
    this.allowTimelineCreation = init.allowTimelineCreation;
    this.protocolVersion = init.protocolVersion;
    let codec: ProtocolCodec | null = null;
    try {
      codec = codecForVersion(init.protocolVersion);
    } catch {
      codec = null;
    }
    this.codec = codec;
    this.logger = init.logger;
    this.metrics = init.metrics;
    this.clock = init.clock;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.io = new IoAccounting(init.socket, init.metrics, init.ioLabels);
    this.ack = new DirectAck(init.socket);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Batches running now: their messages may refer to ring memory until they settle. */
  private batchesRunning = 0;
  private onBatchesDone: (() => void) | null = null;

  /** Brackets a batch (a counter, not a promise: this runs once per commit). */
  batchStarted(): void {
    this.batchesRunning++;
  }

  batchSettled(): void {
    if (--this.batchesRunning === 0 && this.onBatchesDone) {
      const done = this.onBatchesDone;
      this.onBatchesDone = null;
      done();
    }
  }

  /** Resolves once no batch is running (none may start after the connection ended). */
  batchesDone(): Promise<void> {
    if (this.batchesRunning === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.onBatchesDone;
      this.onBatchesDone = () => {
        before?.();
        resolve();
      };
    });
  }

  /** A reply went (or is going) to the proposer: an AppendResponse becomes the one feedback copies repeat. */
  replied(reply: AcceptorMessage): void {
    if (reply.kind === 'AppendResponse') this.lastAppendResponse = reply;
  }

  /** A batch is done with every queued message up to stream position `mark` (see GrowingRing). */
  release(mark: number): void {
    this.ring?.release(mark);
  }

  /** Ends the connection: an ErrorResponse first when `error` is given. Idempotent. */
  end(error: string | null, sqlState: string = SqlState.InternalError): void {
    if (this.ended) return;
    this.ended = true;
    const m = this.metrics;
    if (m && this.inbox.length > 0) m.queueDepthTotal.dec(this.inbox.length);
    this.inbox.drain();
    if (error !== null && !this.socket.destroyed && this.socket.writable) {
      this.socket.write(new BackendSerializer().errorResponse(error, sqlState).flush());
    }
    this.io.finish();
    if (!this.socket.destroyed) this.socket.end();
    // A peer that never reads must not hold the socket open forever.
    this.clock.setTimeout(() => this.socket.destroy(), 5000, true);
    this.resolveClosed();
  }
}

/** conn_id → session, for the actor implementations (see machines/connection.ts). */
export class SessionTable {
  private readonly sessions = new Map<number, WalPushSession>();

  add(session: WalPushSession): void {
    this.sessions.set(session.connId, session);
  }

  get(connId: number): WalPushSession {
    const s = this.sessions.get(connId);
    if (!s) throw new Error(`no WAL push session for conn_id ${connId}`);
    return s;
  }

  remove(connId: number): void {
    this.sessions.delete(connId);
  }

  all(): WalPushSession[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }
}
