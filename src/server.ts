// The Postgres-protocol listener: accepts a socket, answers SSL/GSS requests
// with 'N', reads the startup packet (tenant/timeline from `options`), trusts
// the client (no auth configured), and serves simple queries until
// START_WAL_PUSH hands the socket to a connection actor.

import net from 'node:net';
import type { Actor } from 'xstate';
import type { SafekeeperMachine } from '../machines/safekeeper.js';
import type { Ttid } from './ids.js';
import type { Logger } from './log.js';
import { formatLsn } from './lsn.js';
import type { CountedQuery, SafekeeperMetrics } from './metrics.js';
import { WalPushSession, type SessionTable } from './receive/session.js';
import type { Timelines } from './timeline/timelines.js';
import {
  BackendSerializer,
  FrameReader,
  SqlState,
  WireError,
  int4Field,
  parseQuery,
  parseStartup,
  parseStartupOptions,
  textField,
  type Frame,
  type SafekeeperQuery,
} from './wire/index.js';

/** Neon drops a connection after 10 minutes without input. */
export const SOCKET_READ_TIMEOUT_MS = 600_000;

export interface PgServerDeps {
  nodeId: bigint;
  timelines: Timelines;
  sessions: SessionTable;
  root: Actor<SafekeeperMachine>;
  logger: Logger;
  metrics: SafekeeperMetrics | null;
  availabilityZone: string | undefined;
}

/** A query error that keeps the connection usable (ErrorResponse + ReadyForQuery). */
class QueryError extends Error {
  constructor(message: string, readonly sqlState: string = SqlState.InternalError) {
    super(message);
  }
}

const COUNTED: Partial<Record<SafekeeperQuery['kind'], CountedQuery>> = {
  start_wal_push: 'START_WAL_PUSH',
  start_replication: 'START_REPLICATION',
  identify_system: 'IDENTIFY_SYSTEM',
  timeline_status: 'TIMELINE_STATUS',
  json_ctrl: 'JSON_CTRL',
};

export class PgServer {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private nextConnId = 1;
  private accepting = true;

  constructor(private readonly deps: PgServerDeps) {}

  async listen(host: string, port: number): Promise<net.AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.push(server);
    return server.address() as net.AddressInfo;
  }

  /** Stops accepting; connections already handed to actors are stopped through the root actor. */
  async stopAccepting(): Promise<void> {
    this.accepting = false;
    // close() stops listening at once. Its callback waits for every connection to end, including
    // WAL push connections, which only end after the root actor is told to shut down, i.e. after
    // this returns: awaiting it here would hang shutdown until the 600 s socket timeout.
    for (const s of this.servers) s.close();
    // Sockets still in the query phase have nothing to flush.
    for (const socket of this.sockets) socket.destroy();
  }

  private accept(socket: net.Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const connId = this.nextConnId;
    this.nextConnId = this.nextConnId >= 0xffffffff ? 1 : this.nextConnId + 1; // u32, wraps as in Neon
    socket.setNoDelay(true);
    socket.setTimeout(SOCKET_READ_TIMEOUT_MS);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    new HandshakeConnection(this.deps, socket, connId, () => this.sockets.delete(socket));
  }
}

/** One client from accept until START_WAL_PUSH (or the end of the connection). */
class HandshakeConnection {
  private readonly frames = new FrameReader();
  private readonly out = new BackendSerializer();
  private readonly peer: string;
  private logger: Logger;
  private ttid: Partial<Ttid> = {};
  private appName: string | undefined;
  private clientAz: string | undefined;
  private startupDone = false;
  private busy = false;
  private handedOver = false;
  /** Query text of the last Parse (extended protocol: Execute runs it). */
  private preparedQuery: string | null = null;

