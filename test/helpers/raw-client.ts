// A deliberately thin Postgres-protocol client for integration tests: real
// socket, our own wire/protocol encoders, no proposer logic beyond what a test
// spells out. It can send anything, including garbage, and records every
// backend message (and the close) so tests can assert on exactly what came back.
//
// RawProposer on top of it is the smallest walproposer that streams: greeting,
// vote, elected, then AppendRequests of generated WAL, one at a time.

import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { WalGenerator } from '../../src/client/walgen.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import {
  decodeAcceptorMessage,
  encodeProposerMessage,
  type AcceptorGreeting,
  type AcceptorMessage,
  type AppendResponse,
  type ProposerMessage,
  type VoteResponse,
} from '../../src/protocol/index.js';
import {
  BackendFrameReader,
  FrontendSerializer,
  parseBackendMessage,
  type BackendMessage,
} from '../../src/wire/index.js';

export const WAL_SEG_SIZE = 16 * 1024 * 1024;
/** First record of the second segment, right after its long page header: where walproposer starts a fresh timeline. */
export const FIRST_RECORD_LSN = 0x1000028n;

/** A fresh random 32-hex id. */
export function randomId(): string {
  return randomBytes(16).toString('hex');
}

export interface ErrorInfo {
  message: string;
  code: string;
  severity: string;
  fields: ReadonlyMap<string, string>;
}

export function errorInfo(m: BackendMessage): ErrorInfo {
  if (m.kind !== 'error') throw new Error(`not an ErrorResponse: ${m.kind}`);
  return {
    message: m.fields.get('M') ?? '',
    code: m.fields.get('C') ?? '',
    severity: m.fields.get('S') ?? '',
    fields: m.fields,
  };
}

/** The server answered with an ErrorResponse where the test expected success. */
export class ServerError extends Error {
  constructor(readonly info: ErrorInfo) {
    super(`server error ${info.code}: ${info.message}`);
  }
}

export interface StartupParams {
  tenantId?: string;
  timelineId?: string;
  applicationName?: string;
  /** The whole `options` value; overrides tenantId/timelineId. */
  options?: string;
}

export interface QueryResult {
  /** Everything from the query up to and including ReadyForQuery. */
  messages: BackendMessage[];
  error: ErrorInfo | null;
  rows: (string | null)[][];
  commandTag: string | null;
}

function startupParams(params: StartupParams): Record<string, string> {
  const p: Record<string, string> = { user: 'test', database: 'replication' };
  const options =
    params.options ??
    [params.timelineId && `timeline_id=${params.timelineId}`, params.tenantId && `tenant_id=${params.tenantId}`].filter(Boolean).join(' ');
  if (options) p.options = `-c ${options}`;
  if (params.applicationName) p.application_name = params.applicationName;
  return p;
}

export class RawClient {
  /** Every backend message received, in order. */
  readonly received: BackendMessage[] = [];
  /** The server closed its side (FIN) or the socket is gone. */
  ended = false;
  closed = false;
  /** A frame the client could not parse (the server sent garbage). */
  parseError: Error | null = null;
  private cursor = 0;
  private readonly frames = new BackendFrameReader(2 << 20);
  private wake: (() => void) | null = null;

  /** `ip:port` of this end, as the server logs it in `peer` (kept: the socket forgets it once destroyed). */
  readonly peer: string;

