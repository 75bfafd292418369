// The inspector's network side: one HTTP server that serves the page's
// static files at `/`, a small JSON `/stats`, and the WebSocket at `/ws`
// (`?format=statelyai` for @statelyai/inspect's event shape).
//
// Viewers come and go; the observer is attached to the actor system only
// while at least one is connected. Every observation is serialized once per
// format, never once per viewer, and only for formats someone is watching.
// Each viewer's send buffer is bounded: past MAX_BUFFERED_BYTES it is told
// `dropped` and closed (then cut off if it does not even read the close).
// With HTTP auth configured every request needs a token (./auth.ts).

import type { KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { AnyActorRef } from 'xstate';
import { connectionMachine } from '../machines/connection.js';
import { registryMachine } from '../machines/registry.js';
import { senderMachine } from '../machines/sender.js';
import type { Logger } from '../src/log.js';
import { redactUrl } from '../src/auth/bearer.js';
import { authorizeViewer } from './auth.js';
import { chartDefOf } from './chart-def.js';
import { SystemObserver, type ObservationSink, type ObservedActor } from './observer.js';
import { PROTOCOL_VERSION, type ActorView, type ChartDef, type ContextView, type ServerMessage, type Transition } from './protocol.js';
import { PROGRESS_EVENT, StatelyEncoder } from './stately.js';
import { defaultPublicDir, serveStatic } from './static.js';
import { parseViewerMessage } from './viewer-messages.js';

/** A viewer with more than this waiting to be sent is dropped (PROTOCOL.md: 1 MiB). */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** How long a dropped viewer gets to read the close frame before its socket is destroyed. */
const DROP_GRACE_MS = 1000;
/** Viewer → server messages are tiny; anything bigger is refused by ws (close 1009). */
const MAX_VIEWER_MESSAGE = 64 * 1024;

export type ViewerFormat = 'native' | 'statelyai';

export interface InspectorServerOptions {
  /** The root of the actor system (the safekeeper actor). */
  root: AnyActorRef;
  nodeId: string;
  logger?: Logger;
  /** Static files of the page; default `<repo>/inspector/public`. */
  publicDir?: string;
  maxBufferedBytes?: number;
  /** Keys of --http-auth-public-key-path: viewers need a safekeeperdata token. Null: open. */
  authKeys?: readonly KeyObject[] | null;
}

export interface InspectorStats {
  viewers: number;
  native: number;
  statelyai: number;
  /** The observer is subscribed to the actor system (exactly when viewers > 0). */
  attached: boolean;
  /** Viewers dropped for falling behind, since start. */
  dropped: number;
  /** Largest send buffer seen on any viewer, in bytes. */
  maxBufferedBytes: number;
  /** Errors contained inside the inspection callback (should stay 0). */
  observerFailures: number;
}

interface Viewer {
  ws: WebSocket;
  format: ViewerFormat;
  open: boolean;
}

export class InspectorServer {
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly observer: SystemObserver;
  private readonly stately = new StatelyEncoder();
  private readonly viewers = new Set<Viewer>();
  private readonly counts: Record<ViewerFormat, number> = { native: 0, statelyai: 0 };
  private readonly charts: { connection: ChartDef; registry: ChartDef; sender: ChartDef };
  private readonly publicDir: string;
  private readonly limit: number;
  private dropped = 0;
  private maxBuffered = 0;

  constructor(private readonly opts: InspectorServerOptions) {
    this.publicDir = opts.publicDir ?? defaultPublicDir();
    this.limit = opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    this.charts = { connection: chartDefOf(connectionMachine), registry: chartDefOf(registryMachine), sender: chartDefOf(senderMachine) };
    this.observer = new SystemObserver(opts.root, this.sink());
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_VIEWER_MESSAGE, perMessageDeflate: false });
    this.http = http.createServer((req, res) => void this.onRequest(req, res));
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`inspector: cannot listen on ${host}:${port}: ${err.message}`));
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  async close(): Promise<void> {
    for (const v of [...this.viewers]) {
      this.forget(v);
      v.ws.terminate();
    }
    this.observer.detach();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  stats(): InspectorStats {
    return {
      viewers: this.viewers.size,
      native: this.counts.native,
      statelyai: this.counts.statelyai,
      attached: this.observer.attached,
      dropped: this.dropped,
      maxBufferedBytes: this.maxBuffered,
      observerFailures: this.observer.failures,
    };
  }

  // ---- HTTP ----

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://inspector');
      const auth = this.authorize(req, url);
      if (!auth.ok) {
        res.writeHead(auth.status, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${auth.msg}\n`);
        return;
      }
      if (auth.setCookie) res.setHeader('set-cookie', auth.setCookie);
      if (url.pathname === '/ws') {
        res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket' });
        res.end('the inspector stream is a WebSocket: connect with ws://…/ws\n');
        return;
      }
      if (url.pathname === '/stats') {
        const body = JSON.stringify(this.stats());
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        res.end(body);
        return;
      }
      await serveStatic(req, res, this.publicDir, url.pathname);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`inspector error: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://inspector');
    const refuse = (status: string, text: string) => {
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    };
    const auth = this.authorize(req, url);
    if (!auth.ok) return refuse(`${auth.status} ${auth.status === 401 ? 'Unauthorized' : 'Forbidden'}`, `${auth.msg}\n`);
    if (url.pathname !== '/ws') return refuse('404 Not Found', `no WebSocket at ${url.pathname}; use /ws\n`);
    const format = url.searchParams.get('format') ?? 'native';
    if (format !== 'native' && format !== 'statelyai') {
      return refuse('400 Bad Request', `unknown format '${format}' (expected native or statelyai)\n`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onViewer(ws, format));
  }

  /** Open without keys; otherwise a safekeeperdata token. Each refusal is logged once, URL redacted. */
  private authorize(req: http.IncomingMessage, url: URL): ReturnType<typeof authorizeViewer> {
    const keys = this.opts.authKeys;
    if (!keys) return { ok: true, setCookie: null };
    const auth = authorizeViewer(req, url, keys, Math.floor(Date.now() / 1000));
    if (!auth.ok) {
      const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      this.opts.logger?.warn({ peer, url: redactUrl(req.url), reason: auth.reason }, 'inspector request refused');
    }
    return auth;
  }

  // ---- viewers ----

  private onViewer(ws: WebSocket, format: ViewerFormat): void {
    const v: Viewer = { ws, format, open: true };
    this.viewers.add(v);
    this.counts[format]++;
    if (!this.observer.attached) this.observer.attach();
    ws.on('message', (data: RawData, isBinary: boolean) => this.onViewerMessage(v, data, isBinary));
    ws.on('close', () => {
      if (this.forget(v)) this.opts.logger?.debug({ format }, 'inspector viewer left');
    });
    ws.on('error', () => {
      // 'close' follows; a viewer's socket error concerns nobody else.
    });
    this.opts.logger?.debug({ format, viewers: this.viewers.size }, 'inspector viewer connected');
    if (format === 'native') {
      this.sendTo(v, { type: 'hello', version: PROTOCOL_VERSION, nodeId: this.opts.nodeId, machines: this.charts, now: Date.now() });
    }
    this.sendState(v);
  }

  /** Everything live now: `snapshot` for native viewers, one `@xstate.actor` per actor otherwise. */
  private sendState(v: Viewer): void {
    const live = this.observer.liveActors();
    if (v.format === 'native') {
      const actors = live.map((rec) => this.observer.view(rec));
      this.sendTo(v, { type: 'snapshot', actors, transitions: this.observer.recentTransitions(), now: Date.now() });
      return;
    }
    const now = Date.now();
    for (const rec of live) {
      if (!v.open) return;
      this.deliver(v, Buffer.from(JSON.stringify(this.stately.actor(rec, this.observer.view(rec).context, now))));
    }
  }

  private onViewerMessage(v: Viewer, data: RawData, isBinary: boolean): void {
    if (!v.open) return;
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const parsed = parseViewerMessage(raw, isBinary);
    if (!parsed.ok) {
      this.sendTo(v, { type: 'error', message: parsed.error });
      return;
    }
    if (parsed.message.type === 'ping') this.sendTo(v, { type: 'pong', at: Date.now() });
    else this.sendState(v);
  }

  /** Removes a viewer; the last one to leave detaches the observer. Returns false if already gone. */
  private forget(v: Viewer): boolean {
    if (!this.viewers.delete(v)) return false;
    v.open = false;
    this.counts[v.format]--;
    if (this.viewers.size === 0) this.observer.detach();
    return true;
  }

  private sendTo(v: Viewer, msg: ServerMessage): void {
    this.deliver(v, Buffer.from(JSON.stringify(msg)));
  }

  private deliver(v: Viewer, data: Buffer): void {
    if (!v.open) return;
    try {
      v.ws.send(data, { binary: false });
    } catch {
      // A socket that fails a write is gone for this viewer; the others must still get the message.
      this.forget(v);
      v.ws.terminate();
      return;
    }
    const buffered = v.ws.bufferedAmount;
    if (buffered > this.maxBuffered) this.maxBuffered = buffered;
    if (buffered > this.limit) this.drop(v, buffered);
  }

  private drop(v: Viewer, buffered: number): void {
    this.forget(v);
    this.dropped++;
    const reason = `viewer fell behind: ${buffered} bytes waiting to be sent (limit ${this.limit})`;
    this.opts.logger?.warn({ format: v.format, buffered }, 'inspector viewer dropped: too slow');
    v.ws.send(JSON.stringify({ type: 'dropped', reason } satisfies ServerMessage));
    v.ws.close(1008, 'too slow');
    setTimeout(() => v.ws.terminate(), DROP_GRACE_MS).unref();
  }

  /** Serializes once per format with viewers, then fans out. */
  private broadcast(format: ViewerFormat, msg: object): void {
    const data = Buffer.from(JSON.stringify(msg));
    for (const v of this.viewers) if (v.format === format) this.deliver(v, data);
  }

  private sink(): ObservationSink {
    const native = () => this.counts.native > 0;
    const stately = () => this.counts.statelyai > 0;
    return {
      spawned: (rec: ObservedActor, actor: ActorView) => {
        if (native()) this.broadcast('native', { type: 'actor.spawned', actor } satisfies ServerMessage);
        if (stately()) this.broadcast('statelyai', this.stately.actor(rec, actor.context, actor.spawnedAt));
      },
      stopped: (rec: ObservedActor, at: number, final: ActorView) => {
        if (native()) this.broadcast('native', { type: 'actor.stopped', id: rec.id, at, final } satisfies ServerMessage);
        if (stately()) this.broadcast('statelyai', this.stately.snapshot(rec, 'xstate.stop', final.context, at));
      },
      transition: (rec: ObservedActor, t: Transition) => {
        if (native()) this.broadcast('native', { type: 'transition', ...t } satisfies ServerMessage);
        if (stately()) {
          this.broadcast('statelyai', this.stately.event(rec, t.event, t.at));
          this.broadcast('statelyai', this.stately.snapshot(rec, t.event, t.context, t.at));
        }
      },
      progress: (rec: ObservedActor, at: number, context: ContextView) => {
        if (native()) this.broadcast('native', { type: 'progress', id: rec.id, at, context } satisfies ServerMessage);
        if (stately()) this.broadcast('statelyai', this.stately.snapshot(rec, PROGRESS_EVENT, context, at));
      },
    };
  }
}
