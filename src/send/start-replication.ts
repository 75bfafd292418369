// The START_REPLICATION endpoint (send-wal.md §3.3): the timeline must exist (an error before
// CopyBoth otherwise); then the socket leaves the query phase (CopyBothResponse), becomes a
// SendSession registered among the timeline's senders, and the root actor spawns the sender
// actor that streams from then on.

import type { EndpointClient } from '../endpoint.js';
import type { Actor } from 'xstate';
import type { SafekeeperMachine } from '../../machines/safekeeper.js';
import type { Clock } from '../clock.js';
import type { Ttid } from '../ids.js';
import { formatLsn, type Lsn, type Term } from '../lsn.js';
import type { SafekeeperMetrics } from '../metrics.js';
import type { Timelines } from '../timeline/timelines.js';
import { SendSession, type SendSessions } from './session.js';
import { ioLabels } from '../io-accounting.js';

/** What the endpoint takes over from the query phase (the server's Client has all of it). */
export type ReplicationClient = EndpointClient<{
  readonly timelines: Timelines;
  readonly sendSessions: SendSessions;
  readonly root: Actor<SafekeeperMachine>;
  readonly metrics: SafekeeperMetrics | null;
  readonly availabilityZone: string | undefined;
  readonly clock: Clock;
}>;

/** A refusal before CopyBoth: ErrorResponse + ReadyForQuery, the connection stays usable. */
export class ReplicationRefused extends Error {}

export function startReplication(client: ReplicationClient, ttid: Ttid, startLsn: Lsn, term: Term | undefined): SendSession {
  const { deps } = client;
  const timeline = deps.timelines.get(ttid);
  if (!timeline || timeline.isCancelled) {
    throw new ReplicationRefused(`Timeline ${ttid.tenantId}/${ttid.timelineId} was not found in global map`);
  }
  const a = timeline.acceptor;
  const end = term === undefined ? a.commitLsn : a.flushLsn();
  if (startLsn > end) {
    // Neon only logs this and then waits for the WAL to get there.
    client.logger.info({ start_pos: formatLsn(startLsn), end_pos: formatLsn(end) }, 'requested start_pos is ahead of available WAL end_pos');
  }
  client.handOver();
  client.send(client.out.copyBothResponse());
  const session = new SendSession({
    connId: client.connId,
    socket: client.socket,
    frames: client.frames,
    timeline,
    peer: client.peer,
    appName: client.appName ?? null,
    startLsn,
    term: term ?? null,
    logger: client.logger,
    metrics: deps.metrics,
    ioLabels: ioLabels(client.clientAz, deps.availabilityZone, client.appName),
    clock: deps.clock,
  });
  deps.sendSessions.add(session);
  client.logger.info(
    { peer: client.peer, app_name: client.appName, start_pos: formatLsn(startLsn), term: term === undefined ? null : String(term) },
    'START_REPLICATION',
  );
  deps.root.send({
    type: 'SENDER.ACCEPTED',
    input: {
      connId: client.connId,
      ttid: `${ttid.tenantId}/${ttid.timelineId}`,
      peer: client.peer,
      appName: client.appName ?? null,
      startLsn: formatLsn(startLsn),
      mode: term === undefined ? 'commit' : 'flush',
      term: term === undefined ? null : String(term),
    },
  });
  return session;
}
