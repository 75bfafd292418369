// One client connection to a safekeeper's Postgres port, speaking what libpq
// speaks for the walproposer (protocol.md §1): optional SSLRequest, a
// StartupMessage with the tenant/timeline in `options`, trust or password
// auth, simple queries, then START_WAL_PUSH and CopyData both ways.
//
// Memory stays bounded in both directions: send() resolves only once the
// socket has taken the bytes (it waits for 'drain' when write() says the
// buffer is full), and reading pauses the socket while too many decoded
// messages wait for a consumer.

import net from 'node:net';
import {
  BackendFrameReader,
  FrontendSerializer,
  COPY_DATA_HEADER_SIZE,
  copyDataHeader,
  parseBackendMessage,
  type BackendMessage,
  type RowField,
} from '../wire/index.js';
import {
  ProtocolError,
  walByteLength,
  walParts,
  type AcceptorMessage,
  type ProposerMessage,
  codecForVersion,
  v2Codec,
  type ProtocolCodec,
} from '../protocol/index.js';
import { parseHexId } from '../ids.js';
import { formatLsn, type Lsn, type Term } from '../lsn.js';
import { ConnectionError, ServerError } from './errors.js';
import { systemClock, type Clock } from '../clock.js';
import type { Conn, Connect } from '../transport.js';

const tcpConnect: Connect = (host, port) => net.connect({ host, port });

export interface PgConnectOptions {
  host: string;
  port: number;
  tenantId: string;
  timelineId: string;
  /** Startup `user`; the safekeeper ignores it. Default 'safekeeper_ts'. */
  user?: string;
  applicationName?: string;
  /** Sent when the server asks for a cleartext password (Neon JWT auth: the token). */
  password?: string;
  /** Send an SSLRequest first, as libpq's sslmode=prefer does; only 'N' (no TLS) is accepted. */
  sslRequest?: boolean;
  /** Whole connect + handshake must finish within this. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Largest backend message accepted. Default: the wire layer's 1 MiB. */
  maxMessageLength?: number;
  /** How to reach the server (default TCP); the simulation passes its network. */
  connect?: Connect;
  /** Timers (default the system's). */
  clock?: Clock;
}

export interface QueryResult {
  fields: RowField[];
  rows: (string | null)[][];
  commandTag: string;
}

export interface WalPushOptions {
  /** Adds `proto_version '<n>'` (Neon HEAD syntax); omitted = plain START_WAL_PUSH (v2). */
  protoVersion?: number;
  /** Adds `allow_timeline_creation '<bool>'`. */
  allowTimelineCreation?: boolean;
}

type Phase = 'connecting' | 'startup' | 'ready' | 'query' | 'copy' | 'closed';

/** Decoded messages queued beyond this pause the socket until the consumer catches up. */
const INBOX_HIGH_WATER = 256;
const INBOX_LOW_WATER = 64;

/**
 * Startup parameters exactly as libpq sends them for the walproposer's conninfo
 * `dbname=replication options='-c timeline_id=<hex> tenant_id=<hex>'`: user,
 * database, options (quotes stripped by libpq), then application_name if set.
 */
export function startupParams(opts: Pick<PgConnectOptions, 'user' | 'tenantId' | 'timelineId' | 'applicationName'>): Map<string, string> {
  const tenant = parseHexId(opts.tenantId, 'tenant id');
  const timeline = parseHexId(opts.timelineId, 'timeline id');
  const params = new Map<string, string>([
    ['user', opts.user ?? 'safekeeper_ts'],
    ['database', 'replication'],
    ['options', `-c timeline_id=${timeline} tenant_id=${tenant}`],
  ]);
  if (opts.applicationName !== undefined) params.set('application_name', opts.applicationName);
  return params;
}