  private constructor(readonly socket: net.Socket) {
    this.peer = `${socket.localAddress}:${socket.localPort}`;
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(chunk);
      try {
        for (const f of this.frames.frames()) this.received.push(parseBackendMessage(f));
      } catch (err) {
        this.parseError = err as Error;
      }
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.closed = true;
      this.notify();
    });
    // A reset after the server closed is expected in several tests; 'close' follows.
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Half-close: FIN to the server, reading continues. */
  endWriting(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    await done;
    clearTimeout(timer);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async waitForChange(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}; received so far: ${this.describeReceived()}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  describeReceived(): string {
    return this.received.map((m) => (m.kind === 'error' ? `error(${m.fields.get('M')})` : m.kind)).join(',') || '(nothing)';
  }

  /** The next message not yet consumed; rejects when the connection ends first. */
  async next(timeoutMs = 10_000): Promise<BackendMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.cursor < this.received.length) return this.received[this.cursor++]!;
      if (this.parseError) throw this.parseError;
      if (this.ended) throw new Error(`connection closed by the server; received: ${this.describeReceived()}`);
      await this.waitForChange(deadline, 'a backend message');
    }
  }

  /** Skips messages until one matches. */
  async nextMatching(pred: (m: BackendMessage) => boolean, timeoutMs = 10_000): Promise<BackendMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (pred(m)) return m;
    }
  }

  /** The next ErrorResponse, skipping anything before it (e.g. AppendResponses). */
  async nextError(timeoutMs = 10_000): Promise<ErrorInfo> {
    return errorInfo(await this.nextMatching((m) => m.kind === 'error', timeoutMs));
  }

  /** Resolves once the server has closed the connection (EOF or reset). */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.waitForChange(deadline, 'the server to close the connection');
  }

  /** Messages not consumed by next() yet. */
  unread(): BackendMessage[] {
    return this.received.slice(this.cursor);
  }

  // ---- protocol steps

  /** StartupMessage; resolves with everything up to ReadyForQuery, throws ServerError on an ErrorResponse. */
  async startup(params: StartupParams = {}): Promise<BackendMessage[]> {
    this.write(new FrontendSerializer().startupMessage(startupParams(params)).flush());
    return this.untilReady();
  }

  /** Everything up to ReadyForQuery; throws ServerError on an ErrorResponse. */
  private async untilReady(): Promise<BackendMessage[]> {
    const got: BackendMessage[] = [];
    for (;;) {
      const m = await this.next();
      got.push(m);
      if (m.kind === 'error') throw new ServerError(errorInfo(m));
      if (m.kind === 'readyForQuery') return got;
    }
  }

  /**
   * Startup on a listener with JWT auth: expects AuthenticationCleartextPassword, answers with
   * `token` as the password; resolves with what followed it up to ReadyForQuery, throws ServerError on refusal.
   */
  async login(params: StartupParams, token: string): Promise<BackendMessage[]> {
    const ask = await this.startupUntilAuthRequest(params);
    if (ask.kind !== 'authentication' || ask.code !== 3) throw new Error(`expected AuthenticationCleartextPassword, got ${ask.kind}`);
    this.write(new FrontendSerializer().passwordMessage(token).flush());
    return this.untilReady();
  }

  /** Sends the startup packet and returns the server's first answer. */
  async startupUntilAuthRequest(params: StartupParams = {}): Promise<BackendMessage> {
    this.write(new FrontendSerializer().startupMessage(startupParams(params)).flush());
    return this.next();
  }

  /** One simple query: everything up to ReadyForQuery (an ErrorResponse is returned, not thrown). */
  async query(sql: string, timeoutMs = 10_000): Promise<QueryResult> {
    this.write(new FrontendSerializer().query(sql).flush());
    const result: QueryResult = { messages: [], error: null, rows: [], commandTag: null };
    for (;;) {
      const m = await this.next(timeoutMs);
      result.messages.push(m);
      if (m.kind === 'error') result.error = errorInfo(m);
      else if (m.kind === 'dataRow') result.rows.push(m.values.map((v) => (v === null ? null : v.toString('utf8'))));
      else if (m.kind === 'commandComplete') result.commandTag = m.tag;
      else if (m.kind === 'readyForQuery') return result;
    }
  }

  /** START_WAL_PUSH (or a variant); resolves on CopyBothResponse, throws ServerError on an ErrorResponse. */
  async startWalPush(command = 'START_WAL_PUSH'): Promise<void> {
    this.write(new FrontendSerializer().query(command).flush());
    const m = await this.next();
    if (m.kind === 'error') throw new ServerError(errorInfo(m));
    if (m.kind !== 'copyBothResponse') throw new Error(`expected CopyBothResponse after ${command}, got ${m.kind}`);
  }

  /** One proposer message in CopyData. */
  send(msg: ProposerMessage): void {
    this.sendCopyData(encodeProposerMessage(msg));
  }

  sendCopyData(payload: Buffer): void {
    this.write(new FrontendSerializer().copyData(payload).flush());
  }

  /** The next CopyData, decoded; throws ServerError if an ErrorResponse comes instead. */
  async nextAcceptorMessage(timeoutMs = 10_000): Promise<AcceptorMessage> {
    const m = await this.next(timeoutMs);
    if (m.kind === 'error') throw new ServerError(errorInfo(m));
    if (m.kind !== 'copyData') throw new Error(`expected CopyData, got ${m.kind}`);
    return decodeAcceptorMessage(m.payload);
  }
}

