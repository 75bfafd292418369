// The START_WAL_PUSH endpoint: the client's socket leaves the query phase
// (CopyBothResponse), becomes a WalPushSession, and the root actor spawns the
// connection actor that drives it from then on.

import type { EndpointClient } from '../endpoint.js';
import type { Actor } from 'xstate';
import type { SafekeeperMachine } from '../../machines/safekeeper.js';
import type { Clock } from '../clock.js';
import type { Ttid } from '../ids.js';
import type { SafekeeperMetrics } from '../metrics.js';
import { WalPushSession, type SessionTable } from './session.js';
import { ioLabels } from '../io-accounting.js';

/** What the endpoint takes over from the query phase (the server's Client has all of it). */
export type HandedOverClient = EndpointClient<{
  readonly sessions: SessionTable;
  readonly root: Actor<SafekeeperMachine>;
  readonly metrics: SafekeeperMetrics | null;
  readonly availabilityZone: string | undefined;
  readonly clock: Clock;
}>;

export interface WalPushOptions {
  /** false: the greeting must find the timeline (created over HTTP), not create it. */
  allowTimelineCreation: boolean;
  /** proto_version as asked; a version we do not speak fails at the first CopyData. */
  protocolVersion: number;
}

export function startWalPush(client: HandedOverClient, ttid: Ttid, opts: WalPushOptions): WalPushSession {
  client.handOver();
  client.send(client.out.copyBothResponse());
  const { deps } = client;
  const session = new WalPushSession({
    connId: client.connId,
    socket: client.socket,
    frames: client.frames,
    ttid,
    peer: client.peer,
    appName: client.appName,
    allowTimelineCreation: opts.allowTimelineCreation,
    protocolVersion: opts.protocolVersion,
    logger: client.logger,
    metrics: deps.metrics,
    ioLabels: ioLabels(client.clientAz, deps.availabilityZone, client.appName),
    clock: deps.clock,
  });
  deps.sessions.add(session);
  const proto = { proto_version: String(opts.protocolVersion) };
  deps.metrics?.walPushConnectionsTotal.inc(proto);
  deps.metrics?.walPushConnections.inc(proto);
  void session.closed.then(() => deps.metrics?.walPushConnections.dec(proto));
  client.logger.info({ peer: client.peer, app_name: client.appName, proto_version: opts.protocolVersion }, 'START_WAL_PUSH');
  deps.root.send({
    type: 'CONNECTION.ACCEPTED',
    input: { connId: client.connId, ttid: `${ttid.tenantId}/${ttid.timelineId}`, peer: client.peer, protocolVersion: opts.protocolVersion },
  });
  return session;
}
