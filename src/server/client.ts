// Handshake and query phase of one Postgres-protocol client: SSL/GSS refusal,
// the startup packet (tenant/timeline from `options`), the JWT when the
// listener has keys (./auth.ts), then simple and extended-protocol queries,
// each handed to the command dispatcher (./dispatch.ts). A command that
// streams (START_WAL_PUSH) takes the socket over and this object stops
// reading it.

import type { Conn } from '../transport.js';
import type { Ttid } from '../ids.js';
import type { Logger } from '../log.js';
import {
  BackendSerializer,
  FrameReader,
  SqlState,
  parseQuery,
  parseStartup,
  parseStartupOptions,
  type Frame,
  type SafekeeperQuery,
} from '../wire/index.js';
import type { Claims } from '../auth/jwt.js';
import { DEFAULT_MAX_MESSAGE_LENGTH, MAX_STARTUP_PACKET_LENGTH } from '../wire/constants.js';
import { AUTH_ERROR_MESSAGE, AUTH_TIMEOUT_MS, MAX_PASSWORD_MESSAGE, authenticate, type ListenerAuth } from './auth.js';
import type { ServerDeps } from './deps.js';
import type { EndpointClient } from '../endpoint.js';
import { runCommand } from './dispatch.js';

/** Neon drops a connection after 10 minutes without input. */
export const SOCKET_READ_TIMEOUT_MS = 600_000;

/** An unauthenticated client may not send more than a startup packet and a password before it is read. */
const PRE_AUTH_BUFFER_LIMIT = MAX_STARTUP_PACKET_LENGTH + MAX_PASSWORD_MESSAGE;

/** What a command handler sees of the client that sent it: what an endpoint takes over, and the ids. */
export interface Client extends EndpointClient<ServerDeps> {
  readonly ttid: Partial<Ttid>;
  /** The token's claims on a listener with auth; null on a trusting listener. */
  readonly claims: Claims | null;
}

export class ClientConnection implements Client {
  readonly frames = new FrameReader();
  readonly out = new BackendSerializer();
  readonly peer: string;
  logger: Logger;
  ttid: Partial<Ttid> = {};
  appName: string | undefined;
  clientAz: string | undefined;
  claims: Claims | null = null;
  private startupDone = false;
  /** Asked for the JWT, not yet received. */
  private awaitingToken = false;
  private busy = false;
  private handedOver = false;
  /** Query text of the last Parse (extended protocol: Execute runs it). */
  private preparedQuery: string | null = null;

  constructor(
    readonly deps: ServerDeps,
    readonly socket: Conn,
    readonly connId: number,
    private readonly release: () => void,
    private readonly auth: ListenerAuth | null = null,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.logger = deps.logger.child({ conn_id: connId });
    socket.on('data', this.onData);
    socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    socket.on('timeout', () => {
      if (this.handedOver) return;
      if (this.auth && !this.claims) this.logger.warn({ peer: this.peer }, 'closing connection: no token within the authentication timeout');
      socket.destroy();
    });
  }

  send(s: BackendSerializer): void {
    if (!this.socket.destroyed) this.socket.write(s.flush());
  }

  handOver(): void {
    this.handedOver = true;
    this.socket.off('data', this.onData);
    this.socket.pause();
    this.release();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.frames.push(chunk);
    if (this.auth && !this.claims && this.frames.buffered > PRE_AUTH_BUFFER_LIMIT) {
      this.refuse(`${this.frames.buffered} bytes sent before authenticating`);
      return;
    }
    void this.pump();
  };

  /** Ends an unauthenticated connection: Neon's one message on the wire, the reason in the log. */
  private refuse(reason: string): false {
    this.logger.warn({ peer: this.peer, reason }, 'authentication refused');
    this.socket.off('data', this.onData);
    this.send(this.out.errorResponse(AUTH_ERROR_MESSAGE, SqlState.InternalError));
    this.socket.end(); // the authentication timeout destroys it if the client never closes its side
    return false;
  }

  private async pump(): Promise<void> {
    if (this.busy || this.handedOver) return;
    this.busy = true;
    try {
      while (!this.handedOver) {
        let frame: Frame | undefined;
        try {
          frame = this.frames.next();
        } catch (err) {
          // Garbage where a startup packet or message should be: close, as Postgres does.
          if (this.awaitingToken) return void this.refuse(`password message: ${(err as Error).message}`);
          this.logger.warn({ peer: this.peer, err: (err as Error).message }, 'closing connection: malformed protocol data');
          if (this.startupDone) this.send(this.out.errorResponse((err as Error).message, SqlState.ProtocolViolation));
          this.socket.end();
          return;
        }
        if (!frame) return;
        const keepGoing =
          frame.tag === null ? this.onStartupPacket(frame.body) : this.awaitingToken ? this.onToken(frame) : await this.onMessage(frame);
        if (!keepGoing) return;
      }
    } finally {
      this.busy = false;
    }
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
        if (this.auth) {
          // Nothing bigger than a token is read until the token checks out.
          this.frames.limitMessageLength(MAX_PASSWORD_MESSAGE);
          this.socket.setTimeout(AUTH_TIMEOUT_MS);
          this.awaitingToken = true;
          this.send(this.out.authenticationCleartextPassword());
          return true;
        }
        this.welcome();
        return true;
      }
    }
  }

  /** The PasswordMessage carrying the JWT (listeners with keys only). */
  private onToken(frame: Frame): boolean {
    if (frame.tag !== 'p') return this.refuse(`expected a password message with the token, got message type '${frame.tag}'`);
    const result = authenticate(frame.body, this.auth!, Math.floor(this.deps.clock.now() / 1000));
    if ('reason' in result) return this.refuse(result.reason);
    this.claims = result.claims;
    this.awaitingToken = false;
    this.frames.limitMessageLength(DEFAULT_MAX_MESSAGE_LENGTH);
    this.socket.setTimeout(SOCKET_READ_TIMEOUT_MS);
    this.logger.debug({ scope: result.claims.scope, token_tenant_id: result.claims.tenantId }, 'authenticated');
    this.welcome();
    return true;
  }

  /**
   * Login done. With a token too the whole trust-path set is sent (Neon's JWT path sends only
   * client_encoding), so that pg_receivewal, which needs integer_datetimes, works with auth on.
   */
  private welcome(): void {
    this.send(
      this.out
        .authenticationOk()
        .parameterStatus('client_encoding', 'UTF8')
        .parameterStatus('integer_datetimes', 'on')
        .parameterStatus('server_version', '14.1')
        .readyForQuery('I'),
    );
  }

  /** One query-phase message; false once the socket left the query phase (closed or taken over). */
  private async onMessage(frame: Frame): Promise<boolean> {
    switch (frame.tag) {
      case 'Q': {
        let query: SafekeeperQuery;
        try {
          query = parseQuery(frame.body);
        } catch (err) {
          this.send(this.out.errorResponse((err as Error).message, SqlState.InternalError).readyForQuery('I'));
          return true;
        }
        return runCommand(this, query, true);
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
          this.send(this.out.errorResponse((err as Error).message, SqlState.InternalError));
          return true;
        }
        return runCommand(this, query, false);
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
}