/** Connects, sends the startup packet with the ids, runs TIMELINE_STATUS: [flush_lsn, commit_lsn] or null (no row). */
export async function timelineStatus(port: number, tenantId: string, timelineId: string): Promise<{ flushLsn: string; commitLsn: string } | null> {
  const c = await RawClient.connect(port);
  try {
    await c.startup({ tenantId, timelineId });
    const r = await c.query('TIMELINE_STATUS');
    if (r.error) throw new ServerError(r.error);
    const row = r.rows[0];
    return row ? { flushLsn: row[0]!, commitLsn: row[1]! } : null;
  } finally {
    await c.close();
  }
}

export interface ProposerOptions {
  tenantId: string;
  timelineId: string;
  systemId?: bigint;
  pgVersion?: number;
  walSegSize?: number;
  term?: bigint;
  applicationName?: string;
  /** Seed of the generated WAL. */
  seed?: number;
}

/**
 * A walproposer-like stream on a fresh timeline: greeting, vote, elected at
 * FIRST_RECORD_LSN, then AppendRequests of WalGenerator records. Every append
 * waits for the AppendResponse that covers it, so `acked` is always WAL the
 * safekeeper has acknowledged as flushed.
 */
export class RawProposer {
  readonly proposerId = randomId();
  readonly gen: WalGenerator;
  greeting!: AcceptorGreeting;
  vote!: VoteResponse;
  /** flush_lsn of the last AppendResponse (acknowledged WAL). */
  acked: Lsn = 0n;
  lastResponse: AppendResponse | null = null;
  appends = 0;
  private loop: Promise<void> | null = null;
  private stopping = false;
  /** The first failure of the background loop. */
  loopError: Error | null = null;

  private constructor(readonly client: RawClient, readonly opts: Required<Omit<ProposerOptions, 'applicationName' | 'seed'>>, seed: number) {
    this.gen = new WalGenerator({ startLsn: FIRST_RECORD_LSN, systemId: opts.systemId, pgVersion: opts.pgVersion, walSegSize: opts.walSegSize, seed });
  }