  constructor(
    private readonly deps: PgServerDeps,
    private readonly socket: net.Socket,
    private readonly connId: number,
    private readonly release: () => void,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.logger = deps.logger.child({ conn_id: connId });
    socket.on('data', this.onData);
    socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    socket.on('timeout', () => {
      if (!this.handedOver) socket.destroy();
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.frames.push(chunk);
    void this.pump();
  };

  private async pump(): Promise<void> {
    if (this.busy || this.handedOver) return;
    this.busy = true;
    try {
      for (;;) {
        let frame: Frame | undefined;
        try {
          frame = this.frames.next();
        } catch (err) {
          // Garbage where a startup packet or message should be: close, as Postgres does.
          this.logger.warn({ peer: this.peer, err: (err as Error).message }, 'closing connection: malformed protocol data');
          if (this.startupDone) this.send(this.out.errorResponse((err as Error).message, SqlState.ProtocolViolation));
          this.socket.end();
          return;
        }
        if (!frame) return;
        const keepGoing = frame.tag === null ? this.onStartupPacket(frame.body) : await this.onMessage(frame);
        if (!keepGoing) return;
      }
    } finally {
      this.busy = false;
    }
  }

  private send(s: BackendSerializer): void {
    if (!this.socket.destroyed) this.socket.write(s.flush());
  }

  private onStartupPacket(body: Buffer): boolean {
    let packet;
    try {
      packet = parseStartup(body);
    } catch (err) {
      this.logger.warn({ peer: this.peer, err: (err as Error).message }, 'closing connection: invalid startup packet');
      this.socket.end();
      return false;
    }
    switch (packet.kind) {
      case 'ssl':
      case 'gss':
        this.socket.write(Buffer.from('N'));
        return true;
      case 'cancel':
        this.logger.info({ peer: this.peer }, 'closing connection: cancel requests are not supported');
        this.socket.end();
        return false;
      case 'startup': {
        try {
          const opts = parseStartupOptions(packet.params.get('options') ?? '');
          this.ttid = { tenantId: opts.tenantId, timelineId: opts.timelineId };
          this.clientAz = opts.availabilityZone;
        } catch (err) {
          const message = (err as Error).message;
          this.logger.warn({ peer: this.peer, err: message }, 'closing connection: bad startup options');
          this.send(this.out.errorResponse(message, SqlState.InvalidParameterValue));
          this.socket.end();
          return false;
        }
        this.appName = packet.params.get('application_name');
        this.startupDone = true;
        if (this.ttid.tenantId && this.ttid.timelineId) {
          this.logger = this.deps.logger.child({ conn_id: this.connId, ttid: `${this.ttid.tenantId}/${this.ttid.timelineId}` });
        }
        this.send(
          this.out
            .authenticationOk()
            .parameterStatus('client_encoding', 'UTF8')
            .parameterStatus('integer_datetimes', 'on')
            .parameterStatus('server_version', '14.1')
            .readyForQuery('I'),
        );
        return true;
      }
    }
  }

  private async onMessage(frame: Frame): Promise<boolean> {
    switch (frame.tag) {
      case 'Q': {
        let query: SafekeeperQuery;
        try {
          query = parseQuery(frame.body);
        } catch (err) {
          this.send(this.out.errorResponse((err as Error).message, SqlState.SyntaxError).readyForQuery('I'));
          return true;
        }
        return this.runQuery(query, true);
      }
      case 'P': {
        // Parse: statement name, query, parameter types. Only the query text matters here.
        const body = frame.body;
        const nameEnd = body.indexOf(0);
        const queryEnd = body.indexOf(0, nameEnd + 1);
        this.preparedQuery = body.subarray(nameEnd + 1, queryEnd < 0 ? body.length : queryEnd).toString('utf8');
        this.send(this.out.parseComplete());
        return true;
      }
      case 'B':
        this.send(this.out.bindComplete());
        return true;
      case 'D':
        this.send(this.out.parameterDescription().noData());
        return true;
      case 'E': {
        if (this.preparedQuery === null) {
          this.send(this.out.errorResponse('Execute without a prepared query', SqlState.ProtocolViolation));
          return true;
        }
        let query: SafekeeperQuery;
        try {
          query = parseQuery(Buffer.from(this.preparedQuery + '\0'));
        } catch (err) {
          this.send(this.out.errorResponse((err as Error).message, SqlState.SyntaxError));
          return true;
        }
        return this.runQuery(query, false);
      }
      case 'S':
        this.send(this.out.readyForQuery('I'));
        return true;
      case 'C':
        this.send(this.out.closeComplete());
        return true;
      case 'H':
        return true;
      case 'X':
        this.socket.end();
        return false;
      default:
        this.logger.warn({ tag: frame.tag }, 'closing connection: unexpected message');
        this.send(this.out.errorResponse(`unexpected message type '${frame.tag}'`, SqlState.ProtocolViolation));
        this.socket.end();
        return false;
    }
  }

  /** Runs one command; returns false when the socket left the query phase. */
  private async runQuery(query: SafekeeperQuery, simple: boolean): Promise<boolean> {
    const counted = COUNTED[query.kind];
    const m = this.deps.metrics;
    if (counted) m?.pgQueriesReceived.inc({ query: counted });
    let finished = true;
    try {
      if (query.kind === 'set_datestyle') {
        this.out.commandComplete('SELECT 1');
      } else if (query.kind === 'unsupported') {
        // Neon parses the command before it looks for the ids: an unknown command is named as such.
        throw new QueryError(`unsupported command ${query.query}`);
      } else {
        const ttid = this.requireTtid();
        if (query.kind === 'start_wal_push') {
          if (query.protoVersion !== 2) {
            throw new QueryError(
              `START_WAL_PUSH with proto_version '${query.protoVersion}' is not supported: this safekeeper speaks protocol version 2 only`,
              SqlState.FeatureNotSupported,
            );
          }
          // START_WAL_PUSH finishes when its connection does.
          finished = false;
          this.startWalPush(ttid, query.allowTimelineCreation).closed.then(() => m?.pgQueriesFinished.inc({ query: 'START_WAL_PUSH' }));
          return false;
        }
        this.answer(query, ttid);
      }
    } catch (err) {
      const e = err instanceof QueryError ? err : new QueryError(err instanceof Error ? err.message : String(err));
      this.logger.info({ err: e.message }, 'query failed');
      this.out.errorResponse(e.message, e.sqlState);
    } finally {
      if (counted && finished) m?.pgQueriesFinished.inc({ query: counted });
    }
    if (simple) this.out.readyForQuery('I');
    this.send(this.out);
    return true;
  }

  private requireTtid(): Ttid {
    if (!this.ttid.tenantId) throw new QueryError('tenantid is required');
    if (!this.ttid.timelineId) throw new QueryError('timelineid is required');
    return { tenantId: this.ttid.tenantId, timelineId: this.ttid.timelineId };
  }

  private answer(query: SafekeeperQuery, ttid: Ttid): void {
    const tl = this.deps.timelines.get(ttid);
    switch (query.kind) {
      case 'timeline_status': {
        this.out.rowDescription([textField('flush_lsn'), textField('commit_lsn')]);
        if (tl) this.out.dataRow([formatLsn(tl.acceptor.flushLsn()), formatLsn(tl.acceptor.commitLsn)]);
        this.out.commandComplete('TIMELINE_STATUS');
        return;
      }
      case 'identify_system': {
        if (!tl) throw new QueryError(`Timeline ${ttid.tenantId}/${ttid.timelineId} not found`);
        const a = tl.acceptor;
        const recovery = this.appName === 'wal_proposer_recovery' || (this.appName ?? '').startsWith('safekeeper');
        this.out
          .rowDescription([textField('systemid'), int4Field('timeline'), textField('xlogpos'), textField('dbname')])
          .dataRow([a.serverInfo.systemId.toString(), '1', formatLsn(recovery ? a.flushLsn() : a.commitLsn), null])
          .commandComplete('IDENTIFY_SYSTEM');
        return;
      }
      case 'start_replication':
        throw new QueryError('START_REPLICATION is not supported by this safekeeper yet', SqlState.FeatureNotSupported);
      case 'json_ctrl':
        throw new QueryError('JSON_CTRL is not supported by this safekeeper', SqlState.FeatureNotSupported);
      case 'unsupported':
        throw new QueryError(`unsupported command ${query.query}`);
      default:
        throw new QueryError(`unsupported command ${query.kind}`);
    }
  }

  private startWalPush(ttid: Ttid, allowTimelineCreation: boolean): WalPushSession {
    this.handedOver = true;
    this.socket.off('data', this.onData);
    this.socket.pause();
    this.release();
    this.send(this.out.copyBothResponse());
    const skAz = this.deps.availabilityZone ?? 'unknown';
    const clientAz = this.clientAz ?? 'unknown';
    const session = new WalPushSession({
      connId: this.connId,
      socket: this.socket,
      frames: this.frames,
      ttid,
      peer: this.peer,
      appName: this.appName,
      allowTimelineCreation,
      logger: this.logger,
      metrics: this.deps.metrics,
      ioLabels: {
        client_az: clientAz,
        sk_az: skAz,
        app_name: this.appName ?? 'unknown',
        same_az: clientAz === 'unknown' || skAz === 'unknown' ? 'unknown' : String(clientAz === skAz),
      },
    });
    this.deps.sessions.add(session);
    this.logger.info({ peer: this.peer, app_name: this.appName }, 'START_WAL_PUSH');
    this.deps.root.send({
      type: 'CONNECTION.ACCEPTED',
      input: { connId: this.connId, ttid: `${ttid.tenantId}/${ttid.timelineId}`, peer: this.peer },
    });
    return session;
  }
}
