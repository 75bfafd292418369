// One safekeeper process, assembled: the actor system (root machine with
// connection and registry children), the timelines, the Postgres listener and
// the HTTP API. `start()` brings it up on a data dir; `stop()` is the graceful
// shutdown (stop accepting, let connections flush, persist every control file).

import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createActor, type Actor, type ActorRefFrom } from 'xstate';
import { registrySystemId, safekeeperMachine, type SafekeeperMachine } from '../machines/safekeeper.js';
import type { RegistryMachine } from '../machines/registry.js';
import { systemClock, type Clock } from './clock.js';
import type { HostPort } from './config.js';
import type { StorageFs } from './storage/fs.js';
import type { Conn } from './transport.js';
import type { RandomBytes } from './random.js';
import { HttpApiServer } from './http/server.js';
import type { Logger } from './log.js';
import { SafekeeperMetrics } from './metrics.js';
import { SessionTable } from './receive/session.js';
import { walPushMachine } from './receive/wal-push.js';
import { PgServer } from './server/listener.js';
import { SendSessions } from './send/session.js';
import { senderMachineFor } from './send/sender.js';
import { Timelines } from './timeline/timelines.js';
import type { TimelineEnv } from './timeline/timeline.js';

export interface SafekeeperOptions {
  datadir: string;
  nodeId: bigint;
  /** null: no TCP listener; connections arrive through accept() (the simulation's network). */
  listenPg: HostPort | null;
  listenHttp: HostPort | null;
  /** Second Postgres listener, for tenant-scoped tokens (`--listen-pg-tenant-only`). */
  listenPgTenantOnly?: HostPort | null;
  /** JWT public keys per listener (`--*-auth-public-key-path`); none: that listener trusts everyone. */
  pgAuthKeys?: KeyObject[] | null;
  pgTenantOnlyAuthKeys?: KeyObject[] | null;
  /** For the HTTP API and the inspector. */
  httpAuthKeys?: KeyObject[] | null;
  noSync: boolean;
  logger: Logger;
  availabilityZone?: string;
  controlFileSaveIntervalMs?: number;
  /** Live inspector address (inspector/); off when absent. */
  inspector?: HostPort | null;
  /** Seams (default: the real ones): the file system timelines live on, time, temp-name randomness. */
  fs?: StorageFs;
  clock?: Clock;
  randomBytes?: RandomBytes;
  /**
   * false: no Prometheus metrics (the simulation runs thousands of processes); 'no-process': the
   * safekeeper's own metrics without prom-client's process metrics (the warm-up). Default true.
   */
  metrics?: boolean | 'no-process';
  /** Test-only: how a timeline's WAL batches reach disk (tests make one timeline's disk slow). */
  walWritevFor?: TimelineEnv['walWritevFor'];
}

export class Safekeeper {
  readonly root: Actor<SafekeeperMachine>;
  readonly timelines: Timelines;
  readonly metrics: SafekeeperMetrics | null;
  readonly sessions = new SessionTable();
  readonly sendSessions = new SendSessions();
  readonly clock: Clock;
  private readonly pg: PgServer;
  private http: HttpApiServer | null = null;
  private inspector: { address: string; close(): Promise<void> } | null = null;
  pgAddress: AddressInfo | null = null;
  pgTenantOnlyAddress: AddressInfo | null = null;
  httpAddress: AddressInfo | null = null;

  constructor(private readonly opts: SafekeeperOptions) {
    const logger = opts.logger;
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    this.metrics =
      opts.metrics === false ? null : new SafekeeperMetrics(() => this.timelines.list().map((t) => t.metricsSnapshot()), opts.metrics !== 'no-process');
    // Timelines spawn their registry actors under the root, which in turn needs the timelines
    // for its connection actors; the closures below only run after both exist.
    let root!: Actor<SafekeeperMachine>;
    this.timelines = new Timelines({
      datadir: opts.datadir,
      nodeId: opts.nodeId,
      noSync: opts.noSync,
      logger,
      metrics: this.metrics,
      controlFileSaveIntervalMs: opts.controlFileSaveIntervalMs ?? 300_000,
      walWritevFor: opts.walWritevFor,
      fs: opts.fs,
      clock,
      randomBytes: opts.randomBytes,
      spawnRegistry: (ttid) => {
        root.send({ type: 'TIMELINE.LOADED', ttid });
        const registry = root.system.get(registrySystemId(ttid)) as ActorRefFrom<RegistryMachine> | undefined;
        // The root spawns synchronously when idle; timelines are never opened from inside its actions.
        if (!registry) throw new Error(`registry actor for ${ttid} was not spawned (is the safekeeper started?)`);
        return registry;
      },
      stopRegistry: (ttid) => root.send({ type: 'TIMELINE.UNLOADED', ttid }),
    });
    root = createActor(
      safekeeperMachine.provide({
        actors: { connection: walPushMachine(this.sessions, this.timelines), sender: senderMachineFor(this.sendSessions) },
      }),
      { clock },
    );
    this.root = root;
    this.pg = new PgServer({
      nodeId: opts.nodeId,
      timelines: this.timelines,
      sessions: this.sessions,
      sendSessions: this.sendSessions,
      root,
      logger,
      metrics: this.metrics,
      availabilityZone: opts.availabilityZone,
      clock,
    });
  }