  static async start(port: number, options: ProposerOptions): Promise<RawProposer> {
    const opts = {
      tenantId: options.tenantId,
      timelineId: options.timelineId,
      systemId: options.systemId ?? 7439181208386574123n,
      pgVersion: options.pgVersion ?? 150002,
      walSegSize: options.walSegSize ?? WAL_SEG_SIZE,
      term: options.term ?? 1n,
    };
    const client = await RawClient.connect(port);
    await client.startup({ tenantId: opts.tenantId, timelineId: opts.timelineId, applicationName: options.applicationName ?? 'walproposer' });
    await client.startWalPush();
    const p = new RawProposer(client, opts, options.seed ?? 7);
    client.send({
      kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
      protocolVersion: 2,
      pgVersion: opts.pgVersion,
      proposerId: p.proposerId,
      systemId: opts.systemId,
      tenantId: opts.tenantId,
      timelineId: opts.timelineId,
      tli: 1,
      walSegSize: opts.walSegSize,
    });
    const greeting = await client.nextAcceptorMessage();
    if (greeting.kind !== 'AcceptorGreeting') throw new Error(`expected AcceptorGreeting, got ${greeting.kind}`);
    p.greeting = greeting;
    client.send({ kind: 'VoteRequest', generation: 0, term: opts.term, proposerId: p.proposerId });
    const vote = await client.nextAcceptorMessage();
    if (vote.kind !== 'VoteResponse' || !vote.voteGiven) throw new Error(`vote not given: ${JSON.stringify(vote, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    p.vote = vote;
    client.send({
      kind: 'ProposerElected', generation: 0,
      term: opts.term,
      startStreamingAt: FIRST_RECORD_LSN,
      termHistory: [{ term: opts.term, lsn: FIRST_RECORD_LSN }],
      timelineStartLsn: FIRST_RECORD_LSN,
    });
    return p;
  }

  /**
   * Sends one AppendRequest of at least `bytes` WAL bytes without waiting for an answer (as the
   * walproposer pipelines them); returns the WAL it carried.
   */
  sendAppend(bytes = 8192, recordSize?: number): { beginLsn: Lsn; endLsn: Lsn } {
    const chunk = this.gen.generate(bytes, recordSize);
    this.client.send({
      kind: 'AppendRequest', generation: 0,
      term: this.opts.term,
      termStartLsn: FIRST_RECORD_LSN,
      beginLsn: chunk.beginLsn,
      endLsn: chunk.endLsn,
      // A single-safekeeper quorum: what this safekeeper acknowledged is committed.
      commitLsn: this.acked,
      truncateLsn: this.acked,
      proposerUuid: this.proposerId,
      wal: chunk.bytes,
    });
    this.appends++;
    return chunk;
  }

  /** One AppendRequest of at least `bytes` WAL bytes (< 128 KiB); resolves with the AppendResponse covering it. */
  async append(bytes = 8192, recordSize?: number): Promise<AppendResponse> {
    const chunk = this.sendAppend(bytes, recordSize);
    for (;;) {
      const m = await this.client.nextAcceptorMessage();
      if (m.kind !== 'AppendResponse') throw new Error(`expected AppendResponse, got ${m.kind}`);
      if (m.term !== this.opts.term) throw new Error(`AppendResponse with term ${m.term}, expected ${this.opts.term}`);
      if (m.flushLsn < this.acked) throw new Error(`flush_lsn went back from ${formatLsn(this.acked)} to ${formatLsn(m.flushLsn)}`);
      this.acked = m.flushLsn;
      this.lastResponse = m;
      if (m.flushLsn >= chunk.endLsn) return m;
    }
  }

  /** A heartbeat (empty AppendRequest) carrying the current commit_lsn, so the safekeeper learns what is committed. */
  heartbeat(): void {
    const at = this.gen.lsn;
    this.client.send({
      kind: 'AppendRequest', generation: 0,
      term: this.opts.term,
      termStartLsn: FIRST_RECORD_LSN,
      beginLsn: at,
      endLsn: at,
      commitLsn: this.acked,
      truncateLsn: this.acked,
      proposerUuid: this.proposerId,
      wal: Buffer.alloc(0),
    });
  }

  /** Appends in the background, `pauseMs` apart, until stopStreaming(). */
  startStreaming(bytesPerAppend = 8192, pauseMs = 5): void {
    this.stopping = false;
    this.loop = (async () => {
      while (!this.stopping) {
        await this.append(bytesPerAppend);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    })().catch((err: Error) => {
      this.loopError = err;
    });
  }

  async stopStreaming(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.loop = null;
  }
}