/** `START_WAL_PUSH`, with the option list Neon HEAD understands when any option is given. */
export function walPushQuery(opts: WalPushOptions = {}): string {
  const parts: string[] = [];
  if (opts.protoVersion !== undefined) parts.push(`proto_version '${opts.protoVersion}'`);
  if (opts.allowTimelineCreation !== undefined) parts.push(`allow_timeline_creation '${opts.allowTimelineCreation}'`);
  return parts.length === 0 ? 'START_WAL_PUSH' : `START_WAL_PUSH (${parts.join(', ')})`;
}

export class PgConnection {
  readonly host: string;
  readonly port: number;
  private readonly socket: Conn;
  private readonly clock: Clock;
  private readonly reader: BackendFrameReader;
  private readonly serializer = new FrontendSerializer();
  private phase: Phase = 'connecting';
  private readonly params = new Map<string, string>();
  /** Set by startWalPush(): the codec of the negotiated protocol version. */
  private codec: ProtocolCodec = v2Codec;

  private inbox: BackendMessage[] = [];
  private inboxHead = 0;
  private paused = false;
  private waiter: { resolve: (m: BackendMessage) => void; reject: (e: Error) => void } | undefined;
  /** Why the connection is over; set once, on the first of EOF / error / close(). */
  private terminal: Error | undefined;
  private sslWaiter: ((byte: number) => void) | undefined;
  private drainWait: Promise<void> | undefined;
  private readonly closed: Promise<void>;