  async start(): Promise<void> {
    this.root.start();
    await this.timelines.loadAll();
    const { listenPg, listenPgTenantOnly, pgAuthKeys, pgTenantOnlyAuthKeys } = this.opts;
    if (listenPg) this.pgAddress = await this.pg.listen(listenPg.host, listenPg.port, pgAuthKeys ? { keys: pgAuthKeys, tenantOnly: false } : null);
    if (listenPgTenantOnly) {
      const auth = pgTenantOnlyAuthKeys ? { keys: pgTenantOnlyAuthKeys, tenantOnly: true } : null;
      this.pgTenantOnlyAddress = await this.pg.listen(listenPgTenantOnly.host, listenPgTenantOnly.port, auth);
    }
    if (this.opts.listenHttp) {
      if (!this.metrics) throw new Error('the HTTP API serves /metrics: it needs metrics on');
      this.http = new HttpApiServer({ nodeId: this.opts.nodeId, timelines: this.timelines, metrics: this.metrics }, this.opts.logger, this.opts.httpAuthKeys ?? null);
      this.httpAddress = await this.http.listen(this.opts.listenHttp.host, this.opts.listenHttp.port);
    }
    if (this.opts.inspector) {
      // Loaded only when asked for: with the inspector off, none of its code (or ws) is loaded.
      const { startInspector } = await import('../inspector/index.js');
      const { host, port } = this.opts.inspector;
      this.inspector = await startInspector({ root: this.root, nodeId: this.opts.nodeId, host, port, logger: this.opts.logger, authKeys: this.opts.httpAuthKeys ?? null });
    }
    this.opts.logger.info(
      {
        id: this.opts.nodeId,
        listen_pg: this.pgAddress ? `${this.pgAddress.address}:${this.pgAddress.port}` : null,
        listen_pg_tenant_only: this.pgTenantOnlyAddress ? `${this.pgTenantOnlyAddress.address}:${this.pgTenantOnlyAddress.port}` : null,
        auth: { pg: !!this.opts.pgAuthKeys, pg_tenant_only: !!this.opts.pgTenantOnlyAuthKeys, http: !!this.opts.httpAuthKeys },
        listen_http: this.httpAddress ? `${this.httpAddress.address}:${this.httpAddress.port}` : null,
        inspector: this.inspector?.address ?? null,
        timelines: this.timelines.list().length,
        no_sync: this.opts.noSync,
      },
      'safekeeper started',
    );
  }

  /** Serves a connection that arrived other than through the listener (as if accepted by it). */
  accept(conn: Conn): void {
    this.pg.accept(conn);
  }

  /** Graceful shutdown: resolves once connections have flushed and every control file is saved. */
  async stop(timeoutMs = 5000): Promise<void> {
    await this.pg.stopAccepting();
    this.root.send({ type: 'SHUTDOWN' });
    const drained = Promise.all(this.sessions.all().map((s) => s.closed));
    const timedOut = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => this.clock.setTimeout(() => resolve(true), timeoutMs, true)),
    ]);
    if (timedOut) this.opts.logger.warn({ left: this.sessions.size }, 'connections did not finish within the shutdown timeout');
    for (const s of this.sessions.all()) s.end('safekeeper is shutting down');
    for (const s of this.sendSessions.all()) s.end();
    await this.timelines.shutdownAll();
    await this.http?.close();
    this.root.stop();
    await this.inspector?.close();
    this.opts.logger.info('safekeeper stopped');
  }
}
