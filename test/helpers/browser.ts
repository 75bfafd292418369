// Browser-test helpers: launching Debian's Chromium through playwright-core,
// and a stand-in inspector (FakeInspector) that serves the real page from
// inspector/public and speaks the /ws protocol (inspector/PROTOCOL.md) from a
// script, so the page can be exercised alone: late join, reconnects, pause,
// filter, retention, without a safekeeper behind it.

import http from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocketServer, WebSocket } from 'ws';
import { chartDefOf } from '../../inspector/chart-def.js';
import type { ActorView, ChartDef, ConnectionContextView, RegistryContextView, SenderContextView, ServerMessage, Transition } from '../../inspector/protocol.js';
import { senderMachine } from '../../machines/sender.js';
import { serveStatic } from '../../inspector/static.js';
import { formatLsn } from '../../src/lsn.js';
import { connectionMachine } from '../../machines/connection.js';
import { registryMachine } from '../../machines/registry.js';
import { repoRoot } from './paths.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** No sandbox (containers run as root), no GPU, and nothing that phones home. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Why the browser test cannot run here, or undefined when it can. Only a
 * developer machine without Chromium skips; in CI a missing browser is a failure.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  if (process.env.CI) return undefined;
  return `${CHROMIUM_PATH} not found: install Debian's Chromium (apt-get install -y chromium) to run the inspector browser test`;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing; .ci/run installs it with apt-get (chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** `<repo>/test-output/<name>` (gitignored), created on demand. */
export async function testOutputPath(name: string): Promise<string> {
  const dir = path.join(repoRoot(), 'test-output');
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  return path.join(dir, name);
}

/** Errors the page threw or logged: a test fails on any of them. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  return errors;
}

/** Polls `fn` until it returns a truthy value; the last value or error goes into the timeout message. */
export async function eventually<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface FakeConnectionOptions {
  connId: number;
  tenantId: string;
  timelineId: string;
  peer?: string;
  protocolVersion?: number;
  generation?: number;
}

/**
 * A scripted inspector server. It keeps the live actors and the transition
 * history itself, so a viewer that (re)connects gets a true hello + snapshot.
 */
export class FakeInspector {
  readonly viewers = new Set<WebSocket>();
  /** What viewers sent us, parsed. */
  readonly received: unknown[] = [];
  readonly actors = new Map<string, ActorView>();
  readonly history: Transition[] = [];
  /** Clock for `at` fields; tests may move it. */
  now: () => number = () => Date.now();
  nodeId = '1';
  /** The charts sent in `hello`; a test may swap them to check the page draws whatever it is given. */
  charts: { connection: ChartDef; registry: ChartDef; sender: ChartDef } = {
    connection: chartDefOf(connectionMachine),
    registry: chartDefOf(registryMachine),
    sender: chartDefOf(senderMachine),
  };

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeInspector> {
    const publicDir = path.join(repoRoot(), 'inspector', 'public');
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const p = url.pathname === '/' ? '/index.html' : url.pathname;
      void serveStatic(req, res, publicDir, p).catch(() => {
        res.statusCode = 500;
        res.end();
      });
    });
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/ws') {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => fake.accept(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake: FakeInspector = new FakeInspector(server, wss, (server.address() as AddressInfo).port);
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  private accept(ws: WebSocket): void {
    this.viewers.add(ws);
    ws.on('close', () => this.viewers.delete(ws));
    ws.on('message', (data) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(data));
      } catch {
        msg = { unparsable: String(data) };
      }
      this.received.push(msg);
      if (msg && typeof msg === 'object' && (msg as { type?: unknown }).type === 'resync') ws.send(JSON.stringify(this.snapshot()));
      if (msg && typeof msg === 'object' && (msg as { type?: unknown }).type === 'ping') ws.send(JSON.stringify({ type: 'pong', at: this.now() }));
    });
    ws.send(JSON.stringify(this.hello()));
    ws.send(JSON.stringify(this.snapshot()));
  }

  hello(): ServerMessage {
    return {
      type: 'hello',
      version: 1,
      nodeId: this.nodeId,
      machines: this.charts,
      now: this.now(),
    };
  }

  snapshot(): ServerMessage {
    return { type: 'snapshot', actors: [...this.actors.values()], transitions: this.history.slice(-200), now: this.now() };
  }

  broadcast(msg: ServerMessage): void {
    const text = JSON.stringify(msg);
    for (const ws of this.viewers) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  /** Cuts every viewer off (as if the server went away for a moment). */
  dropViewers(): void {
    for (const ws of this.viewers) ws.terminate();
  }

  async waitForViewers(n: number, timeoutMs = 10_000): Promise<void> {
    await eventually(() => this.viewers.size >= n, `${n} viewer(s) on the fake inspector`, timeoutMs);
  }

  // ---- scripted actors ----

  registry(tenantId: string, timelineId: string, slots: RegistryContextView['slots'], mconf: RegistryContextView['mconf'] = { generation: 0, members: [], newMembers: null }): void {
    const ttid = `${tenantId}/${timelineId}`;
    const id = `registry-${ttid}`;
    const context: RegistryContextView = { ttid, tenantId, timelineId, slots, computes: slots.filter((s) => s !== null).length, mconf };
    const known = this.actors.get(id);
    const view: ActorView = { id, kind: 'registry', parentId: 'root', state: 'tracking', status: 'active', context, spawnedAt: known?.spawnedAt ?? this.now() };
    this.actors.set(id, view);
    if (known) this.broadcast({ type: 'progress', id, at: this.now(), context });
    else this.broadcast({ type: 'actor.spawned', actor: view });
  }

  spawnConnection(o: FakeConnectionOptions): string {
    const id = `conn-${o.connId}`;
    const context: ConnectionContextView = {
      connId: o.connId,
      ttid: `${o.tenantId}/${o.timelineId}`,
      tenantId: o.tenantId,
      timelineId: o.timelineId,
      peer: o.peer ?? `127.0.0.1:${40000 + o.connId}`,
      protocolVersion: o.protocolVersion ?? 2,
      generation: o.generation ?? 0,
      term: '0',
      flushLsn: '0/0',
      commitLsn: '0/0',
      queueDepth: 0,
      dirty: false,
      eof: false,
      error: null,
      processed: 0,
    };
    const view: ActorView = { id, kind: 'connection', parentId: 'root', state: 'greeting.waiting', status: 'active', context, spawnedAt: this.now() };
    this.actors.set(id, view);
    this.broadcast({ type: 'actor.spawned', actor: view });
    for (const kind of ['reader', 'writer', 'processor'] as const) {
      const child: ActorView = { id: `${id}/${kind}`, kind, parentId: id, state: '', status: 'active', context: null, spawnedAt: this.now() };
      this.actors.set(child.id, child);
      this.broadcast({ type: 'actor.spawned', actor: child });
    }
    return id;
  }

  /** A WAL sender (START_REPLICATION) as the observer reports one: state and context only change through `sender()`. */
  spawnSender(o: { connId: number; tenantId: string; timelineId: string; appName: string; pos: string; endPos: string }): string {
    const id = `send-${o.connId}`;
    const context: SenderContextView = {
      connId: o.connId,
      ttid: `${o.tenantId}/${o.timelineId}`,
      tenantId: o.tenantId,
      timelineId: o.timelineId,
      peer: `127.0.0.1:${41000 + o.connId}`,
      appName: o.appName,
      mode: 'commit',
      term: null,
      startLsn: o.pos,
      pos: o.pos,
      endPos: o.endPos,
      reason: null,
      message: null,
    };
    const view: ActorView = { id, kind: 'sender', parentId: 'root', state: 'opening', status: 'active', context, spawnedAt: this.now() };
    this.actors.set(id, view);
    this.broadcast({ type: 'actor.spawned', actor: view });
    return id;
  }

  /** A sender's transition, as the chart emits it. */
  senderTransition(id: string, to: string, event: string, patch: Partial<SenderContextView> = {}): void {
    const a = this.actors.get(id);
    if (!a || a.kind !== 'sender' || !a.context) throw new Error(`fake inspector: no live sender ${id}`);
    a.context = { ...(a.context as SenderContextView), ...patch };
    const t: Transition = { id, kind: 'sender', from: a.state, to, event, at: this.now(), context: a.context };
    a.state = to;
    this.history.push(t);
    this.broadcast({ type: 'transition', ...t });
  }

  private conn(id: string): ActorView & { context: ConnectionContextView } {
    const a = this.actors.get(id);
    if (!a || a.kind !== 'connection' || !a.context) throw new Error(`fake inspector: no live connection ${id}`);
    return a as ActorView & { context: ConnectionContextView };
  }

  /**
   * A transition of a connection. `from` defaults to the state last sent; the real observer folds
   * streaming.waiting ⇄ streaming.appending, so `streaming.appending → flushing` arrives after a
   * `… → streaming.waiting` the viewer saw last (inspector/PROTOCOL.md).
   */
  transition(id: string, to: string, event: string, patch: Partial<ConnectionContextView> = {}, from?: string): void {
    const a = this.conn(id);
    a.context = { ...a.context, ...patch };
    const t: Transition = { id, kind: 'connection', from: from ?? a.state, to, event, at: this.now(), context: a.context };
    a.state = to;
    this.history.push(t);
    if (this.history.length > 200) this.history.shift();
    this.broadcast({ type: 'transition', ...t });
  }

  progress(id: string, patch: Partial<ConnectionContextView>): void {
    const a = this.conn(id);
    a.context = { ...a.context, ...patch };
    this.broadcast({ type: 'progress', id, at: this.now(), context: a.context });
  }

  stop(id: string, error: string | null = null): void {
    const a = this.conn(id);
    if (a.state !== 'closed') this.transition(id, 'closed', error ? 'BATCH_FAILED' : 'EOF', { eof: true, error });
    for (const kind of ['reader', 'writer', 'processor']) {
      const child = this.actors.get(`${id}/${kind}`);
      if (child) {
        this.actors.delete(child.id);
        this.broadcast({ type: 'actor.stopped', id: child.id, at: this.now(), final: { ...child, status: 'stopped', stoppedAt: this.now() } });
      }
    }
    this.actors.delete(id);
    const at = this.now();
    this.broadcast({ type: 'actor.stopped', id, at, final: { ...a, status: 'done', stoppedAt: at } });
  }

  /** greeting → voting → streaming (⇄ flushing) with plausible numbers; does not close. */
  lifecycleToStreaming(id: string, term: bigint, startLsn: bigint): void {
    const lsn = formatLsn(startLsn);
    this.transition(id, 'greeting.processing', 'MESSAGES', { queueDepth: 1 });
    this.transition(id, 'voting.waiting', 'BATCH_DONE', { queueDepth: 0, processed: 1 });
    this.transition(id, 'voting.processing', 'MESSAGES', { queueDepth: 1 });
    this.transition(id, 'voting.waiting', 'BATCH_DONE', { term: String(term), processed: 2, queueDepth: 0 });
    this.transition(id, 'voting.processing', 'MESSAGES');
    this.transition(id, 'streaming.waiting', 'BATCH_DONE', { flushLsn: lsn, commitLsn: lsn, processed: 3 });
  }

  async close(): Promise<void> {
    for (const ws of this.viewers) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