  private constructor(private readonly opts: PgConnectOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.reader = new BackendFrameReader(opts.maxMessageLength);
    this.clock = opts.clock ?? systemClock;
    this.socket = (opts.connect ?? tcpConnect)(opts.host, opts.port);
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => {
      const kind = this.phase === 'connecting' ? 'connect' : 'socket';
      const verb = kind === 'connect' ? 'failed to connect to' : 'socket error on connection to';
      this.finish(new ConnectionError(kind, `${verb} safekeeper ${this.address}: ${err.message}`, { cause: err }));
    });
    this.closed = new Promise((resolve) => {
      this.socket.on('close', () => {
        this.finish(new ConnectionError('eof', `connection to safekeeper ${this.address} closed by the server`));
        resolve();
      });
    });
  }

  /** Connects, optionally negotiates SSL away, sends the startup packet and waits for ReadyForQuery. */
  static async connect(opts: PgConnectOptions): Promise<PgConnection> {
    const conn = new PgConnection(opts);
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const timer = conn.clock.setTimeout(() => {
      conn.finish(new ConnectionError('timeout', `connecting to safekeeper ${conn.address} took longer than ${timeoutMs} ms`));
      conn.socket.destroy();
    }, timeoutMs);
    try {
      await conn.handshake();
      return conn;
    } catch (e) {
      conn.socket.destroy();
      throw e;
    } finally {
      conn.clock.clearTimeout(timer);
    }
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** ParameterStatus values the server sent during startup. */
  get parameters(): ReadonlyMap<string, string> {
    return this.params;
  }

  get isClosed(): boolean {
    return this.terminal !== undefined;
  }

  /** Simple query; rows as text. A server ErrorResponse becomes a thrown ServerError. */
  async query(text: string): Promise<QueryResult> {
    this.expectPhase('ready', 'query');
    this.phase = 'query';
    this.write(this.serializer.query(text).flush());
    const result: QueryResult = { fields: [], rows: [], commandTag: '' };
    let error: Error | undefined;
    for (;;) {
      const m = await this.nextBackend();
      switch (m.kind) {
        case 'rowDescription':
          result.fields = [...m.fields];
          break;
        case 'dataRow':
          result.rows.push(m.values.map((v) => (v === null ? null : v.toString('utf8'))));
          break;
        case 'commandComplete':
          result.commandTag = m.tag;
          break;
        case 'emptyQueryResponse':
          break;
        case 'error':
          error = new ServerError(m.fields, `safekeeper ${this.address} refused query '${text}'`);
          break;
        case 'readyForQuery':
          this.phase = 'ready';
          if (error) throw error;
          return result;
        default:
          throw this.fail(new ConnectionError('protocol', `unexpected ${m.kind} message from ${this.address} in reply to query '${text}'`));
      }
    }
  }

  /**
   * START_REPLICATION PHYSICAL from `startLsn` (flush mode with `term`, as the walproposer's recovery
   * asks); waits for CopyBothResponse. Afterwards nextCopyData() returns what the server streams.
   */
  async startReplication(startLsn: Lsn, term?: Term): Promise<void> {
    this.expectPhase('ready', 'START_REPLICATION');
    const text = `START_REPLICATION PHYSICAL ${formatLsn(startLsn)}${term === undefined ? '' : ` (term='${term}')`}`;
    await this.copyBothQuery(text);
  }

  /** The next CopyData payload of a replication stream; an ErrorResponse or CopyDone is thrown. */
  async nextCopyData(): Promise<Buffer> {
    if (this.phase !== 'copy' && this.phase !== 'closed') throw this.phaseError('read a replication stream');
    const m = await this.nextBackend();
    switch (m.kind) {
      case 'copyData':
        return m.payload;
      case 'error':
        throw this.fail(new ServerError(m.fields, `safekeeper ${this.address} ended the replication stream`));
      case 'copyDone':
        throw this.fail(new ConnectionError('eof', `safekeeper ${this.address} ended the replication stream (CopyDone)`));
      default:
        throw this.fail(new ConnectionError('protocol', `unexpected ${m.kind} message from ${this.address} in copy mode`));
    }
  }

  /** Sends START_WAL_PUSH and waits for CopyBothResponse; afterwards use send() and next(). */
  async startWalPush(opts: WalPushOptions = {}): Promise<void> {
    this.expectPhase('ready', 'START_WAL_PUSH');
    // The version the query asks for is the one both sides speak from now on (v2 without options).
    this.codec = codecForVersion(opts.protoVersion ?? 2);
    const text = walPushQuery(opts);
    await this.copyBothQuery(text);
  }

  /** Sends a query that switches to CopyBoth and waits for CopyBothResponse (an ErrorResponse is thrown). */
  private async copyBothQuery(text: string): Promise<void> {
    this.phase = 'query';
    this.write(this.serializer.query(text).flush());
    let error: Error | undefined;
    for (;;) {
      const m = await this.nextBackend();
      switch (m.kind) {
        case 'copyBothResponse':
          this.phase = 'copy';
          return;
        case 'error':
          error = new ServerError(m.fields, `safekeeper ${this.address} refused ${text}`);
          break;
        case 'readyForQuery':
          // The server answered with something other than CopyBoth and is ready again.
          this.phase = 'ready';
          throw error ?? new ConnectionError('protocol', `received bad response to ${text} from ${this.address}: no CopyBothResponse`);
        default:
          error ??= new ConnectionError('protocol', `received bad response to ${text} from ${this.address}: ${m.kind}`);
          break;
      }
    }
  }

  /**
   * Sends one proposer message as one CopyData. An AppendRequest goes out as
   * frame header + 72-byte message header + the caller's WAL buffer, written
   * together without copying the WAL (the buffer must not change afterwards).
   * Resolves once the socket buffer is below its high-water mark.
   */
  send(msg: ProposerMessage): Promise<void> {
    return this.sendBatch([msg]);
  }

  /**
   * Sends messages back to back in one socket write (one syscall for many small
   * AppendRequests), each as in send(). Resolves once the socket buffer is below
   * its high-water mark: the caller bounds how much one batch carries.
   */
  sendBatch(msgs: readonly ProposerMessage[]): Promise<void> {
    if (this.phase !== 'copy') return Promise.reject(this.phaseError('send a proposer message'));
    if (this.terminal) return Promise.reject(this.terminal);
    const parts: Buffer[] = [];
    for (const msg of msgs) {
      if (msg.kind === 'AppendRequest') {
        const size = this.codec.appendRequestHeaderSize;
        const head = Buffer.allocUnsafe(COPY_DATA_HEADER_SIZE + size);
        this.codec.encodeAppendRequestHeader(msg, head.subarray(COPY_DATA_HEADER_SIZE));
        copyDataHeader(size + walByteLength(msg.wal), head, 0);
        parts.push(head);
        for (const part of walParts(msg.wal)) if (part.length > 0) parts.push(part);
      } else {
        const payload = this.codec.encodeProposerMessage(msg);
        parts.push(copyDataHeader(payload.length), payload);
      }
    }
    return this.writeParts(parts) ? Promise.resolve() : this.waitDrain();
  }

  /**
   * The next acceptor message of the copy stream. Rejects with ServerError if
   * the server ended the stream with an ErrorResponse, with ConnectionError on
   * EOF / socket error / client close, and with ProtocolError (the connection
   * is then closed) if a message does not decode.
   */
  async next(): Promise<AcceptorMessage> {
    if (this.phase !== 'copy' && this.phase !== 'closed') throw this.phaseError('read acceptor messages');
    for (;;) {
      const m = await this.nextBackend();
      switch (m.kind) {
        case 'copyData':
          try {
            return this.codec.decodeAcceptorMessage(m.payload);
          } catch (e) {
            if (e instanceof ProtocolError) {
              this.fail(new ConnectionError('protocol', `bad message from ${this.address}: ${e.message}`, { cause: e }));
            }
            throw e;
          }
        case 'error': {
          const err = new ServerError(m.fields, `safekeeper ${this.address} ended the WAL push stream`);
          throw this.fail(err);
        }
        case 'copyDone':
          throw this.fail(new ConnectionError('eof', `safekeeper ${this.address} ended the copy stream (CopyDone)`));
        default:
          throw this.fail(new ConnectionError('protocol', `unexpected ${m.kind} message from ${this.address} in copy mode`));
      }
    }
  }

  /** Acceptor messages until the client closes the connection; any other end is thrown. */
  async *messages(): AsyncGenerator<AcceptorMessage> {
    for (;;) {
      try {
        yield await this.next();
      } catch (e) {
        if (e instanceof ConnectionError && e.kind === 'closed') return;
        throw e;
      }
    }
  }

  /** Sends Terminate (best effort) and closes; resolves once the socket is closed. */
  close(): Promise<void> {
    if (!this.socket.destroyed && this.socket.writable && this.phase !== 'connecting') {
      this.socket.write(this.serializer.terminate().flush());
    }
    this.finish(new ConnectionError('closed', `connection to safekeeper ${this.address} closed by the client`));
    this.socket.end();
    // A server that never closes its side must not keep us waiting.
    const timer = this.clock.setTimeout(() => this.socket.destroy(), 1000, true);
    return this.closed.finally(() => this.clock.clearTimeout(timer));
  }

  /** Drops the connection at once, without Terminate. */
  destroy(): void {
    this.finish(new ConnectionError('closed', `connection to safekeeper ${this.address} closed by the client`));
    this.socket.destroy();
  }

  // ---- internals ----

  private async handshake(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      if (this.terminal) return reject(this.terminal);
      const onConnect = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('connect', onConnect);
        reject(this.terminal ?? new ConnectionError('connect', `failed to connect to safekeeper ${this.address}`));
      };
      this.socket.once('connect', onConnect);
      this.socket.once('close', onClose);
    });
    this.phase = 'startup';
    if (this.opts.sslRequest) {
      const answer = await new Promise<number>((resolve, reject) => {
        this.sslWaiter = resolve;
        this.waiter = { resolve: () => undefined, reject };
        this.write(this.serializer.sslRequest().flush());
      });
      this.waiter = undefined;
      if (answer === 0x53) throw this.fail(new ConnectionError('protocol', `safekeeper ${this.address} accepts SSL, but this client does not speak TLS`));
      if (answer !== 0x4e) {
        throw this.fail(new ConnectionError('protocol', `unexpected answer 0x${answer.toString(16)} to SSLRequest from ${this.address}`));
      }
    }
    this.write(this.serializer.startupMessage(startupParams(this.opts)).flush());
    for (;;) {
      const m = await this.nextBackend();
      switch (m.kind) {
        case 'authentication':
          if (m.code === 0) break;
          if (m.code === 3) {
            if (this.opts.password === undefined) {
              throw this.fail(new ConnectionError('connect', `safekeeper ${this.address} requires a password (JWT), none was given`));
            }
            this.write(this.serializer.passwordMessage(this.opts.password).flush());
            break;
          }
          throw this.fail(new ConnectionError('protocol', `unsupported authentication request ${m.code} from ${this.address}`));
        case 'parameterStatus':
          this.params.set(m.name, m.value);
          break;
        case 'backendKeyData':
          break;
        case 'error':
          throw this.fail(new ServerError(m.fields, `safekeeper ${this.address} refused the connection`));
        case 'readyForQuery':
          this.phase = 'ready';
          return;
        default:
          throw this.fail(new ConnectionError('protocol', `unexpected ${m.kind} message from ${this.address} during startup`));
      }
    }
  }

  private onData(chunk: Buffer): void {
    if (this.terminal) return;
    let data = chunk;
    if (this.sslWaiter) {
      const resolve = this.sslWaiter;
      this.sslWaiter = undefined;
      resolve(data[0]!);
      data = data.subarray(1);
      if (data.length === 0) return;
    }
    this.reader.push(data);
    try {
      for (const frame of this.reader.frames()) {
        if (frame.tag === 'N') continue; // NoticeResponse: nothing a proposer acts on
        this.deliver(parseBackendMessage(frame));
      }
    } catch (e) {
      this.fail(new ConnectionError('protocol', `garbage from safekeeper ${this.address}: ${(e as Error).message}`, { cause: e }));
    }
  }

  private deliver(m: BackendMessage): void {
    const w = this.waiter;
    if (w && this.inboxHead === this.inbox.length) {
      this.waiter = undefined;
      w.resolve(m);
      return;
    }
    this.inbox.push(m);
    if (!this.paused && this.inbox.length - this.inboxHead >= INBOX_HIGH_WATER) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private nextBackend(): Promise<BackendMessage> {
    if (this.inboxHead < this.inbox.length) {
      const m = this.inbox[this.inboxHead++]!;
      if (this.inboxHead === this.inbox.length) {
        this.inbox = [];
        this.inboxHead = 0;
      }
      if (this.paused && this.inbox.length - this.inboxHead <= INBOX_LOW_WATER) {
        this.paused = false;
        this.socket.resume();
      }
      return Promise.resolve(m);
    }
    if (this.terminal) return Promise.reject(this.terminal);
    if (this.waiter) return Promise.reject(new Error(`concurrent reads on connection to ${this.address}`));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Records why the connection ended (first reason wins) and wakes a waiting reader. */
  private finish(err: Error): void {
    if (this.terminal) return;
    this.terminal = err;
    this.phase = 'closed';
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  /** finish() + drop the socket; returns `err` for `throw` (the specific cause, even if EOF was seen first). */
  private fail(err: Error): Error {
    this.finish(err);
    this.socket.destroy();
    return err;
  }

  private write(buf: Buffer): void {
    if (this.terminal) throw this.terminal;
    this.socket.write(buf);
  }

  private writeParts(parts: Buffer[]): boolean {
    this.socket.cork();
    let ok = true;
    for (const p of parts) ok = this.socket.write(p);
    this.socket.uncork();
    return ok;
  }

  private waitDrain(): Promise<void> {
    this.drainWait ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        this.drainWait = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onDrain = (): void => done();
      const onClose = (): void => done(this.terminal ?? new ConnectionError('eof', `connection to ${this.address} closed`));
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
    return this.drainWait;
  }

  private expectPhase(phase: Phase, what: string): void {
    if (this.terminal) throw this.terminal;
    if (this.phase !== phase) throw this.phaseError(what);
  }

  private phaseError(what: string): Error {
    if (this.terminal) return this.terminal;
    return new Error(`cannot ${what} on connection to ${this.address} in phase '${this.phase}'`);
  }
}
